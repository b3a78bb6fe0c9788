// Vector kernels with run-time dispatch between an AVX2/FMA/F16C body and a portable body.
// The portable bodies are the reference semantics; the AVX2 ones must agree to float32 rounding.
#include "simd.h"
#include <math.h>
#include <string.h>

static int sb_forced_portable = 0;

int sb_simd_level(void) {
#if SB_X86
    static int level = -1;  // benign race: every thread computes the same value
    if (level < 0) {
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return sb_forced_portable ? 0 : level;
#else
    return 0;
#endif
}

void sb_force_portable(int on) { sb_forced_portable = on; }

#if defined(__GLIBC__)
#include <malloc.h>
void sb_tune_allocator(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}
#else
void sb_tune_allocator(void) {}
#endif

// ---------------------------------------------------------------------------------------------
// Portable bodies.

static float dot_portable(const float *a, const float *b, int64_t n) {
    // Four accumulators: same association pattern as a short vector, and lets the compiler pipeline.
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i]; s1 += a[i + 1] * b[i + 1]; s2 += a[i + 2] * b[i + 2]; s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}


static float sum_portable(const float *x, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}

static void exp_portable(float *out, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = expf(x[i]);
}

// ---------------------------------------------------------------------------------------------
// AVX2 bodies.
#if SB_X86

// exp(x) for 8 lanes: Cephes-style range reduction x = n ln2 + r and a degree-6 polynomial
// (relative error about 2 ulp over the float range).
SB_AVX2 static inline __m256 exp256(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-88.3762626647949f);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i n = _mm256_cvttps_epi32(fx);
    n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(n));
}

SB_AVX2 static float dot_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = sb_hsum8(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

SB_AVX2 static float sum_avx2(const float *x, int64_t n) {
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) s = _mm256_add_ps(s, _mm256_loadu_ps(x + i));
    float r = sb_hsum8(s);
    for (; i < n; i++) r += x[i];
    return r;
}

SB_AVX2 static void exp_avx2(float *out, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp256(_mm256_loadu_ps(x + i)));
    for (; i < n; i++) out[i] = expf(x[i]);
}

SB_AVX2 static void silu_mul_avx2(float *out, const float *g, const float *u, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        if (u) s = _mm256_mul_ps(s, _mm256_loadu_ps(u + i));
        _mm256_storeu_ps(out + i, s);
    }
    for (; i < n; i++) {
        float s = g[i] / (1.0f + expf(-g[i]));
        out[i] = u ? s * u[i] : s;
    }
}

SB_AVX2 static void swiglu_backward_avx2(float *dg, float *du, const float *g, const float *u, const float *dy, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i), up = _mm256_loadu_ps(u + i), d = _mm256_loadu_ps(dy + i);
        __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        __m256 slope = _mm256_mul_ps(s, _mm256_fmadd_ps(x, _mm256_sub_ps(one, s), one));
        _mm256_storeu_ps(dg + i, _mm256_mul_ps(_mm256_mul_ps(d, up), slope));
        _mm256_storeu_ps(du + i, _mm256_mul_ps(d, _mm256_mul_ps(x, s)));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        dg[i] = dy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = dy[i] * g[i] * s;
    }
}

SB_AVX2 static void gelu_tanh_avx2(float *out, const float *x, int64_t n) {
    const __m256 k0 = _mm256_set1_ps(0.7978845608028654f), k1 = _mm256_set1_ps(0.044715f);
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), half = _mm256_set1_ps(0.5f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 u = _mm256_mul_ps(k0, _mm256_fmadd_ps(_mm256_mul_ps(k1, v), _mm256_mul_ps(v, v), v));
        // tanh(u) = 1 - 2 / (exp(2u) + 1), exact at both saturations.
        __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(exp256(_mm256_mul_ps(two, u)), one)));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
    }
    for (; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

SB_AVX2 static void f16_to_f32_avx2(float *out, const uint16_t *in, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(in + i))));
    for (; i < n; i++) out[i] = _cvtsh_ss(in[i]);
}
#endif

