// Strict, table-driven weight loading. An architecture lists the tensors it needs by their
// Hugging Face names and shapes; a `WeightSource` (safetensors checkpoint or GGUF file) serves
// them as float32, or a GGUF file's matrices in their own block format when asked to keep them.
// Anything missing, left over or mis-shaped is reported together, by name.
import ModelFormats
import TensorCore

/// How a model's matrices sit in memory.
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// Everything float32: training, parity tests, the reference numerics.
    case f32
    /// A GGUF file's quantised matrices (Q4_0, Q4_1, Q8_0, Q4_K, Q6_K) stay in their blocks and are
    /// computed from them; float tensors and other files load as float32.
    case native
    /// Every matrix quantised to Q8_0 at load (for float32 or bf16 checkpoints).
    case q8_0
    /// Every matrix rounded to bfloat16 at load (a GGUF file's bf16 tensors kept as they are): half
    /// float32's memory, products in float32 (training's `precision: bf16`).
    case bf16
}

extension WeightPrecision {
    /// A float32 matrix in the format this precision holds it in; nil: it stays float32 (f32, native,
    /// or a matrix the format cannot hold).
    public func requantized(_ t: Tensor) -> QuantizedMatrix? {
        switch self {
        case .f32, .native: nil
        case .q8_0: QuantizedMatrix.q8_0(t)
        case .bf16: QuantizedMatrix.bf16(t)
        }
    }
}

public protocol WeightSource {
    var path: String { get }
    /// Every tensor name the source holds, in Hugging Face naming.
    var names: [String] { get }
    func shape(of name: String) -> [Int]?
    func load(_ name: String) throws -> Tensor
    /// The tensor in its file's block format, in Hugging Face layout, or nil when it is not stored
    /// in a format `QuantizedMatrix` computes with.
    func quantized(_ name: String) throws -> QuantizedMatrix?
}

extension WeightSource {
    public func quantized(_ name: String) throws -> QuantizedMatrix? { nil }
}

/// Collects expected tensors, then loads them all or reports every mismatch at once.
public struct WeightTable {
    public private(set) var expected: [(name: String, shape: [Int])] = []
    /// Names the source may hold that are fine to ignore (e.g. GPT-2's causal-mask buffers).
    public var ignorable: (String) -> Bool = { _ in false }

    public init() {}

    public mutating func add(_ name: String, _ shape: [Int]) { expected.append((name, shape)) }

    public func load(from source: WeightSource) throws -> [String: Tensor] {
        try load(from: source, precision: .f32, matrices: []).mapValues(\.dense)
    }

    /// Loads every expected tensor; those named in `matrices` (2-D weights a linear layer or an
    /// embedding reads) follow `precision`, everything else is float32.
    public func load(from source: WeightSource, precision: WeightPrecision, matrices: Set<String>) throws -> [String: WeightMatrix] {
        var missing: [String] = [], misshaped: [String] = []
        for (name, shape) in expected {
            guard let s = source.shape(of: name) else { missing.append(name); continue }
            if s != shape { misshaped.append("\(name) expected \(shape), found \(s)") }
        }
        let wanted = Set(expected.map(\.name))
        let unexpected = source.names.filter { !wanted.contains($0) && !ignorable($0) }.sorted()
        guard missing.isEmpty, unexpected.isEmpty, misshaped.isEmpty else {
            throw ModelError.weights(path: source.path, missing: missing, unexpected: unexpected, misshaped: misshaped)
        }
        var out: [String: WeightMatrix] = [:]
        for (name, _) in expected {
            let isMatrix = matrices.contains(name)
            // native keeps a GGUF file's blocks, bf16 a file's bf16 tensors; anything else is read as float32.
            let stored = isMatrix && (precision == .native || precision == .bf16) ? try source.quantized(name) : nil
            if let q = stored, precision == .native || q.format == .bf16 {
                // NaN or infinite weights make every logit NaN: refuse the file instead of generating garbage.
                guard q.allFinite else { throw ModelError.nonFiniteWeights(path: source.path, tensor: name) }
                out[name] = .quantized(q)
                continue
            }
            let t = try source.load(name)
            guard t.storage.allSatisfy(\.isFinite) else { throw ModelError.nonFiniteWeights(path: source.path, tensor: name) }
            if isMatrix, let q = precision.requantized(t) { out[name] = .quantized(q) } else { out[name] = .dense(t) }
        }
        return out
    }
}

/// A Hugging Face safetensors checkpoint (single file or sharded).
public struct SafetensorsSource: WeightSource {
    public let path: String
    let checkpoint: SafetensorsCheckpoint

    public init(directory: String) throws {
        path = directory
        checkpoint = try SafetensorsCheckpoint(directory: directory)
    }

    public var names: [String] { checkpoint.names }
    public func shape(of name: String) -> [Int]? { checkpoint.info(name)?.info.shape }
    public func load(_ name: String) throws -> Tensor {
        Tensor(shape: shape(of: name) ?? [], storage: try checkpoint.float32(name))
    }
}

