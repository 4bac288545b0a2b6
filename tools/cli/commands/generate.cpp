// rwkvrt generate: text from a prompt, with a resumable session file.
#include <cstdio>

#include "cli/common.h"
#include "cli/interrupt.h"

namespace rwkvrt_cli {

namespace {

struct GenerateArgs {
    ModelArgs model;
    SamplerArgs sampler;
    std::string prompt, prompt_file, session;
    int max_tokens = 128;
    std::vector<std::string> stop;
};

int run_generate(const GenerateArgs &args) {
    GenerateArgs g = args;
    g.prompt = prompt_text(g.prompt, g.prompt_file);
    Model model = load_model(g.model);
    const int32_t n_vocab = rwkvrt_model_n_vocab(model.get());
    Tokenizer tok = tokenizer_for(model.get(), g.model.tokenizer);
    State state = new_state(model.get());
    Sampler sampler = g.sampler.make(n_vocab);
    std::vector<float> logits;
    const bool resuming = !g.session.empty() && file_exists(g.session);
    if (resuming) {
        resume_session(g.session, state.get(), sampler.get(), g.sampler);
        if (g.prompt.empty() && !session_logits(state.get(), n_vocab, &logits))
            throw Failure{g.session + " holds no generation to continue: pass a prompt with -p or -f"};
    } else if (g.prompt.empty()) {
        throw Failure{"the prompt is empty: pass one with -p, or -f FILE (-f - reads standard input)"};
    }
    std::vector<std::string> stop_texts;
    for (const std::string &s : g.stop) stop_texts.push_back(unescape(s));
    std::vector<const char *> stops;
    for (const std::string &s : stop_texts) stops.push_back(s.c_str());
    rwkvrt_generate_options opt = rwkvrt_generate_options_default();
    opt.max_tokens = g.max_tokens;
    opt.stop = stops.data();
    opt.n_stop = stops.size();
    opt.progress = interrupt::progress;
    interrupt::install();
    rwkvrt_generator *raw = nullptr;
    const rwkvrt_status started = rwkvrt_generator_new(model.get(), state.get(), tok.get(), sampler.get(), g.prompt.data(),
                                                       g.prompt.size(), logits.empty() ? nullptr : logits.data(), &opt, &raw);
    if (started == RWKVRT_ERR_CANCELLED) { // half a prompt is no session to continue: keep the old one
        std::fprintf(stderr, "[stopped while reading the prompt%s]\n", g.session.empty() ? "" : "; the session file is unchanged");
        return 130;
    }
    check(started, "cannot start generating");
    Generator gen(raw);
    stream(gen.get());
    std::printf("\n");
    std::fflush(stdout);
    const bool stopped = interrupt::requested();
    if (stopped) std::fprintf(stderr, "[stopped]\n");
    if (!g.session.empty()) {
        const std::string meta = session_metadata(rwkvrt_generator_logits(gen.get()), n_vocab);
        check(rwkvrt_state_set_metadata(state.get(), meta.data(), meta.size()), "cannot record the session");
        rwkvrt_state_save_options so = rwkvrt_state_save_options_default();
        so.sampler = sampler.get();
        check(rwkvrt_state_save_ex(state.get(), g.session.c_str(), &so), "cannot save the session");
        std::fprintf(stderr, "[session %s: %llu tokens]\n", g.session.c_str(),
                     static_cast<unsigned long long>(rwkvrt_state_n_tokens(state.get())));
    }
    return stopped ? 130 : 0;
}

} // namespace

void add_generate(CLI::App &app, Commands &out) {
    auto g = std::make_shared<GenerateArgs>();
    CLI::App *cmd = app.add_subcommand("generate", "Generate text from a prompt");
    g->model.add(cmd);
    g->sampler.add(cmd);
    cmd->add_option("-p,--prompt", g->prompt, "Prompt text");
    cmd->add_option("-f,--file", g->prompt_file, "Read the prompt from a file (- = standard input)");
    add_token_count(cmd, "-n,--n-tokens", g->max_tokens, "Tokens to generate");
    cmd->add_option("--stop", g->stop, "Stop when this text appears (repeatable; not printed; \\n, \\t, \\xHH escapes)");
    cmd->add_option("--session", g->session, "Session file: created, or continued (state and sampler), then saved");
    out.push_back({cmd, [g] { return run_generate(*g); }});
}

} // namespace rwkvrt_cli
