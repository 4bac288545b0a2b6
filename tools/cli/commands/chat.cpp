// rwkvrt chat: a conversation in the RWKV World format, saved after every turn.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <regex>

#include "cli/common.h"
#include "cli/interrupt.h"

namespace rwkvrt_cli {

namespace {

struct ChatArgs {
    ModelArgs model;
    SamplerArgs sampler;
    std::string session, first_turn_file;
    int max_tokens = 512;
    bool think = false;
};

// User text may not contain the turn separator "\n\n" (spec §10.1).
std::string clean_turn(std::string text) {
    text = std::regex_replace(text, std::regex("\r\n"), "\n");
    text = std::regex_replace(text, std::regex("\n{2,}"), "\n");
    const size_t b = text.find_first_not_of(" \t\n"), e = text.find_last_not_of(" \t\n");
    return b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
}

void print_banner(const ChatArgs &c, const rwkvrt_model *model, const rwkvrt_state *state, bool resumed) {
    std::fprintf(stderr, "rwkvrt chat: %s (%s, %d layers, vocabulary %d)\n", c.model.path.c_str(),
                 rwkvrt_model_arch(model), rwkvrt_model_n_layer(model), rwkvrt_model_n_vocab(model));
    if (c.session.empty())
        std::fprintf(stderr, "conversation not saved (--session FILE keeps it)\n");
    else if (resumed)
        std::fprintf(stderr, "conversation %s: resumed after %llu tokens, saved after every turn\n", c.session.c_str(),
                     static_cast<unsigned long long>(rwkvrt_state_n_tokens(state)));
    else
        std::fprintf(stderr, "conversation %s: new, saved after every turn\n", c.session.c_str());
    std::fprintf(stderr, "/quit (or Ctrl-D) leaves, /reset starts over, /save [FILE] saves now; Ctrl-C stops a reply\n\n");
}

// The state saved with the sampler, so that a resumed conversation continues exactly. A save that
// fails (a full disk, a bad path) is reported and the chat goes on: the conversation is still in memory.
bool save(const rwkvrt_state *state, const rwkvrt_sampler *sampler, const std::string &path) {
    rwkvrt_state_save_options so = rwkvrt_state_save_options_default();
    so.sampler = sampler;
    if (rwkvrt_state_save_ex(state, path.c_str(), &so) == RWKVRT_OK) return true;
    std::fprintf(stderr, "[not saved: %s; the conversation goes on, and /save FILE saves it elsewhere]\n", rwkvrt_last_error());
    return false;
}

int run_chat(const ChatArgs &c) {
    Model model = load_model(c.model);
    const int32_t n_vocab = rwkvrt_model_n_vocab(model.get());
    Tokenizer tok = tokenizer_for(model.get(), c.model.tokenizer);
    State state = new_state(model.get());
    State before_turn = new_state(model.get()); // restored when Ctrl-C stops a turn's prompt
    Sampler sampler = c.sampler.make(n_vocab);
    const bool world = std::strcmp(rwkvrt_tokenizer_kind(tok.get()), "bytes") != 0;
    if (world) check(rwkvrt_sampler_set_logit_bias(sampler.get(), 0, -INFINITY), "cannot ban end-of-text");
    const bool resumed = !c.session.empty() && file_exists(c.session);
    if (resumed) resume_session(c.session, state.get(), sampler.get(), c.sampler);
    print_banner(c, model.get(), state.get(), resumed);
    const char *stop[] = {"\n\n"};
    interrupt::install(); // Ctrl-C at the prompt ends the read, and so the chat
    std::string line = prompt_text("", c.first_turn_file);
    bool separated = true; // the state ends with "\n\n" (or is empty)
    for (bool first = !line.empty(); first || (std::fputs("User: ", stdout), std::fflush(stdout), std::getline(std::cin, line));
         first = false) {
        const std::string text = clean_turn(line);
        if (text.empty()) continue;
        if (text == "/quit") break;
        if (text == "/reset") {
            check(rwkvrt_state_reset(state.get()), "cannot reset");
            separated = true;
            std::fprintf(stderr, "[the conversation starts over%s]\n", c.session.empty() ? "" : "; saved at the next turn");
            continue;
        }
        if (text == "/save" || text.starts_with("/save ")) {
            const std::string path = text == "/save" ? c.session : clean_turn(text.substr(6));
            if (path.empty()) {
                std::fprintf(stderr, "[/save needs a file name, or --session]\n");
                continue;
            }
            if (save(state.get(), sampler.get(), path))
                std::fprintf(stderr, "[saved %s: %llu tokens]\n", path.c_str(),
                             static_cast<unsigned long long>(rwkvrt_state_n_tokens(state.get())));
            continue;
        }
        // A lone word after a slash is a command mistyped, not a message (a path like /etc/hosts is one).
        if (text.size() > 1 && text[0] == '/' && std::all_of(text.begin() + 1, text.end(), [](char ch) { return std::isalpha(uint8_t(ch)); })) {
            std::fprintf(stderr, "[unknown command %s: /quit, /reset, /save [FILE]]\n", text.c_str());
            continue;
        }
        const std::string prompt = (separated ? "" : "\n\n") + std::string("User: ") + text + "\n\nAssistant:" + (c.think ? " <think" : "");
        check(rwkvrt_sampler_reset_penalties(sampler.get()), "sampler");
        rwkvrt_generate_options opt = rwkvrt_generate_options_default();
        opt.max_tokens = c.max_tokens;
        opt.stop = stop;
        opt.n_stop = 1;
        opt.progress = interrupt::progress;
        check(rwkvrt_state_copy(before_turn.get(), state.get()), "cannot keep the conversation");
        rwkvrt_generator *raw = nullptr;
        const rwkvrt_status started = rwkvrt_generator_new(model.get(), state.get(), tok.get(), sampler.get(), prompt.data(),
                                                           prompt.size(), nullptr, &opt, &raw);
        if (started == RWKVRT_ERR_CANCELLED) { // half a question would confuse the model: drop the turn
            check(rwkvrt_state_copy(state.get(), before_turn.get()), "cannot restore the conversation");
            interrupt::clear();
            std::fprintf(stderr, "[stopped while reading your message; the conversation is as it was before it]\n");
            continue;
        }
        check(started, "cannot start the reply");
        Generator gen(raw);
        std::fputs("Assistant:", stdout);
        stream(gen.get());
        std::fputs("\n\n", stdout);
        std::fflush(stdout);
        if (interrupt::requested()) { // the reply so far stays in the conversation, ended like any turn
            interrupt::clear();
            std::fprintf(stderr, "[reply stopped]\n");
        }
        separated = rwkvrt_generator_stop_reason(gen.get()) == RWKVRT_STOP_STRING;
        if (!c.session.empty()) {
            if (!separated) { // end the turn in the saved state too
                const char *sep = "\n\n";
                std::vector<int32_t> ids(8);
                size_t n = 0;
                check(rwkvrt_tokenize(tok.get(), sep, 2, ids.data(), ids.size(), &n), "tokenize");
                check(rwkvrt_feed(model.get(), state.get(), ids.data(), n, nullptr), "feed");
                separated = true;
            }
            save(state.get(), sampler.get(), c.session);
        }
    }
    return 0;
}

} // namespace

void add_chat(CLI::App &app, Commands &out) {
    auto c = std::make_shared<ChatArgs>();
    c->sampler.o.top_p = 0.3f; // the official chat demo's settings (spec §9.2)
    c->sampler.o.presence_penalty = 0.5f;
    c->sampler.o.frequency_penalty = 0.5f;
    CLI::App *cmd = app.add_subcommand("chat", "Chat in the RWKV World format (User: ... / Assistant: ...)");
    c->model.add(cmd);
    c->sampler.add(cmd);
    cmd->add_option("--session", c->session, "Conversation file: continued if it exists, saved after every turn");
    add_token_count(cmd, "-n,--max-tokens", c->max_tokens, "Longest reply in tokens");
    cmd->add_option("-f,--file", c->first_turn_file, "Send this file's text as the first turn (- = standard input)");
    cmd->add_flag("--think", c->think, "Let G1 models reason first (the prompt ends with \"<think\")");
    out.push_back({cmd, [c] { return run_chat(*c); }});
}

} // namespace rwkvrt_cli
