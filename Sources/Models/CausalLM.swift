// The interface every architecture implements, and the batch a forward pass consumes.
//
// A batch is a list of sequences, each appending `tokens` to its own KV-cache slot. The tokens
// of all sequences are stacked into one [N, C] activation so every linear layer is a single
// GEMM (no padding rows); attention then runs per sequence over that slot's cache. Padded
// batches in the Hugging Face sense (input_ids + attention_mask) map onto this by dropping the
// padding positions, which is exactly what the mask does.
import TensorCore

public struct ForwardBatch: Sendable {
    public struct Sequence: Sendable {
        public var slot: Int
        public var tokens: [Int]
        public init(slot: Int, tokens: [Int]) { self.slot = slot; self.tokens = tokens }
    }
    public var sequences: [Sequence]
    public init(_ sequences: [Sequence]) { self.sequences = sequences }
    public init(tokens: [Int], slot: Int = 0) { sequences = [Sequence(slot: slot, tokens: tokens)] }

    public var tokenCount: Int { sequences.reduce(0) { $0 + $1.tokens.count } }
    public var allTokens: [Int] { sequences.flatMap(\.tokens) }
    /// First stacked row of each sequence.
    public var rowOffsets: [Int] {
        var o: [Int] = [], r = 0
        for s in sequences { o.append(r); r += s.tokens.count }
        return o
    }
}

public enum LogitsMode: Sendable {
    /// Logits for every input token: [N, V].
    case all
    /// Logits for the last token of each sequence only: [sequences, V] (what generation needs).
    case last
}

public protocol CausalLM: Sendable {
    var config: ModelConfig { get }
    /// Runs the batch, appending its keys/values to `cache`, and returns logits.
    func forward(_ batch: ForwardBatch, cache: KVCache, logits: LogitsMode) throws -> Tensor
    /// Adds `delta` [rows, in] into rows [slot.row0, slot.row0 + rows) of the in-memory weight
    /// `slot.weight` of block `layer` (folding a LoRA update into a possibly fused weight).
    mutating func add(_ delta: Tensor, to slot: LinearSlot, layer: Int) throws
    /// Every weight under its Hugging Face name and layout: what an exported checkpoint holds.
    func huggingFaceTensors() -> [(name: String, tensor: Tensor)]
    /// The matrices as they sit in memory (embeddings, LM head, linear layers), for `inspect`.
    func matrices() -> [WeightMatrix]
}

extension CausalLM {
    /// "Q4_1 ×210 (62.3 MB), Q8_0 ×1 (30.1 MB)": what the matrices occupy, by format.
    public var memorySummary: String {
        var byFormat: [String: (count: Int, bytes: Int)] = [:]
        for m in matrices() { byFormat[m.formatName, default: (0, 0)].count += 1; byFormat[m.formatName, default: (0, 0)].bytes += m.bytesInMemory }
        let total = byFormat.values.reduce(0) { $0 + $1.bytes }
        return byFormat.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value.count) (\(megabytes($0.value.bytes)))" }.joined(separator: ", ")
            + "; \(megabytes(total)) in all"
    }

    public func makeCache(slots: Int = 1) -> KVCache {
        KVCache(layers: config.layers, kvDim: config.kvDim, slots: slots)
    }

    /// Positions of each sequence's new tokens, checked against the vocabulary and context.
    package func positions(_ batch: ForwardBatch, cache: KVCache) throws -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(batch.tokenCount)
        for s in batch.sequences {
            let past = cache.lengths[s.slot]
            for (i, id) in s.tokens.enumerated() {
                guard id >= 0, id < config.vocabSize else { throw ModelError.tokenOutOfRange(id: id, vocabulary: config.vocabSize) }
                guard past + i < config.contextLength else { throw ModelError.contextExceeded(position: past + i, limit: config.contextLength) }
                out.append(past + i)
            }
        }
        return out
    }

    /// The rows whose logits are wanted.
    func logitRows(_ batch: ForwardBatch, _ mode: LogitsMode) -> [Int] {
        switch mode {
        case .all: return Array(0..<batch.tokenCount)
        case .last: return zip(batch.rowOffsets, batch.sequences).map { $0 + $1.tokens.count - 1 }
        }
    }
}

func megabytes(_ bytes: Int) -> String {
    let mb = Double(bytes) / 1_000_000
    return mb >= 100 ? "\(Int(mb.rounded())) MB" : "\((mb * 10).rounded() / 10) MB"
}
