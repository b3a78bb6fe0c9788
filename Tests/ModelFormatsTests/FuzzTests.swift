// Bounded mutation fuzzing: thousands of seeded random corruptions of valid GGUF and safetensors
// files (byte flips, truncations, insertions, overwritten counts). Opening and dequantising each
// must either succeed or throw a typed error; a crash fails the whole run. Deterministic seeds,
// so a failure reproduces.
import Foundation
import ModelFormats
import TestSupport
import XCTest

final class FuzzTests: XCTestCase {
    struct RNG: RandomNumberGenerator {
        var s: UInt64
        mutating func next() -> UInt64 { s &+= 0x9E37_79B9_7F4A_7C15; var z = s; z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB; return z ^ (z >> 31) }
    }

    func mutate(_ base: [UInt8], _ rng: inout RNG) -> [UInt8] {
        var b = base
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !b.isEmpty else { break }
            let i = Int.random(in: 0..<b.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: b[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: b[i] = UInt8.random(in: 0...255, using: &rng)
            case 2: b.removeSubrange(i...)
            case 3: b.insert(contentsOf: (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: i)
            case 4: // an extreme little-endian u64 where a count or offset may sit
                let v: UInt64 = [0, 1, UInt64.max, UInt64(Int64.max), 1 << 32, 1 << 62].randomElement(using: &rng)!
                for k in 0..<8 where i + k < b.count { b[i + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
            default: b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...8, using: &rng)))
            }
        }
        return b
    }

    func fuzz(_ seedFile: String, iterations: Int, open: (String) throws -> Void) throws {
        let base = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seedFile)))
        var rng = RNG(s: UInt64(base.count))
        let path = temporaryPath("fuzz-" + (seedFile as NSString).lastPathComponent)
        var opened = 0, rejected = 0, untyped: [String] = []
        for _ in 0..<iterations {
            try Data(mutate(base, &rng)).write(to: URL(fileURLWithPath: path))
            do { try open(path); opened += 1 } catch is ModelFormatError { rejected += 1 } catch { untyped.append("\(type(of: error)): \(error)") }
        }
        // Every failure must be the format's typed error (with the file named), never anything else.
        XCTAssertEqual(untyped, [], "mutations raised errors that are not ModelFormatError")
        XCTAssertGreaterThan(rejected, 0, "mutations never produced a rejected file")
        XCTAssertGreaterThan(opened, 0, "no mutation kept the file readable: the mutator only ever corrupts the header")
    }

    func testGGUFMutations() throws {
        for name in ["gguf/quant_blocks.gguf", "gguf/all_types.gguf", "models/llama/model.gguf"] {
            try fuzz(TestPaths.fixtures + "/" + name, iterations: 700) { p in
                let f = try GGUFFile(path: p)
                for t in f.tensors where t.type.isDequantizable { _ = try f.float32(t.name) }
            }
        }
    }

    func testSafetensorsMutations() throws {
        try fuzz(TestPaths.fixtures + "/models/qwen3/model.safetensors", iterations: 1500) { p in
            let f = try SafetensorsFile(path: p)
            for t in f.tensors { _ = try f.float32(t.name) }
        }
    }
}
