#include "scheduler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat_format.h"

namespace rwkvrt_server {

namespace {

using Clock = std::chrono::steady_clock;

template <class T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};
using State = std::unique_ptr<rwkvrt_state, Deleter<rwkvrt_state, rwkvrt_state_free>>;
using Sampler = std::unique_ptr<rwkvrt_sampler, Deleter<rwkvrt_sampler, rwkvrt_sampler_free>>;

std::string library_error(const std::string &what) { return what + ": " + rwkvrt_last_error(); }

// Bytes at the end of s that start a UTF-8 character the next tokens may complete.
size_t incomplete_utf8_tail(const std::string &s) {
    for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
        const auto c = static_cast<unsigned char>(s[s.size() - k]);
        if ((c & 0xC0) == 0x80) continue;
        const size_t need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

} // namespace

struct Scheduler::Seq {
    std::shared_ptr<Job> job;
    State state;
    Sampler sampler;
    enum class Phase { prefill, decode, close } phase = Phase::prefill;
    size_t fed = 0;                   // prompt tokens in the state
    size_t next_cache_point = 0;      // index into job->cache_points
    std::vector<int32_t> input;       // this step's tokens (decode: the last one sampled; close: the turn's end)
    std::vector<float> logits;
    bool wants_logits = false;
    std::string text;                 // the reply so far
    size_t emitted = 0;               // bytes of text handed to the job
    size_t stop_checked = 0;          // text before this was searched for stop strings
    int32_t last_token = -1;
    size_t generated = 0;
    std::vector<std::string> stops;
    size_t longest_stop = 0;
    bool failed = false;
    bool done = false;                // the job has its answer
};

Scheduler::Scheduler(const rwkvrt_model *model, const rwkvrt_tokenizer *tokenizer, rwkvrt_prefix_cache *cache,
                     Metrics &metrics, SchedulerOptions options)
    : model_(model), tokenizer_(tokenizer), cache_(cache), metrics_(metrics), options_(options),
      n_vocab_(rwkvrt_model_n_vocab(model)) {
    thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

Scheduler::Admission Scheduler::submit(std::shared_ptr<Job> job) {
    {
        std::lock_guard lock(mu_);
        if (stopping_) return Admission::stopping;
        const size_t places = size_t(options_.parallel) + size_t(options_.queue);
        if (in_flight_ >= places) { // requests whose clients went away while queued leave their places
            const size_t before = queue_.size();
            std::erase_if(queue_, [](const std::shared_ptr<Job> &j) { return j->cancelled.load(); });
            in_flight_ -= before - queue_.size();
            metrics_.cancelled += before - queue_.size();
            metrics_.queued = int64_t(queue_.size());
        }
        if (in_flight_ >= places) return Admission::queue_full;
        ++in_flight_;
        queue_.push_back(std::move(job));
        metrics_.queued = int64_t(queue_.size());
    }
    wake_.notify_one();
    return Admission::accepted;
}

void Scheduler::retire(std::vector<std::unique_ptr<Seq>> &active) {
    const size_t before = active.size();
    std::erase_if(active, [&](const std::unique_ptr<Seq> &s) {
        if (s->job->cancelled && !s->done) { // the client went away: leave before the next step
            ++metrics_.cancelled;
            s->job->error = "cancelled";
            finish(*s, Finish::error, false, false);
        }
        return s->done;
    });
    std::lock_guard lock(mu_);
    in_flight_ -= before - active.size();
    metrics_.active = int64_t(active.size());
}

void Scheduler::loop() {
    std::vector<std::unique_ptr<Seq>> active;
    for (;;) {
        {
            std::unique_lock lock(mu_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active.empty(); });
            if (stopping_) {
                for (auto &j : queue_) {
                    active.push_back(std::make_unique<Seq>());
                    active.back()->job = j;
                }
                queue_.clear();
                lock.unlock();
                for (auto &s : active) {
                    s->job->error = "the server is shutting down";
                    s->job->error_status = 503;
                    s->job->error_code = "shutting_down";
                    finish(*s, Finish::error, false, false);
                }
                return;
            }
        }
        admit(active);
        retire(active);
        if (!active.empty()) step(active);
        retire(active);
    }
}

void Scheduler::admit(std::vector<std::unique_ptr<Seq>> &active) {
    while (active.size() < size_t(options_.parallel)) {
        std::shared_ptr<Job> job;
        {
            std::lock_guard lock(mu_);
            if (queue_.empty()) break;
            job = std::move(queue_.front());
            queue_.pop_front();
            metrics_.queued = int64_t(queue_.size());
        }
        auto s = std::make_unique<Seq>();
        s->job = job;
        rwkvrt_state *st = nullptr;
        rwkvrt_sampler *sm = nullptr;
        if (!job->start && rwkvrt_state_new(model_, &st) != RWKVRT_OK) {
            job->error = library_error("cannot make a state");
            finish(*s, Finish::error, false, false);
            active.push_back(std::move(s));
            continue;
        }
        s->state.reset(st);
        if (rwkvrt_sampler_new(&job->sampling, n_vocab_, &sm) != RWKVRT_OK) {
            job->error = library_error("cannot make the sampler");
            finish(*s, Finish::error, false, false);
            active.push_back(std::move(s));
            continue;
        }
        s->sampler.reset(sm);
        if (job->ban_end_token && job->end_token >= 0)
            rwkvrt_sampler_set_logit_bias(s->sampler.get(), job->end_token, -INFINITY);
        if (job->start) {
            s->state.reset(job->start.release());
        } else if (cache_ && job->prompt.size() > 1) {
            size_t matched = 0; // all but the last token, which must be fed for its logits
            if (rwkvrt_prefix_cache_lookup(cache_, job->prompt.data(), job->prompt.size() - 1, s->state.get(), &matched) == RWKVRT_OK) {
                s->fed = matched;
                job->cached_tokens = matched;
                metrics_.prompt_tokens_cached += matched;
            }
        }
        while (s->next_cache_point < job->cache_points.size() && job->cache_points[s->next_cache_point] <= s->fed)
            ++s->next_cache_point;
        s->stops = job->stop;
        if (job->separator_stops) s->stops.push_back(kTurnSeparator);
        for (const std::string &x : s->stops) s->longest_stop = std::max(s->longest_stop, x.size());
        s->logits.resize(size_t(n_vocab_));
        active.push_back(std::move(s));
    }
}

void Scheduler::step(std::vector<std::unique_ptr<Seq>> &active) {
    const Clock::time_point t0 = Clock::now();
    // Decoders and closing turns first: one row each (or the few that end a turn); prompts share the rest.
    size_t budget = size_t(options_.step_rows);
    std::vector<Seq *> in_step;
    for (auto &p : active) { // decoders always fit: --parallel < --step-rows
        Seq &s = *p;
        s.wants_logits = s.phase == Seq::Phase::decode;
        if (s.phase != Seq::Phase::decode) continue;
        budget -= 1;
        in_step.push_back(&s);
    }
    for (auto &p : active) { // a closing turn waits for a step with room (the library would split it)
        Seq &s = *p;
        if (s.phase != Seq::Phase::close || s.input.size() > budget) continue;
        budget -= s.input.size();
        in_step.push_back(&s);
    }
    for (auto &p : active) {
        Seq &s = *p;
        if (s.phase != Seq::Phase::prefill || budget == 0) continue;
        const std::vector<int32_t> &prompt = s.job->prompt;
        size_t end = std::min(prompt.size(), s.fed + budget);
        if (s.next_cache_point < s.job->cache_points.size()) end = std::min(end, s.job->cache_points[s.next_cache_point]);
        s.input.assign(prompt.begin() + std::ptrdiff_t(s.fed), prompt.begin() + std::ptrdiff_t(end));
        s.wants_logits = end == prompt.size();
        budget -= s.input.size();
        in_step.push_back(&s);
    }
    if (in_step.empty()) return;

    // Every step runs the matrix products of a batch, a lone row included (batch_invariant), so a
    // sequence's output never depends on the others served with it.
    const auto feed = [&](const std::vector<Seq *> &seqs) {
        std::vector<rwkvrt_state *> states;
        std::vector<const int32_t *> tokens;
        std::vector<size_t> counts;
        std::vector<float *> logits;
        for (Seq *s : seqs) {
            states.push_back(s->state.get());
            tokens.push_back(s->input.data());
            counts.push_back(s->input.size());
            logits.push_back(s->wants_logits ? s->logits.data() : nullptr);
        }
        rwkvrt_feed_options options = rwkvrt_feed_options_default();
        options.batch_invariant = 1;
        return rwkvrt_feed_batch_ex(model_, states.size(), states.data(), tokens.data(), counts.data(), logits.data(), &options);
    };
    if (feed(in_step) != RWKVRT_OK) {
        // All or nothing: find the sequences at fault by feeding each alone; the others go on.
        const std::string batch_error = rwkvrt_last_error();
        for (Seq *s : in_step)
            if (feed({s}) != RWKVRT_OK) {
                s->job->error = library_error("the model could not be run") + " (batch: " + batch_error + ")";
                s->failed = true;
            }
    }
    size_t rows = 0;
    for (Seq *s : in_step) rows += s->input.size();
    for (Seq *s : in_step) {
        if (s->failed) {
            finish(*s, Finish::error, false, false);
            continue;
        }
        switch (s->phase) {
        case Seq::Phase::prefill:
            s->fed += s->input.size();
            metrics_.prompt_tokens_fed += s->input.size();
            if (s->next_cache_point < s->job->cache_points.size() && s->job->cache_points[s->next_cache_point] == s->fed) {
                ++s->next_cache_point;
                // A failure costs only later prompts their shortcut; the operator hears of it (a full --cache-dir).
                if (cache_ && rwkvrt_prefix_cache_insert(cache_, s->job->prompt.data(), s->fed, s->state.get()) != RWKVRT_OK)
                    std::fprintf(stderr, "rwkvrt serve: the prefix cache: %s\n", rwkvrt_last_error());
            }
            if (s->fed == s->job->prompt.size()) {
                s->phase = Seq::Phase::decode;
                after_logits(*s);
            }
            break;
        case Seq::Phase::decode: after_logits(*s); break;
        case Seq::Phase::close: complete(*s); break;
        }
    }
    ++metrics_.steps;
    metrics_.step_seconds.observe(std::chrono::duration<double>(Clock::now() - t0).count());
    metrics_.step_sequences.observe(double(in_step.size()));
    metrics_.step_rows.observe(double(rows));
}

void Scheduler::after_logits(Seq &s) {
    Job &job = *s.job;
    int32_t t = -1;
    if (rwkvrt_sample(s.sampler.get(), s.logits.data(), &t) != RWKVRT_OK) {
        job.error = library_error("cannot sample");
        finish(s, Finish::error, false, false);
        return;
    }
    if (s.generated++ == 0) {
        job.ttft_seconds = std::chrono::duration<double>(Clock::now() - job.created).count();
        metrics_.ttft_seconds.observe(job.ttft_seconds);
    }
    s.last_token = t;
    if (t == job.end_token) {
        emit(s, s.text.size());
        finish(s, Finish::stop, false, false);
        return;
    }
    char buf[256];
    size_t len = 0;
    std::string piece;
    if (rwkvrt_token_to_bytes(tokenizer_, t, buf, sizeof buf, &len) == RWKVRT_OK) {
        piece.assign(buf, len);
    } else {
        piece.resize(len);
        rwkvrt_token_to_bytes(tokenizer_, t, piece.data(), piece.size(), &len);
    }
    if (s.generated == 1 && job.strip_leading_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    s.text += piece;

    // The earliest stop string, searched in the text not yet searched (and a stop's length before it).
    size_t from = s.stop_checked > s.longest_stop ? s.stop_checked - s.longest_stop : 0, at = std::string::npos;
    bool separator = false;
    for (const std::string &x : s.stops) {
        const size_t p = s.text.find(x, from);
        if (p < at) {
            at = p;
            separator = x == kTurnSeparator && job.separator_stops;
        }
    }
    s.stop_checked = s.text.size();
    if (at != std::string::npos) {
        s.text.resize(at);
        emit(s, at);
        finish(s, Finish::stop, true, separator);
        return;
    }
    if (s.generated >= size_t(job.max_tokens)) {
        emit(s, s.text.size());
        finish(s, Finish::length, true, false);
        return;
    }
    // Hold back what may be the start of a stop string or of a UTF-8 character.
    size_t hold = incomplete_utf8_tail(s.text);
    for (const std::string &x : s.stops)
        for (size_t k = std::min(x.size() - 1, s.text.size()); k > hold; --k)
            if (s.text.compare(s.text.size() - k, k, x, 0, k) == 0) {
                hold = k;
                break;
            }
    emit(s, s.text.size() - hold);
    s.input.assign(1, t);
}

void Scheduler::emit(Seq &s, size_t upto) {
    if (upto <= s.emitted) return;
    {
        std::lock_guard lock(s.job->mu);
        s.job->text.append(s.text, s.emitted, upto - s.emitted);
    }
    s.emitted = upto;
    s.job->cv.notify_all();
}

void Scheduler::finish(Seq &s, Finish why, bool feed_last, bool closed_by_separator) {
    Job &job = *s.job;
    job.finish = why;
    if (why != Finish::error && job.keep_state) {
        // The turn ends in the state too: its last token, then the separator unless it was that.
        s.input.clear();
        if (feed_last) s.input.push_back(s.last_token);
        if (!closed_by_separator) s.input.insert(s.input.end(), job.separator.begin(), job.separator.end());
        s.wants_logits = false;
        if (!s.input.empty()) {
            s.phase = Seq::Phase::close;
            return;
        }
    }
    complete(s);
}

void Scheduler::complete(Seq &s) {
    Job &job = *s.job;
    std::string snapshot;
    if (job.finish != Finish::error && job.keep_state) {
        size_t written = 0;
        const std::string meta = job.metadata ? job.metadata(s.text, job, s.generated) : std::string();
        if (rwkvrt_state_set_metadata(s.state.get(), meta.data(), meta.size()) != RWKVRT_OK ||
            (snapshot.resize(rwkvrt_state_snapshot_size(s.state.get())),
             rwkvrt_state_snapshot(s.state.get(), snapshot.data(), snapshot.size(), &written) != RWKVRT_OK)) {
            job.error = library_error("cannot keep the conversation");
            job.finish = Finish::error;
            snapshot.clear();
        }
    }
    s.done = true;
    metrics_.completion_tokens += s.generated;
    {
        std::lock_guard lock(job.mu);
        job.completion_tokens = s.generated;
        job.final_state = std::move(snapshot);
        job.done = true;
    }
    job.cv.notify_all();
}

} // namespace rwkvrt_server
