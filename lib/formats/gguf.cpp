// GGUF v2/v3 (llama.cpp): "GGUF", version, tensor count, metadata count, the metadata key/value pairs,
// the tensor infos (name, dims innermost first, ggml type, offset), then the aligned tensor data.
// Every count, length and offset is checked against the file before use, with overflow-safe
// arithmetic; a hostile file gets RWKVRT_ERR_FORMAT naming the field. The tensors of llama.cpp's
// rwkv6/rwkv7 layout (spec §7.3) are mapped back onto the official .pth names and layouts: large
// matrices stay in place (mapped) in their storage type, the few small tensors llama.cpp's converter
// fuses or reshapes are rebuilt as fp32, and the low-rank matrices it transposes are transposed back
// in their own float type.
#include "formats/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <variant>

#include "core/error.h"
#include "formats/tensor_file.h"

namespace rwkvrt {

namespace gguf {

std::optional<DType> dtype_of(uint32_t t) {
    switch (t) {
    case kF32: return DType::F32;
    case kF16: return DType::F16;
    case kBF16: return DType::BF16;
    case kQ8_0: return DType::Q8_0;
    case kQ4_0: return DType::Q4_0;
    case kQ4_1: return DType::Q4_1;
    case kQ5_0: return DType::Q5_0;
    case kQ5_1: return DType::Q5_1;
    case kQ4_K: return DType::Q4_K;
    case kQ5_K: return DType::Q5_K;
    case kQ6_K: return DType::Q6_K;
    default: return std::nullopt;
    }
}

uint32_t ggml_type_of(DType d) {
    switch (d) {
    case DType::F32: return kF32;
    case DType::F16: return kF16;
    case DType::BF16: return kBF16;
    case DType::Q8_0: return kQ8_0;
    case DType::Q5_0: return kQ5_0;
    case DType::Q5_1: return kQ5_1;
    case DType::Q4_0: return kQ4_0;
    case DType::Q4_1: return kQ4_1;
    case DType::Q4_K: return kQ4_K;
    case DType::Q5_K: return kQ5_K;
    case DType::Q6_K: return kQ6_K;
    }
    return kF32;
}

std::string ggml_type_name(uint32_t t) {
    static const char *const names[kGgmlTypes] = {
        "f32",    "f16",     "q4_0",  "q4_1",   nullptr, nullptr,  "q5_0",    "q5_1",    "q8_0",    "q8_1",
        "q2_K",   "q3_K",    "q4_K",  "q5_K",   "q6_K",  "q8_K",   "iq2_xxs", "iq2_xs",  "iq3_xxs", "iq1_s",
        "iq4_nl", "iq3_s",   "iq2_s", "iq4_xs", "i8",    "i16",    "i32",     "i64",     "f64",     "iq1_m",
        "bf16",   nullptr,   nullptr, nullptr,  "tq1_0", "tq2_0",  nullptr,   nullptr,   nullptr,   "mxfp4"};
    if (t < kGgmlTypes && names[t]) return names[t];
    return "type " + std::to_string(t);
}

} // namespace gguf

namespace {

using namespace gguf;

static_assert(std::endian::native == std::endian::little, "tensor data is used in place: little-endian hosts only");

// A metadata value. Arrays hold one element type; strings are raw bytes.
struct Value {
    uint32_t type = kValU8;
    std::variant<uint64_t, int64_t, double, bool, std::string> scalar;
    uint32_t elem_type = kValU8;
    std::vector<Value> items;

    std::string text() const; // for `rwkvrt info`
};

std::string Value::text() const {
    if (type == kValArray) return cat("[", items.size(), elem_type == kValString ? " strings]" : " values]");
    if (auto *u = std::get_if<uint64_t>(&scalar)) return std::to_string(*u);
    if (auto *i = std::get_if<int64_t>(&scalar)) return std::to_string(*i);
    if (auto *d = std::get_if<double>(&scalar)) return cat(*d);
    if (auto *b = std::get_if<bool>(&scalar)) return *b ? "true" : "false";
    return std::get<std::string>(scalar);
}

// Bounds-checked little-endian reads; every failure names the field being read.
class Cursor {
public:
    Cursor(const uint8_t *data, size_t size, const std::string &path) : p_(data), size_(size), path_(path) {}

