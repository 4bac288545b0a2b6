#include "arch/weights.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "exec/thread_pool.h"
#include "kernels/gemm_bf16.h"
#include "kernels/gemm_int8.h"

namespace rwkvrt {

namespace {

std::vector<int64_t> squeezed(const std::vector<int64_t> &shape) {
    std::vector<int64_t> out;
    for (int64_t d : shape)
        if (d != 1) out.push_back(d);
    return out;
}

std::string shape_str(const std::vector<int64_t> &shape) {
    TensorView t;
    t.shape = shape;
    return t.shape_str();
}

} // namespace

const TensorView &WeightLoader::get(const std::string &name) const {
    const TensorView *t = file_.find(name);
    if (!t) fail(RWKVRT_ERR_FORMAT, "'", file_.path(), "': tensor '", name, "' is missing (required by ", arch_name(arch_), ")");
    // Shapes are checked against each other, so one empty tensor (a LoRA of rank 0) could pass them all
    // and leave a kernel to divide by its size.
    if (t->numel() <= 0)
        fail(RWKVRT_ERR_FORMAT, "'", file_.path(), "': tensor '", name, "' has shape ", t->shape_str(), ": it is empty");
    return *t;
}

const TensorView &WeightLoader::take(const std::string &name) {
    const TensorView &t = get(name);
    used_.insert(name);
    return t;
}

std::vector<float> WeightLoader::vec(const std::string &name, std::initializer_list<int64_t> shape) {
    const TensorView &t = take(name);
    if (squeezed(t.shape) != squeezed(std::vector<int64_t>(shape)))
        fail(RWKVRT_ERR_FORMAT, "'", file_.path(), "': tensor '", name, "' has shape ", t.shape_str(), ", expected ",
             shape_str(shape), " for ", arch_name(arch_));
    std::vector<float> out(size_t(t.numel()));
    to_f32(t.dtype, t.data, out.data(), out.size());
    return out;
}

void WeightLoader::check_2d(const TensorView &t, int64_t rows, int64_t cols) const {
    if (t.shape.size() != 2 || t.shape[0] != rows || t.shape[1] != cols)
        fail(RWKVRT_ERR_FORMAT, "'", file_.path(), "': tensor '", t.name, "' has shape ", t.shape_str(), ", expected (",
             rows, ", ", cols, ") for ", arch_name(arch_));
}

Matrix WeightLoader::table(const std::string &name, int64_t rows, int64_t cols) {
    Matrix m = in_place(name, rows, cols);
    m.data = file_.memory_for(m.data);
    work_.bytes += double(m.row_bytes()); // a token reads one row
    return m;
}

void WeightLoader::count(const Matrix &m) {
    work_.flops += 2.0 * double(m.rows) * double(m.cols);
    work_.bytes += double(m.nbytes());
}

Matrix WeightLoader::in_place(const std::string &name, int64_t rows, int64_t cols) {
    const TensorView &t = take(name);
    check_2d(t, rows, cols);
    Matrix m;
    m.rows = rows;
    m.cols = cols;
    m.dtype = t.dtype;
    m.data = t.data;
    return m;
}

Matrix WeightLoader::linear(const std::string &name, int64_t out, int64_t in) {
    Matrix m = in_place(name, out, in);
    if (config_.as_stored) {
        count(m);
        return m;
    }
    if (config_.weight_type && *config_.weight_type != m.dtype) m = convert_matrix(m, *config_.weight_type, name.c_str(), *config_.pool);
    m.int8_activations = config_.int8_activations;
    m.int8_products = config_.int8_activations && int8_products_supported(m.dtype);
    m.bf16_products = config_.bf16_activations && (m.dtype == DType::BF16 || m.dtype == DType::F16) && bf16_products_supported();
    const bool mapped = file_.in_mapped_pages(m.data);
    if (m.int8_products && interleavable(m)) m = interleave_rows(m, *config_.pool);
    else if (!m.int8_products && !(m.int8_activations && dot_int8_kernel(m.dtype, int8_level())) &&
             !(is_float_type(m.dtype) && mapped) && lanes_layout_applies(m)) {
        // The fp32 kernels read these best with the rows in the lanes: where the file's bytes lie in this
        // model's own memory, the load pass writes them so (no second copy to allocate and zero); a
        // matrix converted here takes a copy. Mapped float matrices keep their rows, so that processes
        // mapping one file share its pages (use_mmap's purpose).
        if (config_.lanes_at_load && m.data == get(name).data && !mapped && !file_.shares_bytes(name)) {
            Matrix later;
            later.rows = m.rows, later.cols = m.cols, later.dtype = m.dtype, later.data = file_.memory_for(m.data);
            config_.lanes_at_load->push_back(std::move(later));
            m.lanes = true;
        } else {
            m = to_lanes(m, *config_.pool);
        }
    }
    if (m.data == get(name).data) m.data = file_.memory_for(m.data); // the file's bytes: where they will lie
    else if (config_.copied) config_.copied->push_back(name);
    count(m);
    return m;
}

Matrix WeightLoader::lora(const std::string &name, int64_t in, int64_t out) {
    const TensorView &t = take(name);
    check_2d(t, in, out);
    if (t.dtype == DType::F16 || t.dtype == DType::BF16) return half_lora(t, in, out);
    Matrix m;
    m.rows = out;
    m.cols = in;
    m.dtype = DType::F32;
    // Stored transposed (in × out). Written in the lanes layout where the shape allows, however few its
    // rows (the lanes kernels need no packing or transposed write-back, which cost these small products
    // as much as their multiply-adds): stored row i's 16 values of a group are element i of its 16 rows,
    // side by side. Otherwise as its rows.
    m.lanes = m.rows % kLaneRows == 0 && m.cols % 16 == 0;
    m.owned.allocate(size_t(in * out) * sizeof(float));
    auto *dst = reinterpret_cast<float *>(m.owned.data());
    // On the load's threads, kStoredRows stored rows a task: each writes 64-byte runs of dst. A task
    // converts its own rows when a row is whole blocks; else the matrix is converted first.
    constexpr int64_t kStoredRows = 16;
    const bool by_rows = out % dtype_info(t.dtype).block_elems == 0;
    std::vector<float> converted;
    if (!by_rows) {
        converted.resize(size_t(in * out));
        to_f32(t.dtype, t.data, converted.data(), converted.size());
    }
    ThreadPool &pool = *config_.pool;
    pool.run((in + kStoredRows - 1) / kStoredRows, pool.size(), [&](int64_t task, int thread) {
        const int64_t i0 = task * kStoredRows, i1 = std::min(in, i0 + kStoredRows);
        const float *src;
        if (by_rows) {
            float *const rows = pool.thread_buffer(thread, size_t(kStoredRows * out) * sizeof(float));
            to_f32(t.dtype, t.data + size_t(i0) * dtype_bytes(t.dtype, size_t(out)), rows, size_t((i1 - i0) * out));
            src = rows;
        } else {
            src = converted.data() + i0 * out;
        }
        if (m.lanes)
            for (int64_t g = 0; g < out / kLaneRows; ++g)
                for (int64_t i = i0; i < i1; ++i)
                    std::memcpy(dst + (g * in + i) * kLaneRows, src + (i - i0) * out + g * kLaneRows, kLaneRows * sizeof(float));
        else
            for (int64_t o = 0; o < out; ++o)
                for (int64_t i = i0; i < i1; ++i) dst[o * in + i] = src[(i - i0) * out + o];
    });
    m.data = m.owned.data();
    count(m);
    return m;
}

// A half-precision low-rank matrix keeps its type, and a decoding token reads half its bytes (at 0.1B
// with the official ranks, 10.5 of a token's 292 MB). In the lanes layout (every real model's shapes)
// the kernels widen each weight exactly and sum in the order they sum fp32 weights (linear.cpp's
// LanesFloatRows, LanesTile): the products have the bits of an fp32 copy's. Transposed here, then
// into the lanes where the shape allows.
Matrix WeightLoader::half_lora(const TensorView &t, int64_t in, int64_t out) {
    Matrix m;
    m.rows = out;
    m.cols = in;
    m.dtype = t.dtype;
    m.owned.allocate(size_t(in * out) * sizeof(uint16_t));
    const uint8_t *const src = t.data; // a file's tensor need not lie at an even address
    auto *dst = reinterpret_cast<uint16_t *>(m.owned.data());
    constexpr int64_t kStoredRows = 16; // a task's stored rows: runs of 32 bytes of each row of dst
    config_.pool->run((in + kStoredRows - 1) / kStoredRows, config_.pool->size(), [&](int64_t task, int) {
        const int64_t i0 = task * kStoredRows, i1 = std::min(in, i0 + kStoredRows);
        for (int64_t o = 0; o < out; ++o)
            for (int64_t i = i0; i < i1; ++i) std::memcpy(dst + o * in + i, src + size_t(i * out + o) * sizeof(uint16_t), sizeof(uint16_t));
    });
    m.data = m.owned.data();
    if (m.rows % kLaneRows == 0 && m.cols % 16 == 0) m = to_lanes(m, *config_.pool);
    count(m);
    return m;
}

void WeightLoader::finish() const {
    for (const TensorView &t : file_.tensors())
        if (!used_.count(t.name))
            fail(RWKVRT_ERR_UNSUPPORTED, "'", file_.path(), "': unexpected tensor '", t.name, "' ", t.shape_str(),
                 " for ", arch_name(arch_), " (a variant this version of rwkvrt does not run)");
}

HParams common_hparams(const TensorFile &file, Arch arch) {
    auto require = [&](const char *name) -> const TensorView & {
        const TensorView *t = file.find(name);
        if (!t) fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor '", name, "' is missing");
        return *t;
    };
    HParams hp;
    hp.arch = arch;
    const TensorView &emb = require("emb.weight");
    if (emb.shape.size() != 2 || emb.shape[0] < 1 || emb.shape[1] < 1)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'emb.weight' has shape ", emb.shape_str(), ", expected (n_vocab, n_embd)");
    hp.n_vocab = emb.shape[0];
    hp.n_embd = emb.shape[1];
    while (file.find("blocks." + std::to_string(hp.n_layer) + ".ln1.weight")) ++hp.n_layer;
    if (hp.n_layer == 0) fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'blocks.0.ln1.weight' is missing");
    const TensorView &key = require("blocks.0.att.key.weight");
    const TensorView &ffn = require("blocks.0.ffn.key.weight");
    if (key.shape.size() != 2 || ffn.shape.size() != 2)
        fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': att.key / ffn.key weights must be matrices");
    hp.dim_att = key.shape[0];
    hp.dim_ffn = ffn.shape[0];
    return hp;
}

} // namespace rwkvrt
