#include "cli/common.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <iostream>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace rwkvrt_cli {

void check(rwkvrt_status st, const std::string &what) {
    if (st != RWKVRT_OK) throw Failure{what + ": " + rwkvrt_last_error()};
}

void ModelArgs::add(CLI::App *cmd) {
    cmd->add_option("-m,--model", path, "Model file (.pth, rwkv.cpp .bin, .safetensors, .gguf)")->required();
    cmd->add_option("-t,--tokenizer", tokenizer,
                    "Tokenizer file (World vocab .txt, tokenizer.json, sentencepiece .model); by default the "
                    "one the model file carries (GGUF), or bytes for vocab-256 models");
    cmd->add_option("--threads", threads, "Threads (0 = one per core)")->check(kAtLeastZero);
    cmd->add_option("--weight-type", weight_type, "Convert the large matrices at load: f32, f16, bf16, q8_0");
    cmd->add_flag("--mmap", mmap,
                  "Map the model file instead of reading it into memory: processes share its pages, but it must not "
                  "change while in use, and generation is slower than from memory's huge pages");
    add_activations_option(cmd, activations);
}

void add_activations_option(CLI::App *cmd, std::string &activations) {
    cmd->add_option("--activations", activations,
                    "Activations: auto (default: int8 with block-quantized weights, bf16 with f16/bf16 ones, as "
                    "llama.cpp does); f32 (exact products); int8 (integer products with block-quantized weights, "
                    "AVX2 or AVX512-VNNI); bf16 (prompts and batches: bf16 products with bf16 and f16 weights, "
                    "AVX512-BF16); see docs/QUANTIZATION.md");
}

Model load_model(const ModelArgs &a) {
    rwkvrt_load_options opt = rwkvrt_load_options_default();
    opt.n_threads = a.threads;
    if (!a.weight_type.empty()) opt.weight_type = a.weight_type.c_str();
    opt.use_mmap = a.mmap ? 1 : 0;
    if (!a.activations.empty()) opt.activations = a.activations.c_str();
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

Tokenizer tokenizer_for(const rwkvrt_model *m, const std::string &path) {
    const int32_t n_vocab = rwkvrt_model_n_vocab(m);
    Tokenizer t;
    if (path.empty()) { // the one the model file carries, else bytes for vocab-256 models
        rwkvrt_tokenizer *embedded = nullptr;
        const rwkvrt_status st = rwkvrt_tokenizer_from_model(m, &embedded);
        if (st != RWKVRT_ERR_UNSUPPORTED) check(st, "cannot use the model's own tokenizer");
        t.reset(embedded);
        if (!t && n_vocab != 256)
            throw Failure{"this model has a vocabulary of " + std::to_string(n_vocab) +
                          " tokens and its file carries none: pass its tokenizer with -t (e.g. rwkv_vocab_v20230424.txt for World models)"};
    }
    if (!t) t = load_tokenizer(path);
    if (rwkvrt_tokenizer_n_vocab(t.get()) != n_vocab)
        throw Failure{"the tokenizer has " + std::to_string(rwkvrt_tokenizer_n_vocab(t.get())) +
                      " tokens but the model's vocabulary has " + std::to_string(n_vocab) +
                      ": this tokenizer does not belong to this model"};
    return t;
}

void SamplerArgs::add(CLI::App *cmd) {
    options = {
        cmd->add_option("--temperature", o.temperature, "Temperature (0 = greedy)"),
        cmd->add_option("--top-k", o.top_k, "Keep the k most probable tokens (0 = off)"),
        cmd->add_option("--top-p", o.top_p, "Nucleus: keep tokens up to this cumulative probability"),
        cmd->add_option("--min-p", o.min_p, "Keep tokens with p >= min_p * max p"),
        cmd->add_option("--repetition-penalty", o.repetition_penalty, "Multiplicative penalty on seen tokens (1 = off)"),
        cmd->add_option("--presence-penalty", o.presence_penalty, "Subtracted from the logits of seen tokens"),
        cmd->add_option("--frequency-penalty", o.frequency_penalty, "Subtracted per (decayed) occurrence"),
        cmd->add_option("--penalty-decay", o.penalty_decay, "Decay of occurrence counts per token"),
        cmd->add_option("--seed", o.seed, "Random seed (same seed, same tokens)")->check(kSeed),
    };
    for (CLI::Option *opt : options) opt->capture_default_str();
}

std::string SamplerArgs::given() const {
    std::string out;
    for (const CLI::Option *opt : options)
        if (opt->count() > 0) out += (out.empty() ? "" : " ") + opt->get_name() + " " + opt->as<std::string>();
    return out;
}

void resume_session(const std::string &path, rwkvrt_state *state, rwkvrt_sampler *sampler, const SamplerArgs &flags) {
    int sampler_loaded = 0;
    check(rwkvrt_state_load_ex(state, path.c_str(), sampler, &sampler_loaded), "cannot resume " + path);
    const std::string given = flags.given();
    if (sampler_loaded && !given.empty())
        std::fprintf(stderr, "[%s: the saved sampler continues, so that the session resumes exactly; ignored: %s]\n",
                     path.c_str(), given.c_str());
}

std::string prompt_text(const std::string &prompt, const std::string &file) {
    if (file.empty()) return prompt;
    if (!prompt.empty()) throw Failure{"pass the prompt with -p or -f, not both"};
    return read_input(file, "the prompt file");
}

void add_token_count(CLI::App *cmd, const std::string &name, int &count, const std::string &help) {
    cmd->add_option(name, count, help)
        ->capture_default_str()
        ->check(CLI::Validator(
            [](const std::string &v) {
                try {
                    size_t used = 0;
                    if (std::stol(v, &used) >= 0 && used == v.size()) return std::string();
                } catch (const std::exception &) {
                }
                return "must be a number of tokens >= 0, got " + v;
            },
            "COUNT"));
}

const CLI::Validator kSeed(
    [](const std::string &v) {
        errno = 0;
        if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos && (std::strtoull(v.c_str(), nullptr, 10), errno == 0))
            return std::string();
        return "must be a whole number from 0 to 18446744073709551615, got " + v;
    },
    "SEED");

