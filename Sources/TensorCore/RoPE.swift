// Rotary position embedding (Su et al. 2021). Hugging Face Llama/Qwen3 rotate the two halves
// of each head ("neox" style); GPT-J and Meta's original Llama code rotate interleaved pairs.
// The angle table is computed in float32 exactly as transformers does: inv_freq = 1/θ^(2i/d),
// angle = Float(pos) · inv_freq, then cos/sin, so logits match PyTorch to rounding.
import CKernels
import Foundation

public struct RotaryEmbedding: Sendable {
    public enum Style: String, Sendable { case halves, interleaved }

    public let headDim: Int
    public let theta: Float
    public let style: Style
    let invFreq: [Float]

    public init(headDim: Int, theta: Float, style: Style = .halves) {
        self.headDim = headDim
        self.theta = theta
        self.style = style
        invFreq = (0..<(headDim / 2)).map { i in
            let exponent = Float(2 * i) / Float(headDim)
            return 1 / Float(pow(Double(theta), Double(exponent)))
        }
    }

    /// cos and sin of the angles for each of `positions`, computed once per forward and shared by all layers.
    public func table(positions: [Int]) -> Table {
        var c = [Float](), s = [Float]()
        c.reserveCapacity(positions.count * invFreq.count)
        s.reserveCapacity(positions.count * invFreq.count)
        for position in positions {
            let p = Float(position)
            for f in invFreq {
                let angle = Double(p * f)
                c.append(Float(Foundation.cos(angle)))
                s.append(Float(Foundation.sin(angle)))
            }
        }
        return Table(half: invFreq.count, cos: c, sin: s)
    }

    /// Angles for a list of positions: row i holds headDim/2 cosines and sines.
    public struct Table: Sendable {
        public let half: Int
        public let cos: [Float]
        public let sin: [Float]
    }

    /// Rotates `nHeads` heads of one token (contiguous at `x`) by row `row` of `table`.
    public func apply(_ x: UnsafeMutablePointer<Float>, nHeads: Int, row: Int, table: Table) {
        table.cos.withUnsafeBufferPointer { cp in
            table.sin.withUnsafeBufferPointer { sp in
                sb_rope(x, Int64(nHeads), Int64(headDim), cp.baseAddress! + row * table.half,
                        sp.baseAddress! + row * table.half, style == .halves ? 1 : 0)
            }
        }
    }
}
