#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace rwkvrt {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Not banned, and p >= min_p * p_max, i.e. logit - max >= log(min_p) (-inf when min_p is off).
bool passes_min_p(double logit, double max, double log_floor) {
    return logit != kNegInf && logit - max >= log_floor;
}

// The ranking every cut uses: higher logit first, then lower id. A total order, so every selection
// below yields the same set on every platform.
struct Before {
    const double *l;
    bool operator()(int32_t a, int32_t b) const { return l[a] > l[b] || (l[a] == l[b] && a < b); }
};

// Sums in blocks of 16, the blocks in order: a fixed order, so every platform adds the same numbers the
// same way, and short dependency chains, so it runs near memory speed.
constexpr size_t kBlock = 16;

double block_sum(const double *w, size_t n) {
    double s = 0.0;
    for (size_t j = 0; j < n; ++j) s += w[j];
    return s;
}

double total(std::span<const double> w) {
    double s = 0.0;
    for (size_t b = 0; b < w.size(); b += kBlock) s += block_sum(&w[b], std::min(kBlock, w.size() - b));
    return s;
}

size_t last_positive(std::span<const double> w) {
    size_t i = w.size();
    while (i > 0 && !(w[i - 1] > 0.0)) --i;
    return i - 1;
}

bool in_unit(float x) { return x >= 0.0f && x <= 1.0f; } // false for NaN

} // namespace

void validate(const SamplerOptions &o) {
    if (!(std::isfinite(o.temperature) && o.temperature >= 0.0f))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option temperature must be a finite number >= 0 (0 = greedy), got ",
             o.temperature);
    if (o.top_k < 0) fail(RWKVRT_ERR_ARGUMENT, "sampler option top_k must be >= 0 (0 = off), got ", o.top_k);
    if (!in_unit(o.top_p))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option top_p must be in [0, 1] (1 = off), got ", o.top_p);
    if (!in_unit(o.min_p))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option min_p must be in [0, 1] (0 = off), got ", o.min_p);
    if (!(std::isfinite(o.repetition_penalty) && o.repetition_penalty > 0.0f))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option repetition_penalty must be a finite number > 0 (1 = off), got ",
             o.repetition_penalty);
    if (!std::isfinite(o.presence_penalty))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option presence_penalty must be finite, got ", o.presence_penalty);
    if (!std::isfinite(o.frequency_penalty))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option frequency_penalty must be finite, got ", o.frequency_penalty);
    if (!in_unit(o.penalty_decay))
        fail(RWKVRT_ERR_ARGUMENT, "sampler option penalty_decay must be in [0, 1], got ", o.penalty_decay);
}

Sampler::Sampler(const SamplerOptions &options, int32_t n_vocab)
    : options_(options), n_vocab_(n_vocab), rng_(options.seed) {
    validate(options);
    if (n_vocab <= 0) fail(RWKVRT_ERR_ARGUMENT, "sampler n_vocab must be > 0, got ", n_vocab);
    slot_.assign(size_t(n_vocab), -1);
}

void Sampler::check_token(int32_t token) const {
    if (token < 0 || token >= n_vocab_)
        fail(RWKVRT_ERR_TOKEN, "token ", token, " is outside the sampler's vocabulary [0, ", n_vocab_, ")");
}

double Sampler::count(int32_t token) const {
    check_token(token);
    return slot_[size_t(token)] < 0 ? -1.0 : recorded_[size_t(slot_[size_t(token)])].count;
}

void Sampler::accept(std::span<const int32_t> tokens) {
    for (int32_t t : tokens) check_token(t);
    const double decay = options_.penalty_decay;
    for (int32_t t : tokens) {
        int32_t &slot = slot_[size_t(t)];
        if (slot < 0) { // append first, so a failed allocation leaves the counts as they were
            recorded_.push_back({t, 0.0});
            slot = int32_t(recorded_.size() - 1);
        }
        if (decay != 1.0) // decay before adding the new token, as ChatRWKV does
            for (Recorded &r : recorded_) r.count *= decay;
        recorded_[size_t(slot)].count += 1.0;
    }
}

void Sampler::set_logit_bias(int32_t token, float bias) {
    check_token(token);
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity())
        fail(RWKVRT_ERR_ARGUMENT, "logit bias for token ", token, " must be finite or -inf (ban), got ", bias);
    if (bias == 0.0f)
        bias_.erase(token);
    else
        bias_[token] = bias;
}

void Sampler::reset_penalties() {
    for (const Recorded &r : recorded_) slot_[size_t(r.token)] = -1;
    recorded_.clear();
}

