// Linear layers computed straight from ggml's quantised blocks: y[m, r] = Σ_k W[r, k] · x[m, k].
//
// Two ways, as llama.cpp does and as issue 15 asks to measure:
//  * integer dot products (Q4_0, Q4_1, Q8_0): each 32-value block of an activation row is quantised
//    to int8 with a float scale d_x (and s_x = d_x · Σq_x), then per weight block
//        Q8_0:  d_w d_x Σ q_w q_x
//        Q4_0:  d_w d_x Σ n_w q_x − 8 d_w s_x             (n_w the 4-bit value, w = (n_w − 8) d_w)
//        Q4_1:  d_w d_x Σ n_w q_x + m_w s_x               (w = n_w d_w + m_w)
//    The integer sums are exact; the weights never become floats.
//  * dequantise on the fly: each weight row is expanded to float32 in a row buffer (it stays in L1)
//    and dotted with the float activations. Exact up to float rounding; the K-quants use this.
// Weight rows go out in chunks on the thread pool; an activation group of up to four rows shares
// each unpacked weight block, so batched decode reads the weights once per step.
#include "simd.h"
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <stdatomic.h>

int64_t sb_quant_block_elems(int type) { return type == SB_Q4_K || type == SB_Q6_K ? 256 : type == SB_BF16 ? 1 : 32; }
int64_t sb_quant_block_bytes(int type) {
    switch (type) {
    case SB_BF16: return 2;
    case SB_Q4_0: return 18;
    case SB_Q4_1: return 20;
    case SB_Q8_0: return 34;
    case SB_Q4_K: return 144;
    case SB_Q6_K: return 210;
    default: return 0;
    }
}

void sb_dequant_row(int type, float *out, const uint8_t *row, int64_t cols) {
    int64_t nb = cols / sb_quant_block_elems(type);
    switch (type) {
    case SB_Q4_0: sb_dequant_q4_0(out, row, nb); break;
    case SB_Q4_1: sb_dequant_q4_1(out, row, nb); break;
    case SB_Q8_0: sb_dequant_q8_0(out, row, nb); break;
    case SB_Q4_K: sb_dequant_q4_k(out, row, nb); break;
    case SB_Q6_K: sb_dequant_q6_k(out, row, nb); break;
    case SB_BF16: sb_bf16_to_f32(out, (const uint16_t *)row, cols); break;
    default: memset(out, 0, (size_t)cols * sizeof(float));
    }
}

// Round half to even, the same in both bodies (llama.cpp's AVX2 quantiser rounds this way too).
#define SB_QUANTIZE_BODY                                                                  \
    for (int64_t b = 0; b < n / 32; b++) {                                                \
        const float *v = x + b * 32;                                                      \
        float amax = 0;                                                                   \
        for (int i = 0; i < 32; i++) { float a = fabsf(v[i]); amax = a > amax ? a : amax; } \
        if (!(amax >= FLT_MIN)) amax = 0; /* subnormal or NaN: the block quantises to zero */ \
        float dd = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;                   \
        int sum = 0;                                                                      \
        for (int i = 0; i < 32; i++) {                                                    \
            int qi = (int)nearbyintf(v[i] * id);                                          \
            q[b * 32 + i] = (int8_t)qi;                                                   \
            sum += qi;                                                                    \
        }                                                                                 \
        d[b] = dd;                                                                        \
        s[b] = dd * (float)sum;                                                           \
    }

#if SB_X86
SB_AVX2 static void quantize_avx2(int8_t *q, float *d, float *s, const float *x, int64_t n) { SB_QUANTIZE_BODY }
#endif
static void quantize_portable(int8_t *q, float *d, float *s, const float *x, int64_t n) { SB_QUANTIZE_BODY }

void sb_quantize_q8(int8_t *q, float *d, float *s, const float *x, int64_t n) {
#if SB_X86
    if (sb_simd_level()) { quantize_avx2(q, d, s, x, n); return; }
#endif
    quantize_portable(q, d, s, x, n);
}

