// Products with bfloat16 weights: training's `precision: bf16` and `--weights bf16` inference.
// Two kernels, chosen at run time, both computing with bf16 inputs and float32 accumulation:
//
//   AMX tiles (Intel Sapphire Rapids and later). One `tdpbf16ps` multiplies a 16×32 tile by a
//     32×16 tile (8,192 multiply-adds) into a 16×16 float32 tile. On the Xeon this was written on,
//     which has both kernels' instructions, one `vdpbf16ps` issued at half the rate of a float32
//     FMA, so only the tiles computed faster than SGEMM; oneDNN (PyTorch's bf16 autocast) uses them too.
//   AVX-512 BF16 dot products (AMD Zen 4 and later, Intel Cooper Lake). One `vdpbf16ps` zmm adds
//     16 pairs of bf16 products into 16 float32 lanes: 32 multiply-adds where a float32 FMA has 16.
//     On the Zen 4 this was written on it issues at the FMA's rate (measured: 106 against 51
//     G multiply-adds/s on one core), so it is where that CPU's bf16 throughput is.
//
// Both read operands as "VNNI" pairs: a 32-bit word holds the bf16 values at k = 2p and 2p + 1.
//   A tile/broadcast operand: rows of bf16 as they sit in memory (word p of a row is pair p);
//   B operand: pairs regrouped so that 16 consecutive words are one pair p for 16 output lanes.
// Rounding is to nearest even; both units flush bf16 denormals to zero.
//
// The two products training needs through a frozen bf16 W [rows, K] (row-major, as loaded):
//   forward   y[M, rows] = x[M, K] · Wᵀ     computed as yᵀ = W · xᵀ: W's rows are the A operand as
//             they sit in memory (no copy of W), x's bf16 rows are regrouped as B, and the results
//             are written back transposed;
//   backward  dx[M, K] = dy[M, rows] · W     dy's bf16 rows are A as they are, W's row pairs
//             interleaved into B panels per thread, 32 columns at a time.
// Both first round the activation rows to bf16 into one zero-padded [Mp, colsPadded] buffer.
//
// AMX: each pool chunk computes 2×2 C tiles (32×32 outputs) at a time over the whole reduction,
// with all 8 tile registers in use: C 0–3, A 4–5, B 6–7.
// AVX-512 BF16: each chunk computes 8 A rows × 32 B lanes at a time (16 zmm accumulators, more
// than the instruction's latency × its rate), over the whole reduction: per pair, 2 B loads and
// 8 broadcasts feed 16 dot products.
#define _GNU_SOURCE
#include "simd.h"
#include <stdlib.h>

static int kernel_limit = 2;  // sb_bf16_limit: 2 any, 1 no AMX, 0 neither (read and written atomically)
void sb_bf16_limit(int kernel) { __atomic_store_n(&kernel_limit, kernel < 0 ? 0 : kernel > 2 ? 2 : kernel, __ATOMIC_RELAXED); }

#if SB_X86 && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SB_AMX __attribute__((target("amx-tile,amx-bf16")))
#define SB_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define SB_DOT __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

// AMX needs the CPU (CPUID.7.0:EDX AMX-TILE bit 24, AMX-BF16 bit 22) and the kernel's leave to
// use the 8 KiB tile state (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, Linux 5.16+).
static int amx_usable(void) {
    static int usable = -1;  // benign race: every thread computes the same value
    if (usable < 0) {
        unsigned a, b, c, d;
        const char *off = getenv("STRAWBERRY_NO_AMX");  // keep the fallback, to measure it here
        int cpu = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 24)) && (d & (1u << 22));
        __builtin_cpu_init();  // the operand packing below uses AVX-512F/BW/VL (every AMX CPU has them)
        usable = !(off && off[0] == '1') && cpu && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512vl") && syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
    }
    return usable;
}

// AVX-512 BF16: CPUID.7.1:EAX bit 5, with AVX-512 F/BW/VL for the packing (every such CPU has them).
static int dot_usable(void) {
    static int usable = -1;
    if (usable < 0) {
        unsigned a, b, c, d;
        const char *off = getenv("STRAWBERRY_NO_AVX512_BF16");
        int cpu = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
        __builtin_cpu_init();
        usable = !(off && off[0] == '1') && cpu && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                 && __builtin_cpu_supports("avx512vl");
    }
    return usable;
}