// Steps 1-3 of the chain: the logits in double, then bias, repetition, presence and frequency.
void Sampler::adjust(std::span<const float> logits) {
    if (logits.size() != size_t(n_vocab_))
        fail(RWKVRT_ERR_ARGUMENT, "sampler got ", logits.size(), " logits for a vocabulary of ", n_vocab_);
    logit_.resize(logits.size());
    bool ok = true; // branch-free check so the copy vectorizes; NaN and +inf both fail x < inf
    for (size_t i = 0; i < logits.size(); ++i) {
        logit_[i] = logits[i];
        ok &= logits[i] < std::numeric_limits<float>::infinity();
    }
    if (!ok)
        for (size_t i = 0; i < logits.size(); ++i)
            if (!(logits[i] < std::numeric_limits<float>::infinity()))
                fail(RWKVRT_ERR_ARGUMENT, "logits[", i, "] is ", std::isnan(logits[i]) ? "NaN" : "+inf");
    for (const auto &[token, bias] : bias_) logit_[size_t(token)] += bias;
    const double rep = options_.repetition_penalty;
    if (rep != 1.0)
        for (const Recorded &r : recorded_) {
            double &l = logit_[size_t(r.token)];
            l = l > 0 ? l / rep : l * rep;
        }
    const double presence = options_.presence_penalty, frequency = options_.frequency_penalty;
    if (presence != 0.0 || frequency != 0.0)
        for (const Recorded &r : recorded_) logit_[size_t(r.token)] -= presence + r.count * frequency;
    // The options' ranges and the bound on counts keep every adjusted logit below +inf in double. The
    // sampler stays total even if that ever changed: a NaN or +inf here would leave no candidate.
    for (const Recorded &r : recorded_) check_adjusted(r.token);
    for (const auto &entry : bias_) check_adjusted(entry.first);
}

void Sampler::check_adjusted(int32_t token) const {
    const double l = logit_[size_t(token)];
    if (!(l < std::numeric_limits<double>::infinity()))
        fail(RWKVRT_ERR_ARGUMENT, "the logit of token ", token, " is ", l, " after bias and penalties");
}

// cand_ = every eligible token, in id order.
void Sampler::collect(double max, double log_floor) {
    cand_.clear();
    for (size_t i = 0; i < logit_.size(); ++i)
        if (passes_min_p(logit_[i], max, log_floor)) cand_.push_back(int32_t(i));
}

// cand_ = the m best-ranked eligible tokens, best first (all of them if fewer are eligible). One pass
// with a heap of the best so far: for m << n_vocab nearly every token costs one comparison.
void Sampler::rank_head(size_t m, double max, double log_floor) {
    const double *l = logit_.data();
    const Before before{l};
    cand_.clear();
    for (size_t i = 0; i < logit_.size(); ++i) {
        // The heap's front is its worst token; a later token (higher id) must be strictly better.
        if (cand_.size() == m && !(l[i] > l[cand_.front()])) continue;
        if (!passes_min_p(l[i], max, log_floor)) continue;
        if (cand_.size() == m) {
            std::pop_heap(cand_.begin(), cand_.end(), before);
            cand_.back() = int32_t(i);
        } else {
            cand_.push_back(int32_t(i));
        }
        std::push_heap(cand_.begin(), cand_.end(), before);
    }
    std::sort_heap(cand_.begin(), cand_.end(), before);
}

// Reorders cand_ so that its first `keep` tokens are the shortest head of the ranking whose mass (in
// e_) reaches `needed` > 0, and returns keep (all of cand_ if its mass falls short). A quickselect
// weighted by mass, with our own partition so the arithmetic is the same everywhere: O(n) expected,
// no sort.
size_t Sampler::nucleus(double needed) {
    const Before before{logit_.data()};
    const double *e = e_.data();
    std::vector<int32_t> &c = cand_;
    // [0, lo) is kept and `needed` is what it still lacks (> 0); [hi, end) is dropped.
    size_t lo = 0, hi = c.size();
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (before(c[mid], c[lo])) std::swap(c[mid], c[lo]); // order lo, mid, hi - 1 by rank,
        if (before(c[hi - 1], c[lo])) std::swap(c[hi - 1], c[lo]);
        if (before(c[hi - 1], c[mid])) std::swap(c[hi - 1], c[mid]);
        std::swap(c[mid], c[lo]); // then pivot on the median
        const int32_t pivot = c[lo];
        size_t p = lo;
        for (size_t i = lo + 1; i < hi; ++i)
            if (before(c[i], pivot)) std::swap(c[i], c[++p]);
        std::swap(c[lo], c[p]); // [lo, p) ranks above the pivot, (p, hi) below
        double mass = 0.0;
        for (size_t i = lo; i < p; ++i) mass += e[c[i]];
        if (mass >= needed) {
            hi = p;
            continue;
        }
        needed -= mass;
        if (e[pivot] >= needed) return p + 1;
        needed -= e[pivot];
        lo = p + 1;
    }
    return lo;
}