int sb_q8_rows_make(sb_q8_rows *a, const float *x, int64_t M, int64_t cols, int64_t ldx) {
    int64_t nb = cols / 32;
    a->q = malloc((size_t)(M * cols));
    a->d = malloc((size_t)(M * nb) * sizeof(float) * 2);
    if (!a->q || !a->d) { free(a->q); free(a->d); return -2; }
    a->s = a->d + M * nb;
    for (int64_t m = 0; m < M; m++) sb_quantize_q8(a->q + m * cols, a->d + m * nb, a->s + m * nb, x + m * ldx, cols);
    return 0;
}

void sb_q8_rows_free(sb_q8_rows *a) {
    free(a->q);
    free(a->d);
}

int64_t sb_units_per_chunk(int64_t units, int64_t unitBytes) {
    int64_t chunks = (int64_t)sb_threads() * 4, least = (16384 + unitBytes - 1) / unitBytes;
    int64_t per = (units + chunks - 1) / chunks;
    return per < least ? least : per;
}

// --- integer dot products: one weight row against up to four quantised activation rows -------

typedef struct {
    const int8_t *q[4];
    const float *d[4], *s[4];
    float out[4];
    int m;
} act_group;

static void dot_row_portable(int type, const uint8_t *row, int64_t nb, act_group *g) {
    const int64_t bs = sb_quant_block_bytes(type);
    double acc[4] = {0, 0, 0, 0};
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + b * bs;
        for (int m = 0; m < g->m; m++) {
            const int8_t *xq = g->q[m] + b * 32;
            float dx = g->d[m][b], sx = g->s[m][b];
            int isum = 0;
            if (type == SB_Q8_0) {
                const int8_t *w = (const int8_t *)(blk + 2);
                for (int i = 0; i < 32; i++) isum += w[i] * xq[i];
                acc[m] += sb_rd_half(blk) * dx * (float)isum;
            } else {
                const uint8_t *qs = blk + (type == SB_Q4_1 ? 4 : 2);
                for (int i = 0; i < 16; i++) isum += (qs[i] & 15) * xq[i] + (qs[i] >> 4) * xq[i + 16];
                float dw = sb_rd_half(blk);
                acc[m] += dw * dx * (float)isum + (type == SB_Q4_1 ? sb_rd_half(blk + 2) : -8.0f * dw) * sx;
            }
        }
    }
    for (int m = 0; m < g->m; m++) g->out[m] = (float)acc[m];
}

#if SB_X86
// Σ u·s over 32 unsigned × signed bytes, as 8 float partial sums. The pairs are summed in int16
// (saturating), so u must stay ≤ 128: the callers pass 4-bit values (≤ 15) or |w| of Q8_0 (≤ 128)
// against activations in −127…127, at most 2·128·127 = 32512.
SB_AVX2 static inline __m256 dot_u8s8(__m256i u, __m256i s) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
SB_AVX2 static inline __m256 dot_s8s8(__m256i a, __m256i b) {
    return dot_u8s8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}
// The 32 4-bit values of a block in element order: low nibbles are elements 0–15, high 16–31.
SB_AVX2 static inline __m256i nibbles(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(0x0f));
}
SB_AVX2 static inline float half_avx(const uint8_t *p) { return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8))); }

// The type and M are compile-time constants at every call (dot_row_avx2 below), so the loop is
// specialised and the accumulators live in registers (with M a run-time value they went through
// the stack and the loop ran at half speed). Blocks alternate between two sets of accumulators so
// consecutive FMAs do not wait on each other's latency.
#define SB_BLOCK_STEP(b, k)                                                                          \
    do {                                                                                             \
        const uint8_t *blk = row + (b) * bs;                                                         \
        float dw = half_avx(blk);                                                                    \
        if (type == SB_Q8_0) {                                                                       \
            __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));                              \
            __m256i aw = _mm256_sign_epi8(w, w);                                                     \
            for (int m = 0; m < M; m++) {                                                            \
                __m256i x = _mm256_loadu_si256((const __m256i *)(g->q[m] + (b) * 32));               \
                acc[k][m] = _mm256_fmadd_ps(dot_u8s8(aw, _mm256_sign_epi8(x, w)),                     \
                                            _mm256_set1_ps(dw * g->d[m][b]), acc[k][m]);             \
            }                                                                                        \
        } else {                                                                                     \
            __m256i w = nibbles(blk + (type == SB_Q4_1 ? 4 : 2));                                    \
            float mw = type == SB_Q4_1 ? half_avx(blk + 2) : -8.0f * dw;                             \
            for (int m = 0; m < M; m++) {                                                            \
                __m256i x = _mm256_loadu_si256((const __m256i *)(g->q[m] + (b) * 32));               \
                acc[k][m] = _mm256_fmadd_ps(dot_u8s8(w, x), _mm256_set1_ps(dw * g->d[m][b]), acc[k][m]); \
                sacc[k][m] += mw * g->s[m][b];                                                       \
            }                                                                                        \
        }                                                                                            \
    } while (0)