    size_t offset() const { return off_; }
    size_t left() const { return size_ - off_; }

    void need(uint64_t n, const std::string &field) const {
        if (n > left())
            fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF ", field, " needs ", n, " bytes at offset ", off_,
                 " but only ", left(), " remain (a truncated or corrupt file)");
    }
    template <class T>
    T read(const std::string &field) {
        need(sizeof(T), field);
        T v;
        std::memcpy(&v, p_ + off_, sizeof(T));
        off_ += sizeof(T);
        return v;
    }
    std::string str(const std::string &field) {
        const uint64_t n = read<uint64_t>(field + " length");
        need(n, field);
        std::string s(reinterpret_cast<const char *>(p_ + off_), size_t(n));
        off_ += size_t(n);
        return s;
    }
    // A count of items of at least min_bytes each: larger than the rest of the file is impossible.
    uint64_t count(const std::string &field, uint64_t min_bytes) {
        const uint64_t n = read<uint64_t>(field);
        if (n > left() / min_bytes)
            fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF ", field, " is ", n, ", more than the remaining ", left(),
                 " bytes can hold");
        return n;
    }

private:
    const uint8_t *p_;
    size_t size_, off_ = 0;
    const std::string &path_;
};

uint64_t min_value_bytes(uint32_t type) {
    static const uint8_t sizes[kValueTypes] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
    return sizes[type];
}

Value read_value(Cursor &c, uint32_t type, const std::string &field, const std::string &path, int depth) {
    if (type >= kValueTypes) fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " has value type ", type, " (0 to 12 exist)");
    Value v;
    v.type = type;
    switch (type) {
    case kValU8: v.scalar = uint64_t(c.read<uint8_t>(field)); break;
    case kValI8: v.scalar = int64_t(c.read<int8_t>(field)); break;
    case kValU16: v.scalar = uint64_t(c.read<uint16_t>(field)); break;
    case kValI16: v.scalar = int64_t(c.read<int16_t>(field)); break;
    case kValU32: v.scalar = uint64_t(c.read<uint32_t>(field)); break;
    case kValI32: v.scalar = int64_t(c.read<int32_t>(field)); break;
    case kValU64: v.scalar = c.read<uint64_t>(field); break;
    case kValI64: v.scalar = c.read<int64_t>(field); break;
    case kValF32: v.scalar = double(c.read<float>(field)); break;
    case kValF64: v.scalar = c.read<double>(field); break;
    case kValBool: {
        const uint8_t b = c.read<uint8_t>(field);
        if (b > 1) fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " is a bool of value ", int(b));
        v.scalar = b == 1;
        break;
    }
    case kValString: v.scalar = c.str(field); break;
    case kValArray: {
        if (depth > 2) fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " nests arrays too deeply");
        v.elem_type = c.read<uint32_t>(field + " element type");
        if (v.elem_type >= kValueTypes)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " has element type ", v.elem_type, " (0 to 12 exist)");
        const uint64_t n = c.count(field + " element count", min_value_bytes(v.elem_type));
        v.items.reserve(size_t(n));
        for (uint64_t i = 0; i < n; ++i) v.items.push_back(read_value(c, v.elem_type, field, path, depth + 1));
        break;
    }
    }
    return v;
}

struct TensorInfo {
    std::string name;
    std::vector<uint64_t> ne; // innermost first
    uint32_t type = 0;
    uint64_t offset = 0;
    uint64_t nbytes = 0;
};

