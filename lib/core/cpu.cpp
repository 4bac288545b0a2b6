// Compiled once per SIMD target (Highway's foreach_target) for DispatchedTarget; the rest once.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "core/cpu.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace rwkvrt {
namespace HWY_NAMESPACE {

// The target that HWY_DYNAMIC_DISPATCH picks, as the kernels see it.
int64_t DispatchedTarget() { return HWY_TARGET; }

} // namespace HWY_NAMESPACE
} // namespace rwkvrt
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cstdio>
#include <string>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "core/cpu.h"

namespace rwkvrt {

HWY_EXPORT(DispatchedTarget);

namespace {

// Highway's x86 targets above each cap (HWY_AVX3* are the AVX-512 ones).
constexpr int64_t kAboveAvx2 = HWY_AVX3 | HWY_AVX3_DL
#ifdef HWY_AVX3_ZEN4
                                | HWY_AVX3_ZEN4
#endif
#ifdef HWY_AVX3_SPR
                                | HWY_AVX3_SPR
#endif
    ;
constexpr int64_t kAboveSse4 = kAboveAvx2 | HWY_AVX2;
constexpr int64_t kAboveScalar = kAboveSse4 | HWY_SSE4 | HWY_SSSE3;

// Asks the dispatch itself (hwy::SupportedTargets() would reset it to the targets before the cap).
void summarize(CpuFeatures *f, const char *cap) {
    f->summary = std::string("kernels: ") + hwy::TargetName(HWY_DYNAMIC_DISPATCH(DispatchedTarget)()) + " (Highway); int8 products: " +
                 (f->avx512_vnni ? "AVX512-VNNI" : f->avx_vnni ? "AVX-VNNI" : f->avx2_fma ? "AVX2" : "none (fp32)") +
                 "; bf16 products: " + (f->avx512_bf16 ? "AVX512-BF16" : "none (fp32)");
    if (cap && *cap) f->summary += std::string("; RWKVRT_MAX_CPU_ISA=") + cap + (f->error.empty() ? "" : " (not understood)");
}

// What the CPU runs, capped by `cap` (RWKVRT_MAX_CPU_ISA), with Highway's targets above it disabled.
CpuFeatures detect_and_cap(const char *cap) {
    CpuFeatures f{};
#if defined(__x86_64__)
    __builtin_cpu_init();
    f.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0; // AVX-VNNI: CPUID leaf 7, sub-leaf 1, EAX bit 4
    f.avx_vnni = f.avx2_fma && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax >> 4 & 1);
    const bool avx512 = f.avx2_fma && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl");
    f.avx512_vnni = avx512 && __builtin_cpu_supports("avx512vnni");
    f.avx512_bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
#endif
    if (!cap || !*cap || !strcasecmp(cap, "avx512")) return f;
    int64_t disabled = 0;
    if (!strcasecmp(cap, "avx2")) disabled = kAboveAvx2;
    else if (!strcasecmp(cap, "sse4")) disabled = kAboveSse4;
    else if (!strcasecmp(cap, "scalar")) disabled = kAboveScalar;
    else {
        f.error = std::string("RWKVRT_MAX_CPU_ISA='") + cap + "' is not one of avx512, avx2, sse4, scalar";
        return f;
    }
    f.avx_vnni = f.avx512_vnni = f.avx512_bf16 = false;
    if (disabled != kAboveAvx2) f.avx2_fma = false;
    hwy::DisableTargets(disabled);
    return f;
}

// The size of the highest-level cache CPU 0 has, from sysfs: one instance, the cache a core shares with
// its neighbours. glibc's sysconf(_SC_LEVEL3_CACHE_SIZE) adds up a whole AMD socket's (320 MiB on a Zen 4
// EPYC whose cores see 32 MiB each).
size_t last_level_cache_bytes() {
    size_t bytes = 0;
    for (int index = 0;; ++index) {
        const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
        FILE *level_file = std::fopen((dir + "level").c_str(), "r");
        if (!level_file) break;
        int level = 0;
        const bool have_level = std::fscanf(level_file, "%d", &level) == 1;
        std::fclose(level_file);
        FILE *size_file = std::fopen((dir + "size").c_str(), "r");
        if (!size_file) continue;
        unsigned long long size = 0;
        char unit = 0;
        const int fields = std::fscanf(size_file, "%llu%c", &size, &unit);
        std::fclose(size_file);
        if (!have_level || level < 2 || fields < 1) continue;
        size *= unit == 'K' ? 1024ull : unit == 'M' ? 1024ull * 1024 : 1;
        bytes = std::max(bytes, size_t(size));
    }
    return bytes ? bytes : size_t(32) << 20;
}

CpuFeatures detect() {
    const char *cap = std::getenv("RWKVRT_MAX_CPU_ISA");
    CpuFeatures f = detect_and_cap(cap);
    f.last_level_cache_bytes = last_level_cache_bytes();
    summarize(&f, cap);
    return f;
}

} // namespace

const CpuFeatures &cpu_features() {
    static const CpuFeatures features = detect();
    return features;
}

namespace {
// Read when the library is loaded, so that the cap reaches Highway before any kernel is dispatched.
[[maybe_unused]] const bool kCapApplied = (cpu_features(), true);
} // namespace

} // namespace rwkvrt
#endif // HWY_ONCE
