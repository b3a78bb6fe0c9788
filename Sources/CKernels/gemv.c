// y = W x for a row-major W [rows, cols]: the matrix-vector product that float32 batch-1 decoding
// is bound by (every weight is read once per token). Rows are handed out in chunks on the thread
// pool (pool.c).
#include "simd.h"

typedef struct { const float *W, *x; float *y; int64_t cols, r0, r1; } gemv_job;

#if defined(__x86_64__)

// One row at a time, four accumulators over 32 floats. Measured here, a single sequential stream
// reads at ~23 GB/s per core while four interleaved row streams managed ~14 GB/s.
__attribute__((target("avx2,fma"))) static void gemv_rows_avx2(const gemv_job *j) {
    const int64_t C = j->cols, C32 = C & ~31;
    const float *x = j->x;
    for (int64_t r = j->r0; r < j->r1; r++) {
        const float *w = j->W + r * C;
        __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
        for (int64_t k = 0; k < C32; k += 32) {
            a = _mm256_fmadd_ps(_mm256_loadu_ps(w + k), _mm256_loadu_ps(x + k), a);
            b = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 8), _mm256_loadu_ps(x + k + 8), b);
            c = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 16), _mm256_loadu_ps(x + k + 16), c);
            d = _mm256_fmadd_ps(_mm256_loadu_ps(w + k + 24), _mm256_loadu_ps(x + k + 24), d);
        }
        float s = sb_hsum8(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
        for (int64_t k = C32; k < C; k++) s += w[k] * x[k];
        j->y[r] = s;
    }
}
#endif

static void gemv_rows(const gemv_job *j) {
#if defined(__x86_64__)
    if (sb_simd_level()) { gemv_rows_avx2(j); return; }
#endif
    for (int64_t r = j->r0; r < j->r1; r++) j->y[r] = sb_dot(j->W + r * j->cols, j->x, j->cols);
}

typedef struct { gemv_job whole; int64_t rowsPerChunk; } gemv_split;

static void gemv_chunk(void *ctx, int64_t i) {
    const gemv_split *s = ctx;
    gemv_job j = s->whole;
    j.r0 = i * s->rowsPerChunk;
    j.r1 = j.r0 + s->rowsPerChunk < s->whole.r1 ? j.r0 + s->rowsPerChunk : s->whole.r1;
    gemv_rows(&j);
}

void sb_gemv(float *y, const float *W, const float *x, int64_t rows, int64_t cols) {
    gemv_job j = {W, x, y, cols, 0, rows};
    // Small products are not worth a hand-off; otherwise chunks as for every product on the pool.
    if (sb_threads() < 2 || rows * cols < 65536) { gemv_rows(&j); return; }
    int64_t per = sb_units_per_chunk(rows, cols * (int64_t)sizeof(float));
    gemv_split s = {j, per};
    sb_parallel_for((rows + per - 1) / per, gemv_chunk, &s);
}

// --- read bandwidth: what batch-1 decoding is bounded by -----------------------------------------
// Every thread streams its share of a buffer far larger than the caches (as decode streams the
// weights), summing so the loads cannot be skipped.
typedef struct { const float *x; int64_t n, per; float partial[256]; } stream_job;

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static float stream_sum_avx2(const float *x, int64_t n) {
    __m256 a = _mm256_setzero_ps(), b = a, c = a, d = a;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(x + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(x + i + 8));
        c = _mm256_add_ps(c, _mm256_loadu_ps(x + i + 16));
        d = _mm256_add_ps(d, _mm256_loadu_ps(x + i + 24));
    }
    float s = sb_hsum8(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c, d)));
    for (; i < n; i++) s += x[i];
    return s;
}
#endif

static void stream_chunk(void *ctx, int64_t i) {
    stream_job *j = ctx;
    int64_t a = i * j->per, b = a + j->per < j->n ? a + j->per : j->n;
    float s = 0;
#if defined(__x86_64__)
    if (sb_simd_level()) s = stream_sum_avx2(j->x + a, b - a);
    else
#endif
        for (int64_t k = a; k < b; k++) s += j->x[k];
    j->partial[i & 255] += s;
}

float sb_stream_sum(const float *x, int64_t n) {
    if (n <= 0) return 0;
    stream_job j;
    memset(&j, 0, sizeof j);
    j.x = x;
    j.n = n;
    int64_t chunks = (int64_t)sb_threads() * 8;
    if (chunks > 256) chunks = 256;
    j.per = (n + chunks - 1) / chunks;
    sb_parallel_for((n + j.per - 1) / j.per, stream_chunk, &j);
    float s = 0;
    for (int k = 0; k < 256; k++) s += j.partial[k];
    return s;
}
