// sentencepiece .model files, through libsentencepiece: encoding and decoding are the library's own.
#include <sentencepiece_processor.h>

#include "core/error.h"
#include "tokenizers/tokenizer.h"

namespace rwkvrt {

namespace {

// A protobuf varint at p (at most 10 bytes); false if it runs past end.
bool read_varint(const uint8_t *&p, const uint8_t *end, uint64_t &v) {
    v = 0;
    for (int shift = 0; shift < 70 && p < end; shift += 7) {
        const uint8_t b = *p++;
        v |= uint64_t(b & 0x7F) << shift;
        if (!(b & 0x80)) return true;
    }
    return false;
}

// Calls on_field(field, wire type, bytes of a length-delimited field) for each field of a protobuf
// message; stops at the first field it cannot walk (the library's parser then judges the bytes).
template <class Fn>
void walk_fields(std::string_view msg, Fn on_field) {
    const auto *p = reinterpret_cast<const uint8_t *>(msg.data()), *end = p + msg.size();
    while (p < end) {
        uint64_t key = 0, v = 0;
        if (!read_varint(p, end, key)) return;
        const uint64_t wire = key & 7;
        std::string_view bytes;
        if (wire == 0) {
            if (!read_varint(p, end, v)) return;
        } else if (wire == 1 || wire == 5) {
            const size_t n = wire == 1 ? 8 : 4;
            if (size_t(end - p) < n) return;
            p += n;
        } else if (wire == 2) {
            if (!read_varint(p, end, v) || v > uint64_t(end - p)) return;
            bytes = std::string_view(reinterpret_cast<const char *>(p), size_t(v));
            p += v;
        } else {
            return;
        }
        on_field(key >> 3, wire, bytes);
    }
}

// libsentencepiece builds its tries with darts-clone, which throws on an empty key or one with a NUL
// byte, and that exception ends the process instead of reaching us. So the pieces (ModelProto field 1,
// each a SentencePiece message whose field 1 is the piece) are checked before the model is handed over.
void refuse_pieces_darts_cannot_hold(std::string_view proto, const std::string &name) {
    size_t index = 0;
    walk_fields(proto, [&](uint64_t field, uint64_t wire, std::string_view piece_message) {
        if (field != 1 || wire != 2) return;
        std::string_view piece;
        walk_fields(piece_message, [&](uint64_t f, uint64_t w, std::string_view bytes) {
            if (f == 1 && w == 2) piece = bytes;
        });
        if (piece.empty() || piece.find('\0') != std::string_view::npos)
            fail(RWKVRT_ERR_FORMAT, name, ": not a usable sentencepiece model: piece ", index,
                 piece.empty() ? " is empty" : " holds a NUL byte");
        ++index;
    });
}

class SentencePieceTokenizer final : public Tokenizer {
public:
    SentencePieceTokenizer(std::string_view proto, const std::string &name) : name_(name) {
        refuse_pieces_darts_cannot_hold(proto, name_);
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