// The metadata, with typed look-ups that name the key when it is missing or of the wrong kind.
class Metadata {
public:
    explicit Metadata(std::string path) : path_(std::move(path)) {}
    void add(std::string key, Value v) {
        if (!kv_.emplace(key, std::move(v)).second)
            fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF metadata key '", key, "' appears twice");
        order_.push_back(std::move(key));
    }
    const Value *find(const std::string &key) const {
        auto it = kv_.find(key);
        return it == kv_.end() ? nullptr : &it->second;
    }
    std::string string(const std::string &key) const {
        const Value *v = find(key);
        if (!v) fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF metadata key '", key, "' is missing");
        if (v->type != kValString) fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF metadata key '", key, "' is not a string");
        return std::get<std::string>(v->scalar);
    }
    // An integer key in [0, 2^31); `fallback` when absent, if given.
    int64_t integer(const std::string &key, std::optional<int64_t> fallback = std::nullopt) const {
        const Value *v = find(key);
        if (!v) {
            if (fallback) return *fallback;
            fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF metadata key '", key, "' is missing");
        }
        int64_t n = -1;
        if (auto *u = std::get_if<uint64_t>(&v->scalar)) n = *u < (uint64_t(1) << 31) ? int64_t(*u) : -1;
        else if (auto *i = std::get_if<int64_t>(&v->scalar)) n = *i;
        else fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF metadata key '", key, "' is not an integer");
        if (n < 0 || n >= (int64_t(1) << 31))
            fail(RWKVRT_ERR_FORMAT, "'", path_, "': GGUF metadata key '", key, "' = ", v->text(), " is out of range");
        return n;
    }
    const std::vector<std::string> &keys() const { return order_; }

private:
    std::string path_;
    std::map<std::string, Value> kv_;
    std::vector<std::string> order_;
};

// llama.cpp writes World tokens as Python's repr(bytes)[2:-1]; its loader undoes \t \n \r, \xNN and
// \c → c (llama_unescape_rwkv_token). The same here.
std::string unescape_rwkv_token(const std::string &s) {
    std::string out;
    auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\' || i + 1 == s.size()) {
            out += s[i];
            continue;
        }
        const char c = s[++i];
        if (c == 't') out += '\t';
        else if (c == 'n') out += '\n';
        else if (c == 'r') out += '\r';
        else if (c == 'x' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += char(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else out += c;
    }
    return out;
}

// Builds the official tensors from llama.cpp's.
class Mapper {
public:
    Mapper(TensorFile &tf, const std::string &arch, int64_t head_size) : tf_(tf), arch_(arch), head_size_(head_size) {}

