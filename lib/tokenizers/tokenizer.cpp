#include "tokenizers/tokenizer.h"

#include "core/error.h"
#include "tokenizers/unicode.h"

namespace rwkvrt {

void Tokenizer::set_token_bytes(const std::vector<std::string> &pieces) {
    size_t total = 0;
    for (const std::string &p : pieces) total += p.size();
    bytes_.clear();
    bytes_.reserve(total);
    offsets_.assign(1, 0);
    offsets_.reserve(pieces.size() + 1);
    for (const std::string &p : pieces) {
        bytes_ += p;
        offsets_.push_back(uint32_t(bytes_.size()));
    }
}

void Tokenizer::check_token(int32_t id) const {
    if (id < 0 || id >= n_vocab())
        fail(RWKVRT_ERR_TOKEN, "token id ", id, " is outside the ", kind(), " vocabulary [0, ", n_vocab(), ")");
}

std::string_view Tokenizer::token_bytes(int32_t id) const {
    check_token(id);
    return std::string_view(bytes_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
}

std::string Tokenizer::decode(std::span<const int32_t> tokens) const {
    size_t total = 0;
    for (int32_t id : tokens) {
        check_token(id);
        total += offsets_[id + 1] - offsets_[id];
    }
    std::string out;
    out.reserve(total);
    for (int32_t id : tokens) out.append(bytes_, offsets_[id], offsets_[id + 1] - offsets_[id]);
    return out;
}

std::string Utf8Stream::push(std::string_view bytes) {
    held_ += bytes;
    const auto *begin = reinterpret_cast<const uint8_t *>(held_.data());
    const auto *end = begin + held_.size();
    const uint8_t *p = begin;
    while (p < end) {
        const int n = unicode::utf8_sequence_length(p, end);
        if (n < 0) break;  // a valid start that needs more bytes
        p += n > 0 ? n : 1; // a whole character, or one byte that is ill-formed for good
    }
    std::string out = held_.substr(0, size_t(p - begin));
    held_.erase(0, size_t(p - begin));
    return out;
}

std::string Utf8Stream::flush() {
    std::string out;
    out.swap(held_);
    return out;
}

} // namespace rwkvrt
