#include "state/state_tuning.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "formats/tensor_file.h"
#include "model/model.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

constexpr std::string_view kPrefix = "blocks.", kSuffix = ".att.time_state";

// The layer of a name "blocks.<i>.att.time_state" (i in canonical decimal), or nullopt.
std::optional<uint64_t> tuned_layer(std::string_view name) {
    if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) || !name.ends_with(kSuffix))
        return std::nullopt;
    const std::string_view digits = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
    uint64_t i = 0; // unsigned: from_chars then takes digits only, no sign
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
    const bool canonical = digits[0] != '0' || digits.size() == 1;
    if (ec != std::errc() || end != digits.data() + digits.size() || !canonical) return std::nullopt;
    return i;
}

// "a, b, c and 7 more": enough to recognise the file without flooding the message.
std::string name_list(const std::vector<std::string> &names) {
    constexpr size_t kShown = 4;
    std::string s;
    for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", " : "") + names[i];
    if (names.size() > kShown) s += cat(" and ", names.size() - kShown, " more");
    return s;
}

} // namespace

void load_initial_state(State &state, const std::string &path) {
    const ArchModel &arch = state.model().arch();
    const HParams &hp = arch.hparams();
    if (hp.arch == Arch::rwkv4)
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': state tuning needs RWKV-5 or later; this model is rwkv4");
    const std::unique_ptr<TensorFile> file = open_tensor_file(path, true);

    std::vector<const TensorView *> layers(size_t(hp.n_layer), nullptr);
    std::vector<std::string> unexpected, missing, problems;
    bool any_time_state = false;
    for (const TensorView &t : file->tensors()) {
        const std::optional<uint64_t> i = tuned_layer(t.name);
        any_time_state |= i.has_value();
        if (i && *i < uint64_t(hp.n_layer)) layers[size_t(*i)] = &t;
        else unexpected.push_back(t.name);
    }
    if (!any_time_state)
        fail(RWKVRT_ERR_FORMAT, "'", path, "' is not a state-tuning file: it has no blocks.<i>.att.time_state tensor");
    const std::vector<int64_t> shape{hp.n_head, hp.head_size, hp.head_size};
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        const TensorView *t = layers[size_t(i)];
        if (!t) missing.push_back(cat(kPrefix, i, kSuffix));
        else if (t->shape != shape) problems.push_back(cat(t->name, " has shape ", t->shape_str(), ", expected (", hp.n_head,
                                                           ", ", hp.head_size, ", ", hp.head_size, ")"));
        else if (t->dtype != DType::F32 && t->dtype != DType::F16 && t->dtype != DType::BF16)
            problems.push_back(cat(t->name, " has type ", dtype_name(t->dtype), ", expected f32, f16 or bf16"));
    }
    if (!missing.empty()) problems.push_back("missing " + name_list(missing));
    if (!unexpected.empty()) problems.push_back("unexpected " + name_list(unexpected));
    if (!problems.empty()) {
        std::string all;
        for (const std::string &p : problems) all += "; " + p;
        fail(RWKVRT_ERR_MISMATCH, "'", path, "' does not fit this model (", arch_name(hp.arch), ", ", hp.n_layer,
             " layers of ", hp.n_head, " heads of ", hp.head_size, ")", all);
    }

    // Token shifts start at zero; only the WKV matrices were trained.
    const size_t N = size_t(hp.head_size), block = N * N;
    const bool key_major = hp.arch != Arch::rwkv7;
    StateValues values(arch.state_floats(), 0.0f);
    std::vector<float> tuned(size_t(hp.n_head) * block);
    for (int64_t i = 0; i < hp.n_layer; ++i) {
        const TensorView &t = *layers[size_t(i)];
        to_f32(t.dtype, t.data, tuned.data(), tuned.size());
        // Refused here, where the file can be named: in the state, every later feed would fail.
        if (const auto bad = std::find_if_not(tuned.begin(), tuned.end(), [](float x) { return std::isfinite(x); }); bad != tuned.end())
            fail(RWKVRT_ERR_FORMAT, "'", path, "': ", t.name, " holds a non-finite value (", *bad, ") at index ", bad - tuned.begin());
        float *wkv = arch.layer(values.data(), i).wkv;
        for (size_t h = 0; h < size_t(hp.n_head); ++h) {
            const float *src = tuned.data() + h * block; // [value][key]
            float *dst = wkv + h * block;
            for (size_t v = 0; v < N; ++v)
                for (size_t k = 0; k < N; ++k) (key_major ? dst[k * N + v] : dst[v * N + k]) = src[v * N + k];
        }
    }
    state.assign(std::move(values), 0, state.metadata());
}

} // namespace rwkvrt
