#include "generate/generator.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "state/state.h"

namespace rwkvrt {

Generator::Generator(const Model &model, State &state, const Tokenizer &tokenizer, Sampler &sampler,
                     GenerateOptions options)
    : model_(model), state_(state), tokenizer_(tokenizer), sampler_(sampler), options_(std::move(options)) {
    const int64_t n_vocab = model.hparams().n_vocab;
    if (&state.model() != &model) fail(RWKVRT_ERR_MISMATCH, "the state belongs to another model");
    if (tokenizer.n_vocab() != n_vocab)
        fail(RWKVRT_ERR_MISMATCH, "the ", tokenizer.kind(), " tokenizer has ", tokenizer.n_vocab(),
             " tokens but the model's vocabulary has ", n_vocab, ": they do not belong together");
    if (sampler.n_vocab() != n_vocab)
        fail(RWKVRT_ERR_MISMATCH, "the sampler was made for ", sampler.n_vocab(), " tokens; the model has ", n_vocab);
    if (options_.max_tokens < 0) fail(RWKVRT_ERR_ARGUMENT, "max_tokens is ", options_.max_tokens, "; it must be >= 0");
    for (const std::string &s : options_.stop)
        if (s.empty()) fail(RWKVRT_ERR_ARGUMENT, "a stop string is empty");
    if (options_.end_token == -1) options_.end_token = std::strcmp(tokenizer.kind(), "bytes") == 0 ? -2 : 0;
    if (options_.end_token < -2 || options_.end_token >= n_vocab)
        fail(RWKVRT_ERR_ARGUMENT, "end_token ", options_.end_token, " is outside the vocabulary [0, ", n_vocab, ")");
    logits_.resize(size_t(n_vocab));
}

void Generator::feed_text(std::string_view text) {
    if (text.empty()) fail(RWKVRT_ERR_ARGUMENT, "the prompt is empty");
    const std::vector<int32_t> tokens = tokenizer_.encode(text);
    feed_tokens(tokens);
}

void Generator::feed_tokens(std::span<const int32_t> tokens) {
    if (tokens.empty()) fail(RWKVRT_ERR_ARGUMENT, "the prompt has no tokens");
    model_.feed(state_, tokens.data(), tokens.size(), logits_.data(), options_.progress);
    have_logits_ = true;
    state_tokens_ = state_.n_tokens();
}

void Generator::set_logits(std::span<const float> logits) {
    if (logits.size() != logits_.size())
        fail(RWKVRT_ERR_ARGUMENT, "expected ", logits_.size(), " logits, got ", logits.size());
    std::copy(logits.begin(), logits.end(), logits_.begin());
    have_logits_ = true;
    state_tokens_ = state_.n_tokens();
}

std::string Generator::finish(StopReason reason, bool keep_pending) {
    reason_ = reason;
    std::string rest = keep_pending ? pending_ + utf8_.flush() : std::string();
    pending_.clear();
    return rest;
}

std::optional<std::string> Generator::next() {
    while (reason_ == StopReason::none) {
        if (n_generated_ >= size_t(options_.max_tokens)) {
            std::string rest = finish(StopReason::max_tokens, true);
            if (!rest.empty()) return rest;
            break;
        }
        if (!have_logits_) fail(RWKVRT_ERR_ARGUMENT, "nothing to continue from: feed a prompt first");
        if (state_.n_tokens() != state_tokens_)
            fail(RWKVRT_ERR_ARGUMENT, "the state was fed or restored outside this generation (", state_.n_tokens(),
                 " tokens, the generation left it at ", state_tokens_, "): its logits no longer follow it; "
                 "start a new generation");
        // A feed that fails (a cancel) drops the token: the sampler forgets it too, penalty and draw,
        // so that a sampler saved with the state matches the text handed out.
        sampler_before_.resize(sampler_.state_size());
        sampler_.save_state(sampler_before_.data());
        const int32_t token = sampler_.sample(logits_);
        if (token == options_.end_token) {
            std::string rest = finish(StopReason::end_token, true);
            if (!rest.empty()) return rest;
            break;
        }
        try {
            model_.feed(state_, &token, 1, logits_.data(), options_.progress);
        } catch (...) {
            sampler_.load_state(sampler_before_.data(), sampler_before_.size());
            throw;
        }
        ++n_generated_;
        state_tokens_ = state_.n_tokens();
        pending_ += utf8_.push(tokenizer_.token_bytes(token));

        // A stop string ends the text before it; otherwise hold back the longest tail that could
        // still grow into one, and emit the rest.
        size_t stop_at = std::string::npos;
        for (const std::string &s : options_.stop) stop_at = std::min(stop_at, pending_.find(s));
        if (stop_at != std::string::npos) {
            std::string piece = pending_.substr(0, stop_at);
            finish(StopReason::stop_string, false);
            if (!piece.empty()) return piece;
            break;
        }
        size_t hold = 0;
        for (const std::string &s : options_.stop)
            for (size_t n = std::min(s.size() - 1, pending_.size()); n > hold; --n)
                if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
                    hold = n;
                    break;
                }
        if (pending_.size() > hold) {
            std::string piece = pending_.substr(0, pending_.size() - hold);
            pending_.erase(0, pending_.size() - hold);
            return piece;
        }
    }
    return std::nullopt;
}

} // namespace rwkvrt
