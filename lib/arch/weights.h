// Strict access to a checkpoint's tensors while a version's model is built: every tensor is looked
// up by name with its expected shape, converted to what the forward pass keeps, and marked as used;
// finish() then refuses any tensor nobody asked for, naming it.
#pragma once

#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "arch/arch.h"
#include "formats/tensor_file.h"
#include "kernels/matrix.h"

namespace rwkvrt {

class WeightLoader {
public:
    WeightLoader(const TensorFile &file, const LoadConfig &config, Arch arch)
        : file_(file), config_(config), arch_(arch) {}

    bool has(const std::string &name) const { return file_.find(name) != nullptr; }
    // The tensor, which must exist (else RWKVRT_ERR_FORMAT naming it and the architecture).
    const TensorView &get(const std::string &name) const;

    // A parameter vector as fp32. Its shape must equal `shape` once dimensions of size 1 are dropped
    // from both (files differ in how they squeeze, e.g. (1,1,C) vs (C)).
    std::vector<float> vec(const std::string &name, std::initializer_list<int64_t> shape);
    // An nn.Linear weight stored (out, in); converted to the load option's weight type if one is set.
    Matrix linear(const std::string &name, int64_t out, int64_t in);
    // A low-rank matrix stored (in, out) and applied x·W; returned transposed (out, in) so that
    // linear() applies it: f16 and bf16 as they are, other types as fp32. Never rounded to a lower
    // precision than the file's, whatever the load's weight type.
    Matrix lora(const std::string &name, int64_t in, int64_t out);
    // A matrix kept exactly as stored (the embedding table: only rows are read).
    Matrix table(const std::string &name, int64_t rows, int64_t cols);

    // Adds a matrix built outside linear()/lora() to the work per token.
    void count(const Matrix &m);
    // What one token costs with the matrices taken so far (see WorkPerToken).
    const WorkPerToken &work() const { return work_; }

    // Marks optional tensors the forward pass does not use as accepted.
    void accept_unused(const std::string &name) { used_.insert(name); }
    // Throws RWKVRT_ERR_UNSUPPORTED naming the first tensor no one used.
    void finish() const;

    const std::string &path() const { return file_.path(); }

private:
    const TensorView &take(const std::string &name);
    Matrix in_place(const std::string &name, int64_t rows, int64_t cols);
    Matrix half_lora(const TensorView &t, int64_t in, int64_t out);
    void check_2d(const TensorView &t, int64_t rows, int64_t cols) const;

    const TensorFile &file_;
    const LoadConfig &config_;
    Arch arch_;
    std::set<std::string> used_;
    WorkPerToken work_;
};

// Hyper-parameter inference shared by every version: n_vocab, n_embd, n_layer, dim_att, dim_ffn.
HParams common_hparams(const TensorFile &file, Arch arch);

} // namespace rwkvrt
