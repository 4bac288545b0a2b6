// The block types of 32 elements as the int8 kernels read them, shared by dot_int8.cpp (one row at a
// time) and gemm_int8.cpp (a few rows in place): where their fields sit, and their 32 codes in one
// AVX2 vector. Include only from files compiled for x86-64 with <immintrin.h>.
#pragma once

#include <cstdint>
#include <immintrin.h>

#include "core/dtype.h"

namespace rwkvrt::int8_blocks {

// Q8_0's kernels multiply the signed quants themselves; the others' codes are unsigned, element =
// d·(u − offset), or d·u + m for the affine types (m at byte 2). Codes start at byte kCodes, and 5-bit
// types keep their fifth bits in the 32-bit word at kHigh.
template <DType kT, size_t kB, size_t kC, int kO, bool kA>
struct Layout {
    static constexpr DType kType = kT;
    static constexpr size_t kBytes = kB, kCodes = kC;
    static constexpr int kOffset = kO;
    static constexpr bool kAffine = kA;
};
template <class Base, size_t kH>
struct WithHighBits : Base {
    static constexpr size_t kHigh = kH;
};
using Q8_0 = Layout<DType::Q8_0, 34, 2, 0, false>;
using Q4_0 = Layout<DType::Q4_0, 18, 2, 8, false>;
using Q4_1 = Layout<DType::Q4_1, 20, 4, 0, true>;
using Q5_0 = WithHighBits<Layout<DType::Q5_0, 22, 6, 16, false>, 2>;
using Q5_1 = WithHighBits<Layout<DType::Q5_1, 24, 8, 0, true>, 4>;

// Eight fp16 values `stride` bytes apart from p, as fp32: inserted one by one (a gather took a third of
// a few-row kernel's time; stored one by one and loaded as a vector, they waited on store forwarding).
// (The lane of _mm_insert_epi16 must be a constant, hence no loop.)
__attribute__((target("avx2,f16c"))) inline __m256 f16_x8(const uint8_t *p, size_t stride) {
    __m128i halves = _mm_cvtsi32_si128(load_u16(p));
    halves = _mm_insert_epi16(halves, load_u16(p + stride), 1);
    halves = _mm_insert_epi16(halves, load_u16(p + 2 * stride), 2);
    halves = _mm_insert_epi16(halves, load_u16(p + 3 * stride), 3);
    halves = _mm_insert_epi16(halves, load_u16(p + 4 * stride), 4);
    halves = _mm_insert_epi16(halves, load_u16(p + 5 * stride), 5);
    halves = _mm_insert_epi16(halves, load_u16(p + 6 * stride), 6);
    halves = _mm_insert_epi16(halves, load_u16(p + 7 * stride), 7);
    return _mm256_cvtph_ps(halves);
}

// The 32 codes of a 4- or 5-bit block in element order: low nibbles, then high ones, and for 5-bit
// types the fifth bit j of qh on element j (each byte picks its qh byte, then tests its own bit).
template <class Block>
__attribute__((target("avx2"))) inline __m256i codes_avx2(const uint8_t *block) {
    const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i *>(block + Block::kCodes));
    __m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(15));
    if constexpr (requires { Block::kHigh; }) {
        const __m256i byte_of_bit = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2,
                                                     2, 3, 3, 3, 3, 3, 3, 3, 3);
        const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
        const __m256i qh = _mm256_shuffle_epi8(_mm256_set1_epi32(int(load_u32(block + Block::kHigh))), byte_of_bit);
        w = _mm256_or_si256(w, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit), _mm256_set1_epi8(16)));
    }
    return w;
}

} // namespace rwkvrt::int8_blocks
