// Hot loops outside BLAS: elementwise ops, norms, softmax, RoPE and dequantisation.
//
// Every entry point has two bodies: one compiled for AVX2+FMA+F16C (x86-64-v3) and a
// portable one. The choice is made at run time from CPUID, so one binary runs on any
// x86-64 and still gets vector code where the CPU has it.
#ifndef STRAWBERRY_CKERNELS_H
#define STRAWBERRY_CKERNELS_H
#include <stdint.h>

// --- thread pool (pool.c) ---
typedef void (*sb_task_fn)(void *ctx, int64_t chunk);
/// Runs fn(ctx, 0..<chunks) on the calling thread and the pool's workers; returns when all are done.
/// Chunks go to whichever thread is free first, so a worker the OS has not scheduled costs nothing.
void sb_parallel_for(int64_t chunks, sb_task_fn fn, void *ctx);
/// Threads (the caller included) that parallel kernels use; default sb_available_cpus().
void sb_set_threads(int n);
int sb_threads(void);
/// CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota.
int sb_available_cpus(void);

/// y[rows] = W[rows, cols] · x, rows in chunks on the pool.
void sb_gemv(float *y, const float *W, const float *x, int64_t rows, int64_t cols);
/// Σ x, streamed on the pool (the read-bandwidth measurement of `bench generate`).
float sb_stream_sum(const float *x, int64_t n);

/// 1 when the AVX2/FMA/F16C bodies are in use, 0 for the portable ones.
int sb_simd_level(void);
/// Force the portable bodies (1) or restore CPU detection (0); used by tests to check both paths.
void sb_force_portable(int on);

/// glibc: serve large blocks from the heap and keep freed memory, so repeated forward passes
/// reuse pages instead of faulting in fresh zeroed ones. No-op elsewhere.
void sb_tune_allocator(void);

float sb_dot(const float *a, const float *b, int64_t n);
/// y += a * x
void sb_axpy(float *y, float a, const float *x, int64_t n);
/// out = a + b (out may alias a or b)
void sb_add(float *out, const float *a, const float *b, int64_t n);
/// x *= a
void sb_scale(float *x, float a, int64_t n);

/// Row-wise RMSNorm: out = x / sqrt(mean(x^2) + eps) * w, rows of n.
void sb_rmsnorm(float *out, const float *x, const float *w, int64_t rows, int64_t n, float eps);
/// Row-wise LayerNorm (biased variance, like torch.nn.LayerNorm).
void sb_layernorm(float *out, const float *x, const float *w, const float *b, int64_t rows, int64_t n, float eps);

/// out = silu(x) = x * sigmoid(x)
void sb_silu(float *out, const float *x, int64_t n);
/// out = silu(gate) * up (the SwiGLU product)
void sb_silu_mul(float *out, const float *gate, const float *up, int64_t n);
/// out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (GPT-2's "gelu_new")
void sb_gelu_tanh(float *out, const float *x, int64_t n);
/// SwiGLU backward for one row: given gate g, up u and dy (n each), writes
/// dg = dy·u·σ(g)(1 + g(1 − σ(g))) and du = dy·silu(g).
void sb_swiglu_backward(float *dg, float *du, const float *g, const float *u, const float *dy, int64_t n);
/// out = exp(x)
void sb_exp(float *out, const float *x, int64_t n);

/// Causal softmax over a [T, S] block of scores with leading dimension ld: row i sees keys
/// 0 ..< min(S, offset + i + 1) (scaled by `scale` first); masked entries become 0.
void sb_softmax_causal(float *scores, int64_t T, int64_t S, int64_t ld, int64_t offset, float scale);

/// Rotary embedding of one token's heads in place: x holds nHeads vectors of headDim
/// (stride headDim). cos/sin hold headDim/2 values. neox=1: rotate halves (x[i], x[i+D/2]),
/// as Hugging Face Llama/Qwen; neox=0: rotate interleaved pairs (x[2i], x[2i+1]), as GPT-J.
void sb_rope(float *x, int64_t nHeads, int64_t headDim, const float *cos, const float *sin, int neox);

// Dequantisation to float32 (ggml block layouts, see ModelFormats/GGUFQuant.swift).
void sb_f16_to_f32(float *out, const uint16_t *in, int64_t n);
void sb_bf16_to_f32(float *out, const uint16_t *in, int64_t n);
void sb_f32_to_f16(uint16_t *out, const float *in, int64_t n);
/// float32 to bfloat16, rounding to nearest even (NaN stays NaN).
void sb_f32_to_bf16(uint16_t *out, const float *in, int64_t n);
void sb_dequant_q4_0(float *out, const uint8_t *blocks, int64_t nBlocks);
void sb_dequant_q4_1(float *out, const uint8_t *blocks, int64_t nBlocks);
void sb_dequant_q8_0(float *out, const uint8_t *blocks, int64_t nBlocks);
void sb_dequant_q4_k(float *out, const uint8_t *blocks, int64_t nBlocks);
void sb_dequant_q6_k(float *out, const uint8_t *blocks, int64_t nBlocks);

