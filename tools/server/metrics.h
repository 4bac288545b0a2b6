// What /metrics reports, in Prometheus' text format. Counters are atomics; histograms and the
// per-endpoint request counts take a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "rwkvrt.h"

namespace rwkvrt_server {

class Histogram {
public:
    explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
    void observe(double v);
    void write(std::string &out, const std::string &name, const std::string &help) const;

private:
    mutable std::mutex mu_;
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;
    double sum_ = 0;
    uint64_t n_ = 0;
};

struct Metrics {
    std::atomic<uint64_t> prompt_tokens{0};       // tokens of the prompts requests sent
    std::atomic<uint64_t> prompt_tokens_fed{0};   // of them, fed to the model
    std::atomic<uint64_t> prompt_tokens_cached{0}; // of them, served by the prefix cache
    std::atomic<uint64_t> completion_tokens{0};
    std::atomic<uint64_t> sessions_resumed{0};
    std::atomic<uint64_t> session_tokens_kept{0}; // history tokens a resumed conversation did not feed again
    std::atomic<uint64_t> replayed_turns{0};      // turns answered again from the store (Idempotency-Key)
    std::atomic<uint64_t> cancelled{0};           // requests whose client went away
    std::atomic<int64_t> active{0};               // sequences in the batch
    std::atomic<int64_t> queued{0};               // requests waiting for a place in it
    std::atomic<uint64_t> steps{0};
    Histogram step_seconds{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
    Histogram step_sequences{{1, 2, 4, 8, 16, 32, 64, 128}};
    Histogram step_rows{{1, 2, 4, 8, 16, 32, 64, 128, 256}};
    Histogram ttft_seconds{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};

    void count_request(const std::string &endpoint, int status);
    // The whole text; the prefix cache (may be NULL) adds its own counters.
    std::string render(const rwkvrt_prefix_cache *cache) const;

private:
    mutable std::mutex mu_;
    std::map<std::pair<std::string, int>, uint64_t> requests_;
};

} // namespace rwkvrt_server
