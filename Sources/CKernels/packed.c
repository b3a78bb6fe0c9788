// Q4_0, Q4_1 and Q8_0 weights repacked at load for the integer kernels: eight rows interleaved,
// so one 32-bit lane of a vector register is one row and a product yields eight rows' dot products
// side by side, with no horizontal sums (the scheme of llama.cpp's repacked Q4_0 8×8 layout).
//
// Per group of 8 rows and per 32-value block b (rows past the end are zero):
//   fp16 d[8], fp16 m[8]                    the rows' scales and offsets: w = u·d + m
//   4-bit: 4 vectors of 32 bytes            vector k, lane r, byte j = u[r][4k+j] | u[r][16+4k+j] << 4
//   8-bit: 8 vectors of 32 bytes            vector k, lane r, byte j = w[r][4k+j] (signed)
// where u is the stored unsigned nibble: Q4_1 as in the file (m = its offset), Q4_0 with m = −8d
// (computed in float32 from d, not stored: −8d can exceed fp16's range), and Q8_0 keeps its signed
// values with m = 0. Bytes per 8 row-blocks: 160 for the 4-bit formats
// (Q4_1 uses exactly its own 160), 288 for Q8_0 (272 in the file).
//
// For an activation block quantised to int8 (q, d_x, s_x = d_x Σq, quant.c):
//   y[r] += d[r] d_x Σ_j u[r][j] q[j] + m[r] s_x
// The inner sum takes 4 bytes of q broadcast to every lane against 4 bytes of each row: one
// maddubs+madd (AVX2) or one vpdpbusd (AVX-512 VNNI) covers 8 rows × 4 values.
#include "simd.h"
#include <math.h>
#include <stdlib.h>

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

int sb_packed_supported(int type) { return type == SB_Q4_0 || type == SB_Q4_1 || type == SB_Q8_0; }

static int64_t packed_block_bytes(int type) { return type == SB_Q8_0 ? 288 : 160; }

int64_t sb_packed_bytes(int type, int64_t rows, int64_t cols) {
    if (!sb_packed_supported(type) || cols <= 0 || cols % 32 != 0 || rows < 0) return -1;
    return (rows + 7) / 8 * (cols / 32) * packed_block_bytes(type);
}

void sb_pack(uint8_t *out, int type, const uint8_t *W, int64_t rows, int64_t cols) {
    const int64_t nb = cols / 32, bs = sb_quant_block_bytes(type), rowBytes = nb * bs, pb = packed_block_bytes(type);
    for (int64_t g = 0; g < (rows + 7) / 8; g++) {
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *dst = out + (g * nb + b) * pb;
            memset(dst, 0, (size_t)pb);
            for (int r = 0; r < 8; r++) {
                int64_t row = g * 8 + r;
                if (row >= rows) continue;
                const uint8_t *blk = W + row * rowBytes + b * bs;
                uint16_t d = rd16(blk), m = 0;
                if (type == SB_Q4_1) m = rd16(blk + 2);
                dst[2 * r] = (uint8_t)(d & 0xff); dst[2 * r + 1] = (uint8_t)(d >> 8);
                dst[16 + 2 * r] = (uint8_t)(m & 0xff); dst[16 + 2 * r + 1] = (uint8_t)(m >> 8);
                uint8_t *q = dst + 32;
                if (type == SB_Q8_0) {
                    for (int k = 0; k < 8; k++) for (int j = 0; j < 4; j++) q[k * 32 + r * 4 + j] = blk[2 + 4 * k + j];
                } else {
                    const uint8_t *qs = blk + (type == SB_Q4_1 ? 4 : 2);
                    // File: byte i holds value i (low nibble) and value 16 + i (high nibble).
                    for (int k = 0; k < 4; k++) for (int j = 0; j < 4; j++) q[k * 32 + r * 4 + j] = qs[4 * k + j];
                }
            }
        }
    }
}

void sb_packed_dequant_row(int type, float *out, const uint8_t *P, int64_t row, int64_t cols) {
    const int64_t nb = cols / 32, pb = packed_block_bytes(type), g = row / 8, r = row % 8;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = P + (g * nb + b) * pb;
        float d = sb_rd_half(blk + 2 * r), m = type == SB_Q4_0 ? -8.0f * d : sb_rd_half(blk + 16 + 2 * r);
        const uint8_t *q = blk + 32;
        float *y = out + b * 32;
        if (type == SB_Q8_0) {
            for (int k = 0; k < 8; k++) for (int j = 0; j < 4; j++) y[4 * k + j] = (float)(int8_t)q[k * 32 + r * 4 + j] * d;
        } else {
            for (int k = 0; k < 4; k++) for (int j = 0; j < 4; j++) {
                uint8_t byte = q[k * 32 + r * 4 + j];
                y[4 * k + j] = (float)(byte & 15) * d + m;
                y[16 + 4 * k + j] = (float)(byte >> 4) * d + m;
            }
        }
    }
}

// --- the products ---------------------------------------------------------------------------------

