// The RWKV World tokenizer (spec 8.1): a vocabulary of byte strings, one per line as
// "<id> <python str or bytes literal> <byte length>", and greedy longest-match encoding over bytes.
// The byte strings live in a double-array trie: each step is base[node] + byte and one check, so
// encoding touches a few cache lines per token and never allocates except for the output.
#include <algorithm>
#include <charconv>

#include "core/error.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/unicode.h"

namespace rwkvrt {

namespace {

constexpr int32_t kWorldVocab = 65536; // ids 0 (end of text), 1..65529 in the file, padding to 65535
constexpr size_t kMaxTokenBytes = 512;  // the real file's longest is 128; the trie builder recurses per byte

struct Entry {
    std::string bytes;
    int32_t id;
    size_t line;
};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes a Python str or bytes literal. str literals hold Unicode text, written out as UTF-8, so
// '\x80' is U+0080 (2 bytes); in bytes literals '\x80' is the single byte 0x80.
class LiteralParser {
public:
    LiteralParser(std::string_view lit, const std::string &name, size_t line) : name_(name), line_(line) {
        bytes_ = !lit.empty() && lit[0] == 'b';
        if (bytes_) lit.remove_prefix(1);
        if (lit.size() < 2 || (lit[0] != '\'' && lit[0] != '"') || lit.back() != lit[0])
            bad("expected a quoted Python str or bytes literal");
        quote_ = lit[0];
        body_ = lit.substr(1, lit.size() - 2);
    }

    std::string parse() {
        std::string out;
        size_t i = 0;
        while (i < body_.size()) {
            const char c = body_[i];
            if (c == quote_) bad("unescaped quote inside the literal");
            if (c != '\\') {
                const auto *p = reinterpret_cast<const uint8_t *>(body_.data()) + i;
                const int n = unicode::utf8_sequence_length(p, p + (body_.size() - i));
                if (n <= 0) bad("ill-formed UTF-8");
                if (bytes_ && n > 1) bad("non-ASCII character in a bytes literal");
                out.append(body_, i, size_t(n));
                i += size_t(n);
                continue;
            }
            if (++i == body_.size()) bad("the literal ends with a backslash");
            const char e = body_[i++];
            switch (e) {
            case '\\': case '\'': case '"': out += e; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'v': out += '\v'; break;
            case 'x': put_value(out, hex(i, 2)); break;
            case 'u':
            case 'U':
                if (bytes_) { // not an escape in bytes literals: Python keeps it as written
                    out += '\\';
                    out += e;
                } else {
                    put_value(out, hex(i, e == 'u' ? 4 : 8));
                }
                break;
            default:
                if (e >= '0' && e <= '7') {
                    uint32_t v = uint32_t(e - '0');
                    for (int k = 0; k < 2 && i < body_.size() && body_[i] >= '0' && body_[i] <= '7'; ++k)
                        v = v * 8 + uint32_t(body_[i++] - '0');
                    put_value(out, v);
                } else { // an unknown escape keeps its backslash
                    out += '\\';
                    out += e;
                }
            }
        }
        return out;
    }

private:
    [[noreturn]] void bad(const char *what) const { fail(RWKVRT_ERR_FORMAT, name_, ":", line_, ": ", what); }

    uint32_t hex(size_t &i, int digits) {
        uint32_t v = 0;
        for (int k = 0; k < digits; ++k, ++i) {
            const int d = i < body_.size() ? hex_digit(body_[i]) : -1;
            if (d < 0) bad("truncated \\x, \\u or \\U escape");
            v = v * 16 + uint32_t(d);
        }
        return v;
    }

    // A numeric escape: a byte in bytes literals, a code point (written as UTF-8) in str literals.
    void put_value(std::string &out, uint32_t v) {
        if (bytes_) {
            if (v > 0xFF) bad("octal escape above 0o377 in a bytes literal");
            out += char(v);
            return;
        }
        if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) bad("escape is not a Unicode scalar value");
        unicode::append_utf8(out, v);
    }

