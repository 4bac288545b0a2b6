// Continuous batching: one thread owns every sequence and feeds all of them, at every step, in one
// rwkvrt_feed_batch call. Decoding sequences give one row each; prompts are fed in chunks that fill
// the rest of a step's row budget, so a long prompt never stalls the others' decoding. Requests join
// between steps and leave as soon as they finish or their client goes away.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "job.h"
#include "metrics.h"

namespace rwkvrt_server {

struct SchedulerOptions {
    int parallel = 32;   // sequences in the batch at once
    int queue = 64;      // requests that may wait for a place; more are refused
    int step_rows = 256; // tokens fed per step, all sequences together (> parallel)
};

class Scheduler {
public:
    // The model, tokenizer and cache (NULL: none) must outlive the scheduler.
    Scheduler(const rwkvrt_model *model, const rwkvrt_tokenizer *tokenizer, rwkvrt_prefix_cache *cache,
              Metrics &metrics, SchedulerOptions options);
    ~Scheduler(); // stop()
    // Finishes the step under way, then fails every request left ("shutting down"); refuses new ones.
    void stop();
    Scheduler(const Scheduler &) = delete;
    Scheduler &operator=(const Scheduler &) = delete;

    enum class Admission { accepted, queue_full, stopping };
    Admission submit(std::shared_ptr<Job> job);

private:
    struct Seq;
    void loop();
    void retire(std::vector<std::unique_ptr<Seq>> &active);
    void admit(std::vector<std::unique_ptr<Seq>> &active);
    void step(std::vector<std::unique_ptr<Seq>> &active);
    void after_logits(Seq &s);
    void finish(Seq &s, Finish why, bool feed_last, bool closed_by_separator);
    void complete(Seq &s);
    void emit(Seq &s, size_t upto);

    const rwkvrt_model *model_;
    const rwkvrt_tokenizer *tokenizer_;
    rwkvrt_prefix_cache *cache_;
    Metrics &metrics_;
    SchedulerOptions options_;
    int32_t n_vocab_;

    std::mutex mu_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    size_t in_flight_ = 0; // queued and active
    bool stopping_ = false;
    std::thread thread_;
};

} // namespace rwkvrt_server
