// rwkvrt — the command-line tool: model info, generation with resumable sessions, chat, tokenizers,
// benchmarks, GGUF conversion, an OpenAI-compatible server. Built on the public C API only, like any
// application. One file per subcommand in commands/; each adds its parser and its action to the list.
#include <cstdio>
#include <exception>

#include "cli/common.h"

using namespace rwkvrt_cli;

int main(int argc, char **argv) {
    CLI::App app{"rwkvrt: run RWKV language models"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(rwkvrt_version()));

    Commands commands;
    for (auto add : {add_info, add_generate, add_chat, add_tokenize, add_bench, add_random_model, add_convert, add_quantize, add_serve, add_perplexity, add_passkey})
        add(app, commands);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
        return app.exit(e);
    }
    try {
        for (const Command &c : commands)
            if (c.app->parsed()) return c.run();
    } catch (const Failure &f) {
        std::fprintf(stderr, "rwkvrt: %s\n", f.message.c_str());
        return 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "rwkvrt: %s\n", e.what());
        return 1;
    }
    return 0;
}
