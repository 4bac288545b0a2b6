// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2 style; the GPT-NeoX 20B tokenizer of the
// RWKV-4 Pile and Raven models, spec 8.2), encoding as the tokenizers library does:
//   1. added tokens with normalized=false are split off the raw text (leftmost, longest);
//   2. the rest is normalized (NFC) and the normalized added tokens are split off the same way;
//   3. each remaining piece is split by the GPT-2 regex, each part's bytes become symbols of the
//      byte-level alphabet, and merges are applied lowest rank first (leftmost among equals).
// Input that is not valid UTF-8 (which HF cannot receive) keeps its ill-formed bytes: they count as
// symbols for the regex, and byte-level BPE encodes them, so decoding gives the input back. Only
// bytes the vocabulary lacks (GPT-NeoX: C0, C1, F5..FF, which UTF-8 never uses) become U+FFFD.
#include <algorithm>
#include <array>
#include <queue>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/unicode.h"

namespace rwkvrt {

namespace {

using nlohmann::json;

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the others for
// U+0100 onwards in byte order. The symbols are all below U+0144.
constexpr char32_t kSymbolEnd = 0x144;

std::array<char32_t, 256> byte_to_symbol() {
    std::array<char32_t, 256> map{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = printable ? char32_t(b) : next++;
    }
    return map;
}

// The bytes a vocabulary string stands for: each character of the byte-level alphabet is one byte.
// Strings with other characters (the decoder's rule) stand for their own UTF-8.
std::string symbols_to_bytes(const std::string &token, const std::array<int16_t, kSymbolEnd> &to_byte) {
    std::string out;
    const auto *p = reinterpret_cast<const uint8_t *>(token.data());
    const auto *end = p + token.size();
    while (p < end) {
        const char32_t c = unicode::decode_utf8(p, end);
        if (c >= kSymbolEnd || to_byte[c] < 0) return token;
        out += char(to_byte[c]);
    }
    return out;
}

// Calls emit(begin, end) for each part of text (byte offsets) that the GPT-2 pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// finds, as a backtracking regex engine does: at each position the first alternative that matches.
template <class Emit>
void split_gpt2(std::string_view text, std::vector<char32_t> &cps, std::vector<uint32_t> &at, Emit &&emit) {
    cps.clear();
    at.clear();
    const auto *begin = reinterpret_cast<const uint8_t *>(text.data());
    const auto *end = begin + text.size();
    for (const uint8_t *p = begin; p < end;) {
        at.push_back(uint32_t(p - begin));
        cps.push_back(unicode::decode_utf8(p, end));
    }
    at.push_back(uint32_t(text.size()));

    const size_t n = cps.size();
    enum Class { kLetter, kNumber, kSpace, kOther };
    auto cls = [&](size_t i) {
        const char32_t c = cps[i];
        return unicode::is_letter(c) ? kLetter : unicode::is_number(c) ? kNumber : unicode::is_space(c) ? kSpace : kOther;
    };
    size_t i = 0;
    while (i < n) {
        if (cps[i] == '\'' && i + 1 < n) {
            const char32_t a = cps[i + 1], b = i + 2 < n ? cps[i + 2] : 0;
            size_t len = 0;
            if (a == 's' || a == 't' || a == 'm' || a == 'd') len = 2;
            else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) len = 3;
            if (len) {
                emit(at[i], at[i + len]);
                i += len;
                continue;
            }
        }
        // ' ?\p{L}+', ' ?\p{N}+' and ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class.
        const size_t j = cps[i] == ' ' && i + 1 < n ? i + 1 : i;
        if (const Class c = cls(j); c != kSpace) {
            size_t k = j + 1;
            while (k < n && cls(k) == c) ++k;
            emit(at[i], at[k]);
            i = k;
            continue;
        }
        // Whitespace: \s+(?!\S) takes the run, but leaves its last character to the next part when
        // a non-space follows; a single space before a non-space is left to \s+.
        size_t k = i;
        while (k < n && cls(k) == kSpace) ++k;
        if (k < n && k - i >= 2) --k;
        emit(at[i], at[k]);
        i = k;
    }
}

class BpeTokenizer final : public Tokenizer {
public:
    BpeTokenizer(std::string_view text, const std::string &name) : name_(name) {
        json doc;
        try {
            doc = json::parse(text.begin(), text.end());
            load(doc);
        } catch (const json::exception &e) {
            fail(RWKVRT_ERR_FORMAT, name_, ": malformed tokenizer.json: ", e.what());
        }
    }