/// A GGUF file seen through Hugging Face names. llama.cpp's converter renames tensors and, for
/// the `llama` architecture, permutes the rows of attn_q/attn_k per head; both are undone here so
/// that one RoPE convention and PEFT adapters trained on HF checkpoints apply unchanged.
public struct GGUFSource: WeightSource {
    public let file: GGUFFile
    public let config: ModelConfig
    /// HF name → GGUF name
    let map: [String: String]

    public var path: String { file.path }

    public init(file: GGUFFile, config: ModelConfig) {
        self.file = file
        self.config = config
        var map: [String: String] = [:]
        for t in file.tensors {
            if let hf = Self.huggingFaceName(t.name, architecture: config.architecture.descriptor) { map[hf] = t.name }
            else { map["gguf:" + t.name] = t.name }  // unknown names surface as "unexpected"
        }
        self.map = map
    }

    public var names: [String] { Array(map.keys) }
    public func shape(of name: String) -> [Int]? {
        guard let s = map[name].flatMap({ file.info($0)?.shape }) else { return nil }
        return isConv1D(name) ? s.reversed() : s
    }

    /// Conv1D weights (GPT-2) are [in, out] in Hugging Face files; the converter stores them [out, in].
    func isConv1D(_ name: String) -> Bool {
        let a = config.architecture.descriptor
        return a.conv1DWeights && name.hasSuffix(".weight") && a.linears(config).contains { name.hasSuffix(".\($0.module).weight") }
    }

    public func load(_ name: String) throws -> Tensor {
        guard let g = map[name], let info = file.info(g) else { throw ModelFormatError.tensorNotFound(path: path, name: name) }
        var t = Tensor(shape: info.shape, storage: try file.float32(g))
        if isConv1D(name) { t = t.transposed() }
        if config.architecture.descriptor.ggufPermutesQK {
            if name.hasSuffix("self_attn.q_proj.weight") { t = Self.unpermute(t, heads: config.heads) }
            if name.hasSuffix("self_attn.k_proj.weight") { t = Self.unpermute(t, heads: config.kvHeads) }
        }
        return t
    }

    public func quantized(_ name: String) throws -> QuantizedMatrix? {
        guard let g = map[name], let info = file.info(g), info.shape.count == 2, !isConv1D(name),
              let format = QuantizedMatrix.Format(rawValue: Int32(info.type.rawValue)) else { return nil }
        guard let q = QuantizedMatrix(format: format, rows: info.shape[0], cols: info.shape[1], bytes: try file.rawBytes(g)) else {
            throw ModelFormatError.unsupported(path: path, format: "GGUF",
                                               reason: "tensor '\(g)' of shape \(info.shape) is not a whole number of \(format.name) blocks per row")
        }
        if config.architecture.descriptor.ggufPermutesQK {
            if name.hasSuffix("self_attn.q_proj.weight") { return q.selectingRows(Self.unpermutation(rows: q.rows, heads: config.heads)) }
            if name.hasSuffix("self_attn.k_proj.weight") { return q.selectingRows(Self.unpermutation(rows: q.rows, heads: config.kvHeads)) }
        }
        return q
    }

    /// The GGUF row each Hugging Face row comes from (see `unpermute`).
    static func unpermutation(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads, half = d / 2
        var order = [Int](repeating: 0, count: rows)
        for h in 0..<heads { for i in 0..<half { for j in 0..<2 { order[h * d + j * half + i] = h * d + 2 * i + j } } }
        return order
    }

    /// Inverse of the converter's `w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2)`:
    /// GGUF row h·d + 2i + j holds HF row h·d + j·(d/2) + i.
    static func unpermute(_ w: Tensor, heads: Int) -> Tensor {
        let rows = w.rows, cols = w.cols, d = rows / heads, half = d / 2
        var out = [Float](repeating: 0, count: w.count)
        w.storage.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads { for i in 0..<half { for j in 0..<2 {
                    let g = h * d + 2 * i + j, hf = h * d + j * half + i
                    (dst.baseAddress! + hf * cols).update(from: src.baseAddress! + g * cols, count: cols)
                } } }
            }
        }
        return Tensor(shape: w.shape, storage: out)
    }

    /// llama.cpp tensor name → Hugging Face name, from the architecture's descriptor.
    static func huggingFaceName(_ g: String, architecture a: ArchitectureDescriptor) -> String? {
        if let name = a.ggufTopLevel[g] { return name }
        let parts = g.split(separator: ".").map(String.init)
        guard parts.count == 4, parts[0] == "blk", let n = Int(parts[1]), let module = a.ggufBlockModules[parts[2]] else { return nil }
        return "\(a.ggufBlockPrefix)\(n).\(module).\(parts[3])"
    }
}
