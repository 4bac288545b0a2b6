// sentencepiece .model files, through libsentencepiece: encoding and decoding are the library's own.
#include <sentencepiece_processor.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"

namespace rwkvrt {

namespace {

class SentencePieceTokenizer final : public Tokenizer {
public:
    SentencePieceTokenizer(std::string_view proto, const std::string &name) : name_(name) {
        const auto status = sp_.LoadFromSerializedProto(proto);
        if (!status.ok()) fail(RWKVRT_ERR_FORMAT, name_, ": not a sentencepiece model: ", status.ToString());
        // The bytes each piece adds in running text: "▁" is a space, byte pieces are their byte,
        // the unknown piece is what Decode prints for it, control and unused pieces are nothing.
        std::vector<std::string> pieces(size_t(sp_.GetPieceSize()));
        for (int id = 0; id < sp_.GetPieceSize(); ++id) {
            const std::string &piece = sp_.IdToPiece(id);
            if (sp_.IsControl(id) || sp_.IsUnused(id)) continue;
            if (sp_.IsByte(id)) {
                pieces[id] = std::string(1, char(std::stoi(piece.substr(3, 2), nullptr, 16))); // "<0xNN>"
            } else if (sp_.IsUnknown(id)) {
                if (!sp_.Decode(std::vector<int>{id}, &pieces[id]).ok()) pieces[id].clear();
            } else {
                for (size_t i = 0; i < piece.size(); ++i) {
                    if (piece.compare(i, 3, "\xE2\x96\x81") == 0) {
                        pieces[id] += ' ';
                        i += 2;
                    } else {
                        pieces[id] += piece[i];
                    }
                }
            }
        }
        set_token_bytes(pieces);
    }

    const char *kind() const override { return "sentencepiece"; }

    std::vector<int32_t> encode(std::string_view text) const override {
        std::vector<int> ids;
        const auto status = sp_.Encode(text, &ids);
        if (!status.ok()) fail(RWKVRT_ERR_INTERNAL, name_, ": sentencepiece could not encode: ", status.ToString());
        return std::vector<int32_t>(ids.begin(), ids.end());
    }

    std::string decode(std::span<const int32_t> tokens) const override {
        for (int32_t id : tokens) check_token(id); // sentencepiece does not check ids itself
        std::string out;
        const auto status = sp_.Decode(std::vector<int>(tokens.begin(), tokens.end()), &out);
        if (!status.ok()) fail(RWKVRT_ERR_INTERNAL, name_, ": sentencepiece could not decode: ", status.ToString());
        return out;
    }

private:
    std::string name_;
    sentencepiece::SentencePieceProcessor sp_;
};

} // namespace

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(std::string_view model_proto, const std::string &name) {
    return std::make_unique<SentencePieceTokenizer>(model_proto, name);
}

} // namespace rwkvrt
