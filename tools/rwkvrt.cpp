// rwkvrt — the command-line tool: model info, generation with resumable sessions, chat, tokenizers,
// benchmarks. Built on the public C API only, like any application.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "random_model.h"
#include "rwkvrt.h"

namespace {

struct Failure {
    std::string message;
};

void check(rwkvrt_status st, const std::string &what) {
    if (st != RWKVRT_OK) throw Failure{what + ": " + rwkvrt_last_error()};
}

template <class T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const { Free(p); }
};
using Model = std::unique_ptr<rwkvrt_model, Deleter<rwkvrt_model, rwkvrt_model_free>>;
using State = std::unique_ptr<rwkvrt_state, Deleter<rwkvrt_state, rwkvrt_state_free>>;
using Tokenizer = std::unique_ptr<rwkvrt_tokenizer, Deleter<rwkvrt_tokenizer, rwkvrt_tokenizer_free>>;
using Sampler = std::unique_ptr<rwkvrt_sampler, Deleter<rwkvrt_sampler, rwkvrt_sampler_free>>;
using Generator = std::unique_ptr<rwkvrt_generator, Deleter<rwkvrt_generator, rwkvrt_generator_free>>;

struct ModelArgs {
    std::string path;
    int threads = 0;
    std::string weight_type;
    std::string tokenizer;

    void add(CLI::App *cmd) {
        cmd->add_option("-m,--model", path, "Model file (.pth, rwkv.cpp .bin, .safetensors)")->required();
        cmd->add_option("-t,--tokenizer", tokenizer,
                        "Tokenizer file (World vocab .txt, tokenizer.json, sentencepiece .model); "
                        "vocab-256 models use bytes by default");
        cmd->add_option("--threads", threads, "Threads (0 = one per core)")->check(CLI::NonNegativeNumber);
        cmd->add_option("--weight-type", weight_type, "Convert the large matrices at load: f32, f16, bf16, q8_0");
    }
};

Model load_model(const ModelArgs &a) {
    rwkvrt_load_options opt = rwkvrt_load_options_default();
    opt.n_threads = a.threads;
    if (!a.weight_type.empty()) opt.weight_type = a.weight_type.c_str();
    rwkvrt_model *m = nullptr;
    check(rwkvrt_model_load(a.path.c_str(), &opt, &m), "cannot load the model");
    return Model(m);
}

State new_state(const rwkvrt_model *m) {
    rwkvrt_state *s = nullptr;
    check(rwkvrt_state_new(m, &s), "cannot create a state");
    return State(s);
}

Tokenizer load_tokenizer(const std::string &path) {
    rwkvrt_tokenizer *t = nullptr;
    check(path.empty() ? rwkvrt_tokenizer_new_bytes(&t) : rwkvrt_tokenizer_load(path.c_str(), &t),
          path.empty() ? "cannot create the byte tokenizer" : "cannot load the tokenizer");
    return Tokenizer(t);
}

// The model's tokenizer, refusing one whose vocabulary does not fit (the usual cause of gibberish).
Tokenizer tokenizer_for(const rwkvrt_model *m, const std::string &path) {
    const int32_t n_vocab = rwkvrt_model_n_vocab(m);
    if (path.empty() && n_vocab != 256)
        throw Failure{"this model has a vocabulary of " + std::to_string(n_vocab) +
                      " tokens: pass its tokenizer with -t (e.g. rwkv_vocab_v20230424.txt for World models)"};
    Tokenizer t = load_tokenizer(path);
    if (rwkvrt_tokenizer_n_vocab(t.get()) != n_vocab)
        throw Failure{"the tokenizer has " + std::to_string(rwkvrt_tokenizer_n_vocab(t.get())) +
                      " tokens but the model's vocabulary has " + std::to_string(n_vocab) +
                      ": this tokenizer does not belong to this model"};
    return t;
}

struct SamplerArgs {
    rwkvrt_sampler_options o = rwkvrt_sampler_options_default();