typedef struct {
    float *y;
    int64_t ldy;
    int type;
    const uint8_t *P;
    int64_t rows, nb, groupsPerChunk, M;
    sb_q8_rows xq;             // the activations quantised
} packed_job;

// Up to this many activation rows share each unpacked weight block: 8 where AVX-512 gives 32
// vector registers (8 weight vectors + 8 accumulators stay in registers), 4 with AVX2's 16.
enum { GROUP_MAX = 8 };

// Eight rows against activations m0 ..< m0 + M (M ≤ GROUP_MAX), portable.
static void group_portable(const packed_job *j, int64_t g, int64_t m0, int M, float out[GROUP_MAX][8]) {
    double acc[GROUP_MAX][8] = {{0}};
    for (int64_t b = 0; b < j->nb; b++) {
        const uint8_t *blk = j->P + (g * j->nb + b) * packed_block_bytes(j->type);
        const uint8_t *q = blk + 32;
        for (int r = 0; r < 8; r++) {
            float d = sb_rd_half(blk + 2 * r), m = j->type == SB_Q4_0 ? -8.0f * d : sb_rd_half(blk + 16 + 2 * r);
            for (int a = 0; a < M; a++) {
                const int8_t *x = j->xq.q + (m0 + a) * j->nb * 32 + b * 32;
                int isum = 0;
                if (j->type == SB_Q8_0) {
                    for (int k = 0; k < 8; k++) for (int t = 0; t < 4; t++) isum += (int8_t)q[k * 32 + r * 4 + t] * x[4 * k + t];
                } else {
                    for (int k = 0; k < 4; k++) for (int t = 0; t < 4; t++) {
                        uint8_t byte = q[k * 32 + r * 4 + t];
                        isum += (byte & 15) * x[4 * k + t] + (byte >> 4) * x[16 + 4 * k + t];
                    }
                }
                int64_t xi = (m0 + a) * j->nb + b;
                acc[a][r] += d * j->xq.d[xi] * (float)isum + m * j->xq.s[xi];
            }
        }
    }
    for (int a = 0; a < M; a++) for (int r = 0; r < 8; r++) out[a][r] = (float)acc[a][r];
}

#if SB_X86
// Four activation bytes as one 32-bit lane (memcpy: no aliasing or alignment assumption).
static inline int32_t load4(const int8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

// Σ over 4-byte groups, u unsigned × s signed, added to acc: the VNNI instruction, or its AVX2
// equivalent (pairs to int16 cannot saturate here: |u| ≤ 128 with the sign trick, or ≤ 15).
#define SB_DEFINE_GROUP(NAME, ATTR, DP)                                                                       \
    ATTR static inline __attribute__((always_inline)) void NAME##_tm(const packed_job *j, int64_t g, int64_t m0, \
                                                                     float out[GROUP_MAX][8], const int type, const int M) { \
        __m256 acc[GROUP_MAX];                                                                                \
        for (int a = 0; a < GROUP_MAX; a++) acc[a] = _mm256_setzero_ps();                                     \
        const int64_t pb = type == SB_Q8_0 ? 288 : 160;                                                       \
        const __m256i low = _mm256_set1_epi8(0x0f);                                                           \
        for (int64_t b = 0; b < j->nb; b++) {                                                                 \
            const uint8_t *blk = j->P + (g * j->nb + b) * pb;                                                 \
            __m256 dv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)blk));                               \
            __m256 mv = type == SB_Q4_0 ? _mm256_mul_ps(dv, _mm256_set1_ps(-8.0f))                            \
                                        : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(blk + 16)));      \
            const uint8_t *q = blk + 32;                                                                      \
            if (type == SB_Q8_0) {                                                                            \
                __m256i w[8];                                                                                 \
                for (int k = 0; k < 8; k++) w[k] = _mm256_loadu_si256((const __m256i *)(q + 32 * k));         \
                for (int a = 0; a < M; a++) {                                                                 \
                    const int8_t *x = j->xq.q + (m0 + a) * j->nb * 32 + b * 32;                                 \
                    __m256i isum = _mm256_setzero_si256();                                                    \
                    for (int k = 0; k < 8; k++) {                                                             \
                        __m256i xb = _mm256_set1_epi32(load4(x + 4 * k));                        \
                        isum = DP(isum, _mm256_sign_epi8(w[k], w[k]), _mm256_sign_epi8(xb, w[k]));            \
                    }                                                                                         \
                    int64_t xi = (m0 + a) * j->nb + b;                                                        \
                    acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dv, _mm256_set1_ps(j->xq.d[xi])), acc[a]); \
                }                                                                                             \
            } else {                                                                                          \
                __m256i lo[4], hi[4];                                                                         \
                for (int k = 0; k < 4; k++) {                                                                 \
                    __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * k));                            \
                    lo[k] = _mm256_and_si256(v, low);                                                         \
                    hi[k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);                                   \
                }                                                                                             \
                for (int a = 0; a < M; a++) {                                                                 \
                    const int8_t *x = j->xq.q + (m0 + a) * j->nb * 32 + b * 32;                                 \
                    __m256i isum = _mm256_setzero_si256();                                                    \
                    for (int k = 0; k < 4; k++) {                                                             \
                        isum = DP(isum, lo[k], _mm256_set1_epi32(load4(x + 4 * k)));             \
                        isum = DP(isum, hi[k], _mm256_set1_epi32(load4(x + 16 + 4 * k)));        \
                    }                                                                                         \
                    int64_t xi = (m0 + a) * j->nb + b;                                                        \
                    acc[a] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(dv, _mm256_set1_ps(j->xq.d[xi])), acc[a]); \
                    acc[a] = _mm256_fmadd_ps(mv, _mm256_set1_ps(j->xq.s[xi]), acc[a]);                          \
                }                                                                                             \
            }                                                                                                 \
        }                                                                                                     \
        for (int a = 0; a < M; a++) _mm256_storeu_ps(out[a], acc[a]);                                          \
    }                                                                                                         \
    ATTR static void NAME(const packed_job *j, int64_t g, int64_t m0, int M, float out[GROUP_MAX][8]) {      \
        switch (j->type * 16 + M) {                                                                           \
        SB_CASES(NAME, SB_Q4_0) SB_CASES(NAME, SB_Q4_1) SB_CASES(NAME, SB_Q8_0)                               \
        default: break;                                                                                       \
        }                                                                                                     \
    }

