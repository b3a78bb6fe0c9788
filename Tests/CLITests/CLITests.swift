// The command line: parsing, documented flags, and end-to-end runs on the tiny fixture model.
import ArgumentParser
import Foundation
@testable import StrawberryCLI
import TestSupport
import XCTest

final class CLITests: XCTestCase {
    func testEveryGenerateFlagIsDocumented() {
        let help = Strawberry.helpMessage(for: Generate.self)
        for flag in ["--model", "--prompt", "--chat", "--system", "--thinking", "--no-thinking", "--max-tokens", "--temperature",
                     "--top-k", "--top-p", "--min-p", "--repetition-penalty", "--seed", "--stop", "--json", "--threads"] {
            XCTAssertTrue(help.contains(flag), "generate --help lacks \(flag)")
        }
        for (command, flags) in [(Logits.self as ParsableCommand.Type, ["--top", "--json", "--chat"]),
                                 (Tokenize.self, ["--text", "--json"]), (BenchGenerate.self, ["--prompt-tokens", "--batch", "--json", "--no-peer"])] {
            let h = Strawberry.helpMessage(for: command)
            for f in flags { XCTAssertTrue(h.contains(f), "\(command) --help lacks \(f)") }
        }
    }

    func testParsing() throws {
        let cmd = try Strawberry.parseAsRoot(["generate", "--model", "m.gguf", "--prompt", "hi", "--chat", "--no-thinking",
                                              "--temperature", "0", "--stop", "a", "--stop", "b", "--json"])
        let g = try XCTUnwrap(cmd as? Generate)
        XCTAssertEqual(g.promptOptions.thinking, false)
        XCTAssertEqual(g.stop, ["a", "b"])
        XCTAssertEqual(g.temperature, 0)
        XCTAssertThrowsError(try Strawberry.parseAsRoot(["generate", "--prompt", "hi"]))  // --model is required
    }

    func testGenerateAndTokenizeOnTinyModel() throws {
        let model = TestPaths.fixtures + "/models/qwen3"
        let out = try capture {
            var c = try Strawberry.parseAsRoot(["generate", "--model", model, "--prompt", "Spell 'queue'.", "--chat",
                                                "--no-thinking", "--temperature", "0", "--max-tokens", "5", "--json"])
            try c.run()
        }
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        XCTAssertEqual((json["output_ids"] as! [Int]).count, 5)
        XCTAssertNotNil(json["decode_tokens_per_second"])
        let ids = json["prompt_ids"] as! [Int]
        XCTAssertFalse(ids.isEmpty)
        let tok = try capture {
            var c = try Strawberry.parseAsRoot(["tokenize", "--model", model, "--text", "strawberry", "--json"])
            try c.run()
        }
        let t = try JSONSerialization.jsonObject(with: Data(tok.utf8)) as! [String: Any]
        XCTAssertEqual((t["ids"] as! [Int]).count, (t["tokens"] as! [String]).count)
    }

    /// Runs `body` with stdout redirected to a pipe and returns what it printed.
    func capture(_ body: () throws -> Void) throws -> String {
        fflush(nil)
        let pipe = Pipe(), saved = dup(STDOUT_FILENO)
        dup2(pipe.fileHandleForWriting.fileDescriptor, STDOUT_FILENO)
        var thrown: Error?
        do { try body() } catch { thrown = error }
        fflush(nil)
        dup2(saved, STDOUT_FILENO)
        close(saved)
        try pipe.fileHandleForWriting.close()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if let thrown { throw thrown }
        return text
    }
}
