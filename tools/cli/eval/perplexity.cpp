#include "cli/eval/perplexity.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rwkvrt_cli::eval {

double negative_log_likelihood(const float *logits, int32_t n_vocab, int32_t target) {
    const double max = *std::max_element(logits, logits + n_vocab);
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; ++i) sum += std::exp(double(logits[i]) - max);
    return std::log(sum) + max - double(logits[target]);
}

void PerplexitySum::add(double nll) {
    ++n_;
    sum_ += nll;
    sum_sq_ += nll * nll;
}

double PerplexitySum::perplexity() const {
    return n_ ? std::exp(sum_ / double(n_)) : std::numeric_limits<double>::quiet_NaN();
}

double PerplexitySum::uncertainty() const {
    if (n_ < 2) return std::numeric_limits<double>::quiet_NaN();
    const double mean = sum_ / double(n_);
    const double variance = sum_sq_ / double(n_) - mean * mean;
    return variance > 0 ? perplexity() * std::sqrt(variance / double(n_ - 1)) : 0.0;
}

ScoredRange scored_range(size_t chunk_tokens, size_t n_ctx) {
    const size_t last = chunk_tokens ? chunk_tokens - 1 : 0;
    return {n_ctx ? std::min(n_ctx / 2, last) : 0, last};
}

} // namespace rwkvrt_cli::eval