    const std::string &name_;
    size_t line_;
    std::string_view body_;
    char quote_ = '\'';
    bool bytes_ = false;
};

bool parse_int(std::string_view s, int64_t &v) {
    if (s.empty() || s.size() > 12) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::vector<Entry> parse_vocab(std::string_view text, const std::string &name) {
    std::vector<Entry> entries;
    size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;

        const size_t first = line.find(' '), last = line.rfind(' ');
        if (first == std::string_view::npos || first == last)
            fail(RWKVRT_ERR_FORMAT, name, ":", line_no, ": expected '<id> <literal> <length>'");
        int64_t id = 0, length = 0;
        if (!parse_int(line.substr(0, first), id) || !parse_int(line.substr(last + 1), length))
            fail(RWKVRT_ERR_FORMAT, name, ":", line_no, ": expected '<id> <literal> <length>' with decimal id and length");
        if (id < 1 || id >= kWorldVocab)
            fail(RWKVRT_ERR_FORMAT, name, ":", line_no, ": token id ", id, " is outside 1..", kWorldVocab - 1);
        std::string bytes = LiteralParser(line.substr(first + 1, last - first - 1), name, line_no).parse();
        if (int64_t(bytes.size()) != length)
            fail(RWKVRT_ERR_FORMAT, name, ":", line_no, ": the literal has ", bytes.size(), " bytes but the line says ", length);
        if (bytes.empty()) fail(RWKVRT_ERR_FORMAT, name, ":", line_no, ": empty token");
        if (bytes.size() > kMaxTokenBytes)
            fail(RWKVRT_ERR_FORMAT, name, ":", line_no, ": token longer than ", kMaxTokenBytes, " bytes");
        entries.push_back({std::move(bytes), int32_t(id), line_no});
    }
    return entries;
}

class WorldTokenizer final : public Tokenizer {
public:
    WorldTokenizer(std::string_view text, const std::string &name) {
        std::vector<Entry> entries = parse_vocab(text, name);
        if (entries.empty()) fail(RWKVRT_ERR_FORMAT, name, ": empty World vocabulary");

        std::vector<std::string> pieces(kWorldVocab);
        std::vector<size_t> line_of(kWorldVocab, 0);
        for (const Entry &e : entries) {
            if (line_of[e.id])
                fail(RWKVRT_ERR_FORMAT, name, ":", e.line, ": token id ", e.id, " already defined on line ", line_of[e.id]);
            line_of[e.id] = e.line;
            pieces[e.id] = e.bytes;
        }
        init(entries, pieces, name, ":", ": the same bytes as line ");
    }

    // A vocabulary given as token id → bytes (empty for ids that stand for no bytes).
    WorldTokenizer(const std::vector<std::string> &pieces, const std::string &name) {
        if (pieces.empty() || pieces.size() > size_t(INT32_MAX)) fail(RWKVRT_ERR_FORMAT, name, ": ", pieces.size(), " tokens");
        std::vector<Entry> entries;
        for (size_t id = 0; id < pieces.size(); ++id) {
            if (pieces[id].size() > kMaxTokenBytes)
                fail(RWKVRT_ERR_FORMAT, name, ": token ", id, " has ", pieces[id].size(), " bytes (at most ", kMaxTokenBytes, ")");
            if (!pieces[id].empty()) entries.push_back({pieces[id], int32_t(id), id});
        }
        init(entries, pieces, name, ": token ", " has the same bytes as token ");
    }

    const char *kind() const override { return "world"; }

    std::vector<int32_t> encode(std::string_view text) const override {
        std::vector<int32_t> out;
        out.reserve(text.size() / 3 + 8);
        const auto *p = reinterpret_cast<const uint8_t *>(text.data());
        const auto *end = p + text.size();
        const Unit *units = units_.data();
        while (p < end) {
            // The root's children are all single bytes, so the first step always finds a token.
            uint32_t node = units[kRoot].base + *p;
            int32_t best = units[node].value - 1;
            const uint8_t *q = p + 1, *best_end = q;
            while (q < end) {
                const uint32_t next = units[node].base + *q;
                if (units[next].check != node) break;
                node = next;
                ++q;
                if (units[node].value) {
                    best = units[node].value - 1;
                    best_end = q;
                }
            }
            out.push_back(best);
            p = best_end;
        }
        return out;
    }

private:
    static constexpr uint32_t kRoot = 0, kFree = 0xFFFFFFFF;