// --- linear layers on quantised weights (quant.c) ---
// ggml type ids of the formats kept in their own encoding in memory (bfloat16: blocks of one value).
enum { SB_Q4_0 = 2, SB_Q4_1 = 3, SB_Q8_0 = 8, SB_Q4_K = 12, SB_Q6_K = 14, SB_BF16 = 30 };
/// Values per block (32, 256 for the K-quants, 1 for bf16) and bytes per block; 0 bytes for other types.
int64_t sb_quant_block_elems(int type);
int64_t sb_quant_block_bytes(int type);
/// One row of cols values (a multiple of the block size) to float32.
void sb_dequant_row(int type, float *out, const uint8_t *row, int64_t cols);
/// Rows r0 ..< r1 of a quantised [rows, cols] matrix to float32 [r1 - r0, cols], on the pool.
void sb_dequant_rows(float *out, int type, const uint8_t *W, int64_t r0, int64_t r1, int64_t cols);
/// y[m * ldy + r] = Σ_k W[r, k] x[m * ldx + k] for m < M, r < rows; W quantised row-major.
/// Returns 0, -1 for a type or shape it cannot compute, -2 when scratch memory is not available.
int sb_qgemm(float *y, int64_t ldy, int type, const uint8_t *W, int64_t rows, int64_t cols, const float *x, int64_t M, int64_t ldx);
/// 1: every format dequantises rows on the fly (to measure against the integer path); 0: default.
void sb_qgemm_set_dequant(int on);
/// Whether sb_qgemm uses int8 dot products for this type (Q4_0, Q4_1, Q8_0 unless dequant mode).
int sb_qgemm_integer(int type);
/// Activation blocks of 32 to int8: q = round(x / d), d = max|x| / 127, s = d Σ q (n a multiple of 32).
void sb_quantize_q8(int8_t *q, float *d, float *s, const float *x, int64_t n);
/// float32 to ggml Q8_0 blocks (34 bytes per 32 values).
void sb_quantize_q8_0_blocks(uint8_t *out, const float *x, int64_t nBlocks);

// --- row-interleaved repacking of Q4_0/Q4_1/Q8_0 for the integer kernels (packed.c) ---
int sb_packed_supported(int type);
/// Bytes of the packed form of a [rows, cols] matrix, or -1 when the type or shape cannot be packed.
int64_t sb_packed_bytes(int type, int64_t rows, int64_t cols);
/// ggml blocks (row-major) to the packed layout (out holds sb_packed_bytes bytes).
void sb_pack(uint8_t *out, int type, const uint8_t *W, int64_t rows, int64_t cols);
void sb_packed_dequant_row(int type, float *out, const uint8_t *P, int64_t row, int64_t cols);
/// y[m * ldy + r] = Σ_k W[r, k] x[m * ldx + k] from a packed W; 0, or -1/-2 as sb_qgemm.
int sb_packed_gemm(float *y, int64_t ldy, int type, const uint8_t *P, int64_t rows, int64_t cols, const float *x, int64_t M, int64_t ldx);
/// 1 when the AVX-512 VNNI body runs; sb_packed_disable_vnni(1) keeps the AVX2 one (tests, benchmarks).
int sb_packed_vnni_active(void);
void sb_packed_disable_vnni(int on);

// --- OpenBLAS's kernel choice (blascore.c: re-selected at load where OpenBLAS fell back to its
// generic kernels on a CPU it does not know) ---
/// The kernel set OpenBLAS runs ("SkylakeX", "Haswell", ...), or "unknown" for another BLAS.
const char *sb_blas_core(void);

// --- bf16 weights: products on the CPU's bf16 units (bf16.c) ---
/// The kernel products with bf16 weights run on: 2 AMX tiles (the CPU has AMX-BF16 and Linux granted
/// the tile state), 1 AVX-512 BF16 dot products, 0 neither (the caller widens the weights for SGEMM).
/// STRAWBERRY_NO_AMX=1 and STRAWBERRY_NO_AVX512_BF16=1 take a kernel away, as sb_bf16_limit does.
int sb_bf16_kernel(void);
/// The best kernel allowed: 2 any (the default), 1 no AMX, 0 none.
void sb_bf16_limit(int kernel);
/// y[m * ldy + r] = Σ_k W[r, k] x[m * ldx + k], m < M, r < rows: W bf16 [rows, K] row-major, x rounded
/// to bf16, float32 accumulation. 0, -1 when no bf16 kernel is active (or an empty shape), -2 out of memory.
int sb_bf16_gemm_xwt(float *y, int64_t ldy, const uint16_t *W, int64_t rows, int64_t K, const float *x, int64_t M, int64_t ldx);
/// dx[m * ldx + c] = Σ_r dy[m * ldy + r] W[r, c], m < M, c < K: the input gradient through a frozen
/// bf16 W [rows, K]; dy rounded to bf16. Returns as sb_bf16_gemm_xwt.
int sb_bf16_gemm_dyw(float *dx, int64_t ldx, const uint16_t *W, int64_t rows, int64_t K, const float *dy, int64_t M, int64_t ldy);

#endif
