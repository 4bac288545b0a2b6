// The sampler: logits in, one token out, as a pure function of the logits, the options, the seed and
// the tokens recorded so far. The chain, its order and the defaults are documented for users in
// include/rwkvrt.h (section "Sampling"); this class implements exactly that text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "sampling/rng.h"

namespace rwkvrt {

// The one source of the defaults (rwkvrt_sampler_options_default() copies them).
struct SamplerOptions {
    float temperature = 1.0f;
    int32_t top_k = 0;
    float top_p = 1.0f;
    float min_p = 0.0f;
    float repetition_penalty = 1.0f;
    float presence_penalty = 0.0f;
    float frequency_penalty = 0.0f;
    float penalty_decay = 0.996f;
    uint64_t seed = 0;
};

// Throws Error(RWKVRT_ERR_ARGUMENT) naming the first option out of its range.
void validate(const SamplerOptions &options);

class Sampler {
public:
    // Throws RWKVRT_ERR_ARGUMENT for invalid options or n_vocab <= 0.
    Sampler(const SamplerOptions &options, int32_t n_vocab);

    // Picks a token from logits (n_vocab values) and records it. Throws RWKVRT_ERR_ARGUMENT for a wrong
    // size, a NaN or +inf logit, or when every token is banned; nothing changes then.
    int32_t sample(std::span<const float> logits);

    // Records tokens for the penalties: per token, decay every count, then add 1 to its own.
    // Throws RWKVRT_ERR_TOKEN (recording nothing) if any id is outside [0, n_vocab).
    void accept(std::span<const int32_t> tokens);

    // Adds bias to the token's logit before the penalties; -inf bans it, 0 removes the entry.
    // Throws RWKVRT_ERR_TOKEN, or RWKVRT_ERR_ARGUMENT for NaN or +inf.
    void set_logit_bias(int32_t token, float bias);

    // Forgets the recorded tokens; options, bias, bans and the generator position stay.
    void reset_penalties();

    // The serialized state (options, generator, recorded tokens, bias); layout in sampler_state.cpp.
    size_t state_size() const;
    void save_state(uint8_t *out) const; // writes exactly state_size() bytes
    // Throws RWKVRT_ERR_FORMAT, RWKVRT_ERR_UNSUPPORTED, RWKVRT_ERR_CORRUPT or RWKVRT_ERR_MISMATCH;
    // on failure the sampler is unchanged.
    void load_state(const uint8_t *data, size_t len);

    const SamplerOptions &options() const { return options_; }
    int32_t n_vocab() const { return n_vocab_; }
    // The decayed count of a recorded token, or -1 if it is not recorded.
    double count(int32_t token) const;
    const Rng &rng() const { return rng_; }

private:
    struct Recorded {
        int32_t token;
        double count;
    };

    void check_token(int32_t token) const;
    void adjust(std::span<const float> logits);
    void check_adjusted(int32_t token) const;
    int32_t draw();
    void collect(double max, double log_floor);
    void rank_head(size_t m, double max, double log_floor);
    size_t nucleus(double needed);
    size_t pick(std::span<const double> weights);

    SamplerOptions options_;
    int32_t n_vocab_;
    Rng rng_;
    std::vector<Recorded> recorded_; // in order of first recording
    std::vector<int32_t> slot_;      // token -> index into recorded_, or -1
    std::map<int32_t, float> bias_;  // ordered, so the serialized form is canonical

    // Scratch reused between calls (not state): adjusted logits, exp(logit - max) at temperature 1,
    // final weights, candidate ids.
    std::vector<double> logit_;
    std::vector<double> e_;
    std::vector<double> w_;
    std::vector<int32_t> cand_;
};

} // namespace rwkvrt