typedef struct {
    uint8_t palette, startRow, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

SB_AMX static void configure_tiles(void) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
    _tile_loadconfig(&cfg);
}

/// C (four 16×16 tiles: [i][j] for A_i, B_j) = Σ over `kblocks` blocks of 32 of A_i · B_j.
/// A_i: 16 rows at a_i, row stride lda bytes, block kb at + 64·kb. B_j: packed, block kb at b_j + 1024·kb.
SB_AMX static void block_2x2(const uint8_t *a0, const uint8_t *a1, int64_t lda, const uint8_t *b0, const uint8_t *b1,
                             int64_t kblocks, float c[4][256]) {
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (int64_t kb = 0; kb < kblocks; kb++) {
        _tile_loadd(4, a0 + kb * 64, lda);
        _tile_loadd(5, a1 + kb * 64, lda);
        _tile_loadd(6, b0 + kb * 1024, 64);
        _tile_loadd(7, b1 + kb * 1024, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c[0], 64);
    _tile_stored(1, c[1], 64);
    _tile_stored(2, c[2], 64);
    _tile_stored(3, c[3], 64);
}

SB_AMX static void release_tiles(void) { _tile_release(); }

/// One product: the activations (x forward, dy backward) and where the result goes.
typedef struct {
    float *out; int64_t ldo;             // y [M, rows] forward, dx [M, K] backward
    const uint16_t *W; int64_t rows, K;  // the frozen weight, bf16 [rows, K]
    const float *act; int64_t ld;        // the activations, M rows of `cols` values
    int64_t M, Mp, cols, colsPadded;     // Mp, colsPadded: rounded up to 32
    uint16_t *rounded;                   // act in bf16, [Mp, colsPadded], zero past M and cols
    uint32_t *pairs;                     // forward only: `rounded` regrouped as B tiles (below)
    int failed;                          // a chunk could not allocate its scratch (atomic store)
} bf16_job;

/// Activation rows m0 ..< m0 + count to bf16 in `rounded`, zero-padded.
static void round_rows(bf16_job *j, int64_t m0, int64_t count) {
    for (int64_t m = m0; m < m0 + count; m++) {
        uint16_t *row = j->rounded + m * j->colsPadded;
        memset(row, 0, (size_t)j->colsPadded * 2);
        if (m < j->M) sb_f32_to_bf16(row, j->act + m * j->ld, j->cols);
    }
}

static void round_rows_chunk(void *ctx, int64_t chunk) { round_rows(ctx, chunk * 32, 32); }

/// Tokens 16·tile ..< 16·tile + 16, rounded, then as one B tile column of VNNI pairs: pairs[tile][p][i] =
/// (x[16 tile + i, 2p], x[16 tile + i, 2p + 1]), the transpose of 32-bit words of `rounded`. Both in one
/// chunk, so the gathers read rows this thread has just written (in its cache, not another core's).
SB_AVX512 static void pair_tokens_chunk(void *ctx, int64_t tile) {
    bf16_job *j = ctx;
    round_rows(j, tile * 16, 16);
    const int64_t pairs = j->colsPadded / 2;
    const uint16_t *rows = j->rounded + tile * 16 * j->colsPadded;
    uint32_t *out = j->pairs + tile * pairs * 16;
    const __m512i offsets = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                               _mm512_set1_epi32((int)(j->colsPadded * 2)));
    for (int64_t p = 0; p < pairs; p++) _mm512_storeu_si512(out + p * 16, _mm512_i32gather_epi32(offsets, rows + 2 * p, 1));
}

/// Two rows of W (even, odd; NULL past the last row) interleaved over 16 columns from c:
/// out[i] = (even[c + i], odd[c + i]), zero past K.
SB_AVX512 static void interleave_rows(uint32_t *out, const uint16_t *even, const uint16_t *odd, int64_t c, int64_t K) {
    int64_t n = K - c < 16 ? K - c : 16;
    __mmask16 valid = n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
    __m512i e = even ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, even + c)) : _mm512_setzero_si512();
    __m512i o = odd ? _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(valid, odd + c)) : _mm512_setzero_si512();
    _mm512_storeu_si512(out, _mm512_or_si512(e, _mm512_slli_epi32(o, 16)));
}