// ---------------------------------------------------------------------------------------------
// Dispatch helpers. Elementwise loops without reductions are written once and compiled twice:
// the compiler vectorises the AVX2 clone with 256-bit FMA code.
#if SB_X86
#define SB_TWICE(linkage, ret, name, params, args, ...)   \
    SB_AVX2 static ret name##_v3 params __VA_ARGS__       \
    static ret name##_v1 params __VA_ARGS__               \
    linkage ret name params { return sb_simd_level() ? name##_v3 args : name##_v1 args; }
#define SB_PICK(avx, portable) (sb_simd_level() ? (avx) : (portable))
#else
#define SB_TWICE(linkage, ret, name, params, args, ...) linkage ret name params __VA_ARGS__
#define SB_PICK(avx, portable) (portable)
#endif

float sb_dot(const float *a, const float *b, int64_t n) { return SB_PICK(dot_avx2(a, b, n), dot_portable(a, b, n)); }
static float sb_sumsq(const float *x, int64_t n) { return sb_dot(x, x, n); }
static float sb_sum(const float *x, int64_t n) { return SB_PICK(sum_avx2(x, n), sum_portable(x, n)); }
void sb_exp(float *out, const float *x, int64_t n) {
#if SB_X86
    if (sb_simd_level()) { exp_avx2(out, x, n); return; }
#endif
    exp_portable(out, x, n);
}

SB_TWICE(, void, sb_axpy, (float *y, float a, const float *x, int64_t n), (y, a, x, n), {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
})

SB_TWICE(, void, sb_add, (float *out, const float *a, const float *b, int64_t n), (out, a, b, n), {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
})

SB_TWICE(, void, sb_scale, (float *x, float a, int64_t n), (x, a, n), {
    for (int64_t i = 0; i < n; i++) x[i] *= a;
})

SB_TWICE(static, void, scale_mul, (float *out, const float *x, float s, const float *w, int64_t n), (out, x, s, w, n), {
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] * s) * w[i];
})

SB_TWICE(static, void, layernorm_apply, (float *out, const float *x, float mean, float rstd, const float *w, const float *b, int64_t n),
         (out, x, mean, rstd, w, b, n), {
    for (int64_t i = 0; i < n; i++) out[i] = (x[i] - mean) * rstd * w[i] + b[i];
})

SB_TWICE(static, float, centered_sumsq, (const float *x, float mean, int64_t n), (x, mean, n), {
    float s = 0;
    for (int64_t i = 0; i < n; i++) { float d = x[i] - mean; s += d * d; }
    return s;
})

void sb_rmsnorm(float *out, const float *x, const float *w, int64_t rows, int64_t n, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float ms = sb_sumsq(xr, n) / (float)n;
        // torch.rsqrt in float32; 1/sqrtf is correctly rounded where rsqrt approximations are not.
        float rstd = 1.0f / sqrtf(ms + eps);
        scale_mul(out + r * n, xr, rstd, w, n);
    }
}

void sb_layernorm(float *out, const float *x, const float *w, const float *b, int64_t rows, int64_t n, float eps) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float mean = sb_sum(xr, n) / (float)n;
        float var = centered_sumsq(xr, mean, n) / (float)n;
        layernorm_apply(out + r * n, xr, mean, 1.0f / sqrtf(var + eps), w, b, n);
    }
}

void sb_silu(float *out, const float *x, int64_t n) { sb_silu_mul(out, x, 0, n); }

