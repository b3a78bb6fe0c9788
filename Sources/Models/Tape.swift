// What a training pass hooks into a model's forward: the adapter's term on each linear layer's
// output, and a record of the activations its backward pass reads. The model files have one forward
// per block shape; inference runs it with no tape, training with one (Training/*Training.swift keeps
// only the backward, beside the forward it mirrors).
import TensorCore

/// An activation of one block, by its role; each block shape records the ones its backward reads.
package enum Activation: Int, CaseIterable, Sendable {
    /// x entering the block.
    case input
    /// norm(x), the attention's input.
    case attentionNorm
    /// q|k|v as the projection gives them (Llama: before the q/k norms and RoPE).
    case projected
    /// q|k|v as attention reads them.
    case qkv
    /// The attention output, before the output projection.
    case attention
    /// x after the attention's residual.
    case middle
    /// norm(middle), the MLP's input.
    case mlpNorm
    /// The MLP's first projection (Llama: gate|up, GPT-2: c_fc).
    case mlpUp
    /// After the activation function (Llama: SwiGLU, GPT-2: GELU).
    case mlpActivation
}

package protocol ForwardTape: AnyObject {
    /// `lin(x)` plus the adapter's term, for in-memory weight `weight` of block `layer` (in the order the
    /// forward applies them).
    func linear(_ x: Tensor, _ lin: Linear, layer: Int, weight: String) -> Tensor
    /// Whether activations are kept (a loss-only pass keeps none).
    var keeps: Bool { get }
    func keep(_ value: Tensor, _ role: Activation, layer: Int)
    /// Attention probabilities of block `layer`: per sequence, [heads, T, T].
    func keepProbabilities(_ probs: [Float], layer: Int)
}

extension Optional where Wrapped == any ForwardTape {
    /// `lin(x)` with the tape's term, or plain `lin(x)` without a tape.
    func linear(_ x: Tensor, _ lin: Linear, layer: Int, weight: String) -> Tensor {
        if let tape = self { return tape.linear(x, lin, layer: layer, weight: weight) }
        return lin(x)
    }
    func keep(_ values: [(Tensor, Activation)], layer: Int) {
        guard let tape = self else { return }
        for (v, role) in values { tape.keep(v, role, layer: layer) }
    }
    /// An empty buffer for attention to fill when activations are kept (nil: inference, or a loss-only
    /// pass), which is also what says whether the block keeps anything.
    var probabilities: [Float]? { if let tape = self, tape.keeps { return [] }; return nil }
}
