#include "model/model.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <memory>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <vector>

#include "arch/blocks.h"
#include "core/error.h"
#include "kernels/matrix.h"
#include "model/load_pass.h"
#include "state/state.h"

namespace rwkvrt {

namespace {

int hardware_threads() { return int(std::max(1u, std::thread::hardware_concurrency())); }

// Loading takes every core, whatever the model computes with: it is work for the CPU (the kernel zeroes
// each fresh page before the copy, and converted matrices are computed), which one core does at about
// half the speed of two.
std::unique_ptr<ThreadPool> load_threads() {
    try {
        return std::make_unique<ThreadPool>(hardware_threads());
    } catch (const std::system_error &) {
        return std::make_unique<ThreadPool>(1); // no other thread to be had: this one alone
    }
}

// Claims every state of a call, or none: a state already claimed by another call is an error.
class ClaimedStates {
public:
    explicit ClaimedStates(std::span<const FeedRequest> requests) {
        for (size_t i = 0; i < requests.size(); ++i) {
            if (!requests[i].state->try_claim()) {
                release();
                fail(RWKVRT_ERR_ARGUMENT, requests.size() > 1 ? cat("sequence ", i, ": ") : std::string(), "the state is in use by another call");
            }
            claimed_.push_back(requests[i].state);
        }
    }
    ~ClaimedStates() { release(); }

private:
    void release() {
        for (State *s : claimed_) s->release();
        claimed_.clear();
    }
    std::vector<State *> claimed_;
};

void validate(const Model &model, std::span<const FeedRequest> requests) {
    if (requests.empty()) fail(RWKVRT_ERR_ARGUMENT, "n_seqs is 0");
    const int64_t vocab = model.hparams().n_vocab;
    const bool one = requests.size() == 1;
    const auto where = [&](size_t i) { return one ? std::string() : cat("sequence ", i, ": "); };
    for (size_t i = 0; i < requests.size(); ++i) {
        const FeedRequest &r = requests[i];
        if (!r.state) fail(RWKVRT_ERR_ARGUMENT, where(i), "the state is NULL");
        if (&r.state->model() != &model) fail(RWKVRT_ERR_MISMATCH, where(i), "the state belongs to another model");
        if (r.n == 0) fail(RWKVRT_ERR_ARGUMENT, where(i), "n_tokens is 0");
        if (!r.tokens) fail(RWKVRT_ERR_ARGUMENT, where(i), "tokens is NULL");
        for (size_t t = 0; t < r.n; ++t)
            if (r.tokens[t] < 0 || r.tokens[t] >= vocab)
                fail(RWKVRT_ERR_TOKEN, where(i), "token ", r.tokens[t], " at position ", t,
                     " is outside the vocabulary [0, ", vocab, ")");
    }
    std::vector<std::pair<const State *, size_t>> seen;
    for (size_t i = 0; i < requests.size(); ++i) seen.emplace_back(requests[i].state, i);
    std::sort(seen.begin(), seen.end());
    for (size_t i = 1; i < seen.size(); ++i)
        if (seen[i].first == seen[i - 1].first)
            fail(RWKVRT_ERR_ARGUMENT, "sequences ", seen[i - 1].second, " and ", seen[i].second, " are the same state");
}

// Rows per sequence for the next step: water-filling of `budget` rows over the unfinished sequences,
// so short ones (decoding) finish in one step and long prompts share what is left.
void plan_step(const std::vector<size_t> &remaining, size_t budget, std::vector<size_t> &take) {
    std::vector<size_t> order;
    for (size_t i = 0; i < remaining.size(); ++i)
        if (remaining[i] > 0) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return remaining[a] < remaining[b]; });
    std::fill(take.begin(), take.end(), 0);
    size_t left = std::max(budget, order.size());
    for (size_t k = 0; k < order.size(); ++k) {
        const size_t share = std::max<size_t>(1, left / (order.size() - k));
        take[order[k]] = std::min(remaining[order[k]], share);
        left -= std::min(left, take[order[k]]);
    }
}

// Rows of the next step when `left` rows remain in the call. A step of one row is a matrix-vector
// product (unless batch_invariant), whose sums run in another order: a call of kStepRows + 1 rows is
// split 255 + 2, not 256 + 1, so a sequence of several tokens gets the same bits alone or in any batch.
size_t step_budget(uint64_t left) { return left == Model::kStepRows + 1 ? Model::kStepRows - 1 : Model::kStepRows; }

