// Matrix products through CBLAS (OpenBLAS). Everything that is a GEMM goes here, so the
// choice of BLAS and its threading lives in one file.
//
// OpenBLAS runs single-threaded: a large product is cut into column (or row) panels that the
// project's own pool (CKernels/pool.c) hands to whichever thread is free. OpenBLAS's threads
// spin-wait for each other, which on a machine shared with other busy processes made every
// product wait for a descheduled thread; the pool's threads sleep instead, and the caller does the
// panels a late worker never claimed. Small products (LoRA's rank-16 factors) run on the calling
// thread with no hand-off at all.
import CBLAS
import CKernels

public enum BLAS {
    /// OpenBLAS itself stays at one thread (set once, before the first product).
    fileprivate static let singleThreadedOpenBLAS: Void = { openblas_set_num_threads(1) }()
    /// The kernel set OpenBLAS runs here ("SkylakeX", "Haswell", ...; re-selected at load on a CPU newer
    /// than the library, CKernels/blascore.c), for benchmark reports.
    public static var core: String { String(cString: sb_blas_core()) }
    /// Keeps large activation buffers on the heap instead of fresh mmaps, so a forward pass does
    /// not pay a page fault (and a page clear) per 4 KiB of every activation it allocates.
    /// Called once before the first forward pass.
    public static func tuneAllocator() {
        sb_tune_allocator()
    }

    /// Sets the threads every parallel kernel uses (default: the CPUs this process may run on,
    /// from its affinity mask and cgroup CPU quota).
    public static func setThreads(_ n: Int) {
        sb_set_threads(Int32(clamping: max(1, n)))
    }
    public static var threads: Int { Int(sb_threads()) }
    /// CPUs this process may run on (affinity mask, capped by a cgroup CPU quota).
    public static var availableCPUs: Int { Int(sb_available_cpus()) }

    /// C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, row-major, with leading dimensions.
    @inline(__always)
    public static func gemm(
        transA: Bool = false, transB: Bool = false, M: Int, N: Int, K: Int,
        alpha: Float = 1, A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, C: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if M == 0 || N == 0 { return }
        _ = singleThreadedOpenBLAS
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
        var job = GemmJob(transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, A: A, lda: lda, B: B, ldb: ldb,
                          beta: beta, C: C, ldc: ldc, splitColumns: true, per: max(M, N))
        let threads = Int(sb_threads())
        // Below about a million multiply-adds (tens of microseconds) a hand-off costs more than it saves.
        guard threads > 1, M * N * K >= 1 << 20 else { job.panel(0); return }
        // One panel per thread, at least 64 columns (or 32 rows) wide: panels are claimed, so a thread
        // that is late leaves its panel to the others.
        job.splitColumns = N >= M
        let extent = job.splitColumns ? N : M, minimum = job.splitColumns ? 64 : 32
        job.per = max(minimum, (extent + threads - 1) / threads)
        job.per = (job.per + 15) / 16 * 16
        let panels = (extent + job.per - 1) / job.per
        if panels < 2 { job.per = extent; job.panel(0); return }
        withUnsafeMutablePointer(to: &job) { p in
            sb_parallel_for(Int64(panels), { ctx, i in ctx!.assumingMemoryBound(to: GemmJob.self).pointee.panel(Int(i)) }, p)
        }
    }
}

extension BLAS {
    /// C[M,N] = A[M,K] · B[N,K]ᵀ on the calling thread (a panel inside a pool job).
    static func sgemmSingleThreaded(M: Int, N: Int, K: Int, A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
                                    C: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = singleThreadedOpenBLAS
        GemmJob(transA: false, transB: true, M: M, N: N, K: K, alpha: 1, A: A, lda: lda, B: B, ldb: ldb, beta: 0, C: C, ldc: ldc,
                splitColumns: true, per: N).panel(0)
    }

    /// C[M,N] = A[M,K] · B[K,N] on the calling thread.
    static func gemmSingleThreaded(M: Int, N: Int, K: Int, A: UnsafePointer<Float>, lda: Int, B: UnsafePointer<Float>, ldb: Int,
                                   C: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = singleThreadedOpenBLAS
        GemmJob(transA: false, transB: false, M: M, N: N, K: K, alpha: 1, A: A, lda: lda, B: B, ldb: ldb, beta: 0, C: C, ldc: ldc,
                splitColumns: true, per: N).panel(0)
    }
}

/// One SGEMM cut into panels of C: columns j0 ..< j1 read columns j0 ..< j1 of op(B); rows
/// i0 ..< i1 read rows i0 ..< i1 of op(A).
private struct GemmJob {
    var transA: Bool, transB: Bool
    var M: Int, N: Int, K: Int
    var alpha: Float
    var A: UnsafePointer<Float>, lda: Int
    var B: UnsafePointer<Float>, ldb: Int
    var beta: Float
    var C: UnsafeMutablePointer<Float>, ldc: Int
    var splitColumns: Bool
    var per: Int

    func panel(_ i: Int) {
        var a = A, b = B, c = C, m = M, n = N
        if splitColumns {
            let j0 = i * per
            n = min(per, N - j0)
            b = B + (transB ? j0 * ldb : j0)
            c = C + j0
        } else {
            let i0 = i * per
            m = min(per, M - i0)
            a = A + (transA ? i0 : i0 * lda)
            c = C + i0 * ldc
        }
        if m <= 0 || n <= 0 { return }
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(K), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
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
