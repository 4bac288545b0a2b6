// Writes GGUF v3 in llama.cpp's rwkv6/rwkv7 layout: the inverse of the reader's mapping (gguf.cpp),
// with the metadata keys, value types and tensor types llama.cpp's converter and llama-quantize use.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <fcntl.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "formats/gguf.h"
#include "formats/tensor_file.h"
#include "kernels/quantize.h"

namespace rwkvrt::gguf {

namespace {

constexpr int32_t kTokenNormal = 1, kTokenControl = 3, kTokenUnused = 5;

// One output tensor: its ggml name, dims (innermost first), type, and how to produce its bytes.
struct Out {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
    size_t nbytes;
    std::function<std::vector<uint8_t>()> bytes;
};

// Python's repr(bytes)[2:-1], the form llama.cpp's converter writes World tokens in.
std::string python_bytes_repr(const std::string &b) {
    const bool double_quoted = b.find('\'') != b.npos && b.find('"') == b.npos;
    std::string out;
    for (unsigned char c : b) {
        if (c == '\\') out += "\\\\";
        else if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\'' && !double_quoted) out += "\\'";
        else if (c < 32 || c >= 127) {
            char hex[5];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            out += hex;
        } else out += char(c);
    }
    return out;
}

class Writer {
public:
    explicit Writer(std::FILE *f, const std::string &path) : f_(f), path_(path) {}
    void raw(const void *p, size_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n) fail(RWKVRT_ERR_IO, "cannot write '", path_, "': ", std::strerror(errno));
        written_ += n;
    }
    template <class T>
    void put(T v) { raw(&v, sizeof v); }
    void str(const std::string &s) {
        put<uint64_t>(s.size());
        raw(s.data(), s.size());
    }
    void pad(size_t alignment) {
        static const uint8_t zeros[64] = {};
        while (written_ % alignment) raw(zeros, std::min<size_t>(alignment - written_ % alignment, sizeof zeros));
    }
    size_t written() const { return written_; }

private:
    std::FILE *f_;
    const std::string &path_;
    size_t written_ = 0;
};

// Metadata in the order and with the value types the converter writes.
struct Meta {
    std::vector<std::function<void(Writer &)>> entries;
    void u32(const std::string &k, uint32_t v) {
        entries.push_back([=](Writer &w) { w.str(k); w.put<uint32_t>(kValU32); w.put(v); });
    }
    void f32(const std::string &k, float v) {
        entries.push_back([=](Writer &w) { w.str(k); w.put<uint32_t>(kValF32); w.put(v); });
    }
    void string(const std::string &k, const std::string &v) {
        entries.push_back([=](Writer &w) { w.str(k); w.put<uint32_t>(kValString); w.str(v); });
    }
    void strings(const std::string &k, std::vector<std::string> v) {
        entries.push_back([k, v = std::move(v)](Writer &w) {
            w.str(k);
            w.put<uint32_t>(kValArray);
            w.put<uint32_t>(kValString);
            w.put<uint64_t>(v.size());
            for (const std::string &s : v) w.str(s);
        });
    }
    void i32s(const std::string &k, std::vector<int32_t> v) {
        entries.push_back([k, v = std::move(v)](Writer &w) {
            w.str(k);
            w.put<uint32_t>(kValArray);
            w.put<uint32_t>(kValI32);
            w.put<uint64_t>(v.size());
            for (int32_t x : v) w.put(x);
        });
    }
};

// llama.cpp's general.file_type for a file whose large matrices are of type t.
uint32_t file_type(DType t) {
    switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q8_0: return 7;
    case DType::Q4_K: return 14; // Q4_K_S
    case DType::Q5_K: return 16; // Q5_K_S
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: fail(RWKVRT_ERR_UNSUPPORTED, "rwkvrt does not write GGUF files of type ", dtype_name(t));
    }
}

class Builder {
public:
    Builder(const TensorFile &src, const WriteOptions &o) : src_(src), o_(o) {}

    std::vector<Out> out;