// --- AMX forward: yᵀ = W · xᵀ ---

SB_AMX static void amx_forward_chunk(void *ctx, int64_t chunk) {
    bf16_job *j = ctx;
    const int64_t r0 = chunk * 32, Kp = j->colsPadded, kblocks = Kp / 32;
    // W's rows are A tiles where they sit, unless this block runs past the last row or K is not a
    // whole number of tiles: then the block's rows are copied into zero-padded scratch.
    uint16_t *pad = NULL;
    const uint8_t *a = (const uint8_t *)(j->W + r0 * j->K);
    int64_t lda = j->K * 2;
    if (r0 + 32 > j->rows || j->K != Kp) {
        pad = calloc((size_t)32 * Kp, 2);
        if (!pad) { __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED); return; }
        for (int64_t r = r0; r < r0 + 32 && r < j->rows; r++) memcpy(pad + (r - r0) * Kp, j->W + r * j->K, (size_t)j->K * 2);
        a = (const uint8_t *)pad;
        lda = Kp * 2;
    }
    configure_tiles();
    float c[4][256] __attribute__((aligned(64)));
    const int64_t tileBytes = Kp / 2 * 16 * 4;
    for (int64_t t0 = 0; t0 < j->Mp; t0 += 32) {
        const uint8_t *b0 = (const uint8_t *)j->pairs + t0 / 16 * tileBytes;
        block_2x2(a, a + 16 * lda, lda, b0, b0 + tileBytes, kblocks, c);
        // c[2i + jj][16 r + t] = y[t0 + 16 jj + t, r0 + 16 i + r]
        for (int i = 0; i < 2; i++) {
            const int64_t n = j->rows - (r0 + 16 * i) < 16 ? j->rows - (r0 + 16 * i) : 16;
            for (int jj = 0; jj < 2; jj++) {
                for (int t = 0; t < 16 && t0 + 16 * jj + t < j->M; t++) {
                    float *yr = j->out + (t0 + 16 * jj + t) * j->ldo + r0 + 16 * i;
                    for (int64_t r = 0; r < n; r++) yr[r] = c[2 * i + jj][r * 16 + t];
                }
            }
        }
    }
    release_tiles();
    free(pad);
}

// --- AMX backward: dx = dy · W ---

SB_AMX static void amx_backward_chunk(void *ctx, int64_t chunk) {
    bf16_job *j = ctx;
    // Here W's rows are the reduction (padded to Rp), K the output columns; this chunk owns columns c0 ..< c0 + 32.
    const int64_t c0 = chunk * 32, Rp = j->colsPadded, kblocks = Rp / 32;
    uint32_t *panel = aligned_alloc(64, (size_t)Rp / 2 * 32 * 4);
    if (!panel) { __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED); return; }
    // B panel: two 16-column tiles, pair p, lane i = (W[2p, c], W[2p + 1, c]) for c = c0 + 16 tile + i.
    for (int half = 0; half < 2; half++) {
        uint32_t *dst = panel + half * (Rp / 2) * 16;
        for (int64_t p = 0; p < Rp / 2; p++) {
            const uint16_t *even = 2 * p < j->rows ? j->W + 2 * p * j->K : NULL;
            const uint16_t *odd = 2 * p + 1 < j->rows ? j->W + (2 * p + 1) * j->K : NULL;
            interleave_rows(dst + p * 16, even, odd, c0 + 16 * half, j->K);
        }
    }
    configure_tiles();
    float c[4][256] __attribute__((aligned(64)));
    const uint8_t *A = (const uint8_t *)j->rounded;
    const int64_t lda = Rp * 2, tileBytes = Rp / 2 * 16 * 4;
    for (int64_t t0 = 0; t0 < j->Mp; t0 += 32) {
        block_2x2(A + t0 * lda, A + (t0 + 16) * lda, lda, (const uint8_t *)panel, (const uint8_t *)panel + tileBytes, kblocks, c);
        // c[2i + jj][16 t + col] = dx[t0 + 16 i + t, c0 + 16 jj + col]
        for (int jj = 0; jj < 2; jj++) {
            const int64_t col = c0 + 16 * jj, n = j->K - col < 16 ? j->K - col : 16;
            for (int i = 0; i < 2; i++) {
                for (int t = 0; t < 16 && t0 + 16 * i + t < j->M; t++) {
                    // A plain loop, not memcpy: no call between tile products (the tile configuration is
                    // caller-saved state a library call need not keep).
                    float *dst = j->out + (t0 + 16 * i + t) * j->ldo + col;
                    for (int64_t k = 0; k < n; k++) dst[k] = c[2 * i + jj][t * 16 + k];
                }
            }
        }
    }
    release_tiles();
    free(panel);
}

