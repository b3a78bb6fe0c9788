// ggml tensor types that GGUF files carry, with their block geometry, and dequantisation to
// float32 (kernels in CKernels/kernels.c). Block layouts (ggml-common.h), scales are fp16:
//   Q4_0  32 values, 18 bytes: d, qs[16]            y = (nibble - 8)·d; low nibbles are values 0..15, high 16..31
//   Q4_1  32 values, 20 bytes: d, m, qs[16]         y = nibble·d + m
//   Q8_0  32 values, 34 bytes: d, qs[32] (int8)     y = q·d
//   Q4_K 256 values, 144 bytes: d, dmin, scales[12] (8 × 6-bit scale and min), qs[128]
//                               per 64 values: y = d·sc·nibble − dmin·m (low nibbles, then high)
//   Q6_K 256 values, 210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d
//                               y = d·scale·(q − 32), in two halves of 128
import CKernels

public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, bf16 = 30

    /// (values per block, bytes per block)
    public var block: (values: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 36)
        case .q2_k: return (256, 84)
        case .q3_k: return (256, 110)
        case .q4_k: return (256, 144)
        case .q5_k: return (256, 176)
        case .q6_k: return (256, 210)
        case .q8_k: return (256, 292)
        case .i8: return (1, 1)
        case .i16: return (1, 2)
        case .i32: return (1, 4)
        case .i64, .f64: return (1, 8)
        }
    }

    public var name: String { String(describing: self).uppercased() }

    /// Whether `dequantize` can turn this type into float32.
    public var isDequantizable: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q8_0, .q4_k, .q6_k: return true
        default: return false
        }
    }

    /// Bytes for `elements` values, or nil if it is not a whole number of blocks or overflows.
    public func byteCount(elements: Int) -> Int? {
        let (v, b) = block
        guard elements % v == 0 else { return nil }
        let (r, o) = (elements / v).multipliedReportingOverflow(by: b)
        return o ? nil : r
    }
}

/// Converts `elements` values of type `type` at `raw` to float32. `raw` must hold exactly
/// `type.byteCount(elements:)` bytes (checked by the caller, which knows the file).
public func dequantize(_ type: GGMLType, _ raw: UnsafeRawBufferPointer, elements: Int) -> [Float]? {
    guard type.isDequantizable, type.byteCount(elements: elements) == raw.count else { return nil }
    var out = [Float](repeating: 0, count: elements)
    // Copy to an aligned buffer first: tensor data in a GGUF is only guaranteed 1-aligned in a hostile file.
    let bytes = [UInt8](raw)
    let nBlocks = Int64(elements / type.block.values)
    out.withUnsafeMutableBufferPointer { o in
        bytes.withUnsafeBufferPointer { b in
            let y = o.baseAddress!, p = b.baseAddress!
            switch type {
            case .f32: UnsafeMutableRawPointer(y).copyMemory(from: p, byteCount: elements * 4)
            case .f16: p.withMemoryRebound(to: UInt16.self, capacity: elements) { sb_f16_to_f32(y, $0, Int64(elements)) }
            case .bf16: p.withMemoryRebound(to: UInt16.self, capacity: elements) { sb_bf16_to_f32(y, $0, Int64(elements)) }
            case .q4_0: sb_dequant_q4_0(y, p, nBlocks)
            case .q4_1: sb_dequant_q4_1(y, p, nBlocks)
            case .q8_0: sb_dequant_q8_0(y, p, nBlocks)
            case .q4_k: sb_dequant_q4_k(y, p, nBlocks)
            case .q6_k: sb_dequant_q6_k(y, p, nBlocks)
            default: break
            }
        }
    }
    return out
}
