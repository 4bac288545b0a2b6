// Software prefetch for the AVX2 kernels that stream a conversation's weights (mat-vecs). On Zen 2
// the hardware prefetchers kept too few lines in flight for them: the integer kernels spend a few
// instructions per byte, so the out-of-order window reaches less far ahead than a plain read loop's,
// and Q8_0 generation read at 59–71% of the bandwidth (docs/PERFORMANCE.md, "Zen 2: prefetching the
// weights"). The interleaved group kernels also serve steps of 2–4 rows (a few conversations decoding
// together), which it sped up too: Q4_0 and Q4_K 0–13% on Zen 2.
// The AVX-512 kernels do not prefetch: no AVX-512 machine was at hand to measure it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rwkvrt {

// Distances ahead of the bytes a kernel is reading, measured on Zen 2 (2 threads, 0.1B–1.5B):
// dot_int8's row kernels (Q8_0, 272 bytes an iteration) gain most at 1 KiB; the interleaved groups
// (Q4_0, K-quants) and the f16/bf16 lanes at 512 bytes, and lose 5–20% of that gain's speed at 1–2 KiB.
constexpr size_t kRowsPrefetchDistance = 1024;
constexpr size_t kGroupsPrefetchDistance = 512;

// Asks for the lines of [p + distance, p + distance + bytes) in L1 (rounded up to whole lines): called
// once per `bytes` a kernel reads from p, it keeps `distance` bytes of its stream in flight. Always
// inlined: GCC 12 dropped the calls from Highway's per-target kernels otherwise (a function with no
// effect but a prefetch reads to it as one without effects).
[[gnu::always_inline]] inline void prefetch_ahead(const uint8_t *p, size_t distance, size_t bytes) {
    for (size_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + distance + o, 0, 3);
}

} // namespace rwkvrt