    void map(const TensorView &t) {
        const std::string &n = t.name;
        static const std::pair<const char *, const char *> global[] = {
            {"token_embd.weight", "emb.weight"},         {"token_embd_norm.weight", "blocks.0.ln0.weight"},
            {"token_embd_norm.bias", "blocks.0.ln0.bias"}, {"output_norm.weight", "ln_out.weight"},
            {"output_norm.bias", "ln_out.bias"},         {"output.weight", "head.weight"}};
        for (const auto &[from, to] : global)
            if (n == from) return rename(t, to);
        if (n.rfind("blk.", 0) != 0) unknown(t);
        const size_t dot = n.find('.', 4);
        if (dot == n.npos || dot == 4 || dot - 4 > 6 || n.find_first_not_of("0123456789", 4) != dot) unknown(t);
        const std::string p = "blocks." + n.substr(4, dot - 4) + ".";
        const std::string s = n.substr(dot + 1);
        const bool v6 = arch_ == "rwkv6";

        static const std::pair<const char *, const char *> common[] = {
            {"attn_norm.weight", "ln1.weight"},
            {"attn_norm.bias", "ln1.bias"},
            {"attn_norm_2.weight", "ln2.weight"},
            {"attn_norm_2.bias", "ln2.bias"},
            {"time_mix_key.weight", "att.key.weight"},
            {"time_mix_value.weight", "att.value.weight"},
            {"time_mix_receptance.weight", "att.receptance.weight"},
            {"time_mix_output.weight", "att.output.weight"},
            {"time_mix_ln.weight", "att.ln_x.weight"},
            {"time_mix_ln.bias", "att.ln_x.bias"},
            {"channel_mix_key.weight", "ffn.key.weight"},
            {"channel_mix_value.weight", "ffn.value.weight"}};
        for (const auto &[from, to] : common)
            if (s == from) return rename(t, p + to);
        if (v6) {
            static const std::pair<const char *, const char *> renamed[] = {
                {"time_mix_lerp_x.weight", "att.time_maa_x"},
                {"time_mix_lerp_w.weight", "att.time_maa_w"}, // older files: the five mixes one by one
                {"time_mix_lerp_k.weight", "att.time_maa_k"},
                {"time_mix_lerp_v.weight", "att.time_maa_v"},
                {"time_mix_lerp_r.weight", "att.time_maa_r"},
                {"time_mix_lerp_g.weight", "att.time_maa_g"},
                {"time_mix_decay.weight", "att.time_decay"},
                {"time_mix_first.weight", "att.time_faaaa"},
                {"time_mix_gate.weight", "att.gate.weight"},
                {"channel_mix_lerp_k.weight", "ffn.time_maa_k"},
                {"channel_mix_lerp_r.weight", "ffn.time_maa_r"},
                {"channel_mix_receptance.weight", "ffn.receptance.weight"}};
            for (const auto &[from, to] : renamed)
                if (s == from) return rename(t, p + to);
            if (s == "time_mix_lerp_fused.weight")
                return split(t, p, {"att.time_maa_w", "att.time_maa_k", "att.time_maa_v", "att.time_maa_r", "att.time_maa_g"});
            if (s == "time_mix_w1.weight") return transpose(t, p + "att.time_maa_w1");
            if (s == "time_mix_w2.weight") return transpose(t, p + "att.time_maa_w2"); // (5, C, D) → (5, D, C)
            if (s == "time_mix_decay_w1.weight") return transpose(t, p + "att.time_decay_w1");
            if (s == "time_mix_decay_w2.weight") return transpose(t, p + "att.time_decay_w2");
        } else {
            static const std::pair<const char *, const char *> renamed[] = {
                {"time_mix_w0.weight", "att.w0"},
                {"time_mix_a0.weight", "att.a0"},
                {"time_mix_v0.weight", "att.v0"},
                {"time_mix_k_k.weight", "att.k_k"},
                {"time_mix_k_a.weight", "att.k_a"},
                {"channel_mix_lerp_k.weight", "ffn.x_k"}};
            for (const auto &[from, to] : renamed)
                if (s == from) return rename(t, p + to);
            if (s == "time_mix_lerp_fused.weight")
                return split(t, p, {"att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g"});
            for (const char *lora : {"w1", "w2", "a1", "a2", "v1", "v2", "g1", "g2"})
                if (s == std::string("time_mix_") + lora + ".weight") return transpose(t, p + "att." + lora);
            if (s == "time_mix_r_k.weight") return reshape_r_k(t, p + "att.r_k");
        }
        unknown(t);
    }

private:
    [[noreturn]] void unknown(const TensorView &t) const {
        fail(RWKVRT_ERR_UNSUPPORTED, "'", tf_.path(), "': GGUF tensor '", t.name, "' ", t.shape_str(),
             " is not part of llama.cpp's ", arch_, " layout as rwkvrt reads it");
    }

    void rename(TensorView t, const std::string &name) {
        t.name = name;
        tf_.add(std::move(t));
    }

    std::vector<float> values(const TensorView &t) {
        std::vector<float> v(size_t(t.numel()));
        to_f32(t.dtype, t.data, v.data(), v.size());
        return v;
    }

    TensorView owned_f32(const std::string &name, std::vector<int64_t> shape, const float *src, size_t n) {
        TensorView out;
        out.name = name;
        out.dtype = DType::F32;
        out.shape = std::move(shape);
        out.nbytes = n * 4;
        uint8_t *dst = tf_.own(out.nbytes);
        std::memcpy(dst, src, out.nbytes);
        out.data = dst;
        return out;
    }

    // (k, 1, 1, C) → k tensors (1, 1, C).
    void split(const TensorView &t, const std::string &p, std::vector<const char *> names) {
        const int64_t k = int64_t(names.size());
        if (t.shape.size() < 2 || t.shape[0] != k || t.numel() % k != 0)
            fail(RWKVRT_ERR_FORMAT, "'", tf_.path(), "': GGUF tensor '", t.name, "' has shape ", t.shape_str(),
                 ", expected (", k, ", 1, 1, n_embd)");
        const std::vector<float> v = values(t);
        const int64_t C = t.numel() / k;
        for (int64_t i = 0; i < k; ++i) tf_.add(owned_f32(p + names[size_t(i)], {1, 1, C}, v.data() + i * C, size_t(C)));
    }