    const char *kind() const override { return "bpe"; }

    std::vector<int32_t> encode(std::string_view text) const override {
        std::string replaced;
        if (lacks_any_byte_ && std::any_of(text.begin(), text.end(), [&](char c) { return byte_id_[uint8_t(c)] < 0; })) {
            for (char c : text) {
                if (byte_id_[uint8_t(c)] < 0) replaced += "\xEF\xBF\xBD";
                else replaced += c;
            }
            text = replaced;
        }
        std::vector<int32_t> out;
        out.reserve(text.size() / 3 + 8);
        Scratch scratch;
        split_added(text, added_raw_, out, [&](std::string_view raw) {
            const std::string normalized = nfc_ ? unicode::nfc(raw) : std::string(raw);
            split_added(normalized, added_normalized_, out, [&](std::string_view piece) { encode_piece(piece, scratch, out); });
        });
        return out;
    }

private:
    struct Added {
        std::string content;
        int32_t id;
    };
    struct AddedSet {
        std::vector<Added> tokens;     // longest first, so the first match at a position is the longest
        std::array<bool, 256> starts{}; // whether some token starts with this byte
    };
    struct Merge {
        int32_t rank, id;
    };
    struct StringHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
    };
    // Per encode call: the words seen so far (text repeats words a lot) and reusable buffers.
    struct Scratch {
        std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache;
        std::vector<char32_t> cps;
        std::vector<uint32_t> at;
    };

    static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

