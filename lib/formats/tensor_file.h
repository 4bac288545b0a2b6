// The one in-memory form every file format is read into: named tensors with an element type and a
// PyTorch-order shape, in the conventions of the official .pth checkpoints (names, orientation, raw
// parameters). Readers for formats that store transformed parameters (rwkv.cpp .bin, GGUF) undo the
// transforms here, so the forward passes know one convention only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "formats/mapped_file.h"

namespace rwkvrt {

struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape; // PyTorch order, outermost first; {} for a scalar
    const uint8_t *data = nullptr; // row-major, contiguous; into the file or an owned buffer
    size_t nbytes = 0;

    int64_t numel() const;
    std::string shape_str() const; // "(768, 2048)"
};

// What a file declares beside its tensors (GGUF metadata); formats without any leave it empty.
struct FileInfo {
    std::string arch;           // the declared architecture ("rwkv6", "rwkv7"); "" when the format has none
    int64_t rescale_every = 0;  // rwkv6: the residual stream is halved after every n-th layer (0: never)
    std::vector<std::string> vocab; // an embedded vocabulary: token id → its bytes (empty for control ids)
    std::string vocab_kind;     // what the file calls it ("rwkv"), "" when there is none
    std::vector<std::pair<std::string, std::string>> metadata; // every key → its value as text, for `rwkvrt info`
};

class TensorFile {
public:
    explicit TensorFile(std::unique_ptr<MappedFile> file, std::string format)
        : file_(std::move(file)), format_(std::move(format)) {}

    // "pth", "rwkv.cpp", "safetensors", "gguf", "safetensors (HF/fla)", "safetensors (web-rwkv)"
    const std::string &format() const { return format_; }
    void set_format(std::string format) { format_ = std::move(format); }
    const FileInfo &info() const { return info_; }
    FileInfo &info() { return info_; }
    const std::string &path() const { return file_->path(); }
    const MappedFile &file() const { return *file_; }

    const std::vector<TensorView> &tensors() const { return tensors_; }
    const TensorView *find(std::string_view name) const;

    // Adds a tensor whose data lives in the file (checked to lie inside it) or in owned storage.
    void add(TensorView tensor);
    // Storage for tensors a reader had to transform; the pointer stays valid for the file's life.
    uint8_t *own(size_t nbytes);
    // Replaces a tensor (same name) by a transformed copy.
    void replace(TensorView tensor);
    // t with its last two dimensions swapped, in owned storage: the low-rank matrices that llama.cpp
    // and fla store as nn.Linear weights. f32, f16 and bf16 keep their type (a decoding token reads
    // these matrices, and the loader keeps half-precision ones as they are); other types become fp32.
    TensorView transposed_last2(const TensorView &t);
    // Whether another tensor overlaps the bytes of tensor `name` (a file may store tied weights once).
    bool shares_bytes(const std::string &name) const;
    // Whether p lies in the pages of a mapped file (this one or a merged shard), which are read-only.
    bool in_mapped_pages(const uint8_t *p) const;
    // The file (this one or a merged shard) whose bytes p lies in, or nullptr (owned storage).
    const MappedFile *file_holding(const uint8_t *p) const;
    // Where the tensor byte now readable at p lies once the files are read into memory (MappedFile):
    // p itself when it is mapped, owned, or read already.
    uint8_t *memory_for(const uint8_t *p) const;
    // Once the tensors have been read into memory (model/load_pass.h): points each at its bytes there
    // and drops the mappings the readers parsed.
    void finish_reading();
    // Hands the pages of a tensor that lies in the file (or a merged shard) back to the system: the model
    // holds its values in another form. Not when another tensor shares its bytes. Its bytes are not read again through this file (Model::stored_tensors).
    void give_back(const std::string &name);
    // Renames a tensor (which must exist; the new name must be free).
    void rename(const std::string &from, const std::string &to);
    // Takes over another file's tensors (a shard of the same model), keeping its bytes alive.
    void merge(std::unique_ptr<TensorFile> shard);

private:
    std::unique_ptr<MappedFile> file_;
    std::vector<std::unique_ptr<TensorFile>> shards_; // merged shards, which own their mapped bytes
    std::string format_;
    FileInfo info_;
    std::vector<TensorView> tensors_;
    std::unordered_map<std::string, size_t> index_;
    std::deque<std::vector<uint8_t>> owned_;
};

// Opens a model file of any supported format, detected from its first bytes.
// Throws Error: RWKVRT_ERR_IO, RWKVRT_ERR_FORMAT (truncated, malformed, unknown bytes),
// RWKVRT_ERR_UNSUPPORTED (a known format this library cannot read).
std::unique_ptr<TensorFile> open_tensor_file(const std::string &path, bool use_mmap);

// The readers, one per format (formats/<name>.cpp). Each validates every offset and size against
// the file and throws Error(RWKVRT_ERR_FORMAT) naming what is wrong.
std::unique_ptr<TensorFile> read_pth(std::unique_ptr<MappedFile> file);
std::unique_ptr<TensorFile> read_rwkvcpp_bin(std::unique_ptr<MappedFile> file);
std::unique_ptr<TensorFile> read_safetensors(std::unique_ptr<MappedFile> file);
std::unique_ptr<TensorFile> read_gguf(std::unique_ptr<MappedFile> file);

// Safetensors layouts other than the official names (formats/hf_layouts.cpp), recognized by their
// tensor names and shapes and mapped onto the official ones in place: the HF/fla RWKV-7 layout
// ("model.layers.N.attn.…") and web-rwkv's .st files (f16, v6 names time_mix_*/time_first, LoRA
// matrices transposed). Anything else is left as it is.
void map_safetensors_layout(TensorFile &file);
// A Hugging Face model folder: config.json and model.safetensors or model-0000i-of-0000n.safetensors
// shards (with their index), read as one file.
std::unique_ptr<TensorFile> read_hf_folder(const std::string &dir, bool use_mmap);

} // namespace rwkvrt
