#include "formats/tensor_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace rwkvrt {

int64_t TensorView::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string TensorView::shape_str() const {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + ")";
}

const TensorView *TensorFile::find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

void TensorFile::add(TensorView tensor) {
    if (index_.count(tensor.name)) fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensor '", tensor.name, "' appears twice");
    int64_t n = 1;
    for (int64_t d : tensor.shape)
        if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (int64_t(1) << 50))
            fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensor '", tensor.name, "' has an impossible shape ", tensor.shape_str());
    if (n % dtype_info(tensor.dtype).block_elems != 0)
        fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensor '", tensor.name, "' of type ", dtype_name(tensor.dtype),
             " has ", n, " elements, not a whole number of blocks");
    if (dtype_bytes(tensor.dtype, size_t(n)) != tensor.nbytes)
        fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensor '", tensor.name, "' ", tensor.shape_str(), " of type ",
             dtype_name(tensor.dtype), " needs ", dtype_bytes(tensor.dtype, size_t(n)), " bytes but has ", tensor.nbytes);
    const uint8_t *begin = file_->data(), *end = begin + file_->size();
    if (tensor.data >= begin && tensor.data < end && size_t(end - tensor.data) < tensor.nbytes)
        fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensor '", tensor.name, "' runs past the end of the file");
    index_.emplace(tensor.name, tensors_.size());
    tensors_.push_back(std::move(tensor));
}

uint8_t *TensorFile::own(size_t nbytes) {
    owned_.emplace_back(nbytes);
    return owned_.back().data();
}

void TensorFile::replace(TensorView tensor) {
    auto it = index_.find(tensor.name);
    if (it == index_.end()) fail(RWKVRT_ERR_INTERNAL, "replace of unknown tensor '", tensor.name, "'");
    tensors_[it->second] = std::move(tensor);
}

void TensorFile::rename(const std::string &from, const std::string &to) {
    auto it = index_.find(from);
    if (it == index_.end()) fail(RWKVRT_ERR_INTERNAL, "rename of unknown tensor '", from, "'");
    if (index_.count(to)) fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensors '", from, "' and '", to, "' both stand for '", to, "'");
    const size_t i = it->second;
    index_.erase(it);
    tensors_[i].name = to;
    index_.emplace(to, i);
}

bool TensorFile::in_mapped_pages(const uint8_t *p) const {
    const auto in = [p](const MappedFile &f) { return f.mapped() && p >= f.data() && p < f.data() + f.size(); };
    if (in(*file_)) return true;
    for (const auto &shard : shards_)
        if (shard->in_mapped_pages(p)) return true;
    return false;
}

const MappedFile *TensorFile::file_holding(const uint8_t *p) const {
    if (file_->contains(p)) return file_.get();
    for (const auto &shard : shards_)
        if (const MappedFile *f = shard->file_holding(p)) return f;
    return nullptr;
}

uint8_t *TensorFile::memory_for(const uint8_t *p) const {
    const MappedFile *f = file_holding(p);
    return f ? f->memory_for(p) : const_cast<uint8_t *>(p);
}

void TensorFile::finish_reading() {
    for (TensorView &t : tensors_) t.data = memory_for(t.data);
    file_->finish_reading();
    for (auto &shard : shards_) shard->finish_reading();
}

TensorView TensorFile::transposed_last2(const TensorView &t) {
    const size_t nd = t.shape.size();
    if (nd < 2) fail(RWKVRT_ERR_FORMAT, "'", path(), "': tensor '", t.name, "' has shape ", t.shape_str(), ", expected a matrix");
    const int64_t rows = t.shape[nd - 2], cols = t.shape[nd - 1], batch = t.numel() / std::max<int64_t>(1, rows * cols);
    const bool as_stored = t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16;
    std::vector<float> widened;
    if (!as_stored) {
        widened.resize(size_t(t.numel()));
        to_f32(t.dtype, t.data, widened.data(), widened.size());
    }
    const size_t size = as_stored ? dtype_bytes(t.dtype, 1) : sizeof(float);
    const uint8_t *const src = as_stored ? t.data : reinterpret_cast<const uint8_t *>(widened.data());
    TensorView out = t;
    out.dtype = as_stored ? t.dtype : DType::F32;
    out.nbytes = size_t(t.numel()) * size;
    std::swap(out.shape[nd - 2], out.shape[nd - 1]);
    uint8_t *const dst = own(out.nbytes);
    for (int64_t b = 0; b < batch; ++b)
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t c = 0; c < cols; ++c)
                std::memcpy(dst + size_t((b * cols + c) * rows + r) * size, src + size_t((b * rows + r) * cols + c) * size, size);
    out.data = dst;
    return out;
}

bool TensorFile::shares_bytes(const std::string &name) const {
    const TensorView *t = find(name);
    if (!t) return false;
    for (const TensorView &other : tensors_)
        if (&other != t && other.data < t->data + t->nbytes && t->data < other.data + other.nbytes) return true;
    return false;
}

void TensorFile::give_back(const std::string &name) {
    const TensorView *t = find(name);
    if (!t || shares_bytes(name) || file_->give_back(t->data, t->nbytes)) return;
    for (auto &shard : shards_)
        if (shard->file_->give_back(t->data, t->nbytes)) return;
}

void TensorFile::merge(std::unique_ptr<TensorFile> shard) {
    for (const TensorView &t : shard->tensors_) {
        if (index_.count(t.name))
            fail(RWKVRT_ERR_FORMAT, "'", shard->path(), "': tensor '", t.name, "' is also in '", path(), "'");
        index_.emplace(t.name, tensors_.size());
        tensors_.push_back(t);
    }
    shards_.push_back(std::move(shard));
}

std::unique_ptr<TensorFile> open_tensor_file(const std::string &path, bool use_mmap) {
    if (std::filesystem::is_directory(path)) return read_hf_folder(path, use_mmap);
    auto file = std::make_unique<MappedFile>(path, use_mmap);
    const uint8_t *p = file->data();
    const size_t n = file->size();
    if (n == 0) fail(RWKVRT_ERR_FORMAT, "'", path, "' is empty");
    if (n >= 4 && p[0] == 'P' && p[1] == 'K' && p[2] == 3 && p[3] == 4) return read_pth(std::move(file));
    if (n >= 4 && p[0] == 0x66 && p[1] == 0x6d && p[2] == 0x67 && p[3] == 0x67) return read_rwkvcpp_bin(std::move(file));
    if (n >= 4 && p[0] == 'G' && p[1] == 'G' && p[2] == 'U' && p[3] == 'F') return read_gguf(std::move(file));
    if (n >= 9 && p[8] == '{') {
        auto tf = read_safetensors(std::move(file));
        map_safetensors_layout(*tf);
        return tf;
    }
    if (n >= 2 && p[0] == 0x80 && p[1] <= 5)
        fail(RWKVRT_ERR_UNSUPPORTED, "'", path, "' is a legacy (non-zip) PyTorch pickle; re-save it with torch.save() from PyTorch >= 1.6");
    fail(RWKVRT_ERR_FORMAT, "'", path, "' is not a model file rwkvrt knows (.pth, rwkv.cpp .bin, .safetensors, .gguf)");
}

} // namespace rwkvrt