std::string unescape(const std::string &s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        if (c == 'n') out += '\n';
        else if (c == 't') out += '\t';
        else if (c == 'r') out += '\r';
        else if (c == '\\') out += '\\';
        else if (c == 'x' && i + 2 < s.size() && std::isxdigit(uint8_t(s[i + 1])) && std::isxdigit(uint8_t(s[i + 2]))) {
            out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else if (c == 'x') {
            throw Failure{"\\x needs two hex digits (\\xHH) in '" + s + "'"};
        } else {
            throw Failure{"unknown escape \\" + std::string(1, c) + " in '" + s + "' (known: \\n \\t \\r \\\\ \\xHH)"};
        }
    }
    return out;
}

Sampler SamplerArgs::make(int32_t n_vocab) const {
    rwkvrt_sampler *s = nullptr;
    check(rwkvrt_sampler_new(&o, n_vocab, &s), "invalid sampler options");
    return Sampler(s);
}

namespace {
constexpr char kSessionTag[] = "rwkvrt-cli-session-1";
}

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

std::vector<int32_t> tokenize(const rwkvrt_tokenizer *tok, const std::string &text) {
    std::vector<int32_t> ids(text.size() + 16);
    size_t n = 0;
    rwkvrt_status st = rwkvrt_tokenize(tok, text.data(), text.size(), ids.data(), ids.size(), &n);
    if (st == RWKVRT_ERR_BUFFER) {
        ids.resize(n);
        st = rwkvrt_tokenize(tok, text.data(), text.size(), ids.data(), ids.size(), &n);
    }
    check(st, "cannot tokenize");
    ids.resize(n);
    return ids;
}

std::string detokenize(const rwkvrt_tokenizer *tok, const std::vector<int32_t> &ids) {
    size_t len = 0;
    const rwkvrt_status st = rwkvrt_detokenize(tok, ids.data(), ids.size(), nullptr, 0, &len);
    if (st != RWKVRT_OK && st != RWKVRT_ERR_BUFFER) check(st, "cannot detokenize");
    std::string text(len, '\0');
    check(rwkvrt_detokenize(tok, ids.data(), ids.size(), text.data(), text.size(), &len), "cannot detokenize");
    return text;
}

std::string describe(const std::string &path) {
    std::string text(4096, '\0');
    size_t len = 0;
    rwkvrt_status st = rwkvrt_model_describe(path.c_str(), text.data(), text.size(), &len);
    if (st == RWKVRT_ERR_BUFFER) {
        text.resize(len + 1);
        st = rwkvrt_model_describe(path.c_str(), text.data(), text.size(), &len);
    }
    check(st, "cannot read the model");
    text.resize(len);
    return text;
}

bool file_exists(const std::string &path) { return std::ifstream(path).good(); }

std::string read_all(std::istream &in) { return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}; }

std::string read_input(const std::string &path, const std::string &what) {
    if (path == "-") return read_all(std::cin);
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) throw Failure{"cannot read " + what + " " + path + ": it is a folder"};
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Failure{"cannot read " + what + " " + path + ": " + std::strerror(errno)};
    return read_all(in);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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
        if (st == RWKVRT_ERR_CANCELLED) return text; // Ctrl-C: what was printed is what the state holds
        check(st, "generation failed");
        if (done) return text;
        std::fwrite(piece.data(), 1, len, stdout);
        std::fflush(stdout);
        text.append(piece.data(), len);
    }
}

} // namespace rwkvrt_cli