    void add(CLI::App *cmd) {
        cmd->add_option("--temperature", o.temperature, "Temperature (0 = greedy)")->capture_default_str();
        cmd->add_option("--top-k", o.top_k, "Keep the k most probable tokens (0 = off)")->capture_default_str();
        cmd->add_option("--top-p", o.top_p, "Nucleus: keep tokens up to this cumulative probability")->capture_default_str();
        cmd->add_option("--min-p", o.min_p, "Keep tokens with p >= min_p * max p")->capture_default_str();
        cmd->add_option("--repetition-penalty", o.repetition_penalty, "Multiplicative penalty on seen tokens (1 = off)")->capture_default_str();
        cmd->add_option("--presence-penalty", o.presence_penalty, "Subtracted from the logits of seen tokens")->capture_default_str();
        cmd->add_option("--frequency-penalty", o.frequency_penalty, "Subtracted per (decayed) occurrence")->capture_default_str();
        cmd->add_option("--penalty-decay", o.penalty_decay, "Decay of occurrence counts per token")->capture_default_str();
        cmd->add_option("--seed", o.seed, "Random seed (same seed, same tokens)")->capture_default_str();
    }

    Sampler make(int32_t n_vocab) const {
        rwkvrt_sampler *s = nullptr;
        check(rwkvrt_sampler_new(&o, n_vocab, &s), "invalid sampler options");
        return Sampler(s);
    }
};

// A CLI session file is a state file whose metadata holds the logits after the last token fed, so a
// generation can continue without a new prompt exactly as if it had never stopped.
constexpr char kSessionTag[] = "rwkvrt-cli-session-1";

std::string session_metadata(const float *logits, int32_t n_vocab) {
    std::string m(kSessionTag, sizeof kSessionTag);
    m.append(reinterpret_cast<const char *>(logits), size_t(n_vocab) * sizeof(float));
    return m;
}

bool session_logits(const rwkvrt_state *state, int32_t n_vocab, std::vector<float> *logits) {
    const void *data = nullptr;
    size_t len = 0;
    check(rwkvrt_state_get_metadata(state, &data, &len), "cannot read the session");
    if (len != sizeof kSessionTag + size_t(n_vocab) * sizeof(float) || std::memcmp(data, kSessionTag, sizeof kSessionTag) != 0)
        return false;
    logits->resize(size_t(n_vocab));
    std::memcpy(logits->data(), static_cast<const char *>(data) + sizeof kSessionTag, logits->size() * sizeof(float));
    return true;
}

bool file_exists(const std::string &path) { return std::ifstream(path).good(); }

// Runs a generator to the end, printing each piece as it comes. Returns the text.
std::string stream(rwkvrt_generator *gen) {
    std::string text, piece(256, '\0');
    for (;;) {
        size_t len = 0;
        int done = 0;
        rwkvrt_status st = rwkvrt_generate_next(gen, piece.data(), piece.size(), &len, &done);
        if (st == RWKVRT_ERR_BUFFER) {
            piece.resize(len);
            continue;
        }
        check(st, "generation failed");
        if (done) return text;
        std::fwrite(piece.data(), 1, len, stdout);
        std::fflush(stdout);
        text.append(piece.data(), len);
    }
}

int cmd_info(const ModelArgs &a) {
    Model model = load_model(a);
    State state = new_state(model.get());
    std::printf("file:        %s\n", a.path.c_str());
    std::printf("arch:        %s\n", rwkvrt_model_arch(model.get()));
    std::printf("n_vocab:     %d\n", rwkvrt_model_n_vocab(model.get()));
    std::printf("n_layer:     %d\n", rwkvrt_model_n_layer(model.get()));
    std::printf("n_embd:      %d\n", rwkvrt_model_n_embd(model.get()));
    std::printf("weights:     %s, %lld parameters, %.2f MB in the file\n", rwkvrt_model_weight_type(model.get()),
                static_cast<long long>(rwkvrt_model_n_params(model.get())), double(rwkvrt_model_weight_bytes(model.get())) / 1e6);
    std::printf("state size:  %zu bytes (snapshot)\n", rwkvrt_state_snapshot_size(state.get()));
    return 0;
}