    const TensorView &get(const std::string &name) const {
        const TensorView *t = src_.find(name);
        if (!t) fail(RWKVRT_ERR_FORMAT, "'", src_.path(), "': tensor '", name, "' is missing (required by ", o_.arch, ")");
        return *t;
    }

    // The large matrices: the requested type where rows hold whole blocks, else llama-quantize's fallback.
    DType matrix_type(int64_t row, bool head) const {
        DType t = o_.type;
        if (head && (t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q5_K)) t = DType::Q6_K; // as llama-quantize
        if (dtype_info(t).block_elems == 256 && row % 256 != 0) t = DType::Q8_0;
        if (dtype_info(t).block_elems == 32 && row % 32 != 0) t = DType::F16;
        return t;
    }

    // A PyTorch-order (rows, cols) weight as ggml {cols, rows}, in its own row layout.
    void matrix(const std::string &from, const std::string &to, bool head = false) {
        const TensorView &t = get(from);
        if (t.shape.size() != 2) fail(RWKVRT_ERR_FORMAT, "'", src_.path(), "': tensor '", from, "' is not a matrix");
        const int64_t rows = t.shape[0], cols = t.shape[1];
        const DType type = matrix_type(cols, head);
        const TensorView *tp = &t;
        out.push_back({to, {uint64_t(cols), uint64_t(rows)}, ggml_type_of(type), dtype_bytes(type, size_t(rows * cols)),
                       [tp, type, cols] {
                           if (tp->dtype == type) return std::vector<uint8_t>(tp->data, tp->data + tp->nbytes);
                           return encode(values(*tp), cols, type);
                       }});
    }

    // An f32 tensor given as a function producing its values (PyTorch order) and its ggml dims.
    void f32(const std::string &to, std::vector<uint64_t> ne, std::function<std::vector<float>()> make) {
        size_t n = 1;
        for (uint64_t d : ne) n *= size_t(d);
        out.push_back({to, std::move(ne), kF32, n * 4, [make = std::move(make), n] {
                           std::vector<float> v = make();
                           if (v.size() != n) fail(RWKVRT_ERR_INTERNAL, "GGUF writer: tensor size");
                           std::vector<uint8_t> b(n * 4);
                           std::memcpy(b.data(), v.data(), n * 4);
                           return b;
                       }});
    }

    // A vector, flattened to {n}.
    void vec(const std::string &from, const std::string &to) {
        const TensorView *t = &get(from);
        f32(to, {uint64_t(t->numel())}, [t] { return values(*t); });
    }

    // A low-rank matrix, official (…, a, b) applied x·W, stored as nn.Linear weights: ggml {a, b, …}.
    // In f16 or bf16 when the file's matrices are (as llama.cpp's converter writes them: a decoding
    // token reads them, and rwkvrt keeps them so), else in f32.
    void lora(const std::string &from, const std::string &to) {
        const TensorView *t = &get(from);
        const size_t nd = t->shape.size();
        if (nd < 2) fail(RWKVRT_ERR_FORMAT, "'", src_.path(), "': tensor '", from, "' is not a matrix");
        std::vector<uint64_t> ne = {uint64_t(t->shape[nd - 2]), uint64_t(t->shape[nd - 1])};
        for (size_t i = nd - 2; i-- > 0;) ne.push_back(uint64_t(t->shape[i]));
        const auto transposed = [t] {
            const std::vector<float> v = values(*t);
            const size_t nd = t->shape.size();
            const int64_t a = t->shape[nd - 2], b = t->shape[nd - 1], batch = t->numel() / (a * b);
            std::vector<float> out(v.size());
            for (int64_t k = 0; k < batch; ++k)
                for (int64_t i = 0; i < a; ++i)
                    for (int64_t j = 0; j < b; ++j) out[size_t((k * b + j) * a + i)] = v[size_t((k * a + i) * b + j)];
            return out;
        };
        if (o_.type != DType::F16 && o_.type != DType::BF16) return f32(to, ne, transposed);
        const DType type = o_.type;
        const size_t n = size_t(t->numel());
        out.push_back({to, ne, ggml_type_of(type), dtype_bytes(type, n), [transposed, type, row = int64_t(ne[0])] {
                           return encode(transposed(), row, type);
                       }});
    }