void sb_silu_mul(float *out, const float *gate, const float *up, int64_t n) {
#if SB_X86
    if (sb_simd_level()) { silu_mul_avx2(out, gate, up, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) {
        float s = gate[i] / (1.0f + expf(-gate[i]));
        out[i] = up ? s * up[i] : s;
    }
}

void sb_swiglu_backward(float *dg, float *du, const float *g, const float *u, const float *dy, int64_t n) {
#if SB_X86
    if (sb_simd_level()) { swiglu_backward_avx2(dg, du, g, u, dy, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-g[i]));
        dg[i] = dy[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
        du[i] = dy[i] * g[i] * s;
    }
}

void sb_gelu_tanh(float *out, const float *x, int64_t n) {
#if SB_X86
    if (sb_simd_level()) { gelu_tanh_avx2(out, x, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        out[i] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

SB_TWICE(static, float, row_max, (const float *x, int64_t n), (x, n), {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
})

SB_TWICE(static, void, shift_scale, (float *x, float scale, float shift, int64_t n), (x, scale, shift, n), {
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * scale - shift;
})

void sb_softmax_causal(float *scores, int64_t T, int64_t S, int64_t ld, int64_t offset, float scale) {
    for (int64_t i = 0; i < T; i++) {
        float *row = scores + i * ld;
        int64_t valid = offset + i + 1;
        if (valid > S) valid = S;
        if (valid <= 0) { memset(row, 0, (size_t)S * sizeof(float)); continue; }
        // softmax(scale * x) = exp(scale * x - scale * max) / sum; scale > 0 keeps the max in place.
        float m = row_max(row, valid);
        shift_scale(row, scale, scale * m, valid);
        sb_exp(row, row, valid);
        float s = sb_sum(row, valid);
        sb_scale(row, 1.0f / s, valid);
        if (valid < S) memset(row + valid, 0, (size_t)(S - valid) * sizeof(float));
    }
}

SB_TWICE(static, void, rope_halves, (float *x, int64_t half, const float *c, const float *s), (x, half, c, s), {
    float *x2 = x + half;
    for (int64_t i = 0; i < half; i++) {
        float a = x[i], b = x2[i];
        x[i] = a * c[i] - b * s[i];
        x2[i] = b * c[i] + a * s[i];
    }
})

void sb_rope(float *x, int64_t nHeads, int64_t headDim, const float *cos, const float *sin, int neox) {
    int64_t half = headDim / 2;
    for (int64_t h = 0; h < nHeads; h++) {
        float *v = x + h * headDim;
        if (neox) { rope_halves(v, half, cos, sin); continue; }
        for (int64_t i = 0; i < half; i++) {
            float a = v[2 * i], b = v[2 * i + 1];
            v[2 * i] = a * cos[i] - b * sin[i];
            v[2 * i + 1] = b * cos[i] + a * sin[i];
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Half precision.

void sb_f16_to_f32(float *out, const uint16_t *in, int64_t n) {
#if SB_X86
    if (sb_simd_level()) { f16_to_f32_avx2(out, in, n); return; }
#endif
    for (int64_t i = 0; i < n; i++) out[i] = sb_half_to_float(in[i]);
}

void sb_f32_to_f16(uint16_t *out, const float *in, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = sb_float_to_half(in[i]);
}

SB_TWICE(, void, sb_bf16_to_f32, (float *out, const uint16_t *in, int64_t n), (out, in, n), {
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)in[i] << 16;
        memcpy(out + i, &bits, 4);
    }
})

// bfloat16 is the top half of a float32. Rounding to nearest, ties to even, is adding 0x7fff plus
// the lowest kept bit before truncating (what torch's `.to(torch.bfloat16)` does); a NaN keeps a
// quiet-NaN payload so that the carry cannot turn it into infinity.
SB_TWICE(, void, sb_f32_to_bf16, (uint16_t *out, const float *in, int64_t n), (out, in, n), {
    for (int64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, in + i, 4);
        uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
        out[i] = (bits & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((bits >> 16) | 0x40u) : (uint16_t)(rounded >> 16);
    }
})

// ---------------------------------------------------------------------------------------------
// ggml quantised blocks (layouts from ggml-common.h; byte offsets documented in GGUFQuant.swift).

SB_TWICE(, void, sb_dequant_q4_0, (float *out, const uint8_t *blocks, int64_t nBlocks), (out, blocks, nBlocks), {
    for (int64_t b = 0; b < nBlocks; b++) {
        const uint8_t *blk = blocks + b * 18;
        float d = sb_rd_half(blk);
        const uint8_t *qs = blk + 2;
        float *y = out + b * 32;
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((int)(qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((int)(qs[j] >> 4) - 8) * d;
        }
    }
})

SB_TWICE(, void, sb_dequant_q4_1, (float *out, const uint8_t *blocks, int64_t nBlocks), (out, blocks, nBlocks), {
    for (int64_t b = 0; b < nBlocks; b++) {
        const uint8_t *blk = blocks + b * 20;
        float d = sb_rd_half(blk), m = sb_rd_half(blk + 2);
        const uint8_t *qs = blk + 4;
        float *y = out + b * 32;
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(qs[j] >> 4) * d + m;
        }
    }
})

SB_TWICE(, void, sb_dequant_q8_0, (float *out, const uint8_t *blocks, int64_t nBlocks), (out, blocks, nBlocks), {
    for (int64_t b = 0; b < nBlocks; b++) {
        const uint8_t *blk = blocks + b * 34;
        float d = sb_rd_half(blk);
        const int8_t *qs = (const int8_t *)(blk + 2);
        float *y = out + b * 32;
        for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
    }
})

// Six-bit scale and min of sub-block j from the 12 packed bytes of a Q4_K block.
static inline void q4k_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) { *sc = q[j] & 63; *m = q[j + 4] & 63; }
    else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void sb_dequant_q4_k(float *out, const uint8_t *blocks, int64_t nBlocks) {
    for (int64_t b = 0; b < nBlocks; b++) {
        const uint8_t *blk = blocks + b * 144;
        float d = sb_rd_half(blk), dmin = sb_rd_half(blk + 2);
        const uint8_t *scales = blk + 4, *q = blk + 16;
        float *y = out + b * 256;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            q4k_scale_min(is, scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            q4k_scale_min(is + 1, scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void sb_dequant_q6_k(float *out, const uint8_t *blocks, int64_t nBlocks) {
    for (int64_t b = 0; b < nBlocks; b++) {
        const uint8_t *blk = blocks + b * 210;
        const uint8_t *ql = blk, *qh = blk + 128;
        const int8_t *sc = (const int8_t *)(blk + 192);
        float d = sb_rd_half(blk + 208);
        float *y = out + b * 256;
        for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}