struct GenerateArgs {
    std::string prompt, session;
    int max_tokens = 128;
    std::vector<std::string> stop;
};

int cmd_generate(const ModelArgs &a, const SamplerArgs &sa, const GenerateArgs &g) {
    Model model = load_model(a);
    const int32_t n_vocab = rwkvrt_model_n_vocab(model.get());
    Tokenizer tok = tokenizer_for(model.get(), a.tokenizer);
    State state = new_state(model.get());
    Sampler sampler = sa.make(n_vocab);
    std::vector<float> logits;
    const bool resuming = !g.session.empty() && file_exists(g.session);
    if (resuming) {
        check(rwkvrt_state_load_ex(state.get(), g.session.c_str(), sampler.get(), nullptr), "cannot resume " + g.session);
        if (g.prompt.empty() && !session_logits(state.get(), n_vocab, &logits))
            throw Failure{g.session + " holds no generation to continue: pass a prompt with -p"};
    } else if (g.prompt.empty()) {
        throw Failure{"the prompt is empty: pass one with -p"};
    }
    std::vector<const char *> stops;
    for (const std::string &s : g.stop) stops.push_back(s.c_str());
    rwkvrt_generate_options opt = rwkvrt_generate_options_default();
    opt.max_tokens = g.max_tokens;
    opt.stop = stops.data();
    opt.n_stop = stops.size();
    rwkvrt_generator *raw = nullptr;
    check(rwkvrt_generator_new(model.get(), state.get(), tok.get(), sampler.get(), g.prompt.data(), g.prompt.size(),
                               logits.empty() ? nullptr : logits.data(), &opt, &raw),
          "cannot start generating");
    Generator gen(raw);
    stream(gen.get());
    std::printf("\n");
    std::fflush(stdout);
    if (!g.session.empty()) {
        const std::string meta = session_metadata(rwkvrt_generator_logits(gen.get()), n_vocab);
        check(rwkvrt_state_set_metadata(state.get(), meta.data(), meta.size()), "cannot record the session");
        rwkvrt_state_save_options so = rwkvrt_state_save_options_default();
        so.sampler = sampler.get();
        check(rwkvrt_state_save_ex(state.get(), g.session.c_str(), &so), "cannot save the session");
        std::fprintf(stderr, "[session %s: %llu tokens]\n", g.session.c_str(),
                     static_cast<unsigned long long>(rwkvrt_state_n_tokens(state.get())));
    }
    return 0;
}

// User text may not contain the turn separator "\n\n" (spec §10.1).
std::string clean_turn(std::string text) {
    text = std::regex_replace(text, std::regex("\r\n"), "\n");
    text = std::regex_replace(text, std::regex("\n{2,}"), "\n");
    const size_t b = text.find_first_not_of(" \t\n"), e = text.find_last_not_of(" \t\n");
    return b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
}

