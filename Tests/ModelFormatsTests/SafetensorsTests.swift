// safetensors writer/reader round trip, byte-stable output, sharded checkpoints, and reading the
// checkpoints transformers wrote for the tiny fixtures.
import Foundation
import ModelFormats
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
