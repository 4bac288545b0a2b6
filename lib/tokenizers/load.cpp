// Which tokenizer a file holds, told from its content rather than its name.
#include "core/error.h"
#include "formats/mapped_file.h"
#include "tokenizers/tokenizer.h"

namespace rwkvrt {

namespace {

// A World vocabulary starts with a line "<id> <str or bytes literal> ...", e.g. "1 '\x00' 1".
bool looks_like_world(std::string_view s) {
    const size_t digits = s.find_first_not_of("0123456789");
    if (digits == 0 || digits == std::string_view::npos || s[digits] != ' ') return false;
    s.remove_prefix(digits + 1);
    if (s.starts_with('b')) s.remove_prefix(1);
    return s.starts_with('\'') || s.starts_with('"');
}

bool looks_like_json(std::string_view s) {
    const size_t i = s.find_first_not_of(" \t\r\n");
    return i != std::string_view::npos && s[i] == '{';
}

} // namespace

std::unique_ptr<Tokenizer> parse_tokenizer(std::string_view content, const std::string &name) {
    if (looks_like_world(content)) return make_world_tokenizer(content, name);
    if (looks_like_json(content)) return make_bpe_tokenizer(content, name);
    // sentencepiece models are protobufs, which have no magic: let the library judge.
    try {
        if (!content.empty()) return make_sentencepiece_tokenizer(content, name);
    } catch (const Error &e) {
        if (e.status() != RWKVRT_ERR_FORMAT) throw;
    }
    fail(RWKVRT_ERR_FORMAT, name, ": not a tokenizer file rwkvrt knows (a World vocabulary .txt, a tokenizer.json or a sentencepiece .model)");
}

std::unique_ptr<Tokenizer> make_embedded_tokenizer(const std::vector<std::string> &pieces, const std::string &name) {
    bool bytes = pieces.size() == 256;
    for (size_t i = 0; bytes && i < 256; ++i) bytes = pieces[i] == std::string(1, char(i));
    return bytes ? make_byte_tokenizer() : make_world_tokenizer(pieces, name);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string &path) {
    const MappedFile file(path, true);
    return parse_tokenizer(std::string_view(reinterpret_cast<const char *>(file.data()), file.size()), path);
}

} // namespace rwkvrt
