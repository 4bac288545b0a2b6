// A generation request as the scheduler sees it, and the channel through which its text comes back to
// the HTTP thread that waits for it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "rwkvrt.h"

namespace rwkvrt_server {

enum class Finish { none, stop, length, error };

struct Job {
    // Set by the HTTP thread before the job is submitted; read-only afterwards.
    std::vector<int32_t> prompt;       // the tokens to feed (>= 1)
    struct StateFree {
        void operator()(rwkvrt_state *s) const { rwkvrt_state_free(s); }
    };
    std::unique_ptr<rwkvrt_state, StateFree> start; // a conversation's state to continue, or NULL: a fresh state
    std::vector<size_t> cache_points;  // prompt lengths after which the prefix cache keeps the state (fresh states only)
    rwkvrt_sampler_options sampling = rwkvrt_sampler_options_default();
    bool ban_end_token = false;        // chat: the end of text is never sampled (the official demo)
    int32_t end_token = -1;            // completions: sampling it ends the text; -1: none
    std::vector<std::string> stop;     // stop strings: neither they nor what follows is returned
    bool separator_stops = false;      // chat: the turn separator "\n\n" ends the reply
    int32_t max_tokens = 16;
    std::string reply_prefix;          // text the prompt already gave the reply ("<think")
    bool strip_leading_space = false;  // chat: the reply's first space belongs to the format
    bool keep_state = false;           // close the turn and return the state (a conversation)
    std::vector<int32_t> separator;    // the tokens that close a turn
    // Kept with the returned state: called on the scheduler's thread as the turn closes, with the reply,
    // the job (its finish and cached_tokens are final) and the number of tokens generated.
    std::function<std::string(const std::string &reply, const Job &job, size_t completion_tokens)> metadata;
    std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();

    std::atomic<bool> cancelled{false}; // set by the HTTP thread when the client went away

    // Results, under mu; cv is signalled whenever text is added or the job ends.
    std::mutex mu;
    std::condition_variable cv;
    std::string text;          // reply text not yet taken by the HTTP thread
    bool done = false;
    Finish finish = Finish::none;
    std::string error;         // when finish == error
    int error_status = 500;    // its HTTP status
    std::string error_code;    // its OpenAI error code, if it has one
    size_t cached_tokens = 0;  // prompt tokens served by the prefix cache
    size_t completion_tokens = 0;
    std::string final_state;   // keep_state: the snapshot after the closed turn
    double ttft_seconds = -1;
};

} // namespace rwkvrt_server