// --- AVX-512 BF16 ---

/// c[r][l] = Σ_p A_r[p] · B_l[p] for 8 A rows and 32 B lanes, each term a bf16 pair product:
/// A_r's pair p is the word a[r · lda + p]; B's pair p is b0[16 p + l] for lanes 0–15 and
/// b1[16 p + l - 16] for lanes 16–31.
SB_DOT static void dot_8x32(const uint32_t *a, int64_t lda, const uint32_t *b0, const uint32_t *b1, int64_t pairs, float c[8][32]) {
    __m512 acc[8][2];
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t p = 0; p < pairs; p++) {
        const __m512bh x0 = (__m512bh)_mm512_loadu_si512(b0 + 16 * p), x1 = (__m512bh)_mm512_loadu_si512(b1 + 16 * p);
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) {
            const __m512bh w = (__m512bh)_mm512_set1_epi32((int)a[r * lda + p]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], w, x0);
            acc[r][1] = _mm512_dpbf16_ps(acc[r][1], w, x1);
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < 8; r++) { _mm512_storeu_ps(c[r], acc[r][0]); _mm512_storeu_ps(c[r] + 16, acc[r][1]); }
}

/// Forward, W rows r0 ..< r0 + 32 against every token: W's rows are read where they sit when the block
/// is whole and K even (a pair never straddles two rows); otherwise they are copied into zero-padded scratch.
SB_DOT static void dot_forward_chunk(void *ctx, int64_t chunk) {
    bf16_job *j = ctx;
    const int64_t r0 = chunk * 32, Kp = j->colsPadded, P = Kp / 2;
    uint16_t *pad = NULL;
    const uint16_t *a = j->W + r0 * j->K;
    int64_t lda = j->K / 2, pairs = j->K / 2;
    if (r0 + 32 > j->rows || j->K % 2) {
        pad = calloc((size_t)32 * Kp, 2);
        if (!pad) { __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED); return; }
        for (int64_t r = r0; r < r0 + 32 && r < j->rows; r++) memcpy(pad + (r - r0) * Kp, j->W + r * j->K, (size_t)j->K * 2);
        a = pad;
        lda = pairs = P;
    }
    float c[8][32] __attribute__((aligned(64)));
    for (int64_t t0 = 0; t0 < j->Mp; t0 += 32) {
        const uint32_t *b0 = j->pairs + t0 * P, *b1 = b0 + 16 * P;  // tokens t0 ..< t0 + 16, then the next 16
        for (int64_t g = 0; g < 32 && r0 + g < j->rows; g += 8) {
            dot_8x32((const uint32_t *)a + g * lda, lda, b0, b1, pairs, c);
            // c[r][l] = y[t0 + l, r0 + g + r]
            const int64_t n = j->rows - (r0 + g) < 8 ? j->rows - (r0 + g) : 8;
            for (int64_t l = 0; l < 32 && t0 + l < j->M; l++) {
                float *yr = j->out + (t0 + l) * j->ldo + r0 + g;
                for (int64_t r = 0; r < n; r++) yr[r] = c[r][l];
            }
        }
    }
    free(pad);
}