    // Swaps the last two dimensions (llama.cpp stores the low-rank matrices as nn.Linear weights).
    void transpose(const TensorView &t, const std::string &name) {
        TensorView out = tf_.transposed_last2(t);
        out.name = name;
        tf_.add(std::move(out));
    }

    // r_k is stored flat (C); officially (H, N).
    void reshape_r_k(TensorView t, const std::string &name) {
        if (t.numel() % head_size_ != 0)
            fail(RWKVRT_ERR_FORMAT, "'", tf_.path(), "': GGUF tensor '", t.name, "' has ", t.numel(),
                 " elements, not a multiple of the head size ", head_size_);
        t.shape = {t.numel() / head_size_, head_size_};
        rename(std::move(t), name);
    }

    TensorFile &tf_;
    std::string arch_;
    int64_t head_size_;
};


// The header, metadata and tensor infos, every offset checked against the file.
struct Parsed {
    Metadata meta;
    std::vector<TensorInfo> infos;
    const uint8_t *data = nullptr; // the tensor data section
};

Parsed parse(const MappedFile &file) {
    const std::string &path = file.path();
    Cursor c(file.data(), file.size(), path);
    if (c.read<uint32_t>("magic") != kMagic) fail(RWKVRT_ERR_FORMAT, "'", path, "': not a GGUF file (bad magic)");
    const uint32_t version = c.read<uint32_t>("version");
    if (version == 1) fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': GGUF version 1 (2023) is not read; re-convert it");
    if (version != 2 && version != 3)
        fail(version > 0xffff ? RWKVRT_ERR_FORMAT : RWKVRT_ERR_UNSUPPORTED, "'", path, "': GGUF version ", version,
             version > 0xffff ? " (a big-endian file?)" : " (this library reads versions 2 and 3)");
    // Each tensor info takes at least 8 + 4 + 4 + 8 bytes, each key/value pair 8 + 4 + 1.
    const uint64_t n_tensors = c.count("tensor_count", 24);
    const uint64_t n_kv = c.count("metadata_kv_count", 13);

    Parsed out{Metadata(path), {}, nullptr};
    Metadata &meta = out.meta;
    for (uint64_t i = 0; i < n_kv; ++i) {
        const std::string field = "metadata key #" + std::to_string(i);
        std::string key = c.str(field);
        const uint32_t type = c.read<uint32_t>("type of metadata key '" + key + "'");
        Value v = read_value(c, type, "metadata key '" + key + "'", path, 0);
        meta.add(std::move(key), std::move(v));
    }

    uint64_t alignment = kDefaultAlignment;
    if (meta.find("general.alignment")) {
        alignment = uint64_t(meta.integer("general.alignment"));
        if (alignment == 0 || (alignment & (alignment - 1)) != 0)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF general.alignment is ", alignment, ", not a power of two");
    }

    std::vector<TensorInfo> &infos = out.infos;
    infos.resize(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
        TensorInfo &ti = infos[size_t(i)];
        ti.name = c.str("tensor #" + std::to_string(i) + " name");
        const std::string field = "tensor '" + ti.name + "'";
        const uint32_t nd = c.read<uint32_t>(field + " n_dims");
        if (nd < 1 || nd > kMaxDims) fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " has n_dims ", nd, " (1 to 4 allowed)");
        uint64_t numel = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            const uint64_t ne = c.read<uint64_t>(field + " dimension");
            if (ne == 0 || ne > (uint64_t(1) << 40) || __builtin_mul_overflow(numel, ne, &numel) || numel > (uint64_t(1) << 50))
                fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " has an impossible dimension ", ne);
            ti.ne.push_back(ne);
        }
        ti.type = c.read<uint32_t>(field + " type");
        if (ti.type >= kGgmlTypes)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " has type id ", ti.type, ", which ggml does not define");
        ti.offset = c.read<uint64_t>(field + " offset");
        if (ti.offset % alignment != 0)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " offset ", ti.offset, " is not a multiple of the alignment ", alignment);
        uint64_t block_elems = 256, block_bytes;
        if (ti.type == kQ2_K) block_bytes = kQ2KBlockBytes;
        else if (ti.type == kQ3_K) block_bytes = kQ3KBlockBytes;
        else if (auto d = dtype_of(ti.type)) {
            block_elems = uint64_t(dtype_info(*d).block_elems);
            block_bytes = uint64_t(dtype_info(*d).block_bytes);
        } else {
            fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': GGUF ", field, " has type ", ggml_type_name(ti.type),
                 "; rwkvrt reads f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, q4_K, q5_K and q6_K");
        }
        if (ti.ne[0] % block_elems != 0)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", field, " of type ", ggml_type_name(ti.type), " has rows of ",
                 ti.ne[0], " elements, not a multiple of its block of ", block_elems);
        ti.nbytes = numel / block_elems * block_bytes;
    }

    // The data starts at the next multiple of the alignment.
    const uint64_t data_start = (uint64_t(c.offset()) + alignment - 1) / alignment * alignment;
    if (data_start > file.size())
        fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF file ends before its tensor data (truncated after the header)");
    const uint64_t data_size = file.size() - data_start;
    std::vector<const TensorInfo *> by_offset;
    for (const TensorInfo &ti : infos) {
        if (ti.offset > data_size || ti.nbytes > data_size - ti.offset)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF tensor '", ti.name, "' (", ti.nbytes, " bytes at data offset ",
                 ti.offset, ") runs past the end of the file (", data_size, " bytes of data): truncated?");
        by_offset.push_back(&ti);
    }
    std::sort(by_offset.begin(), by_offset.end(), [](auto *a, auto *b) { return a->offset < b->offset; });
    for (size_t i = 1; i < by_offset.size(); ++i)
        if (by_offset[i - 1]->offset + by_offset[i - 1]->nbytes > by_offset[i]->offset)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF tensors '", by_offset[i - 1]->name, "' and '", by_offset[i]->name,
                 "' overlap");
    out.data = file.data() + data_start;
    return out;
}

} // namespace

