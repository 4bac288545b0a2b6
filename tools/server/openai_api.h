// The OpenAI request and response shapes: every field a request may carry is checked here, and a bad one
// becomes an ApiError (a 4xx with an OpenAI-style error object) naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "chat_format.h"
#include "rwkvrt.h"

namespace rwkvrt_server {

struct ApiError {
    int status;
    std::string message;
    std::string param; // the field at fault, or empty
    std::string code;  // e.g. "model_not_found", or empty
    std::string type() const;
};

nlohmann::json error_body(const ApiError &e);

struct Limits {
    std::string model_name;
    int max_tokens;
    int max_stop;
    Think think;
};

// What chat and text completions share.
struct Generation {
    rwkvrt_sampler_options sampling = rwkvrt_sampler_options_default();
    int32_t max_tokens = 0;
    std::vector<std::string> stop;
    bool stream = false;
    bool include_usage = false;
};

struct ChatRequest {
    Generation gen;
    std::vector<Message> messages;
    Think think = Think::unset;
};

struct CompletionRequest {
    Generation gen;
    std::string prompt;
};

// Parse the body (JSON) of POST /v1/chat/completions and /v1/completions. Throw ApiError.
ChatRequest parse_chat(const std::string &body, const Limits &limits);
CompletionRequest parse_completion(const std::string &body, const Limits &limits);

} // namespace rwkvrt_server
