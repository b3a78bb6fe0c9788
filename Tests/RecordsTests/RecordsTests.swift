// Records: the exact bytes they are written as, round trips, and the errors a hand-edited or
// truncated file gives (file, line and field named).
import Foundation
import Records
import XCTest

final class RecordsTests: XCTestCase {
    func tmp(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("records-\(getpid())-\(name)").path
    }

    func item(_ id: String, correct: Bool, parsed: String? = "3") -> EvaluatedItem {
        EvaluatedItem(id: id, task: "count", answerType: .number, style: "direct", mode: "non-thinking", sample: 0, prompt: "How many r's?", output: "3",
                      gold: "3", parsed: parsed, correct: correct, truncated: false, word: "berry",
                      metadata: QuestionFacts(word: "berry", wordLength: 5, wordTokens: 2, repeatedLetters: 1))
    }

    func testTextIsDeterministicPythonStyleJSON() throws {
        // Sorted keys, integral doubles keep ".0", explicit nulls, no escaping of "/", integers exact.
        let line = try RecordFile.text(item("a/1", correct: true, parsed: nil))
        XCTAssertEqual(line, #"{"answer_type":"number","correct":true,"gold":"3","id":"a/1","metadata":{"repeated_letters":1,"word":"berry","word_length":5,"word_tokens":2},"mode":"non-thinking","output":"3","parsed":null,"prompt":"How many r's?","sample":0,"style":"direct","task":"count","truncated":false,"word":"berry"}"#)
        let log = TrainingLogLine(step: 3, epoch: 1, loss: 2.5, gradNorm: nil, learningRate: nil, tokensPerSecond: nil, evalLoss: nil, evalSpellingAccuracy: 0.25)
        XCTAssertEqual(try RecordFile.text(log), #"{"epoch":1.0,"eval_loss":null,"eval_spelling_accuracy":0.25,"loss":2.5,"step":3}"#)
        XCTAssertEqual(try RecordFile.text(TrainerState(globalStep: 1, epoch: 0, batchInEpoch: 1, maxSteps: 2, seed: UInt64.max, bestEvalLoss: nil, optimizerStep: 1), pretty: true),
                       "{\n  \"batch_in_epoch\": 1,\n  \"best_eval_loss\": null,\n  \"epoch\": 0,\n  \"global_step\": 1,\n  \"max_steps\": 2,\n  \"optimizer_step\": 1,\n  \"seed\": 18446744073709551615\n}")
        XCTAssertThrowsError(try RecordFile.text(Mean(value: 0.5, ci95: [0, .infinity]))) { XCTAssertTrue("\($0)".contains("'ci95[1]'"), "\($0)") }
    }

    /// snake_case keys for wire formats: property names are converted (acronyms as Foundation does),
    /// dictionary and dynamic keys are data and stay; Foundation's decoder reads the text back.
    func testSnakeCaseKeys() throws {
        struct Body: Encodable { var promptTokens: Int; var modelSHA256: String; var perTask: [String: Int] }
        let b = Body(promptTokens: 3, modelSHA256: "ab", perTask: ["letterCount": 1, "count/plain": 2])
        let text = try RecordFile.text(b, keys: .snakeCase)
        XCTAssertEqual(text, #"{"model_sha256":"ab","per_task":{"count/plain":2,"letterCount":1},"prompt_tokens":3}"#)
        // (Foundation reads "model_sha256" as modelSha256: acronyms round-trip only in this direction.)
        struct Back: Decodable { var promptTokens: Int; var perTask: [String: Int] }
        let back = try JSONKeys.snakeCase.decoder.decode(Back.self, from: Data(text.utf8))
        XCTAssertEqual(back.promptTokens, 3)
        XCTAssertEqual(back.perTask, b.perTask)
        XCTAssertEqual(try RecordFile.text(b), #"{"modelSHA256":"ab","perTask":{"count/plain":2,"letterCount":1},"promptTokens":3}"#)
    }

    func testRoundTrips() throws {
        var facts = QuestionFacts(word: "queue", wordLength: 5)
        facts.other["source"] = .string("external")
        let items = [item("x", correct: true), item("y", correct: false, parsed: nil)]
        var withScores = items[0]
        withScores.task = "spelling"
        withScores.spelling = SpellingScores(characterAccuracy: 1, levenshtein: 0, bleu1: 1, bleu2: 1, bleu3: 1, bleu4: 1, rougeLPrecision: 1)
        withScores.metadata = facts
        let path = tmp("items.jsonl")
        try RecordFile.writeLines(items + [withScores], to: path)
        XCTAssertEqual(try RecordFile.readLines(EvaluatedItem.self, from: path), items + [withScores])

        var g = GroupMetrics(n: 4, correct: 1, accuracy: 0.25, accuracyCI95: [0.05, 0.7], unparseable: 0, truncated: 1)
        g.spelling[.bleu2] = Mean(value: 0.5, ci95: [0.25, 0.75])
        var h = HeadlineMetrics()
        h.accuracy["letter_count"] = Proportion(n: 4, correct: 1, accuracy: 0.25, ci95: [0.05, 0.7])
        h.bleu4 = 0.125
        var t = TransferAnalysis()
        t.base["count"] = Association(words: 3, phi: nil, phiNote: "undefined")
        t.efficiency["count"] = Estimate(value: nil, note: "undefined: no gain")
        let report = FinalReport(successCriteria: ["count": TaskCriterion(improved: true, improvementSignificant: false, mcnemarP: 0.5, accuracyChange: 0.25)],
                                 base: h, finetuned: h, transfer: ["direct/non-thinking": t], conclusion: "c")
        for (name, write, read) in [
            ("g.json", { try RecordFile.write(g, to: $0) }, { XCTAssertEqual(try RecordFile.read(GroupMetrics.self, from: $0), g) }),
            ("final.json", { try RecordFile.write(report, to: $0) }, { XCTAssertEqual(try RecordFile.read(FinalReport.self, from: $0), report) }),
        ] as [(String, (String) throws -> Void, (String) throws -> Void)] {
            try write(tmp(name))
            try read(tmp(name))
        }
        // The schema downstream tools read: flat NAME_accuracy, _ci95, _n keys.
        let text = try RecordFile.text(EvaluationResults(baseModel: .init(metrics: h, source: nil), finetunedModel: .init(metrics: h, source: "ft")))
        XCTAssertTrue(text.contains(#""base_model":{"metrics":{"bleu_4":0.125,"letter_count_accuracy":0.25,"letter_count_accuracy_ci95":[0.05,0.7],"letter_count_accuracy_n":4,"unparseable_rate":0.0}}"#), text)
    }

    /// The hand edits that used to crash `compare`, each a clear error naming file, line and field.
    func testHandEditedFilesNameFileLineAndField() throws {
        let good = try RecordFile.text(item("a", correct: true))
        func check(_ lines: [String], _ expected: [String], file: StaticString = #filePath, line: UInt = #line) throws {
            let path = tmp("edited.jsonl")
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try RecordFile.readLines(EvaluatedItem.self, from: path), file: file, line: line) { e in
                let text = "\(e)"
                for part in [path + ":"] + expected { XCTAssertTrue(text.contains(part), "'\(text)' lacks '\(part)'", file: file, line: line) }
            }
        }
        try check([good, good.replacingOccurrences(of: #""id":"a","#, with: "")], [":2:", "field 'id'", "missing"])
        try check([good, "[1,2]"], [":2:", "expected an object"])
        try check([good, good, String(good.prefix(40))], [":3:", "not valid JSON"])
        try check([good.replacingOccurrences(of: #""word_length":5"#, with: #""word_length":"five""#)], [":1:", "field 'metadata.word_length'", "expected an integer"])
        try check([good.replacingOccurrences(of: #""correct":true"#, with: #""correct":null"#)], [":1:", "field 'correct'"])

        let metrics = tmp("metrics.json")
        try #"{"n": 3, "correct": 1, "accuracy_ci95": [0, 1], "unparseable": 0, "truncated": 0}"#.write(toFile: metrics, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecordFile.read(GroupMetrics.self, from: metrics)) { e in
            XCTAssertTrue("\(e)".contains("field 'accuracy': missing"), "\(e)")
            XCTAssertTrue("\(e)".hasPrefix(metrics + ": field"), "a JSON document is named without a line number: \(e)")
        }
        XCTAssertThrowsError(try RecordFile.read(GroupMetrics.self, from: tmp("absent.json"))) { XCTAssertTrue("\($0)".contains("no such file")) }
    }

    /// Files as they come: CRLF line endings, a byte-order mark, and integer facts that files written
    /// before the typed records spelled false/true.
    func testInputsAsTheyCome() throws {
        let good = try RecordFile.text(item("a", correct: true))
        let path = tmp("crlf.jsonl")
        try ("\u{FEFF}" + good + "\r\n" + good.replacingOccurrences(of: #""repeated_letters":1"#, with: #""repeated_letters":true"#) + "\r\n\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        let items = try RecordFile.readLines(EvaluatedItem.self, from: path)
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items.map(\.metadata.repeatedLetters), [1, 1])
        try (good + "\r\n" + String(good.prefix(30)) + "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecordFile.readLines(EvaluatedItem.self, from: path)) { XCTAssertTrue("\($0)".contains("crlf.jsonl:2:"), "\($0)") }
        // A benchmark's own task label is fine with its answer type; without one the line cannot be
        // read, and a label that would break the task/style/mode grouping is refused.
        let colour = good.replacingOccurrences(of: #""task":"count""#, with: #""task":"colour""#)
        try colour.write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try RecordFile.readLines(EvaluatedItem.self, from: path).first?.task, "colour")
        try colour.replacingOccurrences(of: #""answer_type":"number","#, with: "").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecordFile.readLines(EvaluatedItem.self, from: path)) { XCTAssertTrue("\($0)".contains("answer_type"), "\($0)") }
        try good.replacingOccurrences(of: #""task":"count""#, with: #""task":"a/b""#).write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecordFile.readLines(EvaluatedItem.self, from: path)) { XCTAssertTrue("\($0)".contains("field 'task'"), "\($0)") }
        try good.replacingOccurrences(of: #""mode":"non-thinking""#, with: #""mode":"sleepy""#).write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try RecordFile.readLines(EvaluatedItem.self, from: path)) { XCTAssertTrue("\($0)".contains("field 'mode'"), "\($0)") }
    }

    /// Output directories: made anew, or replacing only an earlier output of the same kind that holds
    /// nothing else; never "", ".", "/", the home directory, a directory above this one, one holding an input.
    func testOutputDirectoryNeverReplacesWhatItDidNotMake() throws {
        for bad in ["", ".", "/", "..", NSHomeDirectory()] {
            XCTAssertThrowsError(try OutputDirectory.begin(bad, kind: .evaluation, replace: true), bad) {
                XCTAssertTrue("\($0)".contains("refusing"), "\($0)")
            }
        }
        let fm = FileManager.default
        func make(_ name: String, _ files: [String]) throws -> String {
            let d = tmp(name)
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            for f in files { try "x".write(toFile: d + "/" + f, atomically: true, encoding: .utf8) }
            return d
        }
        // A user's directory, one holding an input, a model folder: refused, untouched.
        let mine = try make("user-dir", ["notes.txt"])
        XCTAssertThrowsError(try OutputDirectory.begin(mine, kind: .evaluation, replace: true))
        XCTAssertThrowsError(try OutputDirectory.begin(mine, kind: .evaluation, replace: true, inputs: [mine + "/notes.txt"]))
        let model = try make("model-dir", ["config.json", "model.safetensors", "tokenizer.json"])
        XCTAssertThrowsError(try OutputDirectory.begin(model, kind: .export, replace: true)) { XCTAssertTrue("\($0)".contains("not an earlier export"), "\($0)") }
        // An earlier evaluation to which a person added a file is theirs now.
        let edited = try make("edited-eval", ["metrics.json", "items.jsonl", "thesis.tex"])
        XCTAssertThrowsError(try OutputDirectory.begin(edited, kind: .evaluation, replace: true)) { XCTAssertTrue("\($0)".contains("thesis.tex"), "\($0)") }
        // "Empty" is decided without following links: a link to a directory, an empty folder, a
        // FIFO each make a directory someone's. Refused, and all of it still there.
        let linked = try make("linked-dir", [])
        try fm.createDirectory(atPath: linked + "/empty", withIntermediateDirectories: true)
        try fm.createSymbolicLink(atPath: linked + "/to-data", withDestinationPath: try make("linked-target", []))
        let fifo = try make("fifo-dir", [])
        XCTAssertEqual(mkfifo(fifo + "/pipe", 0o644), 0)
        let onlyEmpty = try make("empty-folder-dir", [])
        try fm.createDirectory(atPath: onlyEmpty + "/a/b", withIntermediateDirectories: true)
        for d in [linked, fifo, onlyEmpty] {
            XCTAssertThrowsError(try OutputDirectory.begin(d, kind: .evaluation, replace: true), d) { XCTAssertTrue("\($0)".contains("refusing"), "\($0)") }
        }
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: linked).sorted(), ["empty", "to-data"])
        XCTAssertTrue(fm.fileExists(atPath: onlyEmpty + "/a/b"))
        for d in [mine, model, edited] { XCTAssertFalse(try fm.contentsOfDirectory(atPath: d).isEmpty) }
        XCTAssertEqual(try String(contentsOfFile: mine + "/notes.txt", encoding: .utf8), "x")

        // New, then replaced by the same kind (only with replace); an abandoned staging leaves no trace.
        let out = tmp("eval-out")
        var d = try OutputDirectory.begin(out, kind: .evaluation, replace: true)
        try "{}".write(toFile: d.file("metrics.json"), atomically: true, encoding: .utf8)
        try d.commit()
        // The marker names the kind and lists the files the output consists of.
        XCTAssertEqual(try String(contentsOfFile: out + "/.strawberry", encoding: .utf8), "evaluation\nmetrics.json\n")
        XCTAssertFalse(fm.fileExists(atPath: d.staging))
        XCTAssertThrowsError(try OutputDirectory.begin(out, kind: .evaluation, replace: false))
        XCTAssertThrowsError(try OutputDirectory.begin(out, kind: .report, replace: true))
        d = try OutputDirectory.begin(out, kind: .evaluation, replace: true)
        d.abandon()
        XCTAssertFalse(fm.fileExists(atPath: d.staging))
        XCTAssertEqual(try String(contentsOfFile: out + "/metrics.json", encoding: .utf8), "{}")
        // A file a person adds to an output, even one named like the output's own, makes it theirs.
        try "mine".write(toFile: out + "/items.jsonl", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try OutputDirectory.begin(out, kind: .evaluation, replace: true)) { XCTAssertTrue("\($0)".contains("items.jsonl"), "\($0)") }
        try fm.removeItem(atPath: out + "/items.jsonl")
        // A directory named like a staging directory that is not one (no marker) is never cleaned up.
        let lookalike = out + ".tmp-999999"
        try fm.createDirectory(atPath: lookalike, withIntermediateDirectories: true)
        d = try OutputDirectory.begin(out, kind: .evaluation, replace: true)
        d.abandon()
        XCTAssertTrue(fm.fileExists(atPath: lookalike))
        // An evaluation written before the marker existed is still recognised by its own files.
        let legacy = try make("legacy-eval", ["metrics.json", "items.jsonl"])
        d = try OutputDirectory.begin(legacy, kind: .evaluation, replace: true)
        try d.commit()
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: legacy), [".strawberry"])
        // A hand-written metrics.json alone is not an earlier evaluation.
        let handMade = try make("hand-made", ["metrics.json"])
        XCTAssertThrowsError(try OutputDirectory.begin(handMade, kind: .evaluation, replace: true))
    }

    func testUnknownFactsAreKeptAndKnownOnesTyped() throws {
        let q = try RecordFile.decode(Question.self, Data(#"{"id":"t-1","task":"count","style":"direct","split":"test","prompt":"p","answer":"2","word":"aa","word_length":2,"letter":"a","letter_present":true,"difficulty":"easy"}"#.utf8), path: "q", line: 1)
        XCTAssertEqual(q.facts.wordLength, 2)
        XCTAssertEqual(q.facts.letterPresent, true)
        XCTAssertEqual(q.facts.other, ["difficulty": .string("easy")])
        XCTAssertEqual(q.facts.integer("word_length"), 2)
        XCTAssertEqual(try RecordFile.text(q), #"{"answer":"2","difficulty":"easy","id":"t-1","letter":"a","letter_present":true,"prompt":"p","split":"test","style":"direct","task":"count","word":"aa","word_length":2}"#)
    }
}
