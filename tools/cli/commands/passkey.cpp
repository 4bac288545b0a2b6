// rwkvrt passkey: the passkey retrieval test (cli/eval/passkey.h) at one length and depth, or as a
// length × depth table. Every prompt of one length is fed in one rwkvrt_feed_batch, and their answers
// are decoded greedily together.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/eval/passkey.h"
#include "cli/interrupt.h"

namespace rwkvrt_cli {

namespace {

struct PasskeyArgs {
    ModelArgs model;
    std::vector<size_t> lengths{4096};
    std::vector<double> depths{50};
    bool sweep = false;
    int trials = 1;
    uint64_t seed = 1;
    int answer_tokens = 8;
    std::string output = "md";
    bool verbose = false;
};

struct Cell {
    size_t length = 0, tokens = 0; // asked for, and the prompts' mean length
    double depth = 0;
    int passed = 0, trials = 0;
};

int32_t argmax(const float *x, int32_t n) { return int32_t(std::max_element(x, x + n) - x); }

// All trials at every depth of one length, fed and answered as one batch.
void run_length(const rwkvrt_model *model, const rwkvrt_tokenizer *tok, const PasskeyArgs &a, size_t length,
                std::vector<Cell> &cells) {
    const int32_t V = rwkvrt_model_n_vocab(model);
    const auto count_tokens = [&](const std::string &t) { return tokenize(tok, t).size(); };
    if (const size_t shortest = eval::passkey_min_tokens(count_tokens); length < shortest)
        throw Failure{"--length " + std::to_string(length) + " is shorter than the passkey prompt without filler: " + std::to_string(shortest) +
                      " tokens with this tokenizer"};
    const size_t repetitions = eval::passkey_repetitions_for(length, count_tokens);
    struct Seq {
        size_t cell;
        std::string key;
        std::vector<int32_t> prompt, answer;
        State state;
        std::vector<float> logits;
    };
    std::vector<Seq> seqs;
    for (double depth : a.depths) {
        cells.push_back({length, 0, depth, 0, a.trials});
        for (int t = 0; t < a.trials; ++t) {
            const eval::PasskeyPrompt p = eval::passkey_prompt(eval::passkey_key(a.seed, uint64_t(t)), repetitions, depth);
            seqs.push_back({cells.size() - 1, p.key, tokenize(tok, p.text), {}, new_state(model), std::vector<float>(size_t(V))});
            cells.back().tokens += seqs.back().prompt.size();
        }
        cells.back().tokens /= size_t(a.trials);
    }
    std::vector<rwkvrt_state *> states;
    std::vector<const int32_t *> inputs;
    std::vector<size_t> counts;
    std::vector<float *> logits;
    for (Seq &s : seqs) {
        states.push_back(s.state.get());
        inputs.push_back(s.prompt.data());
        counts.push_back(s.prompt.size());
        logits.push_back(s.logits.data());
    }
    rwkvrt_feed_options opt = rwkvrt_feed_options_default();
    opt.progress = interrupt::progress;
    const auto feed = [&] {
        const rwkvrt_status st = rwkvrt_feed_batch_ex(model, seqs.size(), states.data(), inputs.data(), counts.data(), logits.data(), &opt);
        if (st == RWKVRT_ERR_CANCELLED) throw Failure{"stopped"};
        check(st, "cannot feed the prompts");
    };
    feed();
    std::vector<int32_t> next(seqs.size());
    for (int step = 0; step < a.answer_tokens; ++step) {
        for (size_t i = 0; i < seqs.size(); ++i) {
            next[i] = argmax(seqs[i].logits.data(), V);
            seqs[i].answer.push_back(next[i]);
            inputs[i] = &next[i];
            counts[i] = 1;
        }
        if (step + 1 < a.answer_tokens) feed();
    }
    for (const Seq &s : seqs) {
        const std::string answer = detokenize(tok, s.answer);
        const bool ok = eval::passkey_answer_correct(answer, s.key);
        cells[s.cell].passed += ok;
        if (a.verbose)
            std::fprintf(stderr, "length %zu, depth %g%%, key %s: %s \"%s\"\n", length, cells[s.cell].depth, s.key.c_str(),
                         ok ? "pass" : "FAIL", answer.c_str());
    }
}

int run_passkey(const PasskeyArgs &given) {
    PasskeyArgs a = given;
    if (a.sweep) {
        const size_t longest = a.lengths.empty() ? 4096 : *std::max_element(a.lengths.begin(), a.lengths.end());
        a.lengths.clear();
        for (size_t n = 256; n < longest; n *= 2) a.lengths.push_back(n);
        a.lengths.push_back(longest);
        a.depths = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100};
    }
    Model model = load_model(a.model);
    Tokenizer tok = tokenizer_for(model.get(), a.model.tokenizer);
    interrupt::install();
    std::vector<Cell> cells;
    for (size_t length : a.lengths) {
        std::fprintf(stderr, "passkey: %zu tokens, %zu depth%s × %d trial%s\n", length, a.depths.size(), a.depths.size() == 1 ? "" : "s",
                     a.trials, a.trials == 1 ? "" : "s");
        run_length(model.get(), tok.get(), a, length, cells);
    }
    if (a.output == "json") {
        nlohmann::json j = nlohmann::json::array();
        for (const Cell &c : cells)
            j.push_back({{"length", c.length}, {"prompt_tokens", c.tokens}, {"depth_percent", c.depth}, {"passed", c.passed}, {"trials", c.trials}});
        std::printf("%s\n", j.dump(1).c_str());
        return 0;
    }
    std::printf("| prompt tokens |");
    for (double d : a.depths) std::printf(" %g%% |", d);
    std::printf("\n|---:|");
    for (size_t i = 0; i < a.depths.size(); ++i) std::printf("---:|");
    std::printf("\n");
    for (size_t i = 0; i < cells.size(); i += a.depths.size()) {
        std::printf("| %zu |", cells[i].tokens);
        for (size_t k = 0; k < a.depths.size(); ++k) std::printf(" %d/%d |", cells[i + k].passed, cells[i + k].trials);
        std::printf("\n");
    }
    return 0;
}

} // namespace

void add_passkey(CLI::App &app, Commands &out) {
    auto a = std::make_shared<PasskeyArgs>();
    CLI::App *cmd = app.add_subcommand("passkey", "Passkey retrieval: a key hidden in filler text, asked for at the end");
    a->model.add(cmd);
    cmd->add_option("--length", a->lengths, "Prompt length in tokens, comma-separated for several")
        ->delimiter(',')
        ->check(CLI::Range(size_t(1), size_t(1) << 30));
    cmd->add_option("--depth-percent", a->depths, "Where the key sits in the filler, 0 (start) to 100 (end); comma-separated")
        ->delimiter(',')
        ->check(CLI::Range(0.0, 100.0));
    cmd->add_flag("--sweep", a->sweep, "A table: lengths 256, 512, … up to --length, depths 0, 10, … 100");
    cmd->add_option("--trials", a->trials, "Keys tried per cell")->check(CLI::Range(1, 1000));
    cmd->add_option("--seed", a->seed, "Seed of the keys")->check(kSeed);
    cmd->add_option("--answer-tokens", a->answer_tokens, "Tokens decoded for each answer")->check(CLI::Range(1, 64));
    cmd->add_option("-o,--output", a->output, "md (a table) or json")->check(CLI::IsMember({"md", "json"}));
    cmd->add_flag("-v,--verbose", a->verbose, "Print every answer");
    out.push_back({cmd, [a] { return run_passkey(*a); }});
}

} // namespace rwkvrt_cli