namespace gguf {

Layout read_layout(const MappedFile &file) {
    const Parsed p = parse(file);
    Layout out;
    for (const std::string &key : p.meta.keys()) out.keys.emplace_back(key, p.meta.find(key)->type);
    for (const TensorInfo &ti : p.infos) out.tensors.push_back({ti.name, ti.ne, ti.type, p.data + ti.offset, size_t(ti.nbytes)});
    return out;
}

} // namespace gguf

std::unique_ptr<TensorFile> read_gguf(std::unique_ptr<MappedFile> file) {
    const std::string path = file->path();
    const Parsed parsed = parse(*file);
    const Metadata &meta = parsed.meta;
    const std::vector<TensorInfo> &infos = parsed.infos;
    auto tf = std::make_unique<TensorFile>(std::move(file), "gguf");

    // The architecture and what the forward pass needs beyond the tensors.
    const std::string arch = meta.string("general.architecture");
    if (arch != "rwkv6" && arch != "rwkv7")
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': GGUF architecture '", arch, "'; rwkvrt runs rwkv6 and rwkv7");
    FileInfo &info = tf->info();
    info.arch = arch;
    const int64_t n_embd = meta.integer(arch + ".embedding_length");
    const int64_t n_layer = meta.integer(arch + ".block_count");
    const int64_t head_size = meta.integer(arch + ".wkv.head_size");
    if (head_size < 1 || n_embd % head_size != 0)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", arch, ".wkv.head_size ", head_size, " does not divide ", arch,
             ".embedding_length ", n_embd);
    if (meta.integer(arch + ".token_shift_count", 2) != 2)
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': GGUF ", arch, ".token_shift_count is not 2");
    if (arch == "rwkv6") info.rescale_every = meta.integer("rwkv6.rescale_every_n_layers", 0);
    for (const std::string &key : meta.keys()) info.metadata.emplace_back(key, meta.find(key)->text());

    if (const Value *model = meta.find("tokenizer.ggml.model"); model && model->type == kValString) {
        info.vocab_kind = std::get<std::string>(model->scalar);
        const Value *tokens = meta.find("tokenizer.ggml.tokens");
        const Value *types = meta.find("tokenizer.ggml.token_type");
        if (info.vocab_kind == "rwkv") {
            if (!tokens || tokens->type != kValArray || tokens->elem_type != kValString)
                fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF tokenizer.ggml.tokens is missing or not a list of strings");
            if (types && (types->type != kValArray || types->items.size() != tokens->items.size()))
                fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF tokenizer.ggml.token_type does not give one type per token");
            for (size_t i = 0; i < tokens->items.size(); ++i) {
                // Only normal tokens (type 1, or untyped) stand for bytes; control and unused ones are empty.
                bool normal = true;
                if (types) {
                    const auto &ty = types->items[i].scalar;
                    normal = std::holds_alternative<int64_t>(ty) ? std::get<int64_t>(ty) == 1
                             : std::holds_alternative<uint64_t>(ty) && std::get<uint64_t>(ty) == 1;
                }
                info.vocab.push_back(normal ? unescape_rwkv_token(std::get<std::string>(tokens->items[i].scalar)) : "");
            }
        }
    }

    Mapper mapper(*tf, arch, head_size);
    for (const TensorInfo &ti : infos) {
        TensorView t;
        t.name = ti.name;
        for (auto it = ti.ne.rbegin(); it != ti.ne.rend(); ++it) t.shape.push_back(int64_t(*it)); // PyTorch order
        const uint8_t *data = parsed.data + ti.offset;
        if (ti.type == kQ2_K || ti.type == kQ3_K) { // no kernels: decoded once, here
            const size_t n = size_t(t.numel());
            auto *dst = reinterpret_cast<float *>(tf->own(n * 4));
            (ti.type == kQ2_K ? dequantize_q2_k : dequantize_q3_k)(data, dst, n);
            t.dtype = DType::F32;
            t.data = reinterpret_cast<const uint8_t *>(dst);
            t.nbytes = n * 4;
        } else {
            t.dtype = *dtype_of(ti.type);
            t.data = data;
            t.nbytes = size_t(ti.nbytes);
        }
        mapper.map(t);
    }

    // The declared dimensions must agree with the tensors (the builders take them from the shapes).
    const TensorView *emb = tf->find("emb.weight");
    if (!emb || emb->shape.size() != 2 || emb->shape[1] != n_embd)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF tensor 'token_embd.weight' is missing or does not have ", arch,
             ".embedding_length = ", n_embd, " columns");
    if (!tf->find("blocks." + std::to_string(n_layer - 1) + ".ln1.weight") || tf->find("blocks." + std::to_string(n_layer) + ".ln1.weight"))
        fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", arch, ".block_count = ", n_layer, " does not match the blk.N tensors");
    if (arch == "rwkv7") {
        static const std::pair<const char *, const char *> ranks[] = {
            {"rwkv7.attention.decay_lora_rank", "blocks.0.att.w1"},
            {"rwkv7.attention.iclr_lora_rank", "blocks.0.att.a1"},
            {"rwkv7.attention.value_residual_mix_lora_rank", "blocks.1.att.v1"},
            {"rwkv7.attention.gate_lora_rank", "blocks.0.att.g1"}};
        for (const auto &[key, name] : ranks) {
            const TensorView *t = tf->find(name);
            if (meta.find(key) && t && t->shape.size() == 2 && t->shape[1] != meta.integer(key))
                fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", key, " = ", meta.integer(key), " but tensor '", name,
                     "' has rank ", t->shape[1]);
        }
    } else {
        static const std::pair<const char *, const char *> ranks[] = {
            {"rwkv6.time_mix_extra_dim", "blocks.0.att.time_maa_w2"},
            {"rwkv6.time_decay_extra_dim", "blocks.0.att.time_decay_w1"}};
        for (const auto &[key, name] : ranks) {
            const TensorView *t = tf->find(name);
            if (meta.find(key) && t && t->shape.size() >= 2 &&
                t->shape[1] != meta.integer(key))
                fail(RWKVRT_ERR_FORMAT, "'", path, "': GGUF ", key, " = ", meta.integer(key), " but tensor '", name,
                     "' has ", t->shape_str());
        }
    }
    return tf;
}

} // namespace rwkvrt
