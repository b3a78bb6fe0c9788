// GGUF reading against files written by the reference `gguf` package
// (Tests/Fixtures/make_gguf_fixtures.py): every metadata value type, and dequantisation of every
// supported block type, through both the AVX2 and the portable kernels.
import CKernels
import Foundation
import ModelFormats
import TestSupport
import Tokenization
import XCTest

final class GGUFTests: XCTestCase {
    let dir = TestPaths.fixtures + "/gguf"

    func testEveryMetadataValueType() throws {
        let f = try GGUFFile(path: dir + "/all_types.gguf")
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.architecture, "llama")
        XCTAssertEqual(f.int("t.u8"), 200)
        XCTAssertEqual(f.int("t.i8"), -100)
        XCTAssertEqual(f.int("t.u16"), 60000)
        XCTAssertEqual(f.int("t.i16"), -30000)
        XCTAssertEqual(f.int("t.u32"), 4_000_000_000)
        XCTAssertEqual(f.int("t.i32"), -2_000_000_000)
        XCTAssertEqual(f.double("t.f32"), 1.5)
        XCTAssertEqual(f.metadata["t.bool"], .bool(true))
        XCTAssertEqual(f.string("t.string"), "straw🍓berry")
        XCTAssertEqual(f.metadata["t.u64"], .uint(UInt64(1) << 63 + 5))
        XCTAssertEqual(f.int("t.i64"), -(1 << 62))
        XCTAssertEqual(f.double("t.f64"), 2.718281828459045)
        XCTAssertEqual(f.metadata["t.array_i32"], .array([.int(1), .int(-2), .int(3)]))
        XCTAssertEqual(f.metadata["t.array_str"], .array([.string("a"), .string(""), .string("ccc")]))
        XCTAssertEqual(f.metadata["t.array_nested"], .array([.array([.int(1), .int(2)]), .array([.int(3)])]))
        XCTAssertEqual(f.info("tiny")?.shape, [2, 3])
        XCTAssertEqual(try f.float32("tiny"), [0, 1, 2, 3, 4, 5])
    }

    func testDequantizationMatchesReference() throws {
        let f = try GGUFFile(path: dir + "/quant_blocks.gguf")
        let expected = try TestPaths.loadJSON(dir + "/quant_expected.json") as! [String: [Double]]
        XCTAssertEqual(Set(f.tensors.map(\.type)), [.f32, .f16, .bf16, .q4_0, .q4_1, .q8_0, .q4_k, .q6_k])
        defer { sb_force_portable(0) }
        for portable in [false, true] {
            sb_force_portable(portable ? 1 : 0)
            for (name, want) in expected {
                let got = try f.float32(name)
                let err = maxRelativeError(got, want.map { Float($0) })
                XCTAssertLessThanOrEqual(err, 1e-6, "\(name) portable=\(portable): rel err \(err)")
            }
        }
    }

    func testUnsupportedQuantTypeIsAClearError() throws {
        var b = GGUFBuilder()
        b.tensor("w", dims: [32], type: 6, data: [UInt8](repeating: 0, count: 22))  // Q5_0: parsed, not dequantised
        let path = try b.write(to: temporaryPath("q5.gguf"))
        let f = try GGUFFile(path: path)
        XCTAssertThrowsError(try f.float32("w")) { XCTAssertTrue("\($0)".contains("Q5_0"), "\($0)") }
    }
}

extension GGUFTests {
    /// tokenizer.ggml.token_type must have one entry per token: a longer table once indexed past the vocabulary.
    func testTokenTypeTableMustMatchTheVocabulary() throws {
        func strings(_ xs: [String]) -> [UInt8] { GGUFBuilder.le(UInt32(8)) + GGUFBuilder.le(UInt64(xs.count)) + xs.flatMap(GGUFBuilder.str) }
        func ints(_ xs: [Int32]) -> [UInt8] { GGUFBuilder.le(UInt32(5)) + GGUFBuilder.le(UInt64(xs.count)) + xs.flatMap { GGUFBuilder.le($0) } }
        for (types, ok) in [([1, 1, 3] as [Int32], true), ([1, 1, 3, 3, 3], false), ([1], false)] {
            var b = GGUFBuilder()
            b.kv("general.architecture", type: 8, GGUFBuilder.str("llama"))
            b.kv("tokenizer.ggml.model", type: 8, GGUFBuilder.str("gpt2"))
            b.kv("tokenizer.ggml.tokens", type: 9, strings(["a", "b", "<|end|>"]))
            b.kv("tokenizer.ggml.token_type", type: 9, ints(types))
            b.kv("tokenizer.ggml.merges", type: 9, strings([]))
            let f = try GGUFFile(path: b.write(to: temporaryPath("token-types-\(types.count).gguf")))
            if ok { XCTAssertEqual(try Tokenizer.gguf(f).vocabularySize, 3) } else {
                XCTAssertThrowsError(try Tokenizer.gguf(f)) { XCTAssertTrue("\($0)".contains("token_type"), "\($0)") }
            }
        }
    }
}

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strawberry-tests-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// Builds GGUF bytes field by field, so tests can write valid files and then break one thing.
struct GGUFBuilder {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var kvs: [(String, UInt32, [UInt8])] = []
    var tensors: [(name: String, dims: [UInt64], type: UInt32, offset: UInt64?)] = []
    var data: [UInt8] = []
    var alignment = 32
    var tensorCountOverride: UInt64?
    var kvCountOverride: UInt64?

    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    mutating func kv(_ key: String, type: UInt32, _ value: [UInt8]) { kvs.append((key, type, value)) }

    /// Adds a tensor whose data is appended at the next aligned offset.
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, data bytes: [UInt8], offset: UInt64? = nil) {
        while data.count % alignment != 0 { data.append(0) }
        tensors.append((name, dims, type, offset ?? UInt64(data.count)))
        data += bytes
    }

    func bytes() -> [UInt8] {
        var out = magic + Self.le(version) + Self.le(tensorCountOverride ?? UInt64(tensors.count)) + Self.le(kvCountOverride ?? UInt64(kvs.count))
        for (k, t, v) in kvs { out += Self.str(k) + Self.le(t) + v }
        for t in tensors {
            out += Self.str(t.name) + Self.le(UInt32(t.dims.count))
            for d in t.dims { out += Self.le(d) }
            out += Self.le(t.type) + Self.le(t.offset!)
        }
        while out.count % alignment != 0 { out.append(0) }
        return out + data
    }

    func write(to path: String) throws -> String {
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
        return path
    }
}