    // Builds the trie over entries (whose `line` names them in messages: "<name><at><line><same><line>").
    void init(const std::vector<Entry> &entries, const std::vector<std::string> &pieces, const std::string &name,
              const char *at, const char *same) {
        std::vector<const Entry *> sorted;
        sorted.reserve(entries.size());
        for (const Entry &e : entries) sorted.push_back(&e);
        std::sort(sorted.begin(), sorted.end(), [](const Entry *a, const Entry *b) { return a->bytes < b->bytes; });
        for (size_t i = 1; i < sorted.size(); ++i) {
            if (sorted[i]->bytes == sorted[i - 1]->bytes)
                fail(RWKVRT_ERR_FORMAT, name, at, std::max(sorted[i]->line, sorted[i - 1]->line), same,
                     std::min(sorted[i]->line, sorted[i - 1]->line));
        }
        build(sorted);
        // Every byte must be a token of its own, so that any input can be encoded.
        for (int b = 0; b < 256; ++b) {
            const Unit &u = units_[units_[kRoot].base + uint32_t(b)];
            if (u.check != kRoot || u.value == 0)
                fail(RWKVRT_ERR_FORMAT, name, ": the vocabulary has no token for the single byte ", b);
        }
        set_token_bytes(pieces);
    }

    struct Unit {
        uint32_t base = 0;      // children of this node sit at base + byte
        uint32_t check = kFree; // the parent of this slot, or kFree
        int32_t value = 0;      // 1 + the token ending here, or 0
    };

    void build(const std::vector<const Entry *> &sorted) {
        grow(512);
        take(kRoot, kRoot); // never the child of anything
        place(kRoot, sorted, 0, sorted.size(), 0);
        // Lookups from any node read up to base + 255.
        uint32_t top = 0;
        for (const Unit &u : units_) top = std::max(top, u.base);
        units_.resize(std::max<size_t>(units_.size(), size_t(top) + 256));
        units_.shrink_to_fit();
        next_free_ = {};
    }

    // Node `node` stands for the common prefix (length depth) of sorted[lo, hi).
    void place(uint32_t node, const std::vector<const Entry *> &sorted, size_t lo, size_t hi, size_t depth) {
        if (lo < hi && sorted[lo]->bytes.size() == depth) units_[node].value = sorted[lo++]->id + 1;
        if (lo == hi) return;

        struct Group {
            uint8_t label;
            size_t lo, hi;
        };
        std::vector<Group> groups;
        for (size_t i = lo; i < hi;) {
            const uint8_t label = uint8_t(sorted[i]->bytes[depth]);
            size_t j = i + 1;
            while (j < hi && uint8_t(sorted[j]->bytes[depth]) == label) ++j;
            groups.push_back({label, i, j});
            i = j;
        }

        // The first base >= 1 whose slots are all free, trying the free slots in order for the
        // first label.
        const uint32_t first = groups.front().label;
        uint32_t base = 0;
        for (uint32_t slot = free_at_or_after(first + 1);; slot = free_at_or_after(slot + 1)) {
            base = slot - first;
            if (std::all_of(groups.begin() + 1, groups.end(), [&](const Group &g) { return is_free(base + g.label); }))
                break;
        }
        units_[node].base = base;
        for (const Group &g : groups) take(base + g.label, node);
        for (const Group &g : groups) place(base + g.label, sorted, g.lo, g.hi, depth + 1);
    }

    void grow(size_t size) {
        const size_t old = units_.size();
        units_.resize(size);
        next_free_.resize(size);
        for (size_t i = old; i < size; ++i) next_free_[i] = uint32_t(i);
    }

    bool is_free(uint32_t slot) {
        if (slot >= units_.size()) grow(std::max<size_t>(slot + 1, units_.size() * 2));
        return units_[slot].check == kFree;
    }

    void take(uint32_t slot, uint32_t parent) {
        units_[slot].check = parent;
        next_free_[slot] = slot + 1;
    }

    // The lowest free slot >= slot: a union-find over the taken slots, with path halving.
    uint32_t free_at_or_after(uint32_t slot) {
        while (true) {
            if (slot >= units_.size()) grow(std::max<size_t>(slot + 1, units_.size() * 2));
            const uint32_t next = next_free_[slot];
            if (next == slot) return slot;
            if (next < next_free_.size()) next_free_[slot] = next_free_[next];
            slot = next_free_[slot];
        }
    }

    std::vector<Unit> units_;
    std::vector<uint32_t> next_free_; // while building: for a taken slot, a later slot to look at
};

} // namespace

std::unique_ptr<Tokenizer> make_world_tokenizer(std::string_view vocab_text, const std::string &name) {
    return std::make_unique<WorldTokenizer>(vocab_text, name);
}

std::unique_ptr<Tokenizer> make_world_tokenizer(const std::vector<std::string> &pieces, const std::string &name) {
    return std::make_unique<WorldTokenizer>(pieces, name);
}

} // namespace rwkvrt