SB_AVX2 static inline __attribute__((always_inline)) void dot_row_avx2_tm(const int type, const uint8_t *row, int64_t nb, act_group *g, const int M) {
    const int64_t bs = type == SB_Q8_0 ? 34 : (type == SB_Q4_1 ? 20 : 18);
    __m256 acc[2][4];
    float sacc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
    for (int k = 0; k < 2; k++) for (int m = 0; m < 4; m++) acc[k][m] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) { SB_BLOCK_STEP(b, 0); SB_BLOCK_STEP(b + 1, 1); }
    if (b < nb) SB_BLOCK_STEP(b, 0);
    for (int m = 0; m < M; m++) g->out[m] = sb_hsum8(_mm256_add_ps(acc[0][m], acc[1][m])) + sacc[0][m] + sacc[1][m];
}

#define SB_DOT_FOR_TYPE(T)                                             \
    switch (g->m) {                                                    \
    case 1: dot_row_avx2_tm(T, row, nb, g, 1); return;                \
    case 2: dot_row_avx2_tm(T, row, nb, g, 2); return;                \
    case 3: dot_row_avx2_tm(T, row, nb, g, 3); return;                \
    default: dot_row_avx2_tm(T, row, nb, g, 4); return;               \
    }

SB_AVX2 static void dot_row_avx2(int type, const uint8_t *row, int64_t nb, act_group *g) {
    switch (type) {
    case SB_Q4_0: SB_DOT_FOR_TYPE(SB_Q4_0)
    case SB_Q4_1: SB_DOT_FOR_TYPE(SB_Q4_1)
    default: SB_DOT_FOR_TYPE(SB_Q8_0)
    }
}
#endif

// --- the matrix product on the pool -------------------------------------------------------------

typedef struct {
    float *y;
    int64_t ldy;
    int type;
    const uint8_t *W;
    int64_t rows, cols, rowBytes, rowsPerChunk;
    const float *x;
    int64_t M, ldx;
    sb_q8_rows xq;             // integer path: the activations quantised
    atomic_int failed;         // a chunk could not allocate its row buffer
} qgemm_job;

static int dequant_mode = 0;
void sb_qgemm_set_dequant(int on) { dequant_mode = on; }
int sb_qgemm_integer(int type) { return !dequant_mode && (type == SB_Q4_0 || type == SB_Q4_1 || type == SB_Q8_0); }

static void qgemm_integer_chunk(void *ctx, int64_t chunk) {
    const qgemm_job *j = ctx;
    int64_t r0 = chunk * j->rowsPerChunk, r1 = r0 + j->rowsPerChunk < j->rows ? r0 + j->rowsPerChunk : j->rows;
    int64_t nb = j->cols / 32;
    for (int64_t m0 = 0; m0 < j->M; m0 += 4) {
        act_group g;
        g.m = (int)(j->M - m0 < 4 ? j->M - m0 : 4);
        for (int m = 0; m < g.m; m++) {
            g.q[m] = j->xq.q + (m0 + m) * j->cols;
            g.d[m] = j->xq.d + (m0 + m) * nb;
            g.s[m] = j->xq.s + (m0 + m) * nb;
        }
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *row = j->W + r * j->rowBytes;
#if SB_X86
            if (sb_simd_level()) dot_row_avx2(j->type, row, nb, &g);
            else
#endif
                dot_row_portable(j->type, row, nb, &g);
            for (int m = 0; m < g.m; m++) j->y[(m0 + m) * j->ldy + r] = g.out[m];
        }
    }
}

