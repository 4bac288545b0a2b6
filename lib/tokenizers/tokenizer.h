// Tokenizers: text bytes <-> token ids. One interface over the four kinds RWKV models use:
//   "world"          the RWKV World vocabulary (rwkv_vocab_v20230424.txt), greedy longest match;
//   "bpe"            byte-level BPE from a Hugging Face tokenizer.json (GPT-NeoX 20B);
//   "sentencepiece"  a sentencepiece .model, through libsentencepiece;
//   "bytes"          token id = byte value, for vocab-256 models.
// A tokenizer is immutable once made: any number of threads may encode and decode with it at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rwkvrt {

class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // "world", "bpe", "sentencepiece" or "bytes".
    virtual const char *kind() const = 0;

    // Any bytes, valid UTF-8 or not; no begin- or end-of-text token is added. World and bytes encode
    // every byte as it is, so decode() gives the input back. BPE normalizes (NFC), matches special
    // tokens in the text and keeps ill-formed bytes except those its vocabulary lacks (U+FFFD
    // instead); sentencepiece follows its model (normalization, unknown pieces, U+FFFD).
    virtual std::vector<int32_t> encode(std::string_view text) const = 0;

    // The tokens' text. Throws Error(RWKVRT_ERR_TOKEN) naming the first id outside [0, n_vocab()).
    // The concatenation of token_bytes(), except for sentencepiece, which decodes as the library
    // does (it drops the dummy-prefix space and turns ill-formed byte pieces into U+FFFD).
    virtual std::string decode(std::span<const int32_t> tokens) const;

    // The bytes one token stands for (possibly a fragment of a UTF-8 character; empty for end-of-text,
    // control and unused ids). Valid as long as the tokenizer. Throws Error(RWKVRT_ERR_TOKEN) for an
    // id outside [0, n_vocab()).
    std::string_view token_bytes(int32_t id) const;

    // The number of ids the model's embedding has for this vocabulary (World: 65536).
    int32_t n_vocab() const { return int32_t(offsets_.size()) - 1; }

protected:
    // Derived constructors fill the table: token id i stands for bytes [offsets_[i], offsets_[i+1]).
    void set_token_bytes(const std::vector<std::string> &pieces);
    void check_token(int32_t id) const;

private:
    std::string bytes_;
    std::vector<uint32_t> offsets_{0};
};

// Loads a tokenizer file, recognizing its kind from the content: a World vocabulary (lines such as
// "1 '\x00' 1"), a tokenizer.json (a JSON object with a "model"), a sentencepiece model (protobuf).
// Throws Error: RWKVRT_ERR_IO (cannot read), RWKVRT_ERR_FORMAT (none of these, or malformed; World
// errors name the line), RWKVRT_ERR_UNSUPPORTED (a tokenizer.json feature this library lacks).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string &path);

// The same from bytes in memory; name is used in messages.
std::unique_ptr<Tokenizer> parse_tokenizer(std::string_view content, const std::string &name);

// The tokenizer of a vocabulary a model file embeds (token id → bytes): "bytes" when it is exactly the
// 256 single bytes in order, else a World-style tokenizer over the pieces.
std::unique_ptr<Tokenizer> make_embedded_tokenizer(const std::vector<std::string> &pieces, const std::string &name);

// Token id = byte value (ids 0..255), for models with a 256-token vocabulary.
std::unique_ptr<Tokenizer> make_byte_tokenizer();

// The individual kinds, for callers that know what they hold.
std::unique_ptr<Tokenizer> make_world_tokenizer(std::string_view vocab_text, const std::string &name);
// A World-style vocabulary given as token id → bytes (empty for control and unused ids), e.g. the one
// a GGUF file embeds. Every single byte must be a token; no two tokens may have the same bytes.
std::unique_ptr<Tokenizer> make_world_tokenizer(const std::vector<std::string> &pieces, const std::string &name);
std::unique_ptr<Tokenizer> make_bpe_tokenizer(std::string_view json_text, const std::string &name);
std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(std::string_view model_proto, const std::string &name);

// Streaming decode: feed token bytes as they are generated, get back only whole UTF-8 characters.
// An incomplete sequence at the end (at most 3 bytes that can still become a character) is held
// until the next push. Bytes that cannot be part of any well-formed character are passed through
// unchanged as soon as that is certain, so the stream never stalls and the concatenation of every
// push() and the final flush() is exactly the bytes pushed. Callers that need valid UTF-8 replace
// what remains invalid themselves.
class Utf8Stream {
public:
    std::string push(std::string_view bytes);
    // Returns the held bytes (an unfinished character) and empties the stream.
    std::string flush();
    // The number of bytes held back.
    size_t pending() const { return held_.size(); }

private:
    std::string held_;
};

} // namespace rwkvrt