    void load(const json &doc) {
        if (!doc.is_object() || !doc.contains("model") || !doc["model"].is_object())
            fail(RWKVRT_ERR_FORMAT, name_, ": a JSON file without a \"model\" object is no tokenizer.json");
        const json &model = doc["model"];
        const std::string type = model.value("type", "");
        if (type != "BPE") unsupported("model type '", type, "' (only byte-level BPE is)");
        if (model.contains("dropout") && !model["dropout"].is_null() && model["dropout"].get<double>() != 0.0)
            unsupported("BPE dropout");
        for (const char *key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
            if (model.contains(key) && !model[key].is_null() && !model[key].get<std::string>().empty())
                unsupported("model.", key);
        }
        ignore_merges_ = model.value("ignore_merges", false);

        const json &normalizer = doc.value("normalizer", json());
        if (!normalizer.is_null()) {
            if (normalizer.value("type", "") != "NFC") unsupported("normalizer '", normalizer.value("type", ""), "'");
            nfc_ = true;
        }
        const json &pre = doc.value("pre_tokenizer", json());
        if (pre.is_null() || pre.value("type", "") != "ByteLevel")
            unsupported("pre_tokenizer '", pre.is_null() ? "null" : pre.value("type", ""), "' (only ByteLevel is)");
        add_prefix_space_ = pre.value("add_prefix_space", false);
        use_regex_ = pre.value("use_regex", true);
        const json &decoder = doc.value("decoder", json());
        if (!decoder.is_null() && decoder.value("type", "") != "ByteLevel")
            unsupported("decoder '", decoder.value("type", ""), "' (only ByteLevel is)");

        const auto to_symbol = byte_to_symbol();
        std::array<int16_t, kSymbolEnd> to_byte;
        to_byte.fill(-1);
        for (int b = 0; b < 256; ++b) to_byte[to_symbol[b]] = int16_t(b);

        // The vocabulary: byte-level strings -> ids.
        std::unordered_map<std::string, int32_t> vocab;
        vocab.reserve(model.at("vocab").size());
        int32_t max_id = -1;
        for (const auto &[token, value] : model.at("vocab").items()) {
            const int32_t id = token_id(value, "token '" + token + "'");
            vocab[token] = id;
            max_id = std::max(max_id, int32_t(id));
        }
        for (int b = 0; b < 256; ++b) {
            std::string symbol;
            unicode::append_utf8(symbol, to_symbol[b]);
            const auto it = vocab.find(symbol);
            // Bytes that never occur in UTF-8 (C0, C1, F5..FF) may be missing; ill-formed input with
            // such a byte gets U+FFFD in its place.
            const bool in_utf8 = b < 0xC0 || (b >= 0xC2 && b <= 0xF4);
            if (it == vocab.end() && in_utf8) fail(RWKVRT_ERR_FORMAT, name_, ": the vocabulary has no token for byte ", b);
            byte_id_[b] = it == vocab.end() ? -1 : it->second;
            lacks_any_byte_ |= it == vocab.end();
        }

        const json &merges = model.at("merges");
        merges_.reserve(merges.size());
        for (size_t rank = 0; rank < merges.size(); ++rank) {
            const json &m = merges[rank];
            std::string a, b;
            if (m.is_string()) { // "a b" (older files) or ["a", "b"]
                const std::string s = m.get<std::string>();
                const size_t sp = s.find(' ');
                if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
                    fail(RWKVRT_ERR_FORMAT, name_, ": merge ", rank, " '", s, "' is not two tokens");
                a = s.substr(0, sp);
                b = s.substr(sp + 1);
            } else {
                if (!m.is_array() || m.size() != 2) fail(RWKVRT_ERR_FORMAT, name_, ": merge ", rank, " is not a pair");
                a = m[0].get<std::string>();
                b = m[1].get<std::string>();
            }
            const auto ia = vocab.find(a), ib = vocab.find(b), iab = vocab.find(a + b);
            if (ia == vocab.end() || ib == vocab.end() || iab == vocab.end())
                fail(RWKVRT_ERR_FORMAT, name_, ": merge ", rank, " '", a, " ", b, "' uses a token not in the vocabulary");
            merges_[pair_key(ia->second, ib->second)] = Merge{int32_t(rank), iab->second};
        }

        std::vector<std::pair<int32_t, std::string>> added;
        std::vector<bool> special;
        for (const json &t : doc.value("added_tokens", json::array())) {
            const std::string content = t.at("content").get<std::string>();
            const int32_t id = token_id(t.at("id"), "added token '" + content + "'");
            for (const char *flag : {"single_word", "lstrip", "rstrip"}) {
                if (t.value(flag, false)) unsupported("added token '", content, "' with ", flag);
            }
            if (content.empty()) continue;
            const bool normalized = t.value("normalized", !t.value("special", false));
            AddedSet &set = normalized ? added_normalized_ : added_raw_;
            set.tokens.push_back({normalized && nfc_ ? unicode::nfc(content) : content, int32_t(id)});
            set.starts[uint8_t(set.tokens.back().content[0])] = true;
            added.emplace_back(int32_t(id), t.value("special", false) ? std::string() : content);
            max_id = std::max(max_id, int32_t(id));
        }
        for (AddedSet *set : {&added_raw_, &added_normalized_}) {
            std::stable_sort(set->tokens.begin(), set->tokens.end(),
                             [](const Added &x, const Added &y) { return x.content.size() > y.content.size(); });
        }

        // Token bytes: the decoder's view. Special added tokens decode to nothing (HF skips them by default).
        std::vector<std::string> pieces(size_t(max_id) + 1);
        for (const auto &[token, id] : vocab) pieces[id] = symbols_to_bytes(token, to_byte);
        for (auto &[id, bytes] : added) pieces[id] = std::move(bytes);
        if (ignore_merges_) {
            for (const auto &[token, id] : vocab) whole_words_.emplace(symbols_to_bytes(token, to_byte), id);
        }
        set_token_bytes(pieces);
    }

    // A token id as the JSON holds it: an integer in [0, kMaxVocab). Anything else (a float such as
    // 1e300, a string) is refused before any conversion, which would be undefined out of range.
    int32_t token_id(const json &value, const std::string &what) const {
        if (value.is_number_unsigned() && value.get<uint64_t>() < uint64_t(kMaxVocab)) return int32_t(value.get<uint64_t>());
        if (value.is_number_integer() && !value.is_number_unsigned() && value.get<int64_t>() >= 0 &&
            value.get<int64_t>() < kMaxVocab)
            return int32_t(value.get<int64_t>());
        fail(RWKVRT_ERR_FORMAT, name_, ": ", what, " has id ", value.dump(), ", not an integer in [0, ", kMaxVocab, ")");
    }

    template <class... Parts>
    [[noreturn]] void unsupported(Parts &&...parts) const {
        fail(RWKVRT_ERR_UNSUPPORTED, name_, ": tokenizer.json uses ", std::forward<Parts>(parts)..., ", which rwkvrt does not support");
    }

