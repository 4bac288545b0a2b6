// Temporary until the v4–v6 forward passes land (issue 3).
#include "arch/arch.h"
#include "core/error.h"
#include "formats/tensor_file.h"

namespace rwkvrt {
std::unique_ptr<ArchModel> build_rwkv4(const TensorFile &f, const LoadConfig &) { fail(RWKVRT_ERR_UNSUPPORTED, "'", f.path(), "': rwkv4 is not implemented yet"); }
std::unique_ptr<ArchModel> build_rwkv5(const TensorFile &f, const LoadConfig &, Arch a) { fail(RWKVRT_ERR_UNSUPPORTED, "'", f.path(), "': ", arch_name(a), " is not implemented yet"); }
std::unique_ptr<ArchModel> build_rwkv6(const TensorFile &f, const LoadConfig &) { fail(RWKVRT_ERR_UNSUPPORTED, "'", f.path(), "': rwkv6 is not implemented yet"); }
} // namespace rwkvrt