int cmd_chat(const ModelArgs &a, SamplerArgs sa, const std::string &session, int max_tokens, bool think) {
    Model model = load_model(a);
    const int32_t n_vocab = rwkvrt_model_n_vocab(model.get());
    Tokenizer tok = tokenizer_for(model.get(), a.tokenizer);
    State state = new_state(model.get());
    Sampler sampler = sa.make(n_vocab);
    const bool world = std::strcmp(rwkvrt_tokenizer_kind(tok.get()), "bytes") != 0;
    if (world) check(rwkvrt_sampler_set_logit_bias(sampler.get(), 0, -INFINITY), "cannot ban end-of-text");
    if (!session.empty() && file_exists(session)) {
        check(rwkvrt_state_load_ex(state.get(), session.c_str(), sampler.get(), nullptr), "cannot resume " + session);
        std::fprintf(stderr, "[resumed %s: %llu tokens of conversation]\n", session.c_str(),
                     static_cast<unsigned long long>(rwkvrt_state_n_tokens(state.get())));
    }
    const char *stop[] = {"\n\n"};
    std::string line;
    bool separated = true; // the state ends with "\n\n" (or is empty)
    while (std::fputs("User: ", stdout), std::fflush(stdout), std::getline(std::cin, line)) {
        const std::string text = clean_turn(line);
        if (text.empty()) continue;
        const std::string prompt = (separated ? "" : "\n\n") + std::string("User: ") + text + "\n\nAssistant:" + (think ? " <think" : "");
        check(rwkvrt_sampler_reset_penalties(sampler.get()), "sampler");
        rwkvrt_generate_options opt = rwkvrt_generate_options_default();
        opt.max_tokens = max_tokens;
        opt.stop = stop;
        opt.n_stop = 1;
        rwkvrt_generator *raw = nullptr;
        check(rwkvrt_generator_new(model.get(), state.get(), tok.get(), sampler.get(), prompt.data(), prompt.size(),
                                   nullptr, &opt, &raw),
              "cannot start the reply");
        Generator gen(raw);
        std::fputs("Assistant:", stdout);
        stream(gen.get());
        std::fputs("\n\n", stdout);
        separated = rwkvrt_generator_stop_reason(gen.get()) == RWKVRT_STOP_STRING;
        if (!session.empty()) {
            rwkvrt_state_save_options so = rwkvrt_state_save_options_default();
            so.sampler = sampler.get();
            if (!separated) { // end the turn in the saved state too
                const char *sep = "\n\n";
                std::vector<int32_t> ids(8);
                size_t n = 0;
                check(rwkvrt_tokenize(tok.get(), sep, 2, ids.data(), ids.size(), &n), "tokenize");
                check(rwkvrt_feed(model.get(), state.get(), ids.data(), n, nullptr), "feed");
                separated = true;
            }
            check(rwkvrt_state_save_ex(state.get(), session.c_str(), &so), "cannot save the conversation");
        }
    }
    return 0;
}

std::string read_all(std::istream &in) { return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}; }