    // Vectors of C stacked into (k, 1, 1, C): ggml {C, 1, 1, k}.
    void fused(const std::vector<std::string> &from, const std::string &to) {
        std::vector<const TensorView *> parts;
        for (const std::string &f : from) parts.push_back(&get(f));
        const int64_t C = parts[0]->numel();
        for (const TensorView *p : parts)
            if (p->numel() != C) fail(RWKVRT_ERR_FORMAT, "'", src_.path(), "': tensor '", p->name, "' has ", p->numel(), " values, not ", C);
        f32(to, {uint64_t(C), 1, 1, uint64_t(parts.size())}, [parts] {
            std::vector<float> v;
            for (const TensorView *p : parts) {
                const std::vector<float> x = values(*p);
                v.insert(v.end(), x.begin(), x.end());
            }
            return v;
        });
    }

    static std::vector<float> values(const TensorView &t) {
        std::vector<float> v(size_t(t.numel()));
        to_f32(t.dtype, t.data, v.data(), v.size());
        return v;
    }

    static std::vector<uint8_t> encode(const std::vector<float> &v, int64_t row, DType type) {
        const size_t rows = v.size() / size_t(row), row_bytes = dtype_bytes(type, size_t(row));
        std::vector<uint8_t> b(rows * row_bytes);
        for (size_t r = 0; r < rows; ++r) quantize_row(type, v.data() + r * size_t(row), b.data() + r * row_bytes, size_t(row));
        return b;
    }

    int64_t dim(const std::string &name, size_t axis) const {
        const TensorView &t = get(name);
        if (axis >= t.shape.size()) fail(RWKVRT_ERR_FORMAT, "'", src_.path(), "': tensor '", name, "' has shape ", t.shape_str());
        return t.shape[axis];
    }

private:
    const TensorFile &src_;
    const WriteOptions &o_;
};

} // namespace

