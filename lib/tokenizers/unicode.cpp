#include "tokenizers/unicode.h"

#include <algorithm>
#include <vector>

namespace rwkvrt::unicode {

int utf8_sequence_length(const uint8_t *p, const uint8_t *end) {
    const uint8_t b = p[0];
    if (b < 0x80) return 1;
    int n;
    uint8_t lo = 0x80, hi = 0xBF; // the allowed range of the second byte
    if (b >= 0xC2 && b <= 0xDF) {
        n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        n = 3;
        if (b == 0xE0) lo = 0xA0;      // overlong
        else if (b == 0xED) hi = 0x9F; // surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
        n = 4;
        if (b == 0xF0) lo = 0x90;      // overlong
        else if (b == 0xF4) hi = 0x8F; // above U+10FFFF
    } else {
        return 0;
    }
    for (int i = 1; i < n; ++i) {
        if (p + i >= end) return -1;
        const uint8_t c = p[i];
        if (i == 1 ? (c < lo || c > hi) : (c & 0xC0) != 0x80) return 0;
    }
    return n;
}

char32_t decode_utf8(const uint8_t *&p, const uint8_t *end) {
    const int n = utf8_sequence_length(p, end);
    if (n <= 0) return kRawByte + *p++;
    char32_t cp = n == 1 ? p[0] : n == 2 ? p[0] & 0x1F : n == 3 ? p[0] & 0x0F : p[0] & 0x07;
    for (int i = 1; i < n; ++i) cp = (cp << 6) | (p[i] & 0x3F);
    p += n;
    return cp;
}

void append_utf8(std::string &out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < kRawByte) {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(cp - kRawByte);
    }
}

namespace {

uint8_t range_value(const Range *table, size_t size, char32_t cp) {
    const Range *end = table + size;
    const Range *r = std::upper_bound(table, end, cp, [](char32_t c, const Range &x) { return c < x.first; });
    return r != table && cp <= r[-1].last ? r[-1].value : 0;
}

uint8_t category(char32_t cp) { return range_value(kCategories, kCategories_size, cp); }

} // namespace

bool is_letter(char32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    return category(cp) == 1;
}

bool is_number(char32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return category(cp) == 2;
}

bool is_space(char32_t cp) {
    if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
    switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

namespace {

// Hangul syllables decompose and compose arithmetically (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount;
constexpr char32_t kSCount = kLCount * kNCount;

uint8_t combining_class(char32_t cp) {
    return cp < 0x300 ? 0 : range_value(kCombiningClasses, kCombiningClasses_size, cp);
}

void decompose(char32_t cp, std::vector<char32_t> &out) {
    if (cp - kSBase < kSCount) {
        const char32_t s = cp - kSBase;
        out.push_back(kLBase + s / kNCount);
        out.push_back(kVBase + (s % kNCount) / kTCount);
        if (s % kTCount) out.push_back(kTBase + s % kTCount);
        return;
    }
    const Decomposition *end = kDecompositions + kDecompositions_size;
    const Decomposition *d = std::lower_bound(kDecompositions, end, cp,
                                              [](const Decomposition &x, char32_t c) { return x.cp < c; });
    if (d != end && d->cp == cp) {
        out.insert(out.end(), kDecompositionPool + d->offset, kDecompositionPool + d->offset + d->length);
    } else {
        out.push_back(cp);
    }
}

// The primary composite of a + b, or 0.
char32_t compose(char32_t a, char32_t b) {
    if (a - kLBase < kLCount && b - kVBase < kVCount)
        return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
    if (a - kSBase < kSCount && (a - kSBase) % kTCount == 0 && b - kTBase - 1 < kTCount - 1)
        return a + (b - kTBase);
    const Composition *end = kCompositions + kCompositions_size;
    const Composition *c = std::lower_bound(kCompositions, end, std::pair(a, b), [](const Composition &x, auto key) {
        return x.first < key.first || (x.first == key.first && x.second < key.second);
    });
    return c != end && c->first == a && c->second == b ? c->composite : 0;
}

} // namespace

std::string nfc(std::string_view text) {
    const auto *p = reinterpret_cast<const uint8_t *>(text.data());
    const auto *end = p + text.size();
    // Every character below U+0300 is its own NFC form and never combines with what precedes it.
    if (std::all_of(p, end, [](uint8_t b) { return b < 0xCC; })) return std::string(text);

    std::vector<char32_t> cps;
    cps.reserve(text.size());
    while (p < end) decompose(decode_utf8(p, end), cps);

    // Canonical ordering: a stable sort of each run of non-starters by combining class.
    for (size_t i = 0; i < cps.size();) {
        if (combining_class(cps[i]) == 0) {
            ++i;
            continue;
        }
        size_t j = i;
        while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
        std::stable_sort(cps.begin() + i, cps.begin() + j,
                         [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
        i = j;
    }

    // Canonical composition (UAX #15): a character joins the last starter unless something between
    // them has a combining class of 0 or at least its own.
    size_t n = 0, starter = 0;
    bool have_starter = false; // raw bytes are starters that compose with nothing
    int last_class = 0;
    for (char32_t cp : cps) {
        const bool raw = cp >= kRawByte;
        const int cls = raw ? 0 : combining_class(cp);
        // After canonical ordering the last kept character has the highest class since the starter,
        // so a class of 0 means it is the starter itself.
        if (have_starter && !raw && (last_class == 0 || last_class < cls)) {
            if (char32_t c = compose(cps[starter], cp)) {
                cps[starter] = c;
                continue;
            }
        }
        if (cls == 0) {
            starter = n;
            have_starter = !raw;
        }
        last_class = cls;
        cps[n++] = cp;
    }
    cps.resize(n);

    std::string out;
    out.reserve(text.size());
    for (char32_t cp : cps) append_utf8(out, cp);
    return out;
}

} // namespace rwkvrt::unicode