static void qgemm_dequant_chunk(void *ctx, int64_t chunk) {
    qgemm_job *j = ctx;
    int64_t r0 = chunk * j->rowsPerChunk, r1 = r0 + j->rowsPerChunk < j->rows ? r0 + j->rowsPerChunk : j->rows;
    float stackRow[2048];
    float *w = j->cols <= 2048 ? stackRow : malloc((size_t)j->cols * sizeof(float));
    if (!w) { atomic_store(&j->failed, 1); return; }
    for (int64_t r = r0; r < r1; r++) {
        sb_dequant_row(j->type, w, j->W + r * j->rowBytes, j->cols);
        for (int64_t m = 0; m < j->M; m++) j->y[m * j->ldy + r] = sb_dot(w, j->x + m * j->ldx, j->cols);
    }
    if (w != stackRow) free(w);
}

int sb_qgemm(float *y, int64_t ldy, int type, const uint8_t *W, int64_t rows, int64_t cols, const float *x, int64_t M, int64_t ldx) {
    int64_t be = sb_quant_block_elems(type), bb = sb_quant_block_bytes(type);
    if (bb == 0 || cols <= 0 || cols % be != 0 || rows <= 0 || M <= 0) return -1;
    qgemm_job j = {.y = y, .ldy = ldy, .type = type, .W = W, .rows = rows, .cols = cols, .rowBytes = cols / be * bb, .x = x, .M = M, .ldx = ldx};
    j.rowsPerChunk = sb_units_per_chunk(rows, j.rowBytes);
    int64_t n = (rows + j.rowsPerChunk - 1) / j.rowsPerChunk;
    if (!sb_qgemm_integer(type)) { sb_parallel_for(n, qgemm_dequant_chunk, &j); return atomic_load(&j.failed) ? -2 : 0; }
    if (sb_q8_rows_make(&j.xq, x, M, cols, ldx) != 0) return -2;
    sb_parallel_for(n, qgemm_integer_chunk, &j);
    sb_q8_rows_free(&j.xq);
    return 0;
}

// --- whole rows to float32, for tiles of a large product that goes through SGEMM ----------------

typedef struct { float *out; int type; const uint8_t *W; int64_t r0, cols, rowBytes, rowsPerChunk, r1; } dequant_job;

static void dequant_chunk(void *ctx, int64_t chunk) {
    const dequant_job *j = ctx;
    int64_t a = j->r0 + chunk * j->rowsPerChunk, b = a + j->rowsPerChunk < j->r1 ? a + j->rowsPerChunk : j->r1;
    for (int64_t r = a; r < b; r++) sb_dequant_row(j->type, j->out + (r - j->r0) * j->cols, j->W + r * j->rowBytes, j->cols);
}

void sb_dequant_rows(float *out, int type, const uint8_t *W, int64_t r0, int64_t r1, int64_t cols) {
    int64_t rowBytes = cols / sb_quant_block_elems(type) * sb_quant_block_bytes(type);
    int64_t per = (r1 - r0 + sb_threads() * 2 - 1) / (sb_threads() * 2);
    if (per < 8) per = 8;
    dequant_job j = {out, type, W, r0, cols, rowBytes, per, r1};
    sb_parallel_for((r1 - r0 + per - 1) / per, dequant_chunk, &j);
}

// --- float32 → Q8_0 (quantize on load): the activation quantiser's blocks, scale stored as fp16 ----

void sb_quantize_q8_0_blocks(uint8_t *out, const float *x, int64_t nBlocks) {
    for (int64_t b = 0; b < nBlocks; b++) {
        uint8_t *blk = out + b * 34;
        float d, s;
        sb_quantize_q8((int8_t *)(blk + 2), &d, &s, x + b * 32, 32);
        uint16_t h = sb_float_to_half(d);
        blk[0] = (uint8_t)(h & 0xff);
        blk[1] = (uint8_t)(h >> 8);
    }
}