void write_gguf(const TensorFile &src, const std::string &path, const WriteOptions &o) {
    check_replaceable(path, "cannot write"); // before any work: never a FIFO, a device, a folder or a link
    if (o.arch != "rwkv6" && o.arch != "rwkv7")
        fail(RWKVRT_ERR_UNSUPPORTED, "llama.cpp's GGUF holds rwkv6 and rwkv7 models, not ", o.arch);
    const bool v7 = o.arch == "rwkv7";
    Builder b(src, o);
    const int64_t C = b.dim("emb.weight", 1);
    int64_t L = 0;
    while (src.find("blocks." + std::to_string(L) + ".ln1.weight")) ++L;
    const int64_t F = b.dim("blocks.0.ffn.key.weight", 0);

    b.matrix("emb.weight", "token_embd.weight");
    b.vec("blocks.0.ln0.weight", "token_embd_norm.weight");
    b.vec("blocks.0.ln0.bias", "token_embd_norm.bias");
    for (int64_t i = 0; i < L; ++i) {
        const std::string p = "blocks." + std::to_string(i) + ".", q = "blk." + std::to_string(i) + ".";
        b.vec(p + "ln1.weight", q + "attn_norm.weight");
        b.vec(p + "ln1.bias", q + "attn_norm.bias");
        b.vec(p + "ln2.weight", q + "attn_norm_2.weight");
        b.vec(p + "ln2.bias", q + "attn_norm_2.bias");
        b.matrix(p + "att.key.weight", q + "time_mix_key.weight");
        b.matrix(p + "att.value.weight", q + "time_mix_value.weight");
        b.matrix(p + "att.receptance.weight", q + "time_mix_receptance.weight");
        b.matrix(p + "att.output.weight", q + "time_mix_output.weight");
        b.vec(p + "att.ln_x.weight", q + "time_mix_ln.weight");
        b.vec(p + "att.ln_x.bias", q + "time_mix_ln.bias");
        b.matrix(p + "ffn.key.weight", q + "channel_mix_key.weight");
        b.matrix(p + "ffn.value.weight", q + "channel_mix_value.weight");
        if (v7) {
            b.fused({p + "att.x_r", p + "att.x_w", p + "att.x_k", p + "att.x_v", p + "att.x_a", p + "att.x_g"},
                    q + "time_mix_lerp_fused.weight");
            for (const char *n : {"w0", "a0", "k_k", "k_a", "r_k"}) b.vec(p + "att." + n, q + "time_mix_" + n + ".weight");
            for (const char *n : {"w1", "w2", "a1", "a2", "g1", "g2"}) b.lora(p + "att." + n, q + "time_mix_" + n + ".weight");
            // Layer 0 does not use v0/v1/v2; llama.cpp's converter writes copies of a0/a1/a2 there.
            const std::string vsrc = i == 0 ? "a" : "v";
            b.vec(p + "att." + vsrc + "0", q + "time_mix_v0.weight");
            b.lora(p + "att." + vsrc + "1", q + "time_mix_v1.weight");
            b.lora(p + "att." + vsrc + "2", q + "time_mix_v2.weight");
            b.vec(p + "ffn.x_k", q + "channel_mix_lerp_k.weight");
        } else {
            b.vec(p + "att.time_maa_x", q + "time_mix_lerp_x.weight");
            b.fused({p + "att.time_maa_w", p + "att.time_maa_k", p + "att.time_maa_v", p + "att.time_maa_r",
                     p + "att.time_maa_g"},
                    q + "time_mix_lerp_fused.weight");
            b.lora(p + "att.time_maa_w1", q + "time_mix_w1.weight");
            b.lora(p + "att.time_maa_w2", q + "time_mix_w2.weight");
            b.vec(p + "att.time_decay", q + "time_mix_decay.weight");
            b.lora(p + "att.time_decay_w1", q + "time_mix_decay_w1.weight");
            b.lora(p + "att.time_decay_w2", q + "time_mix_decay_w2.weight");
            const TensorView *first = &b.get(p + "att.time_faaaa");
            b.f32(q + "time_mix_first.weight", {uint64_t(o.head_size), uint64_t(first->numel() / o.head_size)},
                  [first] { return Builder::values(*first); });
            b.matrix(p + "att.gate.weight", q + "time_mix_gate.weight");
            b.vec(p + "ffn.time_maa_k", q + "channel_mix_lerp_k.weight");
            b.vec(p + "ffn.time_maa_r", q + "channel_mix_lerp_r.weight");
            b.matrix(p + "ffn.receptance.weight", q + "channel_mix_receptance.weight");
        }
    }
    b.vec("ln_out.weight", "output_norm.weight");
    b.vec("ln_out.bias", "output_norm.bias");
    b.matrix("head.weight", "output.weight", true);

    const std::string &a = o.arch;
    Meta m;
    m.string("general.architecture", a);
    m.string("general.type", "model");
    m.string("general.name", o.name);
    m.u32(a + ".context_length", 1048576);
    m.u32(a + ".embedding_length", uint32_t(C));
    m.u32(a + ".block_count", uint32_t(L));
    m.f32(a + ".attention.layer_norm_epsilon", 1e-5f);
    if (!v7) m.u32(a + ".rescale_every_n_layers", 0);
    m.u32(a + ".wkv.head_size", uint32_t(o.head_size));
    if (v7) {
        m.u32(a + ".attention.decay_lora_rank", uint32_t(b.dim("blocks.0.att.w1", 1)));
        m.u32(a + ".attention.iclr_lora_rank", uint32_t(b.dim("blocks.0.att.a1", 1)));
        m.u32(a + ".attention.value_residual_mix_lora_rank", uint32_t(L > 1 ? b.dim("blocks.1.att.v1", 1) : b.dim("blocks.0.att.a1", 1)));
        m.u32(a + ".attention.gate_lora_rank", uint32_t(b.dim("blocks.0.att.g1", 1)));
    } else {
        m.u32(a + ".time_mix_extra_dim", uint32_t(b.dim("blocks.0.att.time_maa_w2", 1)));
        m.u32(a + ".time_decay_extra_dim", uint32_t(b.dim("blocks.0.att.time_decay_w1", 1)));
    }
    m.u32(a + ".feed_forward_length", uint32_t(F));
    m.u32("general.file_type", file_type(o.type));
    m.u32(a + ".attention.head_count", 0);
    m.u32("general.quantization_version", 2);
    if (!o.vocab.empty()) {
        // As llama.cpp's converter: control "<s>" for an id without bytes at 0, "[PAD<i>]" after.
        std::vector<std::string> tokens;
        std::vector<int32_t> types;
        for (size_t i = 0; i < o.vocab.size(); ++i) {
            const bool empty = o.vocab[i].empty();
            tokens.push_back(!empty ? python_bytes_repr(o.vocab[i]) : i == 0 ? "<s>" : "[PAD" + std::to_string(i) + "]");
            types.push_back(!empty ? kTokenNormal : i == 0 ? kTokenControl : kTokenUnused);
        }
        m.string("tokenizer.ggml.model", "rwkv");
        m.strings("tokenizer.ggml.tokens", std::move(tokens));
        m.i32s("tokenizer.ggml.token_type", std::move(types));
        if (o.vocab[0].empty() && o.vocab.size() > 261 && o.vocab[261] == "\n\n") { // the World vocabulary
            m.u32("tokenizer.ggml.bos_token_id", 0);
            m.u32("tokenizer.ggml.eos_token_id", 0);
            m.u32("tokenizer.ggml.eot_token_id", 261);
            m.string("tokenizer.chat_template", "rwkv-world");
        }
    }

    // A new file of our own beside the path: a leftover of that name (a killed writer of this pid, or a
    // link planted there) is removed, not written through.
    const std::string tmp = path + ".tmp" + std::to_string(::getpid());
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    std::FILE *f = fd < 0 ? nullptr : ::fdopen(fd, "wb");
    if (!f) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        fail(RWKVRT_ERR_IO, "cannot create '", tmp, "': ", std::strerror(err));
    }
    try {
        Writer w(f, tmp);
        w.put<uint32_t>(kMagic);
        w.put<uint32_t>(3);
        w.put<uint64_t>(b.out.size());
        w.put<uint64_t>(m.entries.size());
        for (const auto &e : m.entries) e(w);
        uint64_t offset = 0;
        for (const Out &t : b.out) {
            w.str(t.name);
            w.put<uint32_t>(uint32_t(t.ne.size()));
            for (uint64_t d : t.ne) w.put(d);
            w.put(t.type);
            w.put(offset);
            offset += (t.nbytes + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
        }
        w.pad(kDefaultAlignment);
        for (const Out &t : b.out) {
            const std::vector<uint8_t> bytes = t.bytes();
            if (bytes.size() != t.nbytes) fail(RWKVRT_ERR_INTERNAL, "GGUF writer: '", t.name, "' has ", bytes.size(), " bytes, not ", t.nbytes);
            w.raw(bytes.data(), bytes.size());
            w.pad(kDefaultAlignment);
        }
        if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) fail(RWKVRT_ERR_IO, "cannot write '", tmp, "': ", std::strerror(errno));
        if (std::fclose(f) != 0) {
            f = nullptr;
            fail(RWKVRT_ERR_IO, "cannot write '", tmp, "': ", std::strerror(errno));
        }
        f = nullptr;
        if (std::rename(tmp.c_str(), path.c_str()) != 0) fail(RWKVRT_ERR_IO, "cannot rename '", tmp, "' to '", path, "': ", std::strerror(errno));
    } catch (...) {
        if (f) std::fclose(f);
        std::remove(tmp.c_str());
        throw;
    }
}

} // namespace rwkvrt::gguf