int cmd_tokenize(const std::string &tok_path, const std::string &text, const std::string &file) {
    Tokenizer tok = load_tokenizer(tok_path);
    std::string input = text;
    if (!file.empty()) {
        if (file == "-") {
            input = read_all(std::cin);
        } else {
            std::ifstream in(file, std::ios::binary);
            if (!in) throw Failure{"cannot read " + file};
            input = read_all(in);
        }
    }
    std::vector<int32_t> ids(input.size() + 16);
    size_t n = 0;
    rwkvrt_status st = rwkvrt_tokenize(tok.get(), input.data(), input.size(), ids.data(), ids.size(), &n);
    if (st == RWKVRT_ERR_BUFFER) {
        ids.resize(n);
        st = rwkvrt_tokenize(tok.get(), input.data(), input.size(), ids.data(), ids.size(), &n);
    }
    check(st, "cannot tokenize");
    for (size_t i = 0; i < n; ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
}

int cmd_detokenize(const std::string &tok_path, std::vector<std::string> ids_text) {
    Tokenizer tok = load_tokenizer(tok_path);
    if (ids_text.empty()) { // read ids from standard input
        std::istringstream in(read_all(std::cin));
        for (std::string w; in >> w;) ids_text.push_back(w);
    }
    std::vector<int32_t> ids;
    for (const std::string &w : ids_text) {
        try {
            size_t used = 0;
            const long v = std::stol(w, &used);
            if (used != w.size() || v < INT32_MIN || v > INT32_MAX) throw std::invalid_argument(w);
            ids.push_back(int32_t(v));
        } catch (const std::exception &) {
            throw Failure{"'" + w + "' is not a token id"};
        }
    }
    std::string out(ids.size() * 8 + 16, '\0');
    size_t len = 0;
    rwkvrt_status st = rwkvrt_detokenize(tok.get(), ids.data(), ids.size(), out.data(), out.size(), &len);
    if (st == RWKVRT_ERR_BUFFER) {
        out.resize(len);
        st = rwkvrt_detokenize(tok.get(), ids.data(), ids.size(), out.data(), out.size(), &len);
    }
    check(st, "cannot detokenize");
    std::fwrite(out.data(), 1, len, stdout);
    return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Reads one number from the JSON that bench/limits.sh prints.
double limit_value(const std::string &json, const std::string &key) {
    const std::regex re("\"" + key + "\"\\s*:\\s*([0-9.eE+-]+)");
    std::smatch m;
    return std::regex_search(json, m, re) ? std::stod(m[1]) : 0.0;
}

int cmd_bench(const ModelArgs &a, int prompt_tokens, int gen_tokens, const std::string &limits_path) {
    Model model = load_model(a);
    const int32_t n_vocab = rwkvrt_model_n_vocab(model.get());
    std::vector<int32_t> prompt(static_cast<size_t>(prompt_tokens));
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 13) % size_t(n_vocab));
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    State state = new_state(model.get());
    check(rwkvrt_feed(model.get(), state.get(), prompt.data(), std::min<size_t>(8, prompt.size()), logits.data()), "warm-up"); // page in the weights

    check(rwkvrt_state_reset(state.get()), "reset");
    auto t0 = std::chrono::steady_clock::now();
    check(rwkvrt_feed(model.get(), state.get(), prompt.data(), prompt.size(), logits.data()), "prefill");
    const double prefill_s = seconds_since(t0);

    int32_t token = prompt.back();
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < gen_tokens; ++i) {
        check(rwkvrt_feed(model.get(), state.get(), &token, 1, logits.data()), "generation");
        token = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    const double gen_s = seconds_since(t0);

    const double params = double(rwkvrt_model_n_params(model.get())), bytes = double(rwkvrt_model_weight_bytes(model.get()));
    const double prefill_tps = prompt_tokens / prefill_s, gen_tps = gen_tokens / gen_s;
    const double gflops = 2.0 * params * prefill_tps / 1e9, gbps = bytes * gen_tps / 1e9;
    std::printf("model:       %s (%s, %s, %.1fM parameters, %.1f MB)\n", a.path.c_str(), rwkvrt_model_arch(model.get()),
                rwkvrt_model_weight_type(model.get()), params / 1e6, bytes / 1e6);
    std::printf("prefill:     %d tokens in %.3f s = %.1f tokens/s (%.1f GFLOP/s)\n", prompt_tokens, prefill_s, prefill_tps, gflops);
    std::printf("generation:  %d tokens in %.3f s = %.1f tokens/s (%.2f GB/s of weights read)\n", gen_tokens, gen_s, gen_tps, gbps);
    if (!limits_path.empty()) {
        std::ifstream in(limits_path);
        if (!in) throw Failure{"cannot read " + limits_path};
        const std::string json = read_all(in);
        const double gemm = limit_value(json, "sgemm_gflops_all"), bw = limit_value(json, "read_gbps_all");
        if (gemm > 0) std::printf("prefill share of the fp32 GEMM ceiling (%.1f GFLOP/s): %.1f%%\n", gemm, 100 * gflops / gemm);
        if (bw > 0) std::printf("generation share of the read bandwidth (%.1f GB/s): %.1f%%\n", bw, 100 * gbps / bw);
    }
    return 0;
}

