#include "openai_api.h"

#include <cmath>
#include <random>

namespace rwkvrt_server {

using nlohmann::json;

std::string ApiError::type() const {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return code == "model_not_found" || code == "session_not_found" ? "invalid_request_error" : "not_found_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

json error_body(const ApiError &e) {
    return {{"error",
             {{"message", e.message},
              {"type", e.type()},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

namespace {

[[noreturn]] void bad(const std::string &param, const std::string &message) { throw ApiError{400, message, param, ""}; }

json parse_object(const std::string &body) {
    json j;
    try {
        j = json::parse(body); // rejects ill-formed UTF-8 and lone surrogates too
    } catch (const json::exception &e) { // parse_error, and out_of_range for a number beyond double's range
        throw ApiError{400, std::string("the body is not valid JSON: ") + e.what(), "", "invalid_json"};
    }
    if (!j.is_object()) bad("", "the body must be a JSON object");
    return j;
}

// The field, or NULL when it is absent or null (OpenAI treats both as "not given").
const json *field(const json &j, const char *name) {
    const auto it = j.find(name);
    return it == j.end() || it->is_null() ? nullptr : &*it;
}

double number(const json &j, const char *name, double lo, double hi, double fallback) {
    const json *f = field(j, name);
    if (!f) return fallback;
    if (!f->is_number()) bad(name, std::string("'") + name + "' must be a number");
    const double v = f->get<double>();
    if (!(v >= lo && v <= hi)) bad(name, std::string("'") + name + "' must be between " + json(lo).dump() + " and " + json(hi).dump());
    return v;
}

int64_t integer(const json &j, const char *name, int64_t lo, int64_t hi, int64_t fallback) {
    const json *f = field(j, name);
    if (!f) return fallback;
    if (!f->is_number_integer()) bad(name, std::string("'") + name + "' must be an integer");
    if (f->is_number_unsigned() && f->get<uint64_t>() > uint64_t(INT64_MAX)) bad(name, std::string("'") + name + "' is too large");
    const int64_t v = f->get<int64_t>();
    if (v < lo || v > hi) bad(name, std::string("'") + name + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
}

bool boolean(const json &j, const char *name, bool fallback) {
    const json *f = field(j, name);
    if (!f) return fallback;
    if (!f->is_boolean()) bad(name, std::string("'") + name + "' must be true or false");
    return f->get<bool>();
}

void check_model(const json &j, const Limits &limits) {
    const json *m = field(j, "model");
    if (!m) return;
    if (!m->is_string()) bad("model", "'model' must be a string");
    if (m->get<std::string>() != limits.model_name)
        throw ApiError{404, "the model '" + m->get<std::string>() + "' does not exist; this server serves '" + limits.model_name + "'",
                       "model", "model_not_found"};
}

// Official chat demo (chat) or ChatRWKV PIPELINE (text) defaults, then the request's own values.
Generation parse_generation(const json &j, const Limits &limits, bool chat) {
    Generation g;
    rwkvrt_sampler_options &o = g.sampling;
    o.temperature = float(number(j, "temperature", 0, 2, 1.0));
    o.top_p = float(number(j, "top_p", 0, 1, chat ? 0.3 : 0.85));
    o.top_k = int32_t(integer(j, "top_k", 0, INT32_MAX, 0));
    o.min_p = float(number(j, "min_p", 0, 1, 0));
    o.presence_penalty = float(number(j, "presence_penalty", -2, 2, chat ? 0.5 : 0.2));
    o.frequency_penalty = float(number(j, "frequency_penalty", -2, 2, chat ? 0.5 : 0.2));
    o.penalty_decay = 0.996f;
    if (const json *s = field(j, "seed")) {
        if (!s->is_number_integer()) bad("seed", "'seed' must be an integer");
        o.seed = s->is_number_unsigned() ? s->get<uint64_t>() : uint64_t(s->get<int64_t>());
    } else {
        std::random_device rd;
        o.seed = (uint64_t(rd()) << 32) | rd();
    }
    const int64_t fallback = chat ? limits.max_tokens : std::min(16, limits.max_tokens);
    const char *max_name = field(j, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    g.max_tokens = int32_t(integer(j, max_name, 1, limits.max_tokens, fallback));
    if (integer(j, "n", 1, INT64_MAX, 1) != 1) bad("n", "'n' must be 1: this server returns one choice per request");
    if (const json *s = field(j, "stop")) {
        std::vector<json> items;
        if (s->is_string()) items.push_back(*s);
        else if (s->is_array()) items.assign(s->begin(), s->end());
        else bad("stop", "'stop' must be a string or an array of strings");
        if (items.size() > size_t(limits.max_stop)) bad("stop", "'stop' may hold at most " + std::to_string(limits.max_stop) + " strings");
        for (const json &x : items) {
            if (!x.is_string() || x.get<std::string>().empty()) bad("stop", "every stop string must be a non-empty string");
            if (x.get<std::string>().size() > 256) bad("stop", "a stop string may be at most 256 bytes long");
            g.stop.push_back(x.get<std::string>());
        }
    }
    g.stream = boolean(j, "stream", false);
    if (const json *so = field(j, "stream_options")) {
        if (!so->is_object()) bad("stream_options", "'stream_options' must be an object");
        g.include_usage = boolean(*so, "include_usage", false);
    }
    if (const json *u = field(j, "user"); u && !u->is_string()) bad("user", "'user' must be a string");
    return g;
}

std::string message_text(const json &content, size_t i) {
    const std::string param = "messages[" + std::to_string(i) + "].content";
    if (content.is_string()) return content.get<std::string>();
    if (!content.is_array()) bad(param, "'" + param + "' must be a string or an array of text parts");
    std::string text;
    for (const json &part : content) {
        if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") || !part["text"].is_string())
            bad(param, "'" + param + "' may only hold parts {\"type\": \"text\", \"text\": ...}");
        text += part["text"].get<std::string>();
    }
    return text;
}

} // namespace

ChatRequest parse_chat(const std::string &body, const Limits &limits) {
    const json j = parse_object(body);
    check_model(j, limits);
    ChatRequest r;
    r.gen = parse_generation(j, limits, true);
    const json *m = field(j, "messages");
    if (!m || !m->is_array() || m->empty()) bad("messages", "'messages' must be a non-empty array");
    for (size_t i = 0; i < m->size(); ++i) {
        const json &x = (*m)[i];
        const std::string at = "messages[" + std::to_string(i) + "]";
        if (!x.is_object()) bad(at, "'" + at + "' must be an object");
        const json *role = field(x, "role");
        if (!role || !role->is_string()) bad(at + ".role", "'" + at + ".role' must be a string");
        std::string rs = role->get<std::string>();
        if (rs == "developer") rs = "system";
        if (rs != "system" && rs != "user" && rs != "assistant")
            bad(at + ".role", "'" + at + ".role' must be system, developer, user or assistant");
        const json *content = field(x, "content");
        if (!content) bad(at + ".content", "'" + at + ".content' is required");
        r.messages.push_back({rs, message_text(*content, i)});
    }
    r.think = limits.think;
    if (field(j, "think")) r.think = boolean(j, "think", false) ? Think::on : Think::off;
    return r;
}

CompletionRequest parse_completion(const std::string &body, const Limits &limits) {
    const json j = parse_object(body);
    check_model(j, limits);
    CompletionRequest r;
    r.gen = parse_generation(j, limits, false);
    const json *p = field(j, "prompt");
    if (p && p->is_array() && p->size() == 1) p = &(*p)[0];
    if (!p || !p->is_string()) bad("prompt", "'prompt' must be a string (or an array of one string)");
    r.prompt = p->get<std::string>();
    if (r.prompt.empty()) bad("prompt", "'prompt' must not be empty");
    return r;
}

} // namespace rwkvrt_server
