// safetensors: an 8-byte little-endian header length, a JSON header mapping each tensor name to
// {dtype, shape, data_offsets: [begin, end)} relative to the data that follows, then the raw data.
#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_set>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/tensor_file.h"

namespace rwkvrt {
namespace {

static_assert(std::endian::native == std::endian::little, "tensor data is used in place: little-endian hosts only");

// Real headers are well under 1 MB (about 100 bytes per tensor) and three levels deep
// ({name: {"shape": [...]}}); the bounds keep a hostile header from costing much memory before it is
// refused.
constexpr uint64_t kMaxHeaderBytes = 16'000'000;
constexpr int kMaxHeaderDepth = 4;

bool safetensors_dtype(const std::string &name, DType *out) {
    static const std::pair<const char *, DType> known[] = {
        {"F32", DType::F32}, {"F16", DType::F16}, {"BF16", DType::BF16}};
    for (const auto &[known_name, dtype] : known) {
        if (name == known_name) {
            *out = dtype;
            return true;
        }
    }
    return false;
}

// A JSON array of non-negative integers that fit int64.
bool read_sizes(const nlohmann::ordered_json &value, std::vector<int64_t> *out) {
    if (!value.is_array()) return false;
    for (const auto &v : value) {
        if (!v.is_number_unsigned() || v.get<uint64_t>() > uint64_t(INT64_MAX)) return false;
        out->push_back(int64_t(v.get<uint64_t>()));
    }
    return true;
}

} // namespace

std::unique_ptr<TensorFile> read_safetensors(std::unique_ptr<MappedFile> file) {
    const std::string path = file->path();
    const uint8_t *p = file->data();
    const size_t size = file->size();
    if (size < 8) fail(RWKVRT_ERR_FORMAT, "'", path, "': too short for a safetensors file (", size, " bytes)");
    uint64_t header_len;
    std::memcpy(&header_len, p, 8);
    if (header_len > size - 8)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors header length ", header_len, " exceeds the file (", size,
             " bytes)");
    if (header_len > kMaxHeaderBytes)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors header length ", header_len, " is beyond any real model's");

    // nlohmann keeps the last of repeated keys; a name given twice is ambiguous, so refuse it.
    std::unordered_set<std::string> names;
    auto refuse_repeats = [&](int depth, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json &parsed) {
        if (depth > kMaxHeaderDepth)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors header nests deeper than ", kMaxHeaderDepth, " levels");
        if (depth == 1 && event == nlohmann::ordered_json::parse_event_t::key &&
            !names.insert(parsed.get<std::string>()).second)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors header names '", parsed.get<std::string>(), "' twice");
        return true;
    };
    nlohmann::ordered_json header; // keeps the file's tensor order
    try {
        header = nlohmann::ordered_json::parse(p + 8, p + 8 + header_len, refuse_repeats);
    } catch (const nlohmann::json::exception &e) {
        fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors header is not valid JSON: ", e.what());
    }
    if (!header.is_object()) fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors header is not a JSON object");

    const uint8_t *data = p + 8 + header_len;
    const uint64_t data_size = size - 8 - header_len;
    auto out = std::make_unique<TensorFile>(std::move(file), "safetensors");
    struct Extent {
        int64_t begin, end;
        std::string name;
        bool operator<(const Extent &o) const { return begin < o.begin; }
    };
    std::vector<Extent> extents;
    for (const auto &[name, info] : header.items()) {
        if (name == "__metadata__") continue;
        if (!info.is_object() || !info.contains("dtype") || !info["dtype"].is_string() || !info.contains("shape") ||
            !info.contains("data_offsets"))
            fail(RWKVRT_ERR_FORMAT, "'", path, "': safetensors entry '", name, "' lacks dtype, shape or data_offsets");
        TensorView view;
        view.name = name;
        const std::string dtype = info["dtype"].get<std::string>();
        std::vector<int64_t> offsets;
        if (!read_sizes(info["shape"], &view.shape))
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' has a shape that is not a list of sizes");
        if (!read_sizes(info["data_offsets"], &offsets) || offsets.size() != 2 || offsets[0] > offsets[1] ||
            uint64_t(offsets[1]) > data_size)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' has data_offsets ", info["data_offsets"].dump(),
                 " that are not [begin, end) within the ", data_size, " bytes of data");
        if (!safetensors_dtype(dtype, &view.dtype))
            fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': tensor '", name, "' has dtype ", dtype,
                 "; rwkvrt reads F32, F16 and BF16");
        int64_t numel = 1;
        for (int64_t d : view.shape)
            if (__builtin_mul_overflow(numel, d, &numel))
                fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' has an impossible shape");
        view.data = data + offsets[0];
        view.nbytes = size_t(offsets[1] - offsets[0]);
        const size_t elsize = size_t(dtype_info(view.dtype).block_bytes);
        if (view.nbytes % elsize != 0 || view.nbytes / elsize != uint64_t(numel))
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", name, "' ", view.shape_str(), " of type ", dtype,
                 " needs ", numel, " elements but data_offsets ", info["data_offsets"].dump(), " span ", view.nbytes,
                 " bytes");
        if (view.nbytes) extents.push_back({offsets[0], offsets[1], name});
        out->add(std::move(view));
    }
    // Two tensors sharing bytes would be one set of weights read two ways: no writer does that.
    std::sort(extents.begin(), extents.end());
    for (size_t i = 1; i < extents.size(); ++i)
        if (extents[i].begin < extents[i - 1].end)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensors '", extents[i - 1].name, "' and '", extents[i].name,
                 "' overlap in the data");
    return out;
}

} // namespace rwkvrt
