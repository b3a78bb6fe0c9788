// Hand-corrupted files, one defect each: every one must end in a typed ModelFormatError that
// names the file (never a crash, never a silent success).
import Foundation
import ModelFormats
import TestSupport
import XCTest

final class CorruptFileTests: XCTestCase {
    func expectFailure(_ bytes: [UInt8], _ what: String, contains fragment: String? = nil,
                       open: (String) throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        let path = temporaryPath("corrupt-\(abs(what.hashValue)).bin")
        try! Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try open(path), what, file: file, line: line) { error in
            guard let e = error as? ModelFormatError else { return XCTFail("\(what): untyped error \(error)", file: file, line: line) }
            XCTAssertTrue(e.description.contains(path), "\(what): message does not name the file: \(e)", file: file, line: line)
            if let fragment { XCTAssertTrue(e.description.contains(fragment), "\(what): \(e)", file: file, line: line) }
        }
    }

    func valid() -> GGUFBuilder {
        var b = GGUFBuilder()
        b.kv("general.architecture", type: 8, GGUFBuilder.str("llama"))
        b.kv("n", type: 4, GGUFBuilder.le(UInt32(7)))
        b.tensor("a", dims: [4, 2], type: 0, data: [UInt8](repeating: 0, count: 32))
        b.tensor("b", dims: [32], type: 8, data: [UInt8](repeating: 0, count: 34))
        return b
    }

    func testValidBuilderFileOpens() throws {
        let f = try GGUFFile(path: valid().write(to: temporaryPath("valid.gguf")))
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b"])
        XCTAssertEqual(try f.float32("a").count, 8)
    }

    func testCorruptGGUF() {
        let open: (String) throws -> Void = { _ = try GGUFFile(path: $0) }
        var b = valid(); b.magic = Array("GGML".utf8)
        expectFailure(b.bytes(), "bad magic", contains: "magic", open: open)
        b = valid(); b.version = 4
        expectFailure(b.bytes(), "version 4", contains: "version", open: open)
        expectFailure(Array(valid().bytes().prefix(10)), "truncated header", open: open)
        expectFailure(Array(valid().bytes().dropLast(5)), "truncated data", contains: "past the end", open: open)
        expectFailure([], "empty file", open: open)
        b = valid(); b.tensorCountOverride = UInt64.max
        expectFailure(b.bytes(), "huge tensor count", open: open)
        b = valid(); b.kvCountOverride = 1 << 40
        expectFailure(b.bytes(), "huge kv count", open: open)
        b = valid(); b.kv("s", type: 8, GGUFBuilder.le(UInt64.max))
        expectFailure(b.bytes(), "string length overflow", open: open)
        b = valid(); b.kv("arr", type: 9, GGUFBuilder.le(UInt32(4)) + GGUFBuilder.le(UInt64(1) << 60))
        expectFailure(b.bytes(), "array count beyond file", open: open)
        b = valid(); b.kv("bad", type: 13, [])
        expectFailure(b.bytes(), "unknown value type", contains: "value type", open: open)
        b = valid(); b.kv("bool", type: 7, [2])
        expectFailure(b.bytes(), "bool not 0/1", open: open)
        b = valid(); b.kv("n", type: 4, GGUFBuilder.le(UInt32(1)))
        expectFailure(b.bytes(), "duplicate key", contains: "duplicate", open: open)
        b = valid(); b.kv("general.alignment", type: 4, GGUFBuilder.le(UInt32(24)))
        expectFailure(b.bytes(), "alignment not a power of two", contains: "alignment", open: open)
        b = valid(); b.kv("s", type: 8, GGUFBuilder.le(UInt64(2)) + [0xff, 0xfe])
        expectFailure(b.bytes(), "invalid UTF-8", contains: "UTF-8", open: open)
        b = valid(); b.tensors[1].name = "a"
        expectFailure(b.bytes(), "duplicate tensor", contains: "duplicate", open: open)
        b = valid(); b.tensors[0].dims = [1, 1, 1, 1, 1]
        expectFailure(b.bytes(), "five dims", open: open)
        b = valid(); b.tensors[0].type = 99
        expectFailure(b.bytes(), "unknown ggml type", contains: "type", open: open)
        b = valid(); b.tensors[1].offset = 33
        expectFailure(b.bytes(), "misaligned offset", contains: "alignment", open: open)
        b = valid(); b.tensors[1].offset = 1 << 40
        expectFailure(b.bytes(), "offset beyond end", open: open)
        b = valid(); b.tensors[0].dims = [1 << 31 - 1, 1 << 31 - 1, 1 << 31 - 1]
        expectFailure(b.bytes(), "dims overflow", open: open)
        b = valid(); b.tensors[1].dims = [31]
        expectFailure(b.bytes(), "not whole blocks", contains: "blocks", open: open)
        b = valid(); b.tensors[1].offset = 0
        expectFailure(b.bytes(), "overlapping tensors", contains: "overlap", open: open)
    }

    func safetensors(_ header: String, dataBytes: Int) -> [UInt8] {
        GGUFBuilder.le(UInt64(header.utf8.count)) + Array(header.utf8) + [UInt8](repeating: 0, count: dataBytes)
    }

    func testCorruptSafetensors() {
        let open: (String) throws -> Void = { _ = try SafetensorsFile(path: $0) }
        let ok = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        XCTAssertNoThrow(try open(temporaryWrite(safetensors(ok, dataBytes: 8))))
        expectFailure(Array(safetensors(ok, dataBytes: 8).prefix(5)), "short length", open: open)
        expectFailure(GGUFBuilder.le(UInt64(1) << 40) + [0], "header longer than file", open: open)
        expectFailure(GGUFBuilder.le(UInt64(200_000_000)), "header over 100 MB", contains: "limit", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32""#, dataBytes: 8), "bad JSON", contains: "JSON", open: open)
        expectFailure(safetensors(#"[1,2]"#, dataBytes: 0), "not an object", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8),
                      "duplicate key", contains: "duplicate", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8), "unknown dtype", contains: "Q4", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8), "size mismatch", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 4), "beyond buffer", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 12), "uncovered tail", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8), "gap", contains: "gap", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, dataBytes: 8),
                      "overlap", contains: "overlap", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#, dataBytes: 8), "negative dim", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#, dataBytes: 8), "overflow", open: open)
        expectFailure(safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, dataBytes: 8), "reversed offsets", open: open)
        expectFailure(safetensors(String(repeating: "[", count: 500), dataBytes: 0), "deep nesting", open: open)
    }

    func testMissingAndDirectoryPaths() {
        XCTAssertThrowsError(try GGUFFile(path: "/nonexistent/model.gguf")) {
            XCTAssertEqual($0 as? ModelFormatError, .fileNotFound(path: "/nonexistent/model.gguf"))
        }
        XCTAssertThrowsError(try SafetensorsFile(path: NSTemporaryDirectory())) {
            XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)")
        }
    }

    func temporaryWrite(_ bytes: [UInt8]) -> String {
        let p = temporaryPath("ok-\(bytes.count).safetensors")
        try! Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }
}