#define SB_CASE(NAME, T, M) case T * 16 + M: NAME##_tm(j, g, m0, out, T, M); break;
#define SB_CASES(NAME, T) SB_CASE(NAME, T, 1) SB_CASE(NAME, T, 2) SB_CASE(NAME, T, 3) SB_CASE(NAME, T, 4) \
                          SB_CASE(NAME, T, 5) SB_CASE(NAME, T, 6) SB_CASE(NAME, T, 7) SB_CASE(NAME, T, 8)

#define SB_DP_AVX2(acc, u, s) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#define SB_DP_VNNI(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
SB_DEFINE_GROUP(group_avx2, SB_AVX2, SB_DP_AVX2)
SB_DEFINE_GROUP(group_vnni, SB_VNNI, SB_DP_VNNI)

static int vnni_level(void) {
    static int level = -1;  // benign race: every thread computes the same value
    if (level < 0) {
        __builtin_cpu_init();
        // STRAWBERRY_NO_VNNI=1 keeps the AVX2 body (to measure it on a CPU that has both).
        const char *off = getenv("STRAWBERRY_NO_VNNI");
        level = !(off && off[0] == '1') && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2");
    }
    return level;
}
#endif

static int vnni_disabled = 0;
void sb_packed_disable_vnni(int on) { vnni_disabled = on; }
int sb_packed_vnni_active(void) {
#if SB_X86
    return !vnni_disabled && sb_simd_level() && vnni_level();
#else
    return 0;
#endif
}

static void packed_chunk(void *ctx, int64_t chunk) {
    const packed_job *j = ctx;
    int64_t groups = (j->rows + 7) / 8, g0 = chunk * j->groupsPerChunk;
    int64_t g1 = g0 + j->groupsPerChunk < groups ? g0 + j->groupsPerChunk : groups;
    float out[GROUP_MAX][8];
    int step = 4;
#if SB_X86
    int simd = sb_simd_level(), vnni = sb_packed_vnni_active();
    if (vnni) step = GROUP_MAX;
#endif
    for (int64_t m0 = 0; m0 < j->M; m0 += step) {
        int M = (int)(j->M - m0 < step ? j->M - m0 : step);
        for (int64_t g = g0; g < g1; g++) {
#if SB_X86
            if (vnni) group_vnni(j, g, m0, M, out);
            else if (simd) group_avx2(j, g, m0, M, out);
            else
#endif
                group_portable(j, g, m0, M, out);
            int64_t r0 = g * 8, n = j->rows - r0 < 8 ? j->rows - r0 : 8;
            for (int a = 0; a < M; a++) memcpy(j->y + (m0 + a) * j->ldy + r0, out[a], (size_t)n * sizeof(float));
        }
    }
}

int sb_packed_gemm(float *y, int64_t ldy, int type, const uint8_t *P, int64_t rows, int64_t cols, const float *x, int64_t M, int64_t ldx) {
    if (!sb_packed_supported(type) || cols <= 0 || cols % 32 != 0 || rows <= 0 || M <= 0) return -1;
    int64_t nb = cols / 32, groups = (rows + 7) / 8;
    packed_job j = {.y = y, .ldy = ldy, .type = type, .P = P, .rows = rows, .nb = nb, .M = M};
    if (sb_q8_rows_make(&j.xq, x, M, cols, ldx) != 0) return -2;
    j.groupsPerChunk = sb_units_per_chunk(groups, nb * packed_block_bytes(type));
    sb_parallel_for((groups + j.groupsPerChunk - 1) / j.groupsPerChunk, packed_chunk, &j);
    sb_q8_rows_free(&j.xq);
    return 0;
}
