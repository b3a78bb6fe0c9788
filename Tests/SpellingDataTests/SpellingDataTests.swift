// The dataset builder: extraction, gold answers, splits, decontamination, determinism, the
// dataset card, and bad input.
import Foundation
import Hashing
import ModelFormats
import Records
import SpellingData
import TestSupport
import Tokenization
import XCTest
import Yams

final class SpellingDataTests: XCTestCase {
    var gpt2Dir: String { TestPaths.assets + "/gpt2" }

    func tempDir(_ name: String) -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("strawberry-data-\(getpid())-\(name)").path
        try? FileManager.default.removeItem(atPath: d)
        return d
    }

    func smallRequest(_ out: String, tokenizer: String? = nil) throws -> BuildRequest {
        var r = BuildRequest(tokenizerPath: tokenizer ?? TestPaths.fixtures + "/models/llama", outDir: out)
        let words = tempDir("words.txt")
        try (["strawberry", "committee", "banana", "queue", "necessary", "rhythm", "mississippi", "bookkeeper", "abracadabra",
              "zebra", "quiz", "jumps", "lazy", "Proper", "don't", "a", "lettering", "spelling", "counting", "position"]
            .joined(separator: "\n")).write(toFile: words, atomically: true, encoding: .utf8)
        r.wordsPath = words
        r.config.validationSize = 4
        r.config.testSize = 6
        return r
    }

    func testOrdinals() {
        let cases = [1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 10: "10th", 11: "11th", 12: "12th", 13: "13th", 21: "21st",
                     22: "22nd", 23: "23rd", 101: "101st", 111: "111th", 112: "112th", 113: "113th"]
        for (n, s) in cases { XCTAssertEqual(Letters.ordinal(n), s) }
    }

    func testLetterFacts() {
        XCTAssertEqual(Letters.count("r", in: "strawberry"), 3)
        XCTAssertEqual(Letters.count("z", in: "strawberry"), 0)
        XCTAssertEqual(Letters.repeatedLetters("strawberry"), 1)
        XCTAssertEqual(Letters.repeatedLetters("committee"), 3)
        XCTAssertEqual(Letters.repeatedLetters("quiz"), 0)
        XCTAssertFalse(Letters.absentLetters("strawberry").contains("r"))
        XCTAssertEqual(Letters.absentLetters("the quick brown fox jumps over the lazy dog".replacingOccurrences(of: " ", with: "")), [])
    }

    func testExtractionOnGPT2Vocabulary() throws {
        _ = try TestPaths.requireAsset(gpt2Dir)
        let tok = try Tokenizer.load(path: gpt2Dir)
        let (tokens, report) = VocabularyExtraction.extract(tok, minLength: 2, maxLength: 20, englishOnly: false)
        let byText = Dictionary(uniqueKeysWithValues: tokens.map { ($0.text, $0.sourceIds) })
        // "the" merges the, Ġthe, The, ĠThe (and THE variants) into one entry with all their ids.
        let the = try XCTUnwrap(byText["the"])
        for variant in ["the", "Ġthe", "The", "ĠThe"] { XCTAssertTrue(the.contains(tok.bpe.vocab[variant]!), variant) }
        for word in ["straw", "berry", "hello", "spelling", "letter"] { XCTAssertNotNil(byText[word], word) }
        // Out: digits, punctuation, single letters, a bare boundary marker, mixed letter-digit tokens.
        for bad in ["123", "'s", ".", "a", "", "mp3", "s-t"] { XCTAssertNil(byText[bad], bad) }
        XCTAssertTrue(tokens.allSatisfy { $0.text == $0.text.lowercased() && $0.text.count >= 2 })
        XCTAssertEqual(report.steps.first?.1, 50257)
        XCTAssertEqual(report.steps.last?.1, tokens.count)
        // english_only removes letters outside a–z.
        let ascii = VocabularyExtraction.extract(tok, minLength: 2, maxLength: 20, englishOnly: true).tokens
        XCTAssertLessThan(ascii.count, tokens.count)
        XCTAssertTrue(ascii.allSatisfy { Letters.isLowerASCIIWord($0.text) })
    }

    func testGoldAnswersAreComputedFromTheWord() throws {
        let out = tempDir("gold")
        let s = try DatasetBuilder.build(try smallRequest(out))
        XCTAssertEqual(s.outDir, URL(fileURLWithPath: out).standardizedFileURL.path)
        for split in ["validation", "test"] {
            for (task, styleFiles) in [("count", ["direct", "spell_first"]), ("position", ["direct", "spell_first"]), ("spelling", ["direct", "spell_first"])] {
                var perStyle: [[[String: Any]]] = []
                for style in styleFiles {
                    let recs = try records(out + "/eval/\(task)_\(style)_\(split).jsonl")
                    XCTAssertFalse(recs.isEmpty)
                    for r in recs {
                        let word = r["word"] as! String, answer = r["answer"] as! String, prompt = r["prompt"] as! String
                        XCTAssertTrue(prompt.contains("'\(word)'"))
                        XCTAssertEqual(r["word_length"] as? Int, word.count)
                        switch task {
                        case "count":
                            let letter = Character(r["letter"] as! String)
                            XCTAssertEqual(answer, String(Letters.count(letter, in: word)))
                            XCTAssertEqual(r["letter_present"] as? Bool, word.contains(letter))
                            XCTAssertTrue(prompt.hasPrefix("How many \(letter)'s are in the word '\(word)'?"))
                        case "position":
                            let p = r["position"] as! Int
                            XCTAssertEqual(answer, String(Array(word)[p - 1]))
                            let ordinal = r["ordinal"] as! String
                            XCTAssertTrue(ordinal == "last" ? p == word.count : ordinal == Letters.ordinal(p))
                            XCTAssertTrue(prompt.contains(ordinal == "last" ? "last letter" : "\(ordinal) letter"))
                            XCTAssertLessThanOrEqual(r["token_length_at_position"] as! Int, word.count)
                        default:
                            XCTAssertEqual(answer, word.map(String.init).joined(separator: "-"))
                        }
                    }
                    perStyle.append(recs)
                }
                // Paired styles: same words, letters and positions.
                XCTAssertEqual(perStyle[0].map { $0["word"] as! String }, perStyle[1].map { $0["word"] as! String })
                XCTAssertEqual(perStyle[0].map { "\($0["letter"] ?? "")\($0["position"] ?? "")" }, perStyle[1].map { "\($0["letter"] ?? "")\($0["position"] ?? "")" })
            }
        }
    }

    func testSplitsAreDisjointAndEvaluationWordsAreNotVocabulary() throws {
        let out = tempDir("disjoint")
        _ = try DatasetBuilder.build(try smallRequest(out))
        let vocab = Set(try records(out + "/train.jsonl").map { $0["word"] as! String })
            .union(try records(out + "/heldout_vocab.jsonl").map { $0["word"] as! String })
        let val = Set(try records(out + "/validation.jsonl").map { $0["word"] as! String })
        let test = Set(try records(out + "/test.jsonl").map { $0["word"] as! String })
        XCTAssertEqual(val.count, 4)
        XCTAssertEqual(test.count, 6)
        XCTAssertTrue(val.isDisjoint(with: test))
        XCTAssertTrue(vocab.isDisjoint(with: val.union(test)))
        XCTAssertTrue(val.union(test).allSatisfy(Letters.isLowerASCIIWord))   // "Proper", "don't", "a" never qualify
        XCTAssertNoThrow(try DatasetStats.read(out))
        // Stats re-checks disjointness on load: a planted duplicate is caught.
        let planted = try String(contentsOfFile: out + "/validation.jsonl", encoding: .utf8)
            + #"{"word":"\#(test.first!)","split":"validation","task":"spelling","prompt":"p","completion":"c"}"# + "\n"
        try planted.write(toFile: out + "/validation.jsonl", atomically: true, encoding: .utf8)
        // The manifest's SHA-256 catches the edit; without verification the disjointness check does.
        XCTAssertThrowsError(try DatasetStats.read(out)) { XCTAssertTrue("\($0)".contains("validation.jsonl: its SHA-256"), "\($0)") }
        XCTAssertThrowsError(try DatasetStats.read(out, verify: false)) { XCTAssertTrue("\($0)".contains("share words"), "\($0)") }
    }

    func testSameInputsAndSeedGiveIdenticalBytes() throws {
        let a = tempDir("det-a"), b = tempDir("det-b"), c = tempDir("det-c")
        _ = try DatasetBuilder.build(try smallRequest(a))
        _ = try DatasetBuilder.build(try smallRequest(b))
        var other = try smallRequest(c)
        other.config.seed = 7
        _ = try DatasetBuilder.build(other)
        let files = try FileManager.default.subpathsOfDirectory(atPath: a).filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".json") || $0.hasSuffix(".md") }
        XCTAssertGreaterThan(files.count, 15)
        for f in files {
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a + "/" + f)), try Data(contentsOf: URL(fileURLWithPath: b + "/" + f)), f)
        }
        XCTAssertNotEqual(try Data(contentsOf: URL(fileURLWithPath: a + "/train.jsonl")), try Data(contentsOf: URL(fileURLWithPath: c + "/train.jsonl")))
        // The manifest's hashes describe the files.
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + "/manifest.json"))) as! [String: Any]
        for (name, hash) in manifest["files"] as! [String: String] {
            XCTAssertEqual(try Checksum.sha256(file: a + "/" + name), hash, name)
        }
        XCTAssertFalse(String(decoding: try Data(contentsOf: URL(fileURLWithPath: a + "/manifest.json")), as: UTF8.self).contains("2026-"))
    }

    func testDecontamination() throws {
        let out = tempDir("decon")
        var req = try smallRequest(out)
        let trainWords = try records(try buildOnce(req)).map { $0["word"] as! String }
        let banned = Array(Set(trainWords)).sorted().prefix(5)
        let exclude = tempDir("exclude.txt")
        try (banned.joined(separator: "\n") + "\nnot-a-token\n").write(toFile: exclude, atomically: true, encoding: .utf8)
        req.excludePath = exclude
        req.overwrite = true
        let s = try DatasetBuilder.build(req)
        let after = Set(try records(out + "/train.jsonl").map { $0["word"] as! String })
        XCTAssertTrue(after.isDisjoint(with: banned))
        let d = try XCTUnwrap(s.manifest.decontamination)
        XCTAssertEqual(d.removedFromTrain, 5)
        XCTAssertEqual(d.excludedWords, 6)
    }

    func buildOnce(_ r: BuildRequest) throws -> String {
        _ = try DatasetBuilder.build(r)
        return r.outDir + "/train.jsonl"
    }

    func testDatasetCardIsValid() throws {
        let out = tempDir("card")
        _ = try DatasetBuilder.build(try smallRequest(out))
        let card = try String(contentsOfFile: out + "/README.md", encoding: .utf8)
        XCTAssertTrue(card.hasPrefix("---\n"))
        let front = card.components(separatedBy: "\n---\n")[0].dropFirst(4)
        let meta = try XCTUnwrap(try Yams.load(yaml: String(front)) as? [String: Any])
        for key in ["license", "language", "task_categories", "size_categories", "configs", "pretty_name"] { XCTAssertNotNil(meta[key], key) }
        let configs = meta["configs"] as! [[String: Any]]
        XCTAssertEqual(configs.count, 2 + EvalTask.allCases.count * PromptStyle.allCases.count)
        for c in configs {
            for f in c["data_files"] as! [[String: Any]] {
                XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + (f["path"] as! String)), "\(f)")
            }
        }
        XCTAssertTrue(card.contains("## Limitations"))
    }

    func testLoadsWithHuggingFaceDatasetsWhenInstalled() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import datasets"]
        check.standardError = FileHandle.nullDevice
        try? check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else { throw XCTSkip("Python `datasets` is not installed (pip install datasets to run this check)") }
        let out = tempDir("hf")
        _ = try DatasetBuilder.build(try smallRequest(out))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import sys
            from datasets import load_dataset
            d = load_dataset(sys.argv[1])
            assert set(d) == {"train", "validation", "test"}, d
            for cfg in ["heldout_vocab", "count_direct", "position_spell_first", "spelling_direct"]:
                load_dataset(sys.argv[1], cfg)
            print("ok")
            """, out]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.environment = ProcessInfo.processInfo.environment.merging(["HF_DATASETS_CACHE": tempDir("hf-cache"), "HF_HUB_OFFLINE": "1"]) { $1 }
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertEqual(String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "ok")
    }

    func testBadInputIsAClearErrorAndLeavesNothing() throws {
        let out = tempDir("bad")
        var r = try smallRequest(out)
        r.wordsPath = "/nonexistent/words"
        XCTAssertThrowsError(try DatasetBuilder.build(r)) { XCTAssertTrue("\($0)".contains("wamerican"), "\($0)") }
        r = try smallRequest(out)
        r.config.minTokenLength = 30
        r.config.maxTokenLength = 40
        XCTAssertThrowsError(try DatasetBuilder.build(r)) { XCTAssertTrue("\($0)".contains("no vocabulary tokens"), "\($0)") }
        r = try smallRequest("/proc/strawberry-cannot-write/ds")
        XCTAssertThrowsError(try DatasetBuilder.build(r)) { XCTAssertTrue("\($0)".contains("cannot create"), "\($0)") }
        r = try smallRequest(out)
        _ = try DatasetBuilder.build(r)
        XCTAssertThrowsError(try DatasetBuilder.build(r)) { XCTAssertTrue("\($0)".contains("--overwrite"), "\($0)") }
        let parent = (out as NSString).deletingLastPathComponent
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: parent).filter { $0.contains("strawberry-data-\(getpid())-bad.") }
        XCTAssertEqual(leftovers, [], "temporary directories left behind")
        XCTAssertThrowsError(try DatasetStats.read(parent)) { XCTAssertTrue("\($0)".contains("not a Strawberry dataset"), "\($0)") }
    }

    func testShippedConfigEqualsBuiltInDefaults() throws {
        let c = try DatasetConfig.load(yamlPath: TestPaths.root + "/configs/dataset.yaml")
        XCTAssertEqual(c, DatasetConfig())
        XCTAssertGreaterThanOrEqual(c.templates.count, 8)
        let bad = tempDir("bad.yaml")
        try "seed: 1\ntempaltes: []\n".write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try DatasetConfig.load(yamlPath: bad)) { XCTAssertTrue("\($0)".contains("tempaltes"), "\($0)") }
    }

    /// Arms differ only in training: validation and test (words, questions, lm_eval tasks) are byte-identical;
    /// joins are never a dictionary, vocabulary, validation or test word; control completions carry no letters;
    /// positive adds count/position questions; an arm with nothing to add equals a dataset built before arms.
    func testArmsShareEvaluationAndDifferInTrainingOnly() throws {
        let plain = tempDir("arm-plain")
        _ = try DatasetBuilder.build(try smallRequest(plain))
        var dirs: [DatasetArm: String] = [:]
        for arm in DatasetArm.allCases {
            let d = tempDir("arm-\(arm.rawValue)")
            var req = try smallRequest(d)
            req.config.arm = arm
            req.config.joins = JoinsConfig(share: 0.3)
            _ = try DatasetBuilder.build(req)
            dirs[arm] = d
        }
        let bare = tempDir("arm-bare")
        var r = try smallRequest(bare)
        r.config.arm = .spelling
        _ = try DatasetBuilder.build(r)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: plain + "/train.jsonl")), try Data(contentsOf: URL(fileURLWithPath: bare + "/train.jsonl")))
        let shared = try FileManager.default.subpathsOfDirectory(atPath: plain)
            .filter { ($0.hasPrefix("eval/") || $0.hasPrefix("lm_eval/")) || ["validation.jsonl", "test.jsonl", "heldout_vocab.jsonl"].contains($0) }
        XCTAssertGreaterThan(shared.count, 15)
        for (arm, d) in dirs {
            for f in shared { XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: plain + "/" + f)), try Data(contentsOf: URL(fileURLWithPath: d + "/" + f)), "\(arm) \(f)") }
        }
        func examples(_ arm: DatasetArm, _ file: String = "train.jsonl") throws -> [SpellingExample] {
            try RecordFile.readLines(SpellingExample.self, from: try XCTUnwrap(dirs[arm]) + "/" + file)
        }
        let spelling = try examples(.spelling), control = try examples(.control), positive = try examples(.positive)
        let plainTrain = try RecordFile.readLines(SpellingExample.self, from: plain + "/train.jsonl")
        // Joins: pseudo-words of the evaluated words' lengths, none a word of the list or a vocabulary token.
        let words = Set(try String(contentsOfFile: r.wordsPath, encoding: .utf8).split(separator: "\n").map { $0.lowercased() })
        let vocabulary = Set(plainTrain.map(\.word) + (try RecordFile.readLines(SpellingExample.self, from: plain + "/heldout_vocab.jsonl")).map(\.word))
        let joins = spelling.filter { $0.source == "join" }
        XCTAssertFalse(joins.isEmpty)
        for j in joins {
            XCTAssertFalse(words.contains(j.word) || vocabulary.contains(j.word), j.word)
            XCTAssertTrue((r.config.wordMinLength...r.config.wordMaxLength).contains(j.word.count), j.word)
            XCTAssertGreaterThanOrEqual(j.sourceTokenIds.count, 2)
        }
        // Control: the same examples in the same order, no letters spelled out.
        XCTAssertEqual(control.map(\.prompt), spelling.map(\.prompt))
        for (c, sp) in zip(control, spelling) {
            XCTAssertTrue(c.completion.contains(c.word), c.completion)
            if c.word.count > 1 { XCTAssertFalse(c.completion.lowercased().contains(c.word.map(String.init).joined(separator: "-")), c.completion) }
            XCTAssertNotEqual(c.completion, sp.completion)
        }
        // Positive: the spelling examples plus one question per training token.
        let questions = positive.filter { ["count", "position"].contains($0.task) }
        XCTAssertEqual(positive.count - questions.count, spelling.count)
        XCTAssertEqual(questions.count, Set(plainTrain.map(\.word)).count)
        let m = try RecordFile.read(DatasetManifest.self, from: try XCTUnwrap(dirs[.control]) + "/manifest.json")
        XCTAssertNotNil(m.counts["control_repeats"])
        XCTAssertTrue(try String(contentsOfFile: try XCTUnwrap(dirs[.positive]) + "/README.md", encoding: .utf8).contains("trains on the target tasks"))
    }

    func records(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}