int cmd_random_model(const rwkvrt_tools::RandomModelSpec &spec, const std::string &out) {
    rwkvrt_tools::write_random_checkpoint(spec, out);
    std::printf("wrote a random-weight %s checkpoint to %s (its output is noise)\n", spec.arch.c_str(), out.c_str());
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    CLI::App app{"rwkvrt: run RWKV language models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(rwkvrt_version()));

    ModelArgs model_args;
    SamplerArgs sampler_args;
    GenerateArgs gen_args;

    CLI::App *info = app.add_subcommand("info", "Print a model's architecture and sizes");
    info->add_option("model", model_args.path, "Model file")->required();

    CLI::App *gen = app.add_subcommand("generate", "Generate text from a prompt");
    model_args.add(gen);
    sampler_args.add(gen);
    gen->add_option("-p,--prompt", gen_args.prompt, "Prompt text");
    gen->add_option("-n,--n-tokens", gen_args.max_tokens, "Tokens to generate")->check(CLI::NonNegativeNumber)->capture_default_str();
    gen->add_option("--stop", gen_args.stop, "Stop when this text appears (repeatable; not printed)");
    gen->add_option("--session", gen_args.session, "Session file: created, or continued (state and sampler), then saved");

    std::string chat_session;
    int chat_max = 512;
    bool think = false;
    SamplerArgs chat_sampler;
    chat_sampler.o.top_p = 0.3f; // the official chat demo's settings (spec §9.2)
    chat_sampler.o.presence_penalty = 0.5f;
    chat_sampler.o.frequency_penalty = 0.5f;
    CLI::App *chat = app.add_subcommand("chat", "Chat in the RWKV World format (User: ... / Assistant: ...)");
    ModelArgs chat_model;
    chat_model.add(chat);
    chat_sampler.add(chat);
    chat->add_option("--session", chat_session, "Conversation file: continued if it exists, saved after every turn");
    chat->add_option("-n,--max-tokens", chat_max, "Longest reply in tokens")->capture_default_str();
    chat->add_flag("--think", think, "Let G1 models reason first (the prompt ends with \"<think\")");

    std::string tok_path, text, file;
    std::vector<std::string> ids;
    CLI::App *tokenize = app.add_subcommand("tokenize", "Print the token ids of a text");
    tokenize->add_option("-t,--tokenizer", tok_path, "Tokenizer file (default: bytes)");
    tokenize->add_option("text", text, "Text to tokenize");
    tokenize->add_option("-f,--file", file, "Tokenize this file's raw bytes ('-' = standard input)");
    CLI::App *detokenize = app.add_subcommand("detokenize", "Print the text of token ids");
    detokenize->add_option("-t,--tokenizer", tok_path, "Tokenizer file (default: bytes)");
    detokenize->add_option("ids", ids, "Token ids (default: read from standard input)");

    int prompt_tokens = 512, bench_gen = 128;
    std::string limits;
    ModelArgs bench_model;
    CLI::App *bench = app.add_subcommand("bench", "Measure prefill and generation speed");
    bench_model.add(bench);
    bench->add_option("--prompt-tokens", prompt_tokens, "Prefill length")->check(CLI::PositiveNumber)->capture_default_str();
    bench->add_option("--gen-tokens", bench_gen, "Tokens generated one by one")->check(CLI::PositiveNumber)->capture_default_str();
    bench->add_option("--limits", limits, "JSON from bench/limits.sh: report the share of the machine's ceilings");

    rwkvrt_tools::RandomModelSpec spec;
    std::string random_out;
    CLI::App *random = app.add_subcommand("random-model", "Write a small random-weight checkpoint (.safetensors)");
    random->add_option("--arch", spec.arch, "rwkv4, rwkv5.0, rwkv5.1, rwkv5.2, rwkv6 or rwkv7")->capture_default_str();
    random->add_option("--layers", spec.n_layer, "Layers")->capture_default_str();
    random->add_option("--embd", spec.n_embd, "Width")->capture_default_str();
    random->add_option("--head-size", spec.head_size, "Head size (v5+)")->capture_default_str();
    random->add_option("--vocab", spec.n_vocab, "Vocabulary size")->capture_default_str();
    random->add_option("--seed", spec.seed, "Seed")->capture_default_str();
    random->add_option("-o,--output", random_out, "Output file")->required();

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    }
    try {
        if (*info) return cmd_info(model_args);
        if (*gen) return cmd_generate(model_args, sampler_args, gen_args);
        if (*chat) return cmd_chat(chat_model, chat_sampler, chat_session, chat_max, think);
        if (*tokenize) {
            if (text.empty() == file.empty()) throw Failure{"give either a text or -f FILE"};
            return cmd_tokenize(tok_path, text, file);
        }
        if (*detokenize) return cmd_detokenize(tok_path, ids);
        if (*bench) return cmd_bench(bench_model, prompt_tokens, bench_gen, limits);
        if (*random) return cmd_random_model(spec, random_out);
    } catch (const Failure &f) {
        std::fprintf(stderr, "rwkvrt: %s\n", f.message.c_str());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "rwkvrt: %s\n", e.what());
        return 1;
    }
    return 0;
}
