// The tokenizer-file fuzz targets: a maker on any bytes must give a tokenizer that encodes and
// decodes without fault, or an Error with a documented status.
#pragma once

#include <string_view>
#include <vector>

#include "core/error.h"
#include "fuzz_common.h"
#include "tokenizers/tokenizer.h"

namespace fuzz {

using Maker = std::unique_ptr<rwkvrt::Tokenizer> (*)(std::string_view, const std::string &);

inline int make_tokenizer(Maker maker, const uint8_t *data, size_t size) {
    const std::vector<char> copy(data, data + size); // exact size, so ASan sees a read past the end
    const std::string_view content(copy.data(), copy.size());
    try {
        const auto tok = maker(content, "fuzz input");
        // Text that mixes ASCII, multi-byte characters, ill-formed UTF-8 and the input's own bytes,
        // which hold the vocabulary's strings.
        const std::string texts[] = {"Hello, world!  \n\tx", "你好 😀 e\xCC\x81", "\xFF\xC0\x80 \xE2\x82", std::string(content.substr(0, 256))};
        for (const std::string &text : texts) {
            const std::vector<int32_t> ids = tok->encode(text);
            for (int32_t id : ids)
                if (id < 0 || id >= tok->n_vocab()) die("encode gave an id outside the vocabulary");
            tok->decode(ids);
        }
        const int32_t n = std::min<int32_t>(tok->n_vocab(), 4096);
        std::vector<int32_t> all(static_cast<size_t>(n));
        for (int32_t i = 0; i < n; ++i) all[size_t(i)] = i;
        tok->decode(all);
    } catch (const rwkvrt::Error &e) {
        expect_documented(e.status(), e.what());
    }
    return 0;
}

} // namespace fuzz
