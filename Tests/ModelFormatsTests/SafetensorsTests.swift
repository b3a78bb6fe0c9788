// safetensors writer/reader round trip, byte-stable output, sharded checkpoints, and reading the
// checkpoints transformers wrote for the tiny fixtures.
import Foundation
import Hashing
import ModelFormats
import Records
import TestSupport
import XCTest

final class SafetensorsTests: XCTestCase {
    func testRoundTripIsExactAndDeterministic() throws {
        let tensors: [String: (shape: [Int], data: [Float])] = [
            "b.weight": ([2, 3], [1, -2, 3.5, .greatestFiniteMagnitude, -0.0, 1e-30]),
            "a.bias": ([3], [0.25, 0.5, 0.75]),
            "scalar": ([], [42]),
            "empty": ([0, 4], []),
        ]
        let p1 = temporaryPath("rt1.safetensors"), p2 = temporaryPath("rt2.safetensors")
        try SafetensorsWriter.write(tensors, to: p1)
        try SafetensorsWriter.write(tensors, to: p2)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: p1)), try Data(contentsOf: URL(fileURLWithPath: p2)))
        let f = try SafetensorsFile(path: p1)
        XCTAssertEqual(f.metadata, ["format": "pt"])
        for (name, t) in tensors {
            XCTAssertEqual(f.info(name)?.shape, t.shape)
            XCTAssertEqual(try f.float32(name), t.data)
        }
        // Header padded so the data starts 8-aligned.
        let raw = try Data(contentsOf: URL(fileURLWithPath: p1))
        let n = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: p1 + ".tmp-\(getpid())"))
    }

    func testWriteToUnwritablePlaceFailsCleanly() {
        XCTAssertThrowsError(try SafetensorsWriter.write(["x": ([1], [1])], to: "/nonexistent-dir/x.safetensors")) {
            XCTAssertTrue("\($0)".contains("cannot create"), "\($0)")
        }
    }

    func testShardedCheckpoint() throws {
        let dir = temporaryPath("sharded")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SafetensorsWriter.write(["x": ([2], [1, 2])], to: dir + "/model-00001-of-00002.safetensors")
        try SafetensorsWriter.write(["y": ([1], [3])], to: dir + "/model-00002-of-00002.safetensors")
        let index = #"{"metadata": {"total_size": 12}, "weight_map": {"x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors"}}"#
        try index.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        let c = try SafetensorsCheckpoint(directory: dir)
        XCTAssertEqual(c.names, ["x", "y"])
        XCTAssertEqual(try c.float32("y"), [3])
        // An index that points a tensor at the wrong shard is an error.
        let bad = index.replacingOccurrences(of: #""y": "model-00002"#, with: #""y": "model-00001"#)
        try bad.write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try SafetensorsCheckpoint(directory: dir))
    }

    func testReadsTransformersCheckpoints() throws {
        for arch in ["gpt2", "llama", "qwen3"] {
            let c = try SafetensorsCheckpoint(directory: TestPaths.fixtures + "/models/" + arch)
            XCTAssertFalse(c.names.isEmpty)
            for n in c.names { XCTAssertEqual(try c.float32(n).count, c.info(n)!.info.shape.reduce(1, *)) }
        }
    }
}

final class SHA256Tests: XCTestCase {
    func testKnownDigests() throws {
        XCTAssertEqual(Checksum.sha256([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(Checksum.sha256(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Checksum.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(Checksum.sha256([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // A file longer than one 16 MiB hashing piece gives the digest of its bytes; so does an empty file.
        let bytes = (0..<(17 << 20) + 5).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 13) }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(getpid())").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try Checksum.sha256(file: path), Checksum.sha256(bytes))
        try Data().write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try Checksum.sha256(file: path), Checksum.sha256([]))
        // The file path agrees with sha256sum as recorded in the fixture manifest.
        let manifest = try String(contentsOfFile: TestPaths.fixtures + "/MANIFEST.sha256", encoding: .utf8)
        let line = try XCTUnwrap(manifest.split(separator: "\n").first { $0.hasSuffix("gguf/all_types.gguf") })
        XCTAssertEqual(try Checksum.sha256(file: TestPaths.fixtures + "/gguf/all_types.gguf"), String(line.prefix(64)))
    }
}
