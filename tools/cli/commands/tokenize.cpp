// rwkvrt tokenize / detokenize: text to token ids and back.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/common.h"

namespace rwkvrt_cli {

namespace {

struct TokenizeArgs {
    std::string tokenizer, text, file;
    std::vector<std::string> ids;
};

int run_tokenize(const TokenizeArgs &a) {
    if (a.text.empty() == a.file.empty()) throw Failure{"give either a text or -f FILE"};
    Tokenizer tok = load_tokenizer(a.tokenizer);
    std::string input = a.text;
    if (!a.file.empty()) input = read_input(a.file, "the file");
    const std::vector<int32_t> ids = tokenize(tok.get(), input);
    for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? " %d" : "%d", ids[i]);
    std::printf("\n");
    return 0;
}

int run_detokenize(const TokenizeArgs &a) {
    Tokenizer tok = load_tokenizer(a.tokenizer);
    std::vector<std::string> ids_text = a.ids;
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
    const std::string text = detokenize(tok.get(), ids);
    std::fwrite(text.data(), 1, text.size(), stdout);
    return 0;
}

} // namespace

void add_tokenize(CLI::App &app, Commands &out) {
    auto a = std::make_shared<TokenizeArgs>();
    CLI::App *tokenize = app.add_subcommand("tokenize", "Print the token ids of a text");
    tokenize->add_option("-t,--tokenizer", a->tokenizer, "Tokenizer file (default: bytes)");
    tokenize->add_option("text", a->text, "Text to tokenize");
    tokenize->add_option("-f,--file", a->file, "Tokenize this file's raw bytes ('-' = standard input)");
    out.push_back({tokenize, [a] { return run_tokenize(*a); }});

    CLI::App *detokenize = app.add_subcommand("detokenize", "Print the text of token ids");
    detokenize->add_option("-t,--tokenizer", a->tokenizer, "Tokenizer file (default: bytes)");
    detokenize->add_option("ids", a->ids, "Token ids (default: read from standard input)");
    out.push_back({detokenize, [a] { return run_detokenize(*a); }});
}

} // namespace rwkvrt_cli
