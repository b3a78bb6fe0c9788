// Model files whose metadata lies: each must end in a clear error, quickly and without sizing
// buffers from the lie (a layer count of millions, a token-type table longer than the vocabulary).
import Foundation
import ModelFormats
import Models
import TestSupport
import XCTest

final class HostileMetadataTests: XCTestCase {
    /// The fixture's GGUF with the u32 value of metadata `key` replaced.
    func patched(_ key: String, _ value: UInt32) throws -> String {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestPaths.fixtures + "/models/llama/model.gguf")))
        let needle = withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { Array($0) } + Array(key.utf8)
        let at = try XCTUnwrap((0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }, key)
        let typeAt = at + needle.count
        XCTAssertEqual(bytes[typeAt], 4, "\(key) is a uint32")
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[typeAt + 4 + i] = b } }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hostile-\(getpid())-\(key)-\(value).gguf").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testLyingLayerCountsAndSizesAreRefusedBeforeAllocating() throws {
        for (key, value, expected) in [("llama.block_count", UInt32(1 << 22), "num_hidden_layers"), ("llama.block_count", 3, "layers"),
                                       ("llama.block_count", 0, "num_hidden_layers"), ("llama.attention.head_count", 1 << 23, "heads")] {
            let t0 = Date()
            XCTAssertThrowsError(try LoadedModel.load(path: try patched(key, value)), "\(key)=\(value)") {
                XCTAssertTrue("\($0)".contains(expected), "\(key)=\(value): \($0)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(t0), 5, "\(key)=\(value)")
        }
    }

    func testOneFileOfACheckpointIsNotAModel() {
        XCTAssertThrowsError(try LoadedModel.load(path: TestPaths.fixtures + "/models/llama/model.safetensors")) {
            XCTAssertTrue("\($0)".contains("not a model"), "\($0)")
        }
    }

    /// NaN weights make every logit NaN: the file is refused, naming the tensor.
    func testNonFiniteWeightsAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nan-model-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.copyItem(atPath: TestPaths.fixtures + "/models/llama", toPath: dir)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/model.safetensors")))
        let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let nan = withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) }
        for i in 0..<4 { bytes[8 + headerLength + i] = nan[i] }   // the first float of the data buffer
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
        XCTAssertThrowsError(try LoadedModel.load(path: dir)) { XCTAssertTrue("\($0)".contains("NaN"), "\($0)") }
    }

    /// The same for weights kept in their blocks (`--weights native`): an infinite fp16 scale in one
    /// Q4_1 block of the real model is found from the scales alone, and named.
    func testNonFiniteQuantisedScaleIsRefused() throws {
        let source = try TestPaths.requireAsset(TestPaths.smolLM2)
        let info = try XCTUnwrap(GGUFFile(path: source).info("blk.3.ffn_up.weight"))
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        let block = info.range.lowerBound + 7 * 20       // the eighth Q4_1 block of the tensor
        bytes[block] = 0x00; bytes[block + 1] = 0x7c      // its scale d = +inf
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("inf-scale-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try LoadedModel.load(path: path, precision: .native)) {
            XCTAssertTrue("\($0)".contains("mlp.up_proj") && "\($0)".contains("infinite"), "\($0)")
        }
        XCTAssertThrowsError(try LoadedModel.load(path: path, precision: .f32)) { XCTAssertTrue("\($0)".contains("infinite"), "\($0)") }
    }
}
