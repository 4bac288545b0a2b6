// rwkvrt serve: an OpenAI-compatible HTTP server on the public C API (docs/SERVING.md).
#pragma once

#include <cstddef>
#include <string>

namespace rwkvrt_server {

struct ServeOptions {
    std::string model_path, tokenizer_path, weight_type, activations;
    int threads = 0;
    std::string host = "127.0.0.1";
    int port = 8080;                 // 0: any free port (printed)
    std::string model_name;          // the id clients name; default: the model file's name
    std::string api_key;             // empty: no key needed
    int parallel = 32;
    int queue = 64;
    int step_rows = 256;
    int max_tokens = 4096;           // the largest max_tokens a request may ask for
    size_t max_body_bytes = 1 << 20;
    int max_stop = 4;
    std::string think = "unset";     // the default of the request field "think": unset, on, off
    std::string state_store = "memory";
    size_t session_ram_mb = 1024;
    size_t cache_mb = 256;           // prefix-state cache; 0 = none
    std::string cache_dir;
    bool log_requests = true;        // one line per request on stderr (no content)
};

// Runs until SIGINT or SIGTERM. Returns the process exit code; throws std::runtime_error when it
// cannot start (model, tokenizer, address, state store).
int serve(const ServeOptions &options);

} // namespace rwkvrt_server