    // Splits text at the set's tokens (leftmost match, longest at a position), appending their ids
    // to out and passing the text between them to piece().
    template <class Piece>
    static void split_added(std::string_view text, const AddedSet &set, std::vector<int32_t> &out, Piece &&piece) {
        size_t from = 0;
        if (!set.tokens.empty()) {
            for (size_t i = 0; i < text.size(); ++i) {
                if (!set.starts[uint8_t(text[i])]) continue;
                const auto it = std::find_if(set.tokens.begin(), set.tokens.end(),
                                             [&](const Added &a) { return text.substr(i).starts_with(a.content); });
                if (it == set.tokens.end()) continue;
                if (i > from) piece(text.substr(from, i - from));
                out.push_back(it->id);
                from = i + it->content.size();
                i = from - 1;
            }
        }
        if (from < text.size()) piece(text.substr(from));
    }

    void encode_piece(std::string_view piece, Scratch &scratch, std::vector<int32_t> &out) const {
        std::string prefixed;
        if (add_prefix_space_ && !piece.starts_with(' ')) {
            prefixed.reserve(piece.size() + 1);
            prefixed.append(1, ' ').append(piece);
            piece = prefixed;
        }
        auto word = [&](uint32_t b, uint32_t e) {
            const std::string_view w = piece.substr(b, e - b);
            auto it = scratch.cache.find(w);
            if (it == scratch.cache.end()) {
                std::vector<int32_t> ids;
                encode_word(w, ids);
                it = scratch.cache.emplace(std::string(w), std::move(ids)).first;
            }
            out.insert(out.end(), it->second.begin(), it->second.end());
        };
        if (use_regex_) split_gpt2(piece, scratch.cps, scratch.at, word);
        else word(0, uint32_t(piece.size()));
    }

    // Byte-pair merges on one word, as tokenizers' Word::merge_all: repeatedly the pair of lowest
    // rank (leftmost first) is merged, with stale queue entries skipped.
    void encode_word(std::string_view w, std::vector<int32_t> &out) const {
        if (ignore_merges_) {
            if (const auto it = whole_words_.find(std::string(w)); it != whole_words_.end()) {
                out.push_back(it->second);
                return;
            }
        }
        struct Symbol {
            int32_t id, prev, next; // prev/next: neighbours' indices, -1 at the ends
            bool alive;
        };
        const int32_t n = int32_t(w.size());
        std::vector<Symbol> sym(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) sym[i] = {byte_id_[uint8_t(w[i])], i - 1, i + 1 < n ? i + 1 : -1, true};

        struct Item {
            int32_t rank, pos, id;
            bool operator>(const Item &o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
        };
        std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue;
        auto offer = [&](int32_t pos) {
            const auto it = merges_.find(pair_key(sym[pos].id, sym[sym[pos].next].id));
            if (it != merges_.end()) queue.push({it->second.rank, pos, it->second.id});
        };
        for (int32_t i = 0; i + 1 < n; ++i) offer(i);
        while (!queue.empty()) {
            const Item top = queue.top();
            queue.pop();
            Symbol &s = sym[top.pos];
            if (!s.alive || s.next < 0) continue;
            const auto it = merges_.find(pair_key(s.id, sym[s.next].id));
            if (it == merges_.end() || it->second.id != top.id) continue; // the pair changed since
            Symbol &right = sym[s.next];
            s.id = top.id;
            s.next = right.next;
            right.alive = false;
            if (s.next >= 0) sym[s.next].prev = top.pos;
            if (s.prev >= 0) offer(s.prev);
            if (s.next >= 0) offer(top.pos);
        }
        for (const Symbol &s : sym) {
            if (s.alive) out.push_back(s.id);
        }
    }

    static constexpr int64_t kMaxVocab = 1 << 21; // far above real vocabularies; bounds what a bad id allocates

    std::string name_;
    bool nfc_ = false, add_prefix_space_ = false, use_regex_ = true, ignore_merges_ = false, lacks_any_byte_ = false;
    std::array<int32_t, 256> byte_id_{};
    std::unordered_map<uint64_t, Merge> merges_;
    std::unordered_map<std::string, int32_t> whole_words_; // raw bytes -> id, for ignore_merges
    AddedSet added_raw_, added_normalized_;
};

} // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(std::string_view json_text, const std::string &name) {
    return std::make_unique<BpeTokenizer>(json_text, name);
}

} // namespace rwkvrt
