// rwkv.cpp's .bin format (spec §7.2): a 24-byte header, then tensor records until the end of the file.
// Its converter stores some parameters transformed; they are turned back into the official .pth
// conventions here so that every forward pass sees one convention.
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "formats/tensor_file.h"

namespace rwkvrt {

namespace {

constexpr uint32_t kMagic = 0x67676d66; // "ggmf"

int32_t read_i32(const uint8_t *p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

bool ggml_type(int32_t code, DType *out) {
    switch (code) {
    case 0: *out = DType::F32; return true;
    case 1: *out = DType::F16; return true;
    case 2: *out = DType::Q4_0; return true;
    case 3: *out = DType::Q4_1; return true;
    case 7: *out = DType::Q5_0; return true;
    case 8: *out = DType::Q5_1; return true;
    case 9: *out = DType::Q8_0; return true;
    default: return false;
    }
}

bool ends_with(const std::string &s, const char *suffix) {
    const size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// A tensor's values as fp32 in a buffer owned by the file.
float *owned_f32(TensorFile &tf, const TensorView &t, TensorView *out) {
    const size_t n = size_t(t.numel());
    auto *dst = reinterpret_cast<float *>(tf.own(n * 4));
    to_f32(t.dtype, t.data, dst, n);
    *out = t;
    out->dtype = DType::F32;
    out->data = reinterpret_cast<uint8_t *>(dst);
    out->nbytes = n * 4;
    return dst;
}

// Applies f to every value of t (as fp64, for exact inverses of the converter's exp/log transforms).
template <class F>
void map_values(TensorFile &tf, const TensorView &t, F f, std::vector<int64_t> shape) {
    TensorView out;
    float *v = owned_f32(tf, t, &out);
    for (int64_t i = 0; i < t.numel(); ++i) v[i] = float(f(double(v[i])));
    out.shape = std::move(shape);
    tf.replace(out);
}

void undo_converter(TensorFile &tf) {
    const bool v7 = tf.find("blocks.0.att.r_k") != nullptr;
    const bool v6 = tf.find("blocks.0.att.time_maa_x") != nullptr;
    const bool v5 = !v7 && !v6 && tf.find("blocks.0.att.ln_x.weight") != nullptr;
    const bool v4 = !v7 && !v6 && !v5;
    // Copy the names: replace() and add() change the tensor list.
    std::vector<std::string> names;
    for (const TensorView &t : tf.tensors()) names.push_back(t.name);
    for (const std::string &name : names) {
        const TensorView t = *tf.find(name);
        if (v4 && ends_with(name, ".att.time_decay")) {
            map_values(tf, t, [](double x) { return std::log(-x); }, t.shape); // stored −exp(td)
        } else if (v5 && ends_with(name, ".att.time_decay")) {
            map_values(tf, t, [](double x) { return std::log(-std::log(x)); }, t.shape); // stored exp(−exp(td))
        } else if (v5 && ends_with(name, ".att.time_first")) {
            map_values(tf, t, [](double x) { return std::log(x); }, t.shape); // stored exp(tf)
        } else if (v6 && ends_with(name, ".att.time_decay")) {
            map_values(tf, t, [](double x) { return x; }, {1, 1, t.numel()}); // stored raw as (H, N, 1)
        } else if (v6 && (ends_with(name, ".att.time_maa_w1") || ends_with(name, ".att.time_maa_w2") ||
                          ends_with(name, ".att.time_decay_w1") || ends_with(name, ".att.time_decay_w2"))) {
            tf.replace(tf.transposed_last2(t)); // the converter transposed the low-rank matrices
        } else if (v7 && t.shape.size() == 2 &&
                   (ends_with(name, ".att.w1") || ends_with(name, ".att.w2") || ends_with(name, ".att.a1") ||
                    ends_with(name, ".att.a2") || ends_with(name, ".att.v1") || ends_with(name, ".att.v2") ||
                    ends_with(name, ".att.g1") || ends_with(name, ".att.g2"))) {
            tf.replace(tf.transposed_last2(t));
        }
    }
}

// v7's six token-shift mixes are stored fused as x_rwkvag (6, 1, C); split them back.
std::vector<TensorView> split_x_rwkvag(TensorFile &tf, const TensorView &t) {
    if (t.numel() % 6 != 0 || t.shape.empty() || t.shape[0] != 6)
        fail(RWKVRT_ERR_FORMAT, "'", tf.path(), "': tensor '", t.name, "' has shape ", t.shape_str(), ", expected (6, 1, C)");
    TensorView all;
    const float *v = owned_f32(tf, t, &all);
    const int64_t C = t.numel() / 6;
    const std::string prefix = t.name.substr(0, t.name.size() - std::strlen("x_rwkvag"));
    std::vector<TensorView> parts;
    const char *names[] = {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"};
    for (int i = 0; i < 6; ++i) {
        TensorView p;
        p.name = prefix + names[i];
        p.dtype = DType::F32;
        p.shape = {1, 1, C};
        p.data = reinterpret_cast<const uint8_t *>(v + i * C);
        p.nbytes = size_t(C) * 4;
        parts.push_back(p);
    }
    return parts;
}

} // namespace

std::unique_ptr<TensorFile> read_rwkvcpp_bin(std::unique_ptr<MappedFile> file) {
    const uint8_t *p = file->data();
    const size_t size = file->size();
    const std::string path = file->path();
    if (size < 24) fail(RWKVRT_ERR_FORMAT, "'", path, "': truncated rwkv.cpp header (", size, " bytes)");
    if (uint32_t(read_i32(p)) != kMagic) fail(RWKVRT_ERR_FORMAT, "'", path, "': not an rwkv.cpp file (bad magic)");
    const int32_t version = read_i32(p + 4);
    if (version != 100 && version != 101)
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': rwkv.cpp file version ", version, " (this library reads 100 and 101)");
    const int32_t n_vocab = read_i32(p + 8), n_embd = read_i32(p + 12), n_layer = read_i32(p + 16);
    if (n_vocab <= 0 || n_embd <= 0 || n_layer <= 0)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': invalid header (n_vocab ", n_vocab, ", n_embd ", n_embd, ", n_layer ", n_layer, ")");

    auto tf = std::make_unique<TensorFile>(std::move(file), "rwkv.cpp");
    std::vector<TensorView> fused;
    size_t off = 24;
    while (off < size) {
        if (size - off < 12) fail(RWKVRT_ERR_FORMAT, "'", path, "': truncated tensor header at offset ", off);
        const int32_t n_dims = read_i32(p + off), key_len = read_i32(p + off + 4), type = read_i32(p + off + 8);
        if (n_dims < 1 || n_dims > 3) fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor at offset ", off, " has ", n_dims, " dimensions (1 to 3 allowed)");
        if (key_len <= 0 || key_len > 1024) fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor at offset ", off, " has a name of ", key_len, " bytes");
        off += 12;
        if (size - off < size_t(4 * n_dims + key_len)) fail(RWKVRT_ERR_FORMAT, "'", path, "': truncated tensor header at offset ", off);
        TensorView t;
        for (int d = n_dims - 1; d >= 0; --d) { // ggml order is innermost first
            const int32_t dim = read_i32(p + off + 4 * d);
            if (dim <= 0) fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor at offset ", off, " has dimension ", dim);
            t.shape.push_back(dim);
        }
        double elements = 1; // in double: three int32 dimensions can overflow int64
        for (int64_t d : t.shape) elements *= double(d);
        if (elements > double(size))
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor at offset ", off, " has more elements than the file has bytes");
        off += size_t(4 * n_dims);
        t.name.assign(reinterpret_cast<const char *>(p + off), size_t(key_len));
        off += size_t(key_len);
        if (!ggml_type(type, &t.dtype)) fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': tensor '", t.name, "' has ggml type ", type, ", which rwkvrt does not read");
        if (version == 100 && t.dtype != DType::F32 && t.dtype != DType::F16)
            fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "': quantized tensor '", t.name, "' in a version-100 file (re-quantize with a current rwkv.cpp)");
        if (t.numel() % dtype_info(t.dtype).block_elems != 0)
            fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", t.name, "' ", t.shape_str(), " is not a whole number of ", dtype_name(t.dtype), " blocks");
        t.nbytes = dtype_bytes(t.dtype, size_t(t.numel()));
        if (size - off < t.nbytes) fail(RWKVRT_ERR_FORMAT, "'", path, "': tensor '", t.name, "' is truncated (needs ", t.nbytes, " bytes at offset ", off, ", file has ", size - off, ")");
        t.data = p + off;
        off += t.nbytes;
        if (t.name.size() > 9 && ends_with(t.name, ".x_rwkvag")) {
            for (TensorView &part : split_x_rwkvag(*tf, t)) fused.push_back(part);
        } else {
            tf->add(std::move(t));
        }
    }
    for (TensorView &part : fused) tf->add(std::move(part));
    if (!tf->find("emb.weight")) fail(RWKVRT_ERR_FORMAT, "'", path, "': no tensor 'emb.weight'");
    const TensorView &emb = *tf->find("emb.weight");
    if (emb.shape.size() != 2 || emb.shape[0] != n_vocab || emb.shape[1] != n_embd)
        fail(RWKVRT_ERR_FORMAT, "'", path, "': header says n_vocab ", n_vocab, ", n_embd ", n_embd, " but 'emb.weight' is ", emb.shape_str());
    undo_converter(*tf);
    return tf;
}

} // namespace rwkvrt
