// Internal to CKernels: what the kernel files share — the run-time dispatch attributes, fp16
// conversion, and the pieces of the quantised products (activation rows to int8, chunk sizes).
#ifndef STRAWBERRY_CKERNELS_SIMD_H
#define STRAWBERRY_CKERNELS_SIMD_H
#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define SB_X86 1
#define SB_AVX2 __attribute__((target("avx2,fma,f16c")))
#define SB_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
#else
#define SB_X86 0
#endif

// Half precision, exact in both directions (round to nearest even, like torch's .half()).
static inline float sb_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) bits = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { e++; mant <<= 1; } while (!(mant & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000 | (mant << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t sb_float_to_half(float f) {  // round to nearest even, like torch's .half()
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, absx = x & 0x7fffffff;
    if (absx >= 0x7f800000) return (uint16_t)(sign | 0x7c00 | (absx > 0x7f800000 ? 0x200 : 0));
    if (absx >= 0x477ff000) return (uint16_t)(sign | 0x7c00);  // overflow to inf
    if (absx < 0x38800000) {  // subnormal or zero in half
        if (absx < 0x33000000) return (uint16_t)sign;
        uint32_t e = absx >> 23, m = (absx & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e;  // 113 + 14 - e - 1
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((absx - 0x38000000) >> 13);
    uint32_t rem = absx & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

#if SB_X86
/// The sum of a vector's eight lanes: ((v0+v4) + (v2+v6)) + ((v1+v5) + (v3+v7)).
SB_AVX2 static inline float sb_hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/// The fp16 value stored little-endian at p (block scales in ggml formats).
static inline float sb_rd_half(const uint8_t *p) { return sb_half_to_float((uint16_t)(p[0] | (p[1] << 8))); }

/// M activation rows quantised per 32 values (sb_quantize_q8): q [M, cols], d and s [M, cols / 32].
typedef struct { int8_t *q; float *d, *s; } sb_q8_rows;
/// 0, or -2 when the scratch cannot be allocated (nothing to free then).
int sb_q8_rows_make(sb_q8_rows *a, const float *x, int64_t M, int64_t cols, int64_t ldx);
void sb_q8_rows_free(sb_q8_rows *a);

/// Units (rows, groups of rows) per pool chunk for a product over `units` units of `unitBytes`
/// weight bytes each: about four chunks per thread, each at least 16 KiB of weights.
int64_t sb_units_per_chunk(int64_t units, int64_t unitBytes);

#endif