// Step 8: the index of the first weight whose running sum exceeds u * total. The running sum is kept
// per block exactly as the total was formed, so the walk and the total agree.
size_t Sampler::pick(std::span<const double> w) {
    const size_t n = w.size();
    const double target = rng_.uniform() * total(w);
    double cum = 0.0;
    for (size_t b = 0; b < n; b += kBlock) {
        const size_t len = std::min(kBlock, n - b);
        const double s = block_sum(&w[b], len);
        if (cum + s > target) {
            double c = cum;
            for (size_t j = b; j < b + len; ++j) {
                c += w[j];
                if (c > target) return j;
            }
            return b + last_positive(w.subspan(b, len)); // rounding inside the block
        }
        cum += s;
    }
    return last_positive(w); // rounding left target == total; the max token has weight 1, so one exists
}

// Steps 5-8: softmax at temperature 1, truncation, temperature, one uniform draw.
int32_t Sampler::draw() {
    const double *l = logit_.data();
    const size_t n_vocab = logit_.size();
    double max = kNegInf;
    for (size_t i = 0; i < n_vocab; ++i) max = std::max(max, l[i]);
    if (max == kNegInf)
        fail(RWKVRT_ERR_ARGUMENT, "no token can be sampled: every logit is -inf after logit bias and bans");

    // Temperature reweights the survivors: p^(1/T) up to a factor is exp((logit - max) / T); exp(-inf) = 0.
    const SamplerOptions &o = options_;
    const double temperature = o.temperature;
    const bool by_mass = o.top_p < 1.0f;
    const size_t top_k = o.top_k > 0 && size_t(o.top_k) < n_vocab ? size_t(o.top_k) : 0;
    w_.resize(n_vocab);
    if (!by_mass && top_k == 0 && o.min_p == 0.0f) {
        for (size_t i = 0; i < n_vocab; ++i) w_[i] = std::exp((l[i] - max) / temperature);
        return int32_t(pick({w_.data(), n_vocab}));
    }

    // The cuts are prefixes of one ranking, all measured on the same temperature-1 distribution, so the
    // survivors are the shortest of the three prefixes.
    const double log_floor = o.min_p > 0.0f ? std::log(double(o.min_p)) : kNegInf;
    if (by_mass) {
        e_.resize(n_vocab);
        for (size_t i = 0; i < n_vocab; ++i) e_[i] = std::exp(l[i] - max);
        const double target = double(o.top_p) * total(e_);
        // Most nuclei are a handful of tokens: try the 64 best first.
        const size_t head = std::min<size_t>(top_k ? top_k : n_vocab, 64);
        rank_head(head, max, log_floor);
        double cum = 0.0;
        size_t keep = 0;
        do // the top-ranked token always stays (top_p = 0 keeps it alone)
            cum += e_[size_t(cand_[keep++])];
        while (keep < cand_.size() && cum < target);
        if (cum >= target || cand_.size() < head || head == top_k) {
            cand_.resize(keep);
        } else { // a wide nucleus
            collect(max, log_floor);
            if (top_k && top_k < cand_.size()) {
                std::nth_element(cand_.begin(), cand_.begin() + ptrdiff_t(top_k), cand_.end(), Before{l});
                cand_.resize(top_k);
            }
            cand_.resize(nucleus(target));
        }
    } else if (top_k && top_k * 16 <= n_vocab) {
        rank_head(top_k, max, log_floor);
    } else {
        collect(max, log_floor);
        if (top_k && top_k < cand_.size()) {
            std::nth_element(cand_.begin(), cand_.begin() + ptrdiff_t(top_k), cand_.end(), Before{l});
            cand_.resize(top_k);
        }
    }

    // Draw in id order, independent of how the survivors were found: a few are sorted, many are spread
    // over the whole vocabulary with zeros between them.
    auto weight = [&](size_t c) {
        return by_mass && temperature == 1.0 ? e_[c] : std::exp((l[c] - max) / temperature);
    };
    if (cand_.size() * 16 > n_vocab) {
        std::fill(w_.begin(), w_.end(), 0.0);
        for (int32_t c : cand_) w_[size_t(c)] = weight(size_t(c));
        return int32_t(pick({w_.data(), n_vocab}));
    }
    std::sort(cand_.begin(), cand_.end());
    for (size_t j = 0; j < cand_.size(); ++j) w_[j] = weight(size_t(cand_[j]));
    return cand_[pick({w_.data(), cand_.size()})];
}

int32_t Sampler::sample(std::span<const float> logits) {
    adjust(logits);
    int32_t token = -1;
    if (options_.temperature == 0.0f) {
        double best = kNegInf; // strict > : the lowest id wins a tie, and -inf is never picked
        for (size_t i = 0; i < logit_.size(); ++i)
            if (logit_[i] > best) {
                best = logit_[i];
                token = int32_t(i);
            }
        if (token < 0)
            fail(RWKVRT_ERR_ARGUMENT, "no token can be sampled: every logit is -inf after logit bias and bans");
    } else {
        token = draw();
    }
    accept(std::span<const int32_t>(&token, 1));
    return token;
}

} // namespace rwkvrt
