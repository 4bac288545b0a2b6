// What every rwkvrt subcommand shares: RAII owners of the C handles, the model/tokenizer/sampler
// options, and Failure, the one way a command reports a problem to main().
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <functional>
#include <limits>
#include <istream>
#include <memory>
#include <string>
#include <vector>

#include "rwkvrt.h"

namespace rwkvrt_cli {

struct Failure {
    std::string message;
};

// Throws Failure("what: <the library's message>") unless st is RWKVRT_OK.
void check(rwkvrt_status st, const std::string &what);

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
    std::string activations; // "" = the library's default (auto)
    std::string tokenizer;
    bool mmap = false;

    void add(CLI::App *cmd);
};

Model load_model(const ModelArgs &a);
void add_activations_option(CLI::App *cmd, std::string &activations);
State new_state(const rwkvrt_model *m);
Tokenizer load_tokenizer(const std::string &path);
// The model's tokenizer, refusing one whose vocabulary does not fit (the usual cause of gibberish).
Tokenizer tokenizer_for(const rwkvrt_model *m, const std::string &path);

struct SamplerArgs {
    rwkvrt_sampler_options o = rwkvrt_sampler_options_default();
    std::vector<CLI::Option *> options;

    void add(CLI::App *cmd);
    Sampler make(int32_t n_vocab) const;
    // The sampling flags given on the command line, e.g. "--temperature 0.5 --seed 3".
    std::string given() const;
};

// Loads a session file into state and sampler. The saved sampler continues (so that a resumed
// generation is exact): sampling flags given on the command line are then ignored, and a note on
// stderr names them.
void resume_session(const std::string &path, rwkvrt_state *state, rwkvrt_sampler *sampler, const SamplerArgs &flags);

// The prompt: the text of -p, or the content of the -f file ("-" = standard input). Throws Failure
// if both are given or the file cannot be read.
std::string prompt_text(const std::string &prompt, const std::string &file);

// Adds an option taking a count of tokens >= 0, refusing others with a one-line error.
void add_token_count(CLI::App *cmd, const std::string &name, int &count, const std::string &help);

// Turns the escapes \n, \t, \r, \\ and \xHH in a command-line string into the bytes they name.
std::string unescape(const std::string &s);

// A CLI session file is a state file whose metadata holds the logits after the last token fed, so a
// generation can continue without a new prompt exactly as if it had never stopped.
std::string session_metadata(const float *logits, int32_t n_vocab);
bool session_logits(const rwkvrt_state *state, int32_t n_vocab, std::vector<float> *logits);

// The token ids of text (throws Failure if the tokenizer refuses it).
std::vector<int32_t> tokenize(const rwkvrt_tokenizer *tok, const std::string &text);
// The text of token ids.
std::string detokenize(const rwkvrt_tokenizer *tok, const std::vector<int32_t> &ids);

// rwkvrt_model_describe()'s JSON for the file at path (no weights read).
std::string describe(const std::string &path);

bool file_exists(const std::string &path);
std::string read_all(std::istream &in);
// The bytes of the file at path, or of standard input for "-"; `what` names the file in errors.
std::string read_input(const std::string &path, const std::string &what);

// Whole-number option checks whose messages give the range (CLI11's PositiveNumber prints 1.8e308 in full).
inline const CLI::Range kAtLeastZero(0, std::numeric_limits<int>::max());
inline const CLI::Range kAtLeastOne(1, std::numeric_limits<int>::max());
// A seed: a whole number from 0 to 2^64 - 1 (CLI11 alone would wrap -1 and saturate larger numbers).
extern const CLI::Validator kSeed;
double seconds_since(std::chrono::steady_clock::time_point t0);

// Runs a generator to the end, or until a progress callback cancels it (Ctrl-C, cli/interrupt.h),
// printing each piece as it comes. Returns the text printed, which is what the state received.
std::string stream(rwkvrt_generator *gen);

// A subcommand: its CLI11 parser and what runs when it was chosen. Each commands/*.cpp adds its own.
struct Command {
    CLI::App *app;
    std::function<int()> run;
};
using Commands = std::vector<Command>;

void add_info(CLI::App &app, Commands &out);
void add_generate(CLI::App &app, Commands &out);
void add_chat(CLI::App &app, Commands &out);
void add_tokenize(CLI::App &app, Commands &out);
void add_bench(CLI::App &app, Commands &out);
void add_random_model(CLI::App &app, Commands &out);
void add_convert(CLI::App &app, Commands &out);
void add_quantize(CLI::App &app, Commands &out);
void add_serve(CLI::App &app, Commands &out);
void add_perplexity(CLI::App &app, Commands &out);
void add_passkey(CLI::App &app, Commands &out);

} // namespace rwkvrt_cli
