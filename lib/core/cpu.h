// The instruction sets the kernels may use, and the cache the forward passes plan around: what this CPU
// runs, capped by the environment variable
// RWKVRT_MAX_CPU_ISA (as oneDNN's ONEDNN_MAX_CPU_ISA): "avx2" runs an AVX-512 machine as an AVX2-only
// one would, "sse4" and "scalar" lower still. For comparing levels side by side and for testing the
// lower levels' paths end to end; unset or empty, every level the CPU has is used. The cap also
// disables Highway's targets above it, once, when the library is loaded.
#pragma once

#include <cstddef>
#include <string>

namespace rwkvrt {

struct CpuFeatures {
    bool avx2_fma;     // AVX2 with FMA and F16C: the int8 kernels' lower level
    bool avx_vnni;     // AVX2 with AVX-VNNI (VEX vpdpbusd): the int8 kernels' middle level
    bool avx512_vnni;  // AVX-512 F/BW/VL with VNNI: the int8 kernels' upper level
    bool avx512_bf16;  // AVX-512 F/BW with BF16: bf16 products (kernels/gemm_bf16.h)
    size_t last_level_cache_bytes; // the largest cache the OS reports (L3, else L2); 32 MiB if none
    std::string error; // why RWKVRT_MAX_CPU_ISA was not understood (then nothing is capped), or empty
    std::string summary; // one line for rwkvrt_system_info(): the levels the kernels run at
};

const CpuFeatures &cpu_features();

} // namespace rwkvrt
