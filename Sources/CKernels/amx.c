// Products with bfloat16 weights on the CPU's AMX tile unit (Intel Sapphire Rapids and later).
//
// Why AMX and not AVX-512 BF16: on the Xeon this was written on, which has both, one `vdpbf16ps`
// (32 bf16 multiply-adds) issued at half the rate of a float32 FMA (16 multiply-adds, two ports),
// so it computed no faster than SGEMM. One `tdpbf16ps` multiplies a 16×32 tile by a 32×16 tile
// (8,192 multiply-adds) into a 16×16 float32 tile: that is where the bf16 throughput is, and what
// oneDNN (PyTorch's bf16 autocast) uses.
//
// A tile product C[16, 16] += A[16, 32] · B[32, 16] reads
//   A: 16 rows of 32 bf16 (64 bytes each), any row stride;
//   B: "VNNI" pairs, 16 rows of 16 × (b[2p, j], b[2p+1, j]) 32-bit words: row p holds k = 2p, 2p+1.
// Accumulation is float32 (AMX flushes denormal inputs and outputs to zero; round to nearest even).
//
// The two products training needs through a frozen bf16 W [rows, K] (row-major, as loaded):
//   forward   y[M, rows] = x[M, K] · Wᵀ     computed as yᵀ = W · xᵀ: W's rows are A tiles as they
//             sit in memory (no copy of W), x's bf16 rows are regrouped as B, and the C tiles
//             are written back transposed;
//   backward  dx[M, K] = dy[M, rows] · W     dy's bf16 rows are A as they are, W's row pairs
//             interleaved into B panels per thread, 32 columns at a time.
// Both first round the activation rows to bf16 into one zero-padded [Mp, colsPadded] buffer.
// Each pool chunk computes 2×2 C tiles (32×32 outputs) at a time over the whole reduction, with
// all 8 tile registers in use: C 0–3, A 4–5, B 6–7.
#define _GNU_SOURCE
#include "simd.h"
#include <stdlib.h>

static int amx_disabled = 0;
void sb_amx_disable(int on) { amx_disabled = on; }

#if SB_X86 && defined(__linux__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SB_AMX __attribute__((target("amx-tile,amx-bf16")))
#define SB_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

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
} amx_job;

/// Activation rows m0 ..< m0 + count to bf16 in `rounded`, zero-padded.
static void round_rows(amx_job *j, int64_t m0, int64_t count) {
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
    amx_job *j = ctx;
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

// --- forward: yᵀ = W · xᵀ ---

SB_AMX static void forward_chunk(void *ctx, int64_t chunk) {
    amx_job *j = ctx;
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

// --- backward: dx = dy · W ---

SB_AMX static void backward_chunk(void *ctx, int64_t chunk) {
    amx_job *j = ctx;
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

/// Rounds the activations (and regroups them for the forward: `pairs`), then runs `chunks` of `product`.
static int run(amx_job *j, int pairs, sb_task_fn product, int64_t chunks) {
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
#else
static int amx_usable(void) { return 0; }
#endif

int sb_amx_active(void) { return !amx_disabled && amx_usable(); }

int sb_bf16_gemm_xwt(float *y, int64_t ldy, const uint16_t *W, int64_t rows, int64_t K, const float *x, int64_t M, int64_t ldx) {
    if (!sb_amx_active() || rows <= 0 || K <= 0 || M <= 0) return -1;
#if SB_X86 && defined(__linux__)
    amx_job j = {.out = y, .ldo = ldy, .W = W, .rows = rows, .K = K, .act = x, .ld = ldx, .M = M, .cols = K};
    return run(&j, 1, forward_chunk, round_up(rows, 32) / 32);
#else
    (void)y; (void)ldy; (void)W; (void)x; (void)ldx;
    return -1;
#endif
}

int sb_bf16_gemm_dyw(float *dx, int64_t ldx, const uint16_t *W, int64_t rows, int64_t K, const float *dy, int64_t M, int64_t ldy) {
    if (!sb_amx_active() || rows <= 0 || K <= 0 || M <= 0) return -1;
#if SB_X86 && defined(__linux__)
    // dy [M, rows] is the A operand as it is, once in bf16: the reduction runs over W's rows.
    amx_job j = {.out = dx, .ldo = ldx, .W = W, .rows = rows, .K = K, .act = dy, .ld = ldy, .M = M, .cols = rows};
    return run(&j, 0, backward_chunk, round_up(K, 32) / 32);
#else
    (void)dx; (void)ldx; (void)W; (void)dy; (void)ldy;
    return -1;
#endif
}
