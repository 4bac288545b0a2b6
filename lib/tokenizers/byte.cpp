// The byte tokenizer of vocab-256 models: token id = byte value (not World's byte + 1).
#include "tokenizers/tokenizer.h"

namespace rwkvrt {

namespace {

class ByteTokenizer final : public Tokenizer {
public:
    ByteTokenizer() {
        std::vector<std::string> pieces(256);
        for (int b = 0; b < 256; ++b) pieces[b] = std::string(1, char(b));
        set_token_bytes(pieces);
    }

    const char *kind() const override { return "bytes"; }

    std::vector<int32_t> encode(std::string_view text) const override {
        std::vector<int32_t> out(text.size());
        for (size_t i = 0; i < text.size(); ++i) out[i] = uint8_t(text[i]);
        return out;
    }
};

} // namespace

std::unique_ptr<Tokenizer> make_byte_tokenizer() { return std::make_unique<ByteTokenizer>(); }

} // namespace rwkvrt
