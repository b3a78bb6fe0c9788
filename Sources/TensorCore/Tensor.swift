// A dense, row-major float32 tensor: a shape and a flat buffer. Value semantics (copy on write
// through Swift's Array), so weights can be shared freely and activations mutated in place.
//
// Shapes follow PyTorch's order (outermost first); a linear layer's weight is [out, in].

public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    /// Wraps `storage` as `shape`. The element count must match: a mismatch is a programming error.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == storage.count, "shape \(shape) does not hold \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, storage: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// A tensor whose every element the caller overwrites before reading (a GEMM output with
    /// beta = 0, a kernel's destination). Skips zero-filling, which costs as much as a small GEMM.
    public init(uninitialized shape: [Int]) {
        let n = shape.reduce(1, *)
        self.init(shape: shape, storage: [Float](unsafeUninitializedCapacity: n) { _, count in count = n })
    }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }
    /// Size of the last dimension (the contiguous one).
    public var cols: Int { shape.last ?? 1 }
    /// Number of rows when viewed as a matrix [count / cols, cols].
    public var rows: Int { cols == 0 ? 0 : count / cols }

    /// The same elements under another shape with the same count.
    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, storage: storage) }

    /// Row `i` of the matrix view, copied.
    public func row(_ i: Int) -> [Float] { Array(storage[(i * cols)..<((i + 1) * cols)]) }

    /// Rows `range` of the matrix view as a new tensor [range.count, cols].
    public func rows(_ range: Range<Int>) -> Tensor {
        Tensor(shape: [range.count, cols], storage: Array(storage[(range.lowerBound * cols)..<(range.upperBound * cols)]))
    }

    /// The matrix view transposed: [r, c] → [c, r].
    public func transposed() -> Tensor {
        let r = rows, c = cols
        var out = [Float](repeating: 0, count: count)
        storage.withUnsafeBufferPointer { src in
            for i in 0..<r { for j in 0..<c { out[j * r + i] = src[i * c + j] } }
        }
        return Tensor(shape: [c, r], storage: out)
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String { "Tensor\(shape)" }
}