/// Backward, dx columns c0 ..< c0 + 32 for every token: W's row pairs interleaved into one B panel.
SB_DOT static void dot_backward_chunk(void *ctx, int64_t chunk) {
    bf16_job *j = ctx;
    const int64_t c0 = chunk * 32, Rp = j->colsPadded, P = Rp / 2;
    uint32_t *panel = aligned_alloc(64, (size_t)P * 32 * 4);
    if (!panel) { __atomic_store_n(&j->failed, 1, __ATOMIC_RELAXED); return; }
    for (int half = 0; half < 2; half++) {
        for (int64_t p = 0; p < P; p++) {
            const uint16_t *even = 2 * p < j->rows ? j->W + 2 * p * j->K : NULL;
            const uint16_t *odd = 2 * p + 1 < j->rows ? j->W + (2 * p + 1) * j->K : NULL;
            interleave_rows(panel + half * P * 16 + p * 16, even, odd, c0 + 16 * half, j->K);
        }
    }
    float c[8][32] __attribute__((aligned(64)));
    const int64_t n = j->K - c0 < 32 ? j->K - c0 : 32;
    for (int64_t t0 = 0; t0 < j->M; t0 += 8) {
        dot_8x32((const uint32_t *)(j->rounded + t0 * Rp), P, panel, panel + P * 16, P, c);
        for (int64_t t = 0; t < 8 && t0 + t < j->M; t++) memcpy(j->out + (t0 + t) * j->ldo + c0, c[t], (size_t)n * 4);
    }
    free(panel);
}

/// Rounds the activations (and regroups them for the forward: `pairs`), then runs `chunks` of `product`.
static int run(bf16_job *j, int pairs, sb_task_fn product, int64_t chunks) {
    j->Mp = round_up(j->M, 32);
    j->colsPadded = round_up(j->cols, 32);
    const size_t bytes = (size_t)j->Mp * (size_t)j->colsPadded * 2;
    j->rounded = aligned_alloc(64, bytes);
    j->pairs = pairs ? aligned_alloc(64, bytes) : NULL;
    if (j->rounded && (j->pairs || !pairs)) {
        if (pairs) sb_parallel_for(j->Mp / 16, pair_tokens_chunk, j);
        else sb_parallel_for(j->Mp / 32, round_rows_chunk, j);
        sb_parallel_for(chunks, product, j);
    } else {
        j->failed = 1;
    }
    free(j->rounded);
    free(j->pairs);
    return j->failed ? -2 : 0;
}

/// 2 AMX, 1 AVX-512 BF16, 0 neither (widened for SGEMM by the caller).
static int active_kernel(void) {
    const int limit = __atomic_load_n(&kernel_limit, __ATOMIC_RELAXED);
    if (limit >= 2 && amx_usable()) return 2;
    if (limit >= 1 && dot_usable()) return 1;
    return 0;
}
#else
static int active_kernel(void) { return 0; }
#endif

int sb_bf16_kernel(void) { return active_kernel(); }

int sb_bf16_gemm_xwt(float *y, int64_t ldy, const uint16_t *W, int64_t rows, int64_t K, const float *x, int64_t M, int64_t ldx) {
    const int kernel = active_kernel();
    if (!kernel || rows <= 0 || K <= 0 || M <= 0) return -1;
#if SB_X86 && defined(__linux__)
    bf16_job j = {.out = y, .ldo = ldy, .W = W, .rows = rows, .K = K, .act = x, .ld = ldx, .M = M, .cols = K};
    return run(&j, 1, kernel == 2 ? amx_forward_chunk : dot_forward_chunk, round_up(rows, 32) / 32);
#else
    (void)y; (void)ldy; (void)W; (void)x; (void)ldx;
    return -1;
#endif
}

int sb_bf16_gemm_dyw(float *dx, int64_t ldx, const uint16_t *W, int64_t rows, int64_t K, const float *dy, int64_t M, int64_t ldy) {
    const int kernel = active_kernel();
    if (!kernel || rows <= 0 || K <= 0 || M <= 0) return -1;
#if SB_X86 && defined(__linux__)
    // dy [M, rows] is the A operand as it is, once in bf16: the reduction runs over W's rows.
    bf16_job j = {.out = dx, .ldo = ldx, .W = W, .rows = rows, .K = K, .act = dy, .ld = ldy, .M = M, .cols = rows};
    return run(&j, 0, kernel == 2 ? amx_backward_chunk : dot_backward_chunk, round_up(K, 32) / 32);
#else
    (void)dx; (void)ldx; (void)W; (void)dy; (void)ldy;
    return -1;
#endif
}
