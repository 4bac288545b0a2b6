// GGUF (llama.cpp's model format) constants shared by the reader (gguf.cpp) and the writer
// (gguf_writer.cpp): the file's value types, ggml's tensor type ids, and the name mapping between
// llama.cpp's tensors and the official .pth ones (spec §7.3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "formats/mapped_file.h"

namespace rwkvrt {
class TensorFile;
}

namespace rwkvrt::gguf {

constexpr uint32_t kMagic = 0x46554747; // "GGUF" read as a little-endian uint32
constexpr uint32_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4; // GGML_MAX_DIMS

// Metadata value types.
enum ValueType : uint32_t {
    kValU8 = 0, kValI8, kValU16, kValI16, kValU32, kValI32, kValF32, kValBool, kValString, kValArray, kValU64,
    kValI64, kValF64, kValueTypes
};

// ggml tensor types this library knows (ggml.h numbering); 40 is the first id ggml has not assigned.
enum GgmlType : uint32_t {
    kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9, kQ2_K = 10,
    kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kBF16 = 30, kGgmlTypes = 40
};

// The storage type rwkvrt keeps a ggml type in, if it has kernels for it.
std::optional<DType> dtype_of(uint32_t ggml_type);
uint32_t ggml_type_of(DType dtype);
// ggml's name of a type id ("q4_K", "iq2_xxs", …), or "type <n>".
std::string ggml_type_name(uint32_t ggml_type);

// A GGUF file as stored, before any mapping: for comparing layouts (tests, tools).
struct RawTensor {
    std::string name;
    std::vector<uint64_t> ne; // innermost first
    uint32_t type;
    const uint8_t *data;
    size_t nbytes;
};
struct Layout {
    std::vector<std::pair<std::string, uint32_t>> keys; // metadata keys and their value types, in file order
    std::vector<RawTensor> tensors;                      // in file order
};
// Throws Error(RWKVRT_ERR_FORMAT / RWKVRT_ERR_UNSUPPORTED) like the reader.
Layout read_layout(const MappedFile &file);

// What the writer needs beyond the tensors.
struct WriteOptions {
    std::string arch;       // "rwkv6" or "rwkv7"
    int64_t head_size = 0;
    DType type = DType::F32; // the large matrices' type (fallbacks as llama-quantize's when rows do not fit)
    std::vector<std::string> vocab; // token id → bytes, embedded as llama.cpp's "rwkv" vocabulary; empty: none
    std::string name;               // general.name
};

// Writes src (tensors in the official layout, as every reader gives them) in llama.cpp's GGUF layout
// (spec §7.3, as its converter and llama-quantize write it): names, fused and transposed tensors,
// metadata, the vocabulary. Small tensors (norms, mixes, decay, LoRA, k_k/k_a/r_k) stay f32. The file
// is written beside path and renamed over it when complete.
// Throws Error: RWKVRT_ERR_IO, RWKVRT_ERR_UNSUPPORTED (an architecture or type GGUF cannot hold).
void write_gguf(const TensorFile &src, const std::string &path, const WriteOptions &options);

} // namespace rwkvrt::gguf