// Vectorised: a scalar loop over one token's 65,536 logits took 0.3% of the samples of 0.1B generation.
bool all_finite(const float *x, int64_t n) { return first_nonfinite(DType::F32, x, size_t(n)) == size_t(n); }

// The buffers a feed computes the next states into, one per sequence: at_call[i] first, which then
// holds the sequence's state at the call's start (to undo the whole call), and next[i] for its later
// steps. Thread-local, so that a decoding loop does not allocate (and fault in) fresh pages every
// call; a feed nested in another's progress callback (on another model) gets buffers of its own.
struct StepBuffers {
    std::vector<StateValues> at_call, next;
    bool in_use = false;
};

StepBuffers &step_buffers() {
    thread_local StepBuffers cached;
    thread_local std::vector<std::unique_ptr<StepBuffers>> nested; // rare: kept for the thread's life
    if (!cached.in_use) return cached;
    for (auto &b : nested)
        if (!b->in_use) return *b;
    return *nested.emplace_back(std::make_unique<StepBuffers>());
}

struct BuffersInUse {
    StepBuffers &bufs;
    explicit BuffersInUse(StepBuffers &b) : bufs(b) { bufs.in_use = true; }
    ~BuffersInUse() { bufs.in_use = false; }
};

} // namespace

Model::Model(const std::string &path, const ModelOptions &options) {
    if (options.n_threads < 0 || options.n_threads > kMaxThreads)
        fail(RWKVRT_ERR_ARGUMENT, "n_threads is ", options.n_threads, "; use 1 to ", kMaxThreads, ", or 0 for one per core");
    const int n_threads = options.n_threads ? options.n_threads : hardware_threads();
    file_ = open_tensor_file(path, options.use_mmap);
    std::vector<std::string> copied;
    std::vector<Matrix> lanes;
    const std::unique_ptr<ThreadPool> loading = load_threads();
    arch_ = build_model(*file_, LoadConfig{options.weight_type, options.int8_activations, options.bf16_activations, &copied, &lanes, loading.get()});
    const std::unordered_set<std::string> copied_set(copied.begin(), copied.end());
    fingerprint_ = load_tensors(*file_, LoadPlan{lanes, &copied_set}, *loading);
    // Held twice, a Q8_0 model converted to another layout would take twice its memory.
    for (const std::string &name : copied) file_->give_back(name);
    file_differs_ = !copied.empty() || !lanes.empty();
    try {
        engine_ = std::make_unique<Engine>(n_threads);
    } catch (const std::system_error &e) {
        fail(RWKVRT_ERR_ARGUMENT, "cannot start ", n_threads, " threads (", e.what(), "); ask for fewer");
    }
}

Model::~Model() = default;

std::shared_ptr<const TensorFile> Model::stored_tensors() const {
    if (!file_differs_) return std::shared_ptr<const TensorFile>(std::shared_ptr<const TensorFile>(), file_.get());
    std::shared_ptr<const TensorFile> again = open_tensor_file(path(), /*use_mmap=*/true);
    if (fingerprint_of(*again) != fingerprint_)
        fail(RWKVRT_ERR_MISMATCH, "'", path(), "' has changed since the model was loaded from it; load it again");
    return again;
}

uint64_t Model::fingerprint_v1() const {
    std::call_once(fingerprint_v1_once_, [this] { fingerprint_v1_ = fingerprint_v1_of(*stored_tensors()); });
    return fingerprint_v1_;
}

size_t Model::weight_bytes() const {
    size_t n = 0;
    for (const TensorView &t : file_->tensors()) n += t.nbytes;
    return n;
}

size_t Model::n_params() const {
    size_t n = 0;
    for (const TensorView &t : file_->tensors()) n += size_t(t.numel());
    return n;
}

double Model::prompt_flops(size_t n_seqs, size_t n_tokens) const {
    const WorkPerToken &w = arch_->work_per_token();
    const double every_row = w.flops - w.head_flops - w.tail_flops;
    std::vector<size_t> remaining(n_seqs, n_tokens), take(n_seqs);
    double flops = double(n_seqs) * w.head_flops;
    for (uint64_t left = uint64_t(n_seqs) * n_tokens; left > 0;) { // the steps feed_batch takes
        plan_step(remaining, step_budget(left), take);
        for (size_t i = 0; i < n_seqs; ++i) {
            if (take[i] == 0) continue;
            const int64_t logit_rows = take[i] == remaining[i] ? 1 : 0;
            flops += double(take[i]) * every_row + double(StepTail::rows_of(int64_t(take[i]), logit_rows)) * w.tail_flops;
            remaining[i] -= take[i];
            left -= take[i];
        }
    }
    return flops;
}

