// The HTTP layer: routes, authentication, sessions, and the OpenAI response shapes, streamed as
// server-sent events or sent whole. Each request waits on its own HTTP thread while the scheduler's
// thread runs the model for all of them.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <set>
#include <stdexcept>

#include "openai_api.h"
#include "scheduler.h"
#include "server.h"
#include "session_store.h"

namespace rwkvrt_server {

namespace {

// For the request log, about the request this HTTP thread serves: when it arrived (its headers read),
// and the tokens of its prompt and reply once it has them (a stream's at its end, on this thread too).
thread_local std::chrono::steady_clock::time_point request_started;
struct RequestTokens {
    bool known = false;
    size_t prompt = 0, completion = 0;
};
thread_local RequestTokens request_tokens;

using json = nlohmann::json;
using namespace std::chrono_literals;

template <class T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};
using Model = std::unique_ptr<rwkvrt_model, Deleter<rwkvrt_model, rwkvrt_model_free>>;
using Tokenizer = std::unique_ptr<rwkvrt_tokenizer, Deleter<rwkvrt_tokenizer, rwkvrt_tokenizer_free>>;
using PrefixCache = std::unique_ptr<rwkvrt_prefix_cache, Deleter<rwkvrt_prefix_cache, rwkvrt_prefix_cache_free>>;

void check(rwkvrt_status st, const std::string &what) {
    if (st != RWKVRT_OK) throw std::runtime_error(what + ": " + rwkvrt_last_error());
}

// JSON text; bytes that are not UTF-8 (a model may emit them) become U+FFFD.
std::string dump(const json &j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A Content-Length value as HTTP has it: decimal digits only.
bool is_byte_count(const std::string &v) { return !v.empty() && v.find_first_not_of("0123456789") == std::string::npos; }

// s as a client reads it from dump(): each ill-formed UTF-8 sequence (a reply cut inside a character)
// is U+FFFD.
std::string as_sent(const std::string &s) { return json::parse(dump(json(s))).get<std::string>(); }

// A store's failure as the client sees it: its details (paths, addresses) go to the operator's log.
ApiError store_failed(const StoreError &e) {
    std::fprintf(stderr, "rwkvrt serve: the conversation store failed: %s\n", e.what());
    return {503, "the conversation store failed (the server's log says why); retry later", "", "store_unavailable"};
}

void send_error(httplib::Response &res, const ApiError &e) {
    res.status = e.status;
    if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
    res.set_content(dump(error_body(e)), "application/json");
}

// The socket of the request's connection, found by its two addresses, so that the handler can tell
// when the client has gone away (cpp-httplib does not hand it out). -1 if not found.
int connection_socket(const httplib::Request &req) {
    DIR *d = ::opendir("/proc/self/fd");
    if (!d) return -1;
    int found = -1;
    const auto matches = [](const sockaddr_storage &a, const std::string &addr, int port) {
        char text[INET6_ADDRSTRLEN] = {};
        int p = -1;
        if (a.ss_family == AF_INET) {
            const auto *s = reinterpret_cast<const sockaddr_in *>(&a);
            ::inet_ntop(AF_INET, &s->sin_addr, text, sizeof text);
            p = ntohs(s->sin_port);
        } else if (a.ss_family == AF_INET6) {
            const auto *s = reinterpret_cast<const sockaddr_in6 *>(&a);
            ::inet_ntop(AF_INET6, &s->sin6_addr, text, sizeof text);
            p = ntohs(s->sin6_port);
        }
        return p == port && addr == text;
    };
    while (const dirent *e = ::readdir(d)) {
        const int fd = std::atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        sockaddr_storage local{}, peer{};
        socklen_t ll = sizeof local, pl = sizeof peer;
        if (::getsockname(fd, reinterpret_cast<sockaddr *>(&local), &ll) != 0 ||
            ::getpeername(fd, reinterpret_cast<sockaddr *>(&peer), &pl) != 0)
            continue;
        if (matches(local, req.local_addr, req.local_port) && matches(peer, req.remote_addr, req.remote_port)) {
            found = fd;
            break;
        }
    }
    ::closedir(d);
    return found;
}

bool client_gone(int fd) {
    if (fd < 0) return false;
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

// FNV-1a over strings, each followed by the byte 0xff, as 16 hex digits.
std::string fnv1a_hex(std::initializer_list<const std::string *> parts) {
    uint64_t h = 14695981039346656037ull;
    for (const std::string *s : parts) {
        for (const char c : *s) h = (h ^ uint8_t(c)) * 1099511628211ull;
        h = (h ^ 0xff) * 1099511628211ull;
    }
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(h));
    return b;
}

// A message's hash, to recognize a history a client sends again (stored with conversations: its bits
// must not change).
std::string message_hash(const Message &m) { return fnv1a_hex({&m.role, &m.content}); }

// An Idempotency-Key (the IETF draft's header): 1 to 255 visible ASCII characters.
bool valid_idempotency_key(const std::string &key) {
    return !key.empty() && key.size() <= 255 && std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// What makes a chat request the same turn again: its parsed body, keys sorted, without the stream
// options (a retry may ask for the answer whole instead of streamed, or the other way).
std::string request_fingerprint(const std::string &body) {
    json j = json::parse(body);
    j.erase("stream");
    j.erase("stream_options");
    const std::string text = dump(j);
    return fnv1a_hex({&text});
}

std::string random_id(const char *prefix) {
    std::random_device rd;
    char b[25];
    std::snprintf(b, sizeof b, "%08x%08x%08x", rd(), rd(), rd());
    return prefix + std::string(b);
}

// Conversations being served right now: a second turn of one of them waits for none, it is refused.
class BusySessions {
public:
    bool claim(const std::string &id) {
        std::lock_guard lock(mu_);
        return ids_.insert(id).second;
    }
    void release(const std::string &id) {
        std::lock_guard lock(mu_);
        ids_.erase(id);
    }

private:
    std::mutex mu_;
    std::set<std::string> ids_;
};

struct SessionClaim {
    BusySessions *busy = nullptr;
    std::string id;
    ~SessionClaim() {
        if (busy) busy->release(id);
    }
};

// One request's answer in the making: what the response needs besides the job's own results.
struct Answer {
    std::shared_ptr<Job> job;
    bool chat = true;
    std::string id, model;
    long created = 0;
    size_t prompt_tokens = 0;
    Generation gen;
    std::string session_id; // empty: no conversation
    std::shared_ptr<SessionClaim> claim;
    int socket = -1;
};

class App {
public:
    explicit App(const ServeOptions &o) : o_(o) {
        rwkvrt_load_options lo = rwkvrt_load_options_default();
        lo.n_threads = o.threads;
        if (!o.weight_type.empty()) lo.weight_type = o.weight_type.c_str();
        if (!o.activations.empty()) lo.activations = o.activations.c_str();
        rwkvrt_model *m = nullptr;
        check(rwkvrt_model_load(o.model_path.c_str(), &lo, &m), "cannot load " + o.model_path);
        model_.reset(m);
        rwkvrt_tokenizer *t = nullptr;
        if (!o.tokenizer_path.empty()) {
            check(rwkvrt_tokenizer_load(o.tokenizer_path.c_str(), &t), "cannot load " + o.tokenizer_path);
        } else { // the vocabulary the model file carries (GGUF), else bytes, as the CLI's other commands
            const rwkvrt_status own = rwkvrt_tokenizer_from_model(m, &t);
            if (own != RWKVRT_ERR_UNSUPPORTED) check(own, "cannot use the model's own tokenizer");
            if (!t) check(rwkvrt_tokenizer_new_bytes(&t), "tokenizer");
        }
        tokenizer_.reset(t);
        if (rwkvrt_tokenizer_n_vocab(t) != rwkvrt_model_n_vocab(m))
            throw std::runtime_error("the tokenizer has " + std::to_string(rwkvrt_tokenizer_n_vocab(t)) + " tokens, the model " +
                                     std::to_string(rwkvrt_model_n_vocab(m)) + ": they are not made for each other (give -t)");
        if (o.cache_mb > 0) {
            rwkvrt_prefix_cache_options co = rwkvrt_prefix_cache_options_default();
            co.max_bytes = o.cache_mb << 20;
            if (!o.cache_dir.empty()) co.dir = o.cache_dir.c_str();
            rwkvrt_prefix_cache *c = nullptr;
            check(rwkvrt_prefix_cache_new(m, &co, &c), "cannot make the prefix cache");
            cache_.reset(c);
        }
        store_ = open_session_store(o.state_store, o.session_ram_mb << 20);
        const bool bytes = std::string(rwkvrt_tokenizer_kind(t)) == "bytes";
        end_token_ = bytes ? -1 : 0;
        separator_ = tokenize(kTurnSeparator);
        limits_ = {o.model_name.empty() ? std::filesystem::path(o.model_path).filename().string() : o.model_name, o.max_tokens,
                   o.max_stop, o.think == "on" ? Think::on : o.think == "off" ? Think::off : Think::unset};
        scheduler_ = std::make_unique<Scheduler>(m, t, cache_.get(), metrics_, SchedulerOptions{o.parallel, o.queue, o.step_rows});
    }

    // Ends every request under way, so that the HTTP threads can finish.
    void stop_generating() { scheduler_->stop(); }

    void routes(httplib::Server &svr, const std::string &worker) {
        worker_ = worker;
        svr.set_pre_routing_handler([this](const httplib::Request &req, httplib::Response &res) {
            request_started = std::chrono::steady_clock::now();
            request_tokens = {};
            res.set_header("X-Rwkvrt-Worker", worker_);
            // Framing httplib would only give up on at its read timeout, 30 s later, is refused at once.
            const bool has_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
            const std::string length = req.get_header_value("Content-Length"), coding = req.get_header_value("Transfer-Encoding");
            std::optional<ApiError> refused;
            if (has_body && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
                refused = ApiError{411, "a " + req.method + " needs a Content-Length (or Transfer-Encoding: chunked) header", "", "length_required"};
            else if (req.has_header("Content-Length") && !is_byte_count(length))
                refused = ApiError{400, "Content-Length '" + length + "' is not a number of bytes", "", ""};
            else if (req.has_header("Transfer-Encoding") && coding != "chunked")
                refused = ApiError{501, "Transfer-Encoding '" + coding + "' is not supported (chunked is)", "", ""};
            if (refused) {
                send_error(res, *refused);
                return httplib::Server::HandlerResponse::Handled;
            }
            if (o_.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
            const std::string auth = req.get_header_value("Authorization");
            const bool bearer = auth.size() > 7 && strncasecmp(auth.c_str(), "Bearer ", 7) == 0; // the scheme is case-insensitive
            if (bearer && auth.substr(7) == o_.api_key) return httplib::Server::HandlerResponse::Unhandled;
            send_error(res, {401, "a valid API key is required (Authorization: Bearer KEY)", "", "invalid_api_key"});
            return httplib::Server::HandlerResponse::Handled;
        });
        // A client that asks first (Expect: 100-continue) learns that its body is too large before it sends it.
        svr.set_expect_100_continue_handler([this](const httplib::Request &req, httplib::Response &res) {
            const std::string length = req.get_header_value("Content-Length");
            if (!is_byte_count(length) || (length.size() <= 19 && std::stoull(length) <= o_.max_body_bytes)) return 100; // a bad one: 400 below
            send_error(res, body_too_large());
            return 413;
        });
        svr.set_error_handler([](const httplib::Request &, httplib::Response &res) {
            if (!res.body.empty()) return;
            const int s = res.status;
            send_error(res, {s, s == 413 ? "the body is larger than the server accepts"
                                : s == 404 ? "no such endpoint"
                                : s == 405 ? "method not allowed"
                                           : "the request was refused (HTTP " + std::to_string(s) + ")",
                             "", s == 413 ? "body_too_large" : ""});
        });
        svr.set_exception_handler([](const httplib::Request &, httplib::Response &res, std::exception_ptr ep) {
            std::string what = "internal error";
            try {
                std::rethrow_exception(ep);
            } catch (const std::exception &e) {
                what += std::string(": ") + e.what();
            } catch (...) {
            }
            send_error(res, {500, what, "", ""});
        });
        svr.set_logger([this](const httplib::Request &req, const httplib::Response &res) {
            static const std::set<std::string> known = {"/health", "/metrics", "/v1/models", "/v1/chat/completions", "/v1/completions"};
            const bool is_known = known.count(req.path) > 0;
            metrics_.count_request(is_known ? req.path : "other", res.status);
            if (!o_.log_requests) return;
            // One line per request, never its content: the client, the endpoint, the outcome and the time
            // to the last byte (a stream's whole length).
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - request_started).count();
            const std::string session = res.get_header_value("X-Session-Id");
            char tokens[64] = "";
            if (request_tokens.known)
                std::snprintf(tokens, sizeof tokens, " tokens=%zu+%zu", request_tokens.prompt, request_tokens.completion);
            std::fprintf(stderr, "rwkvrt serve: %s %s %s %d %lld ms%s%s%s\n", req.remote_addr.c_str(), req.method.c_str(),
                         is_known ? req.path.c_str() : req.path.rfind("/v1/models/", 0) == 0 ? "/v1/models/{id}" : "(other)", res.status,
                         static_cast<long long>(ms), tokens, session.empty() ? "" : " session=", session.c_str());
        });
        // A load balancer routes around a worker whose conversation store fails (503).
        svr.Get("/health", [this](const httplib::Request &, httplib::Response &res) {
            try {
                store_->check();
                res.set_content(R"({"status":"ok"})", "application/json");
            } catch (const StoreError &e) {
                store_failed(e); // logs why
                res.status = 503;
                res.set_content(R"({"status":"store_unavailable"})", "application/json");
            }
        });
        svr.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
            res.set_content(metrics_.render(cache_.get()), "text/plain; version=0.0.4");
        });
        svr.Get("/v1/models", [this](const httplib::Request &, httplib::Response &res) {
            res.set_content(dump({{"object", "list"}, {"data", json::array({model_object()})}}), "application/json");
        });
        svr.Get(R"(/v1/models/(.+))", [this](const httplib::Request &req, httplib::Response &res) {
            guarded(res, [&] {
                if (req.matches[1] != limits_.model_name)
                    throw ApiError{404, "the model '" + std::string(req.matches[1]) + "' does not exist; this server serves '" + limits_.model_name + "'", "model", "model_not_found"};
                res.set_content(dump(model_object()), "application/json");
            });
        });
        // The bodies are read here, not by httplib: its own reading caps a body sent as a form (curl
        // -d's Content-Type) at 8 KiB, whatever --max-body says, and a chunked one not at all.
        svr.Post("/v1/chat/completions", [this](const httplib::Request &req, httplib::Response &res, const httplib::ContentReader &body) {
            guarded(res, [&] { chat(req, read_body(res, body), res); });
        });
        svr.Post("/v1/completions", [this](const httplib::Request &req, httplib::Response &res, const httplib::ContentReader &body) {
            guarded(res, [&] { completion(req, read_body(res, body), res); });
        });
        const auto post_only = [](const httplib::Request &, httplib::Response &res) { // httplib's answer would be 404
            res.status = 405;
            res.set_header("Allow", "POST");
        };
        for (const char *path : {"/v1/chat/completions", "/v1/completions"}) {
            svr.Get(path, post_only);
            svr.Put(path, post_only);
            svr.Patch(path, post_only);
            svr.Delete(path, post_only);
            svr.Options(path, post_only);
        }
    }

private:
    template <class F>
    void guarded(httplib::Response &res, F &&f) {
        try {
            f();
        } catch (const ApiError &e) {
            send_error(res, e);
        } catch (const StoreError &e) {
            res.headers.erase("X-Session-Id"); // a new conversation that was not stored has no id
            send_error(res, store_failed(e));
        }
    }

    std::string read_body(const httplib::Response &res, const httplib::ContentReader &reader) const {
        std::string body;
        bool too_large = false;
        const bool read = reader([&](const char *data, size_t n) {
            too_large = body.size() + n > o_.max_body_bytes;
            if (!too_large) body.append(data, n);
            return !too_large;
        });
        if (too_large || res.status == 413) // 413: httplib's verdict on a Content-Length over the limit
            throw body_too_large();
        if (!read) throw ApiError{400, "the body could not be read", "", ""};
        return body;
    }

    ApiError body_too_large() const {
        return {413, "the body is larger than the server accepts (--max-body " + std::to_string(o_.max_body_bytes) + " bytes)", "", "body_too_large"};
    }

    json model_object() const { return {{"id", limits_.model_name}, {"object", "model"}, {"created", long(started_)}, {"owned_by", "rwkvrt"}}; }

    std::vector<int32_t> tokenize(const std::string &text) const {
        std::vector<int32_t> ids(text.size() + 16);
        size_t n = 0;
        rwkvrt_status st = rwkvrt_tokenize(tokenizer_.get(), text.data(), text.size(), ids.data(), ids.size(), &n);
        if (st == RWKVRT_ERR_BUFFER) {
            ids.resize(n);
            st = rwkvrt_tokenize(tokenizer_.get(), text.data(), text.size(), ids.data(), ids.size(), &n);
        }
        check(st, "tokenize");
        ids.resize(n);
        return ids;
    }

    Answer new_answer(bool chat, const Generation &g) const {
        Answer a;
        a.chat = chat;
        a.gen = g;
        a.id = random_id(chat ? "chatcmpl-" : "cmpl-");
        a.model = limits_.model_name;
        a.created = long(std::time(nullptr));
        a.job = std::make_shared<Job>();
        a.job->sampling = g.sampling;
        a.job->max_tokens = g.max_tokens;
        a.job->stop = g.stop;
        a.job->end_token = end_token_;
        a.job->separator = separator_;
        return a;
    }

    void chat(const httplib::Request &req, const std::string &body, httplib::Response &res) {
        ChatRequest r = parse_chat(body, limits_);
        Answer a = new_answer(true, r.gen);
        Job &job = *a.job;
        job.ban_end_token = true;
        job.separator_stops = true;
        job.strip_leading_space = r.think == Think::unset;
        job.reply_prefix = reply_prefix(r.think);

        // A turn stored under its Idempotency-Key is answered again from the store, never generated twice.
        // Without a conversation nothing is stored and a retry changes nothing: the key is ignored, as
        // gateways may put one on every POST.
        std::string key, fingerprint;
        if (req.has_header("Idempotency-Key") && req.has_header("X-Session-Id")) {
            key = req.get_header_value("Idempotency-Key");
            if (!valid_idempotency_key(key))
                throw ApiError{400, "Idempotency-Key must be 1 to 255 visible ASCII characters", "Idempotency-Key", "invalid_idempotency_key"};
            fingerprint = request_fingerprint(body);
        }

        // A conversation: "X-Session-Id: new" starts one, its id (from the response) continues it.
        std::vector<std::string> history;
        std::vector<Message> fresh = r.messages;
        if (req.has_header("X-Session-Id")) {
            std::string sid = req.get_header_value("X-Session-Id");
            const bool start = sid == "new";
            if (start) sid = new_session_id();
            else if (!valid_session_id(sid))
                throw ApiError{400, "X-Session-Id must be \"new\" or an id this server gave out (sess_ and 32 hex digits)", "X-Session-Id", "invalid_session_id"};
            // Claimed before it is read, so that no turn of it starts from a state about to be replaced.
            if (!busy_.claim(sid)) throw ApiError{409, "conversation " + sid + " is answering another request", "X-Session-Id", "session_busy"};
            a.claim = std::make_shared<SessionClaim>();
            a.claim->busy = &busy_;
            a.claim->id = sid;
            a.session_id = sid;
            if (!start) {
                Resumed stored = resume(sid, job);
                const json &last = stored.last_turn;
                if (!key.empty() && !last.is_null() && last.at("key") == key) {
                    if (last.at("request") != fingerprint)
                        throw ApiError{422, "Idempotency-Key '" + key + "' was used for another request in conversation " + sid + "; a new turn needs a new key",
                                       "Idempotency-Key", "idempotency_key_reused"};
                    return replay(res, a, last);
                }
                history = std::move(stored.history);
                ++metrics_.sessions_resumed;
                metrics_.session_tokens_kept += rwkvrt_state_n_tokens(job.start.get());
                size_t skip = 0;
                if (r.messages.size() > history.size()) {
                    skip = history.size();
                    for (size_t i = 0; i < history.size() && skip; ++i)
                        if (message_hash(r.messages[i]) != history[i]) skip = 0;
                }
                if (skip == 0)
                    for (const Message &m : r.messages)
                        if (m.role == "assistant")
                            throw ApiError{409, "the messages do not continue conversation " + sid + ": send the new messages only, or the whole history unchanged", "messages", "session_conflict"};
                fresh.assign(r.messages.begin() + std::ptrdiff_t(skip), r.messages.end());
            }
            job.keep_state = true;
            for (const Message &m : fresh) history.push_back(message_hash(m));
            const std::string prefix = job.reply_prefix;
            job.metadata = [history, prefix, key, fingerprint, id = a.id, created = a.created](const std::string &reply, const Job &j,
                                                                                              size_t completion_tokens) {
                const std::string content = as_sent(prefix + reply); // what the client will send back
                json h = history;
                h.push_back(message_hash({"assistant", content}));
                json meta = {{"rwkvrt_serve", 1}, {"messages", h}};
                // The last turn's answer, for a retry under the same key (only the last turn is kept).
                if (!key.empty())
                    meta["last_turn"] = {{"key", key}, {"request", fingerprint}, {"id", id}, {"created", created}, {"content", content},
                                         {"finish_reason", finish_reason(j)}, {"prompt_tokens", j.prompt.size()},
                                         {"completion_tokens", completion_tokens}, {"cached_tokens", j.cached_tokens}};
                return meta.dump();
            };
        }
        const std::vector<std::string> segments = render_chat(fresh, r.think);
        for (size_t i = 0; i < segments.size(); ++i) {
            const std::vector<int32_t> t = tokenize(segments[i]);
            job.prompt.insert(job.prompt.end(), t.begin(), t.end());
            if (i == 0 && fresh.front().role == "system" && !job.start) job.cache_points.push_back(job.prompt.size());
        }
        if (!job.start && job.prompt.size() > 1) job.cache_points.push_back(job.prompt.size() - 1);
        answer(req, res, std::move(a));
    }

    struct Resumed {
        std::vector<std::string> history; // message hashes
        json last_turn;                   // the last turn's answer (an object with a key and a request, or null)
    };

    // The conversation as stored, its state restored into job.start.
    Resumed resume(const std::string &sid, Job &job) {
        const std::optional<std::string> bytes = store_->get(sid);
        if (!bytes) throw ApiError{404, "no conversation " + sid + " (unknown, or expired)", "X-Session-Id", "session_not_found"};
        rwkvrt_state *s = nullptr;
        check(rwkvrt_state_new(model_.get(), &s), "state");
        job.start.reset(s);
        const rwkvrt_status st = rwkvrt_state_restore(s, bytes->data(), bytes->size());
        if (st == RWKVRT_ERR_MISMATCH)
            throw ApiError{409, "conversation " + sid + " was saved with another model and cannot continue here: " + rwkvrt_last_error(), "X-Session-Id", "session_model_mismatch"};
        if (st != RWKVRT_OK) {
            const std::string why = rwkvrt_last_error();
            store_->forget_cached(sid);
            throw ApiError{500, "conversation " + sid + " cannot be restored: " + why, "X-Session-Id", "session_corrupt"};
        }
        const void *meta = nullptr;
        size_t len = 0;
        check(rwkvrt_state_get_metadata(s, &meta, &len), "metadata");
        Resumed stored;
        try {
            const json m = json::parse(std::string(static_cast<const char *>(meta), len));
            stored.history = m.at("messages").get<std::vector<std::string>>();
            if (m.contains("last_turn")) { // its key and request must be strings (get<> throws otherwise)
                stored.last_turn = m["last_turn"];
                stored.last_turn.at("key").get<std::string>();
                stored.last_turn.at("request").get<std::string>();
            }
        } catch (const json::exception &) {
            store_->forget_cached(sid);
            throw ApiError{500, "conversation " + sid + " has no history this server understands", "X-Session-Id", "session_corrupt"};
        }
        return stored;
    }

    // A turn asked again under its Idempotency-Key: the stored answer, whole or as a stream of one
    // piece, with the first answer's id. Nothing is generated or stored.
    void replay(httplib::Response &res, Answer a, const json &turn) {
        std::string content, finish;
        json use;
        try {
            a.id = turn.at("id").get<std::string>();
            a.created = turn.at("created").get<long>();
            content = turn.at("content").get<std::string>();
            finish = turn.at("finish_reason").get<std::string>();
            use = usage_of(turn.at("prompt_tokens").get<size_t>(), turn.at("completion_tokens").get<size_t>(),
                           turn.at("cached_tokens").get<size_t>());
        } catch (const json::exception &) {
            store_->forget_cached(a.session_id);
            throw ApiError{500, "conversation " + a.session_id + " has a last turn this server does not understand", "X-Session-Id", "session_corrupt"};
        }
        ++metrics_.replayed_turns;
        res.set_header("X-Session-Id", a.session_id);
        res.set_header("Idempotent-Replayed", "true");
        if (!a.gen.stream) return res.set_content(dump(whole_body(a, content, finish.c_str(), use)), "application/json");
        std::string events;
        const auto add = [&](const json &j) { events += "data: " + dump(j) + "\n\n"; };
        add(chunk(a, {{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}}));
        if (!content.empty()) add(chunk(a, delta(a, content)));
        add(chunk(a, last_choice(a, finish.c_str())));
        if (a.gen.include_usage) {
            json u = chunk(a, nullptr);
            u["usage"] = use;
            add(u);
        }
        events += "data: [DONE]\n\n";
        res.set_header("Cache-Control", "no-cache");
        res.set_content(events, "text/event-stream");
    }

    void completion(const httplib::Request &req, const std::string &body, httplib::Response &res) {
        CompletionRequest r = parse_completion(body, limits_);
        if (req.has_header("X-Session-Id")) // ignoring it would lose the client's conversation without a word
            throw ApiError{400, "conversations (X-Session-Id) are kept by /v1/chat/completions only", "X-Session-Id", "invalid_session_id"};
        Answer a = new_answer(false, r.gen);
        a.job->prompt = tokenize(r.prompt);
        if (a.job->prompt.empty()) throw ApiError{400, "'prompt' encodes to no tokens", "prompt", ""};
        if (a.job->prompt.size() > 1) a.job->cache_points.push_back(a.job->prompt.size() - 1);
        answer(req, res, std::move(a));
    }

    void answer(const httplib::Request &req, httplib::Response &res, Answer a) {
        a.prompt_tokens = a.job->prompt.size();
        a.socket = connection_socket(req);
        switch (scheduler_->submit(a.job)) {
        case Scheduler::Admission::accepted: metrics_.prompt_tokens += a.prompt_tokens; break;
        case Scheduler::Admission::queue_full:
            throw ApiError{429, "the server is busy: every place in the batch and the queue is taken; retry later", "", "server_busy"};
        case Scheduler::Admission::stopping: throw ApiError{503, "the server is shutting down", "", "shutting_down"};
        }
        if (!a.session_id.empty()) res.set_header("X-Session-Id", a.session_id);
        if (a.gen.stream) return stream(res, std::make_shared<Answer>(std::move(a)));

        std::string text = a.job->reply_prefix;
        if (wait(a, text) == Progress::gone) return;
        Job &job = *a.job;
        request_tokens = {true, a.prompt_tokens, job.completion_tokens};
        if (job.finish == Finish::error) throw ApiError{job.error_status, job.error, "", job.error_code};
        keep_session(a);
        res.set_content(dump(whole_body(a, text, finish_reason(job), usage(a))), "application/json");
    }

    static json whole_body(const Answer &a, const std::string &text, const char *finish, const json &use) {
        json choice = {{"index", 0}, {"finish_reason", finish}, {"logprobs", nullptr}};
        if (a.chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
        else choice["text"] = text;
        return {{"id", a.id}, {"object", a.chat ? "chat.completion" : "text_completion"}, {"created", a.created},
                {"model", a.model}, {"choices", json::array({choice})}, {"usage", use}};
    }

    enum class Progress { more, done, gone };
    // Waits for the end, or when streaming for more text, and appends the job's new text to `text`.
    // The text and the end are taken under one lock, so the text emitted just before the end is never
    // left behind. `gone`: the client went away (the job is then cancelled).
    Progress wait(Answer &a, std::string &text) {
        Job &job = *a.job;
        for (;;) {
            {
                std::unique_lock lock(job.mu);
                job.cv.wait_for(lock, 100ms, [&] { return job.done || !job.text.empty(); });
                text += job.text;
                job.text.clear();
                if (job.done) return Progress::done;
                if (a.gen.stream && !text.empty()) return Progress::more;
            }
            if (client_gone(a.socket)) {
                job.cancelled = true;
                return Progress::gone;
            }
        }
    }

    // Stores the conversation before the response completes: a worker that dies afterwards loses nothing.
    void keep_session(Answer &a) {
        if (a.session_id.empty()) return;
        std::lock_guard lock(a.job->mu);
        store_->put(a.session_id, a.job->final_state);
    }

    static const char *finish_reason(const Job &job) { return job.finish == Finish::length ? "length" : "stop"; }

    static json usage_of(size_t prompt, size_t completion, size_t cached) {
        return {{"prompt_tokens", prompt},
                {"completion_tokens", completion},
                {"total_tokens", prompt + completion},
                {"prompt_tokens_details", {{"cached_tokens", cached}}}};
    }
    static json usage(const Answer &a) { return usage_of(a.prompt_tokens, a.job->completion_tokens, a.job->cached_tokens); }

    // The last event of a stream: the reason it ended.
    static json last_choice(const Answer &a, const char *finish) {
        return a.chat ? json{{"index", 0}, {"delta", json::object()}, {"finish_reason", finish}}
                      : json{{"index", 0}, {"text", ""}, {"finish_reason", finish}, {"logprobs", nullptr}};
    }

    json chunk(const Answer &a, const json &choice) const {
        return {{"id", a.id}, {"object", a.chat ? "chat.completion.chunk" : "text_completion"}, {"created", a.created},
                {"model", a.model}, {"choices", choice.is_null() ? json::array() : json::array({choice})}};
    }

    json delta(const Answer &a, const std::string &text) const {
        if (a.chat) return {{"index", 0}, {"delta", {{"content", text}}}, {"finish_reason", nullptr}};
        return {{"index", 0}, {"text", text}, {"finish_reason", nullptr}, {"logprobs", nullptr}};
    }

    void stream(httplib::Response &res, std::shared_ptr<Answer> a) {
        res.set_header("Cache-Control", "no-cache");
        res.set_header("X-Accel-Buffering", "no"); // nginx: pass events on at once
        auto started = std::make_shared<bool>(false);
        res.set_chunked_content_provider(
            "text/event-stream",
            [this, a, started](size_t, httplib::DataSink &sink) {
                const auto send = [&](const json &j) {
                    const std::string e = "data: " + dump(j) + "\n\n";
                    return sink.write(e.data(), e.size());
                };
                std::string text;
                if (!*started) {
                    *started = true;
                    text = a->job->reply_prefix;
                    if (a->chat && !send(chunk(*a, {{"index", 0}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"finish_reason", nullptr}})))
                        return a->job->cancelled = true, false;
                }
                const Progress progress = wait(*a, text);
                if (progress == Progress::gone) return false;
                if (!text.empty() && !send(chunk(*a, delta(*a, text)))) return a->job->cancelled = true, false;
                if (progress == Progress::more) return true;
                Job &job = *a->job;
                request_tokens = {true, a->prompt_tokens, job.completion_tokens};
                if (job.finish == Finish::error) {
                    send(error_body({job.error_status, job.error, "", job.error_code}));
                } else {
                    try {
                        keep_session(*a);
                        send(chunk(*a, last_choice(*a, finish_reason(job))));
                        if (a->gen.include_usage) {
                            json u = chunk(*a, nullptr);
                            u["usage"] = usage(*a);
                            send(u);
                        }
                    } catch (const StoreError &e) {
                        send(error_body(store_failed(e)));
                    }
                }
                static const std::string done = "data: [DONE]\n\n";
                sink.write(done.data(), done.size());
                sink.done();
                return true;
            },
            [a](bool success) {
                if (!success) a->job->cancelled = true;
            });
    }

    ServeOptions o_;
    Model model_;
    Tokenizer tokenizer_;
    PrefixCache cache_;
    std::unique_ptr<SessionStore> store_;
    Metrics metrics_;
    Limits limits_;
    int32_t end_token_ = -1;
    std::vector<int32_t> separator_;
    BusySessions busy_;
    std::string worker_;
    std::time_t started_ = std::time(nullptr);
    std::unique_ptr<Scheduler> scheduler_; // last: stopped first
};

// cpp-httplib listens with a backlog of 5: a burst of clients connecting at once would see their
// connections dropped and retried a second later. Listening again widens it.
class HttpServer : public httplib::Server {
public:
    void widen_backlog() { ::listen(svr_sock_, SOMAXCONN); }
};

// How long connections may take to finish after SIGTERM/SIGINT: below the 30 s an orchestrator such
// as Kubernetes waits before SIGKILL.
constexpr int kShutdownGraceSeconds = 10;

// The worker's name in X-Rwkvrt-Worker: the host name when listening on every address (0.0.0.0,
// which would name every worker alike).
std::string worker_name(const std::string &host) {
    if (host != "0.0.0.0" && host != "::" && !host.empty()) return host;
    char name[256] = {};
    return ::gethostname(name, sizeof name - 1) == 0 && name[0] ? std::string(name) : host;
}

} // namespace

int serve(const ServeOptions &o) {
    if (o.parallel < 1 || o.step_rows <= o.parallel || o.step_rows > 256)
        throw std::runtime_error("need 1 <= --parallel < --step-rows <= 256");
    if (o.port < 0 || o.port > 65535) throw std::runtime_error("--port is " + std::to_string(o.port) + "; use 1 to 65535, or 0 for any free port");
    if (o.max_tokens < 1) throw std::runtime_error("--max-tokens is " + std::to_string(o.max_tokens) + "; a request needs room for at least 1");
    if (o.queue < 0) throw std::runtime_error("--queue is " + std::to_string(o.queue) + "; use 0 or more");
    if (o.max_stop < 0) throw std::runtime_error("--max-stop is " + std::to_string(o.max_stop) + "; use 0 or more");
    if (o.max_body_bytes < 2) throw std::runtime_error("--max-body is " + std::to_string(o.max_body_bytes) + "; no JSON request fits");
    // SIGINT and SIGTERM are taken by one thread, which stops the server; the others never see them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    App app(o);
    HttpServer svr;
    const size_t http_threads = size_t(o.parallel) + size_t(o.queue) + 8;
    svr.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
    svr.set_payload_max_length(o.max_body_bytes);
    svr.set_read_timeout(30, 0);
    // cpp-httplib's default also sets SO_REUSEPORT, with which a second server on the same port starts
    // without error and the kernel splits the connections between the two.
    svr.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    int port = o.port;
    if (port == 0) {
        port = svr.bind_to_any_port(o.host);
    } else if (!svr.bind_to_port(o.host, port)) {
        port = -1;
    }
    if (port < 0) throw std::runtime_error("cannot listen on " + o.host + ":" + std::to_string(o.port));
    svr.widen_backlog();
    app.routes(svr, worker_name(o.host) + ":" + std::to_string(port));
    // The first signal stops generating (streams end with a shutting_down event) and closes the
    // listener; connections then finish. A second signal, or kShutdownGraceSeconds, ends the process
    // even if a slow client still holds one: every completed turn is already stored.
    std::atomic<bool> finished{false};
    std::thread stopper([&] {
        int sig = 0;
        sigwait(&signals, &sig);
        if (finished) return;
        app.stop_generating();
        svr.stop();
        const timespec grace{kShutdownGraceSeconds, 0};
        int again;
        do again = sigtimedwait(&signals, nullptr, &grace);
        while (again < 0 && errno == EINTR);
        if (finished) return;
        std::fprintf(stderr, again > 0 ? "rwkvrt serve: a second signal: exiting now\n"
                                       : "rwkvrt serve: connections still open %d s after the signal: exiting\n",
                     kShutdownGraceSeconds);
        std::fflush(stderr);
        std::_Exit(0);
    });
    std::fprintf(stderr, "rwkvrt serve: listening on http://%s:%d\n", o.host.c_str(), port);
    std::fflush(stderr);
    svr.listen_after_bind();
    finished = true;
    pthread_kill(stopper.native_handle(), SIGTERM); // wakes it wherever it waits
    stopper.join();
    return 0;
}

} // namespace rwkvrt_server
