// rwkvrt perplexity: the perplexity of a model on a text, in llama-perplexity's conventions
// (cli/eval/perplexity.h), with --ctx 0 for the whole text through one state.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>

#include "cli/common.h"
#include "cli/eval/perplexity.h"
#include "cli/interrupt.h"

namespace rwkvrt_cli {

namespace {

struct PerplexityArgs {
    ModelArgs model;
    std::string file;
    int ctx = 512;
    int chunks = -1;
    int ubatch = 512; // tokens per feed call: bounds the logits buffer (ubatch × n_vocab floats)
};

void print_final(const eval::PerplexitySum &sum) {
    std::printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", sum.perplexity(), sum.uncertainty());
    std::fflush(stdout);
}

int run_perplexity(const PerplexityArgs &a) {
    if (a.ctx == 1 || a.ctx == 2) // the second half of a chunk of 2 is its last token, which predicts nothing in it
        throw Failure{"--ctx " + std::to_string(a.ctx) + " scores no token: use 3 or more, or 0 for the whole text"};
    const std::string text = prompt_text("", a.file);
    Model model = load_model(a.model);
    Tokenizer tok = tokenizer_for(model.get(), a.model.tokenizer);
    const std::vector<int32_t> tokens = tokenize(tok.get(), text);
    const size_t n_ctx = size_t(a.ctx);
    const size_t chunk_len = n_ctx ? n_ctx : tokens.size();
    size_t n_chunks = chunk_len >= 2 ? tokens.size() / chunk_len : 0;
    if (a.chunks >= 0) n_chunks = std::min(n_chunks, size_t(a.chunks));
    if (n_chunks == 0)
        throw Failure{"the text has " + std::to_string(tokens.size()) + (tokens.size() == 1 ? " token" : " tokens") + ": at least " +
                      std::to_string(std::max<size_t>(2, chunk_len)) + " are needed" + (n_ctx ? " for --ctx " + std::to_string(n_ctx) : "")};
    const eval::ScoredRange scored = eval::scored_range(chunk_len, n_ctx);
    std::fprintf(stderr, "perplexity: %zu tokens, %zu chunk%s of %zu, each from an empty state; scoring tokens %zu to %zu of each (from 0)\n",
                 tokens.size(), n_chunks, n_chunks == 1 ? "" : "s", chunk_len, scored.first + 1, scored.last);
    const bool show_progress = n_ctx == 0 && isatty(STDERR_FILENO);

    const int32_t V = rwkvrt_model_n_vocab(model.get());
    State state = new_state(model.get());
    const size_t window = size_t(a.ubatch);
    std::vector<float> logits(std::min(window, chunk_len) * size_t(V));
    rwkvrt_feed_options opt = rwkvrt_feed_options_default();
    opt.logits_all = 1;
    opt.progress = interrupt::progress;
    interrupt::install();
    eval::PerplexitySum sum;
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t c = 0; c < n_chunks; ++c) {
        check(rwkvrt_state_reset(state.get()), "cannot reset the state");
        const int32_t *chunk = tokens.data() + c * chunk_len;
        for (size_t w = 0; w < chunk_len; w += window) {
            const size_t rows = std::min(window, chunk_len - w);
            const rwkvrt_status st = rwkvrt_feed_ex(model.get(), state.get(), chunk + w, rows, logits.data(), &opt);
            if (st == RWKVRT_ERR_CANCELLED) {
                std::fprintf(stderr, "\n[stopped: the estimate covers %zu scored tokens]\n", sum.count());
                if (sum.count()) print_final(sum);
                return 130;
            }
            check(st, "cannot feed the text");
            for (size_t r = 0; r < rows; ++r) {
                const size_t j = w + r; // these logits predict chunk[j + 1]
                if (j >= scored.first && j < scored.last)
                    sum.add(eval::negative_log_likelihood(logits.data() + r * size_t(V), V, chunk[j + 1]));
            }
            if (show_progress) std::fprintf(stderr, "\r[%zu of %zu tokens] PPL %.4f", w + rows, chunk_len, sum.perplexity());
        }
        if (show_progress) std::fprintf(stderr, "\n");
        std::printf("[%zu]%.4f,", c + 1, sum.perplexity());
        std::fflush(stdout);
    }
    const double seconds = seconds_since(t0);
    print_final(sum);
    std::fprintf(stderr, "perplexity: %zu tokens in %.2f s (%.1f tok/s)\n", n_chunks * chunk_len, seconds,
                 double(n_chunks * chunk_len) / seconds);
    return 0;
}

} // namespace

void add_perplexity(CLI::App &app, Commands &out) {
    auto a = std::make_shared<PerplexityArgs>();
    CLI::App *cmd = app.add_subcommand("perplexity", "Perplexity on a text, as llama-perplexity computes it");
    a->model.add(cmd);
    cmd->add_option("-f,--file", a->file, "The text (- = standard input)")->required();
    cmd->add_option("-c,--ctx", a->ctx,
                    "Tokens per chunk, each from an empty state, the second half scored (llama-perplexity's "
                    "convention); 0 = the whole text through one state, every token after the first scored")
        ->check(CLI::Range(0, 1 << 24));
    cmd->add_option("-u,--ubatch", a->ubatch,
                    "Tokens per feed call (1 = one at a time, the path of generation)")
        ->check(CLI::Range(1, 1 << 16));
    cmd->add_option("--chunks", a->chunks, "Score at most this many chunks (default: all)")->check(kAtLeastOne);
    out.push_back({cmd, [a] { return run_perplexity(*a); }});
}

} // namespace rwkvrt_cli