void Model::feed(State &state, const int32_t *tokens, size_t n, float *logits, const ProgressFn &progress) const {
    const FeedRequest request{&state, tokens, n, logits};
    feed_batch({&request, 1}, progress);
}

void Model::feed_batch(std::span<const FeedRequest> requests, const ProgressFn &progress, bool batch_invariant) const {
    validate(*this, requests);
    ClaimedStates claimed(requests);
    const size_t B = requests.size(), state_floats = arch_->state_floats();
    const int64_t vocab = hparams().n_vocab;

    // Every step computes the next states out of place and swaps them in once it has succeeded, so a
    // failed or cancelled step changes no state and no state is ever copied to be able to undo it.
    StepBuffers &bufs = step_buffers();
    BuffersInUse in_use(bufs);
    if (bufs.at_call.size() < B) bufs.at_call.resize(B);
    if (bufs.next.size() < B) bufs.next.resize(B);
    std::vector<uint64_t> tokens_at_call(B);
    std::vector<char> stepped(B, 0); // the sequence took a step: its state at the call's start is in at_call[i]
    for (size_t i = 0; i < B; ++i) tokens_at_call[i] = requests[i].state->n_tokens();
    const auto restore_call = [&] {
        for (size_t i = 0; i < B; ++i) {
            if (stepped[i]) requests[i].state->swap_values(bufs.at_call[i]);
            stepped[i] = 0;
            requests[i].state->set_n_tokens(tokens_at_call[i]);
        }
    };

    uint64_t total = 0;
    std::vector<size_t> remaining(B), done(B, 0), take(B);
    for (size_t i = 0; i < B; ++i) total += remaining[i] = requests[i].n;
    uint64_t fed = 0;
    const std::function<bool()> stop = progress ? std::function<bool()>([&] { return progress(fed, total); })
                                                : std::function<bool()>();
    Step step;
    std::vector<int32_t> rows;
    try {
        while (fed < total) {
            plan_step(remaining, step_budget(total - fed), take);
            step.seqs.clear();
            rows.clear();
            for (size_t i = 0; i < B; ++i) {
                if (take[i] == 0) continue;
                const FeedRequest &r = requests[i];
                const bool last = take[i] == remaining[i];
                float *logits = r.logits_all ? r.logits + done[i] * size_t(vocab) : last ? r.logits : nullptr;
                StateValues &next = stepped[i] ? bufs.next[i] : bufs.at_call[i];
                next.resize(state_floats);
                step.seqs.push_back({r.state->data(), next.data(), int64_t(rows.size()), int64_t(take[i]), logits, r.logits_all});
                rows.insert(rows.end(), r.tokens + done[i], r.tokens + done[i] + take[i]);
            }
            step.tokens = rows.data();
            step.rows = int64_t(rows.size());
            engine_->run(stop, [&](ExecContext &ctx) {
                const BatchInvariantScope invariant(batch_invariant);
                arch_->forward(step, ctx);
            });
            for (size_t i = 0; i < B; ++i) {
                if (!take[i]) continue;
                const FeedRequest &r = requests[i];
                // The first swap leaves the state at the call's start in at_call[i]; later ones leave the
                // previous step's state in next[i], free to be overwritten.
                r.state->swap_values(stepped[i] ? bufs.next[i] : bufs.at_call[i]);
                stepped[i] = 1;
                r.state->add_tokens(take[i]);
                const float *written = r.logits_all ? r.logits + done[i] * size_t(vocab) : r.logits;
                const int64_t written_rows = r.logits_all ? int64_t(take[i]) : 1;
                done[i] += take[i];
                remaining[i] -= take[i];
                fed += take[i];
                if ((remaining[i] == 0 || r.logits_all) && r.logits && !all_finite(written, written_rows * vocab))
                    fail(RWKVRT_ERR_CORRUPT, B == 1 ? std::string() : cat("sequence ", i, ": "),
                         "the model computed non-finite logits (values out of range in its weights or the state); "
                         "the state was left as it was before the call");
            }
        }
    } catch (const Cancelled &) {
        // Between steps' swaps: every state is whole, after the steps it completed.
        fail(RWKVRT_ERR_CANCELLED, "cancelled by the progress callback after ", fed, " of ", total, " tokens");
    } catch (...) {
        restore_call();
        throw;
    }
    if (progress) progress(fed, total);
}

} // namespace rwkvrt
