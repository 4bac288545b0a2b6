#include "metrics.h"

#include <cstdio>

namespace rwkvrt_server {

namespace {

std::string num(double v) {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", v);
    return b;
}

void metric(std::string &out, const std::string &name, const char *type, const std::string &help, double v) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " + num(v) + "\n";
}

} // namespace

void Histogram::observe(double v) {
    std::lock_guard lock(mu_);
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++n_;
}

void Histogram::write(std::string &out, const std::string &name, const std::string &help) const {
    std::lock_guard lock(mu_);
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
    uint64_t cum = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
        cum += counts_[i];
        out += name + "_bucket{le=\"" + num(bounds_[i]) + "\"} " + std::to_string(cum) + "\n";
    }
    out += name + "_bucket{le=\"+Inf\"} " + std::to_string(n_) + "\n";
    out += name + "_sum " + num(sum_) + "\n" + name + "_count " + std::to_string(n_) + "\n";
}

void Metrics::count_request(const std::string &endpoint, int status) {
    std::lock_guard lock(mu_);
    ++requests_[{endpoint, status}];
}

std::string Metrics::render(const rwkvrt_prefix_cache *cache) const {
    std::string out;
    out += "# HELP rwkvrt_requests_total HTTP requests answered, by endpoint and status.\n"
           "# TYPE rwkvrt_requests_total counter\n";
    {
        std::lock_guard lock(mu_);
        for (const auto &[key, n] : requests_)
            out += "rwkvrt_requests_total{endpoint=\"" + key.first + "\",status=\"" + std::to_string(key.second) + "\"} " +
                   std::to_string(n) + "\n";
    }
    metric(out, "rwkvrt_prompt_tokens_total", "counter", "Prompt tokens of the requests.", double(prompt_tokens));
    metric(out, "rwkvrt_prompt_tokens_fed_total", "counter", "Prompt tokens fed to the model.", double(prompt_tokens_fed));
    metric(out, "rwkvrt_prompt_tokens_cached_total", "counter", "Prompt tokens served by the prefix-state cache.",
           double(prompt_tokens_cached));
    metric(out, "rwkvrt_completion_tokens_total", "counter", "Tokens generated.", double(completion_tokens));
    metric(out, "rwkvrt_sessions_resumed_total", "counter", "Turns that continued a stored conversation.", double(sessions_resumed));
    metric(out, "rwkvrt_session_tokens_kept_total", "counter",
           "History tokens that resumed conversations did not feed again.", double(session_tokens_kept));
    metric(out, "rwkvrt_turns_replayed_total", "counter", "Turns asked again under their Idempotency-Key, answered from the store.",
           double(replayed_turns));
    metric(out, "rwkvrt_requests_cancelled_total", "counter", "Requests stopped because the client went away.", double(cancelled));
    metric(out, "rwkvrt_active_sequences", "gauge", "Sequences in the batch.", double(active));
    metric(out, "rwkvrt_queued_requests", "gauge", "Requests waiting for a place in the batch.", double(queued));
    metric(out, "rwkvrt_steps_total", "counter", "Batched forward steps.", double(steps));
    step_seconds.write(out, "rwkvrt_step_seconds", "Time of one batched step (feed and sampling).");
    step_sequences.write(out, "rwkvrt_step_sequences", "Sequences fed together in one step.");
    step_rows.write(out, "rwkvrt_step_rows", "Tokens fed together in one step.");
    ttft_seconds.write(out, "rwkvrt_time_to_first_token_seconds", "From the request's arrival to its first token.");
    rwkvrt_prefix_cache_stats s{};
    s.struct_size = sizeof s;
    if (cache && rwkvrt_prefix_cache_get_stats(cache, &s) == RWKVRT_OK) {
        metric(out, "rwkvrt_prefix_cache_hits_total", "counter", "Prefix-cache lookups that matched.", double(s.hits));
        metric(out, "rwkvrt_prefix_cache_misses_total", "counter", "Prefix-cache lookups that matched nothing.", double(s.misses));
        metric(out, "rwkvrt_prefix_cache_tokens_saved_total", "counter", "Tokens the prefix cache saved.", double(s.tokens_saved));
        metric(out, "rwkvrt_prefix_cache_entries", "gauge", "Prefix-cache entries.", double(s.entries));
        metric(out, "rwkvrt_prefix_cache_bytes", "gauge", "Bytes of prefix-cache states in memory.", double(s.bytes_used));
    }
    return out;
}

} // namespace rwkvrt_server
