// The generation loop: prompt in, text pieces out. Samples, feeds each token back, streams whole
// UTF-8 characters only, and stops on a token budget, the end-of-text token or a stop string (which
// is never emitted).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/model.h"
#include "tokenizers/tokenizer.h"

namespace rwkvrt {

class State;
class Sampler;

enum class StopReason { none = 0, max_tokens = 1, end_token = 2, stop_string = 3 };

struct GenerateOptions {
    int32_t max_tokens = 256;       // >= 0
    std::vector<std::string> stop;  // non-empty strings
    int32_t end_token = -1;         // -1: the tokenizer's end of text (id 0 for World and BPE; none for bytes); -2: none
    ProgressFn progress;            // for every feed: the prompt's and each token's
};

class Generator {
public:
    // Borrows everything: they must outlive the generator, and the state and sampler are used by it
    // alone meanwhile. Throws RWKVRT_ERR_ARGUMENT (bad options), RWKVRT_ERR_MISMATCH (a tokenizer or
    // sampler vocabulary that does not fit the model).
    Generator(const Model &model, State &state, const Tokenizer &tokenizer, Sampler &sampler, GenerateOptions options);

    // Feeds prompt text (tokenized) or tokens; the logits after it seed the next sample.
    void feed_text(std::string_view text);
    void feed_tokens(std::span<const int32_t> tokens);
    // Continues from logits computed earlier (a resumed session) instead of feeding a prompt.
    void set_logits(std::span<const float> logits);

    // The next piece of text (one or more whole characters), or nullopt once generation has stopped.
    std::optional<std::string> next();

    StopReason stop_reason() const { return reason_; }
    size_t n_generated() const { return n_generated_; }
    // The logits after the last token fed (the prompt's, then each generated token's).
    const std::vector<float> &logits() const { return logits_; }

private:
    std::string finish(StopReason reason, bool keep_pending);

    const Model &model_;
    State &state_;
    const Tokenizer &tokenizer_;
    Sampler &sampler_;
    GenerateOptions options_;
    std::vector<float> logits_;
    std::vector<uint8_t> sampler_before_; // the sampler's state before the token being fed
    bool have_logits_ = false;
    uint64_t state_tokens_ = 0; // the state's n_tokens() when logits_ were last set: changed, they are stale
    Utf8Stream utf8_;
    std::string pending_; // whole characters held back because they may begin a stop string
    size_t n_generated_ = 0;
    StopReason reason_ = StopReason::none;
};

} // namespace rwkvrt
