// The one pass over every tensor's bytes at load. Each piece of a tensor, while it is in cache, is
// read into memory (unless the file stays mapped), checked for NaN and infinity, hashed for the
// model's fingerprint, and written in the lanes layout when the model takes the matrix so. Reading the
// file whole and then checking, hashing and rewriting it crossed memory four times, and loading a bf16
// .pth took 1.5–1.8× reading the file (docs/PERFORMANCE.md).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_set>

#include "formats/tensor_file.h"
#include "kernels/matrix.h"

namespace rwkvrt {

class ThreadPool;

struct LoadPlan {
    // Matrices to write in the lanes layout, at the addresses where their bytes lie once read
    // (LoadConfig::lanes_at_load).
    std::span<const Matrix> lanes;
    // Tensors the model holds a copy of (LoadConfig::copied): checked and hashed where they are, never
    // read into memory.
    const std::unordered_set<std::string> *copied = nullptr;
};

// Runs the pass on the pool's threads, a tensor per task, and leaves `file` pointing at its tensors in
// memory (TensorFile::finish_reading). Returns fingerprint_of(file).
// Throws Error: RWKVRT_ERR_IO (a read failed), RWKVRT_ERR_CORRUPT (a NaN or infinite weight, naming the
// first such tensor in the file).
uint64_t load_tensors(TensorFile &file, const LoadPlan &plan, ThreadPool &pool);

// What ties a state to its model's weights (state files, docs/STATE_FORMAT.md): XXH3-64 over, in the
// order of the tensors' names, each name with its terminating zero, its type (one byte), its shape
// (int64 each) and the XXH3-64 of its bytes as stored. A hash per tensor lets the load pass hash the
// tensors in any order, on any thread.
uint64_t fingerprint_of(const TensorFile &file);
// State format version 1's fingerprint: one XXH3-64 over the same fields, with each tensor's bytes in
// place of their hash. It can only be taken in name order, once the whole file is in memory.
uint64_t fingerprint_v1_of(const TensorFile &file);

} // namespace rwkvrt
