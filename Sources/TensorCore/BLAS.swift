// Matrix products through CBLAS (OpenBLAS). Everything that is a GEMM goes here, so the
// choice of BLAS and its threading lives in one file.
import CBLAS
import CKernels

public enum BLAS {
    /// Keeps large activation buffers on the heap instead of fresh mmaps, so a forward pass does
    /// not pay a page fault (and a page clear) per 4 KiB of every activation it allocates.
    /// Called once before the first forward pass.
    public static func tuneAllocator() {
        sb_tune_allocator()
    }

    /// Sets the number of OpenBLAS threads (the machine's cores by default).
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
        sb_gemv_set_threads(Int32(min(max(1, n), 2)))
    }
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, row-major, with leading dimensions.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
        alpha: Float = 1, A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if M == 0 || N == 0 { return }
        if M == 1 && !transA && transB && ldb == K && beta == 0 && alpha == 1 {
            // y = W x with W packed [N, K]: decode's matrix-vector product, on our own two-thread kernel.
            sb_gemv(C, B, A, Int64(N), Int64(K))
            return
        }
        if M == 1 && !transA {
            // One row: y = x · op(B). A GEMV streams B once.
            cblas_sgemv(
                CblasRowMajor, transB ? CblasNoTrans : CblasTrans, Int32(transB ? N : K), Int32(transB ? K : N),
                alpha, B, Int32(ldb), A, 1, beta, C, 1)
            return
        }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(M), Int32(N), Int32(K), alpha, A, Int32(lda), B, Int32(ldb), beta, C, Int32(ldc))
    }
}

/// y[N, out] = x[N, in] · wᵀ (+ bias): the linear layer, with w stored [out, in] like torch.nn.Linear.
public func linear(_ x: Tensor, _ w: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(x.cols == w.cols, "linear: x has \(x.cols) features, weight expects \(w.cols)")
    let n = x.rows, out = w.rows, inF = w.cols
    var y = Tensor(uninitialized: [n, out])
    if let bias {
        // Start from the bias in every row so the GEMM accumulates onto it (beta = 1).
        y.storage.withUnsafeMutableBufferPointer { yp in
            for r in 0..<n { for j in 0..<out { yp[r * out + j] = bias.storage[j] } }
        }
    }
    x.storage.withUnsafeBufferPointer { xp in
        w.storage.withUnsafeBufferPointer { wp in
            y.storage.withUnsafeMutableBufferPointer { yp in
                BLAS.gemm(transB: true, M: n, N: out, K: inF, A: xp.baseAddress!, lda: inF,
                          B: wp.baseAddress!, ldb: inF, beta: bias == nil ? 0 : 1, C: yp.baseAddress!, ldc: out)
            }
        }
    }
    return y.reshaped(Array(x.shape.dropLast()) + [out])
}

/// c[M, N] = a[M, K] · b[K, N] (or with either operand transposed).
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
    let (M, K) = transposeA ? (a.cols, a.rows) : (a.rows, a.cols)
    let (K2, N) = transposeB ? (b.cols, b.rows) : (b.rows, b.cols)
    precondition(K == K2, "matmul: inner dimensions \(K) and \(K2) differ")
    var c = Tensor(uninitialized: [M, N])
    a.storage.withUnsafeBufferPointer { ap in
        b.storage.withUnsafeBufferPointer { bp in
            c.storage.withUnsafeMutableBufferPointer { cp in
                BLAS.gemm(transA: transposeA, transB: transposeB, M: M, N: N, K: K,
                          A: ap.baseAddress!, lda: a.cols, B: bp.baseAddress!, ldb: b.cols, C: cp.baseAddress!, ldc: N)
            }
        }
    }
    return c
}
