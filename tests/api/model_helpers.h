// Helpers for tests that drive models through the C API.
#pragma once

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "rwkvrt.h"
#include "testdata.h"

namespace th {

using ModelPtr = std::unique_ptr<rwkvrt_model, decltype(&rwkvrt_model_free)>;
using StatePtr = std::unique_ptr<rwkvrt_state, decltype(&rwkvrt_state_free)>;

// activations: NULL = the default (int8, which only block-quantized weights use); "f32" = exact products.
inline ModelPtr load(const std::string &path, const char *weight_type = nullptr, int threads = 0,
                     const char *activations = nullptr) {
    rwkvrt_load_options o = rwkvrt_load_options_default();
    o.weight_type = weight_type;
    o.n_threads = threads;
    if (activations) o.activations = activations;
    rwkvrt_model *m = nullptr;
    const rwkvrt_status st = rwkvrt_model_load(path.c_str(), &o, &m);
    REQUIRE_MESSAGE(st == RWKVRT_OK, path, ": ", rwkvrt_last_error());
    return ModelPtr(m, rwkvrt_model_free);
}

inline StatePtr new_state(const rwkvrt_model *m) {
    rwkvrt_state *s = nullptr;
    REQUIRE(rwkvrt_state_new(m, &s) == RWKVRT_OK);
    return StatePtr(s, rwkvrt_state_free);
}

// Logits after feeding `tokens` to a fresh state, in one call or one token per call. Makes no doctest
// assertion, so threads may call it: the first failing status is returned in *status (OK otherwise).
inline std::vector<float> try_logits_after(const rwkvrt_model *m, const std::vector<int32_t> &tokens, bool one_by_one,
                                           rwkvrt_status *status) {
    std::vector<float> out(size_t(rwkvrt_model_n_vocab(m)));
    rwkvrt_state *raw = nullptr;
    *status = rwkvrt_state_new(m, &raw);
    if (*status != RWKVRT_OK) return out;
    StatePtr s(raw, rwkvrt_state_free);
    if (one_by_one) {
        for (int32_t t : tokens)
            if ((*status = rwkvrt_feed(m, s.get(), &t, 1, out.data())) != RWKVRT_OK) return out;
    } else {
        *status = rwkvrt_feed(m, s.get(), tokens.data(), tokens.size(), out.data());
    }
    return out;
}

inline std::vector<float> logits_after(const rwkvrt_model *m, const std::vector<int32_t> &tokens, bool one_by_one = false) {
    rwkvrt_status st = RWKVRT_OK;
    std::vector<float> out = try_logits_after(m, tokens, one_by_one, &st);
    REQUIRE_MESSAGE(st == RWKVRT_OK, rwkvrt_last_error());
    return out;
}

// The larger of two differences; NaN (a failed comparison) wins, unlike std::max.
inline double worse(double a, double b) { return std::isnan(a) || a > b ? a : b; }

// Max |a[i] - b[i]|: NaN if any value is NaN, +inf if an infinity meets another value; either fails
// every `d <= tolerance`.
inline double max_abs_diff(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i] == b[i]) continue; // equal infinities differ by 0, not NaN
        d = worse(d, std::fabs(double(a[i]) - double(b[i])));
    }
    return d;
}

inline const std::vector<int32_t> kPromptIn = {34, 105, 110}; // the bytes "in (with the quote)

} // namespace th
