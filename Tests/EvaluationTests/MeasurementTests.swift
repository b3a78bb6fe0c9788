// Measurement that cannot mislead: answer readers for every answer type (outputs that must parse
// and outputs that must not), any benchmark through --eval-file, seeded stratified samples,
// trivial baselines, and the design-aware statistics against values computed independently
// (scipy 1.17: scipy.special.erfc, scipy.stats; statsmodels' Holm by hand).
import Evaluation
import Foundation
import Records
import SpellingData
import TestSupport
import XCTest

final class MeasurementTests: XCTestCase {
    func tmp(_ n: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("measure-\(getpid())-\(n)").path }

    // MARK: readers

    func testCountReaderPrefersTheStatedCount() {
        let cases: [(String, Int?)] = [
            ("3 r's (positions 3, 8, 9)", 3),                          // the listed positions are an aside
            ("The letter 'r' appears 3 times (at positions 3, 8 and 9).", 3),
            ("There are 2 'e's in 'beer', at positions 2 and 3", 2),  // the count is stated, positions follow
            ("1. s\n2. t\n3. r\n4. a\n5. w\n6. b\n7. e\n8. r\n9. r\n10. y\nThe answer is 3.", 3),   // numbering is not a count
            ("The letter r is at positions 3, 8 and 9, so there are 3 r's.", 3),
            ("There are no z's in 'apple'.", 0), ("None.", 0), ("Three.", 3),
            // Must not parse: no number at all, and "no" that is not a count.
            ("No idea.", nil), ("I can't count letters.", nil), ("", nil),
        ]
        for (out, want) in cases { XCTAssertEqual(AnswerExtraction.count(out), want, out) }
        // With the asked letter known (the question's facts), a count of another letter is not the answer.
        let asked: [(String, Character, Int?)] = [
            ("The letter 'r' appears 2 times, not 3 letters.", "r", 2),
            ("r: 3\ntotal: 10 letters", "r", 3),
            ("There are two e's and 1 a.", "e", 2),
            ("It appears at positions 3 and 9.", "r", nil),
            ("Ascents is a word with 11 letters. 11 * 11 = 121. So, the answer is 121.", "t", 121),   // "11 letters" is a length
            ("Aphorism: 1\n\nIn the word 'aphorism', the letter 'a' is repeated three times.", "i", 1),
            ("A - 1\nD - 2\nE - 1", "r", nil),          // a tally of other letters answers nothing
            ("A is 1\nP is 2\nE is 3", "p", 2), ("A is 1\nP is 2\nE is 3", "w", nil),
            ("The letter 'y' appears once.", "y", 1),
            ("Strawberry has 3 r's.", "r", 3),
        ]
        for (out, letter, want) in asked { XCTAssertEqual(AnswerExtraction.count(out, letter: letter), want, out) }
    }

    func testLetterReaderReadsTheSubjectForm() {
        let cases: [(String, Character?)] = [
            ("A is the 3rd letter of 'banana'.", "a"), ("B is the first letter.", "b"), ("The 3rd letter is a", "a"),
            ("The letter A is the first letter.", "a"),
            ("a\ns\nl\nu\ns\n\nA", "a"),   // spell first, then the answer on its own
            // Must not parse: no letter given, or a letter denied.
            ("A good question.", nil), ("I am not sure.", nil), ("The 4th letter in 'queue' is", nil),
            ("The letter 't' is not a letter in the word 'acct'.", nil), ("It is not 't'.", nil),
            ("c\na\nt", nil),
        ]
        for (out, want) in cases { XCTAssertEqual(AnswerExtraction.letter(out), want, out) }
        // A letter named for another position does not answer the asked one.
        XCTAssertNil(AnswerExtraction.letter("A is the first letter of the word 'acct'.", position: 4))
        XCTAssertEqual(AnswerExtraction.letter("P is the 3rd letter in the word 'appal'.", position: 3), "p")
        XCTAssertEqual(AnswerExtraction.letter("L is the last letter.", position: -1), "l")
        XCTAssertNil(AnswerExtraction.letter("A is the 2nd letter.", position: -1))
    }

    func testYesNoWordTextReaders() {
        let yesNo: [(String, Bool?)] = [
            ("Yes.", true), ("No, 'z' is not in the word.", false), ("The answer is yes.", true), ("TRUE", true), ("no", false),
            ("<think>yes? no?</think>No.", false),
            ("Maybe.", nil), ("I don't know.", nil), ("It is true that there is no r.", nil), ("", nil),
        ]
        for (out, want) in yesNo { XCTAssertEqual(AnswerExtraction.yesNo(out), want, out) }
        let words: [(String, String?)] = [
            ("'berry'", "berry"), ("The word is apple.", "apple"), ("Apple", "apple"), ("**Queue**", "queue"), ("Answer: rhythm", "rhythm"),
            ("dog (reversed from god)", "dog"), ("Apple\n\nThis word is spelled with two p's.", "apple"), ("The word is a-p-p-l-e.", "apple"),
            ("The word is **apple**.", "apple"),
            ("I think it could be apple or pear today", nil), ("", nil),
        ]
        for (out, want) in words { XCTAssertEqual(AnswerExtraction.word(out), want, out) }
        XCTAssertEqual(AnswerExtraction.text("The Eiffel Tower!"), AnswerExtraction.normalizedGold(.text, "eiffel tower"))
        XCTAssertEqual(AnswerExtraction.text("Let me think. Answer: Paris, France."), "paris france")
        XCTAssertNil(AnswerExtraction.text("  ...  "))
    }

    func testGoldNormalisationAndInference() {
        for g in ["t h e", "t-h-e", "the", "T, H, E"] { XCTAssertEqual(AnswerExtraction.normalizedGold(.letters, g), "the", g) }
        XCTAssertEqual(Evaluator.score(.letters, output: "T-H-E", gold: "t h e").correct, true)
        XCTAssertEqual(Evaluator.score(.yesNo, output: "Yes.", gold: "true").correct, true)
        XCTAssertEqual(Evaluator.score(.number, output: "3 r's (positions 3, 8, 9)", gold: "3").correct, true)
        let inferred: [(String, AnswerType)] = [
            ("3", .number), ("r", .letter), ("Yes", .yesNo), ("false", .yesNo), ("t h e", .letters), ("t-h-e", .letters),
            ("strawberry", .word), ("Eiffel Tower", .text), ("3.5", .text),
        ]
        for (g, want) in inferred { XCTAssertEqual(AnswerType(inferredFrom: g), want, g) }
    }

    // MARK: any benchmark through --eval-file

    /// Three public-style benchmarks (yes/no, word answers, spelled sequences) in JSONL: every
    /// question loads with its answer type, and outputs in the asked format all parse and score.
    func testExternalBenchmarksOfEveryAnswerType() throws {
        let cases: [(name: String, lines: [String], outputs: [String], correct: [Bool])] = [
            ("yes_no", [
                #"{"prompt": "Does 'strawberry' contain the letter z? Answer yes or no.", "answer": "no", "task": "contains_letter"}"#,
                #"{"prompt": "Does 'apple' contain the letter p?", "answer": true, "task": "contains_letter"}"#,
                #"{"prompt": "Does 'queue' start with q?", "answer": "Yes"}"#,
             ], ["No.", "Yes, it has two p's.", "yes"], [true, true, true]),
            ("word", [
                #"{"prompt": "Which word is spelled a-p-p-l-e?", "answer": "apple", "task": "unspell"}"#,
                #"{"prompt": "Reverse the letters of 'god'.", "answer": "dog", "answer_type": "word", "task": "reverse"}"#,
                #"{"id": "w3", "prompt": "Which is longer, 'cat' or 'horse'?", "answer": "horse", "task": "compare_length"}"#,
             ], ["The word is 'apple'.", "Dog", "horse"], [true, true, true]),
            ("letters", [
                #"{"prompt": "Spell 'the'.", "answer": "t h e", "task": "spell"}"#,
                #"{"prompt": "Spell 'cat'.", "answer": "c-a-t", "answer_type": "letters", "task": "spell"}"#,
                #"{"prompt": "Spell 'dog' backwards.", "answer": "god", "answer_type": "letters", "task": "spell_reverse"}"#,
             ], ["T-H-E", "c a t", "g, o, d"], [true, true, true]),
        ]
        for c in cases {
            let f = tmp("bench-\(c.name).jsonl")
            try (c.lines.joined(separator: "\n") + "\n").write(toFile: f, atomically: true, encoding: .utf8)
            var r = EvalRequest(model: "unused", out: tmp("unused"))
            r.evalFile = f
            let items = try Evaluator.loadItems(r).items
            XCTAssertEqual(items.count, 3)
            var records: [EvaluatedItem] = []
            for (i, item) in items.enumerated() {
                let s = Evaluator.score(item.answerType, output: c.outputs[i], gold: item.gold)
                XCTAssertNotNil(s.parsed, "\(c.name): \(c.outputs[i]) did not parse as \(item.answerType)")
                XCTAssertEqual(s.correct, c.correct[i], "\(c.name): \(c.outputs[i]) vs \(item.gold)")
                records.append(EvaluatedItem(id: item.id, task: item.task, answerType: item.answerType, style: item.style, mode: "non-thinking", sample: 0,
                                             prompt: item.prompt, output: c.outputs[i], gold: item.gold, parsed: s.parsed, correct: s.correct,
                                             truncated: false, word: item.word, metadata: item.metadata, spelling: s.spelling))
            }
            // Free task labels group on their own, and the records round-trip with their answer type.
            let metrics = Aggregation.metrics(records)
            XCTAssertEqual(metrics.values.reduce(0) { $0 + $1.unparseable }, 0)
            XCTAssertEqual(metrics.values.reduce(0) { $0 + $1.correct }, 3)
            let path = tmp("bench-\(c.name)-items.jsonl")
            try RecordFile.writeLines(records, to: path)
            XCTAssertEqual(try RecordFile.readLines(EvaluatedItem.self, from: path), records)
        }
        // The answer type is given, implied by a built-in task, or inferred from the gold.
        let f = tmp("bench-types.jsonl")
        try """
            {"prompt": "p", "answer": "3"}
            {"prompt": "p", "answer": "strawberry", "task": "spelling"}
            {"prompt": "p", "answer": "no", "task": "x", "answer_type": "text"}
            """.write(toFile: f, atomically: true, encoding: .utf8)
        var r = EvalRequest(model: "unused", out: tmp("unused"))
        r.evalFile = f
        let items = try Evaluator.loadItems(r).items
        XCTAssertEqual(items.map(\.answerType), [.number, .letters, .text])
        XCTAssertEqual(items.map(\.task), ["count", "spelling", "x"])
        // A label that would break the task/style/mode grouping is refused, with the line named.
        try #"{"prompt": "p", "answer": "1", "task": "a/b"}"#.write(toFile: f, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Evaluator.loadItems(r)) { XCTAssertTrue("\($0)".contains(":1"), "\($0)") }
    }

    // MARK: sampling

    func testSampleIsSeededStratifiedAndSharedAcrossTasks() throws {
        // An alphabetical word list: a prefix would be all "a" words.
        var words: [String] = []
        for first in "abcdefghijklmnopqrstuvwxyz" { for len in 3...12 { for k in 0..<4 { words.append(String(first) + String(repeating: "abcdefghij".map { $0 }[k], count: len - 1)) } } }
        words.sort()
        let s = Sampling.words(words, count: 50, seed: 7)
        XCTAssertEqual(s.count, 50)
        XCTAssertEqual(Set(s).count, 50)
        XCTAssertGreaterThanOrEqual(Set(s.compactMap(\.first)).count, 20, "\(s)")
        XCTAssertEqual(Set(s.map(\.count)), Set(3...12))   // the frame is sorted by length first
        for len in 3...12 { XCTAssertTrue((4...6).contains(s.filter { $0.count == len }.count), "\(len): \(s)") }
        XCTAssertEqual(Sampling.words(words.reversed(), count: 50, seed: 7), s)   // input order does not matter
        XCTAssertNotEqual(Sampling.words(words, count: 50, seed: 8), s)
        XCTAssertEqual(Sampling.words(words, count: 5000, seed: 7).count, words.count)

        // Through a dataset: every task and style asks about the same sampled words, recorded in the summary.
        let data = tinyDataset("measure-data", validation: 2, test: 8)
        var r = EvalRequest(model: "unused", out: tmp("unused"))
        r.data = data
        r.limit = 3
        r.sampleSeed = 11
        let q = try Evaluator.loadItems(r)
        let sample = try XCTUnwrap(q.sample)
        XCTAssertEqual(sample.size, 3)
        XCTAssertEqual(sample.seed, 11)
        r.limit = nil
        XCTAssertEqual(sample.population, Set(try Evaluator.loadItems(r).items.compactMap(\.word)).count)
        XCTAssertGreaterThan(sample.population, 3)
        for task in ["spelling", "count", "position"] {
            for style in ["direct", "spell_first"] {
                let w = Set(q.items.filter { $0.task == task && $0.style == style }.compactMap(\.word))
                XCTAssertEqual(w, Set(sample.words), "\(task)/\(style)")
            }
        }
    }

    /// The done-when check of the default dataset: `eval --limit 50` spans the alphabet and the lengths.
    func testLimitFiftyOnTheDefaultDatasetSpansAlphabetAndLengths() throws {
        let model = try TestPaths.requireAsset(TestPaths.smolLM2)
        guard FileManager.default.fileExists(atPath: "/usr/share/dict/words") else { throw XCTSkip("wamerican is not installed") }
        let dir = tmp("default-data")
        if !FileManager.default.fileExists(atPath: dir + "/manifest.json") {
            var b = BuildRequest(tokenizerPath: model, outDir: dir)
            b.overwrite = true
            _ = try DatasetBuilder.build(b)
        }
        var r = EvalRequest(model: model, out: tmp("unused"))
        r.data = dir
        r.limit = 50
        let q = try Evaluator.loadItems(r)
        let words = try XCTUnwrap(q.sample).words
        XCTAssertEqual(words.count, 50)
        XCTAssertGreaterThanOrEqual(Set(words.compactMap(\.first)).count, 15, "\(words)")
        XCTAssertGreaterThanOrEqual(Set(words.map(\.count)).count, 8, "\(words)")
        XCTAssertLessThanOrEqual(words.filter { $0.hasPrefix("a") }.count, 8, "\(words)")
        XCTAssertEqual(q.items.count, 50 * 6)
        // Position questions about the first letter no longer all have gold "a".
        let firstLetterGolds = q.items.filter { $0.task == "position" && $0.metadata.position == 1 }.map(\.gold)
        XCTAssertNotEqual(Set(firstLetterGolds).count, 1)
    }

    // MARK: baselines

    func item(_ task: String, _ type: AnswerType, word: String, gold: String, correct: Bool, style: String = "direct") -> EvaluatedItem {
        EvaluatedItem(id: "\(task)-\(style)-\(word)", task: task, answerType: type, style: style, mode: "non-thinking", sample: 0, prompt: "p", output: "o",
                      gold: gold, parsed: correct ? gold : nil, correct: correct, truncated: false, word: word, metadata: QuestionFacts(word: word))
    }

    func testBaselinesOffMajorityAndBalancedAccuracy() {
        // Counts: gold 1,1,1,2,0 — always "1" scores 3/5; the model is right on two 1s and the 2.
        let counts = [("berry", "1", true), ("apple", "1", true), ("kiwi", "1", false), ("queue", "2", true), ("fig", "0", false)]
            .map { item("count", .number, word: $0.0, gold: $0.1, correct: $0.2) }
        let m = Aggregation.groupMetrics(counts)
        XCTAssertEqual(m.baselines["majority"]?.answer, "1")
        XCTAssertEqual(m.baselines["majority"]?.accuracy, 0.6)
        XCTAssertNil(m.baselines["first_letter"])
        XCTAssertEqual(m.nonMajority?.n, 2)
        XCTAssertEqual(m.nonMajority?.correct, 1)
        XCTAssertEqual(try XCTUnwrap(m.balancedAccuracy), (2.0 / 3 + 1 + 0) / 3, accuracy: 1e-15)
        XCTAssertEqual(m.byGoldClass?["1"], [3, 2])
        // Positions: first letter right for "apple"/"avocado"; most frequent letter "p" for apple, "a" for banana.
        let positions = [("apple", "a"), ("banana", "a"), ("avocado", "a"), ("kiwi", "w")]
            .map { item("position", .letter, word: $0.0, gold: $0.1, correct: false) }
        let p = Aggregation.groupMetrics(positions)
        XCTAssertEqual(p.baselines["first_letter"]?.correct, 2)
        XCTAssertEqual(p.baselines["most_frequent_letter"]?.correct, 2)   // banana → a, avocado → a (ties: the earliest)
        XCTAssertEqual(p.baselines["majority"]?.correct, 3)
        XCTAssertEqual(p.bestBaseline?.name, "majority")
        XCTAssertNil(p.byGoldClass)   // letters: balanced accuracy only
        // Spellings have no trivial baseline.
        XCTAssertTrue(Aggregation.groupMetrics([item("spelling", .letters, word: "ab", gold: "a-b", correct: true)]).baselines.isEmpty)
    }

    // MARK: statistics

    func testClusteredMcNemarHolmFisherAndBootstrap() throws {
        // One item per cluster: the exact McNemar test, 2 · P(B ≤ 2 | n = 8, ½) = 74/256 (scipy.stats.binomtest).
        let singles = Array(repeating: (b: 1, c: 0), count: 6) + Array(repeating: (b: 0, c: 1), count: 2)
        XCTAssertEqual(Statistics.clusteredMcNemar(singles), 0.2890625, accuracy: 1e-12)
        XCTAssertEqual(Statistics.clusteredMcNemar(singles), Metrics.mcnemarExact(b: 6, c: 2), accuracy: 1e-12)
        // Clusters (2,0),(1,0),(0,1),(1,1),(2,0): d = 2, 1, −1, 0, 2; of the 16 sign flips of (2, 1, 1, 2),
        // 6 reach |Σ| ≥ 4 (enumerated in Python): p = 0.375. The χ² form gives X = 16/10 → 0.2059.
        XCTAssertEqual(Statistics.clusteredMcNemar([(2, 0), (1, 0), (0, 1), (1, 1), (2, 0)]), 0.375, accuracy: 1e-12)
        XCTAssertEqual(Statistics.clusteredMcNemarChiSquare([(2, 0), (1, 0), (0, 1), (1, 1), (2, 0)]), 0.20590321073206833, accuracy: 1e-12)
        XCTAssertEqual(Statistics.clusteredMcNemar([(1, 1), (0, 0)]), 1)
        // Few discordant words: the exact test is not fooled (b = 5, c = 0: exact 0.0625, χ² 0.025).
        XCTAssertEqual(Statistics.clusteredMcNemar(Array(repeating: (b: 1, c: 0), count: 5)), 0.0625, accuracy: 1e-12)
        let d = Statistics.discordantByCluster([("w1", true, false), ("w1", true, false), ("w2", false, true), ("w3", true, true)])
        XCTAssertEqual(d.map(\.b), [2, 0, 0])
        XCTAssertEqual(d.map(\.c), [0, 1, 0])
        // Holm: [0.01, 0.04, 0.03] → [0.03, 0.06, 0.06].
        let h = Statistics.holm([0.01, 0.04, 0.03])
        for (a, b) in zip(h, [0.03, 0.06, 0.06]) { XCTAssertEqual(a, b, accuracy: 1e-15) }
        // Fisher z: r = 0.9 from 5 points → [0.0861, 0.9934].
        let f = try XCTUnwrap(Statistics.fisherInterval(r: 0.9, n: 5))
        XCTAssertEqual(f.low, 0.08610194023847766, accuracy: 1e-12)
        XCTAssertEqual(f.high, 0.9934375159687521, accuracy: 1e-12)
        XCTAssertNil(Statistics.fisherInterval(r: 0.5, n: 3))
        // The cluster bootstrap is seeded: the same data give the same interval, and it covers the mean.
        let values = (0..<200).map { Double($0 % 7) / 7 }
        let a = try XCTUnwrap(Statistics.clusterBootstrap(values) { Metrics.mean($0) })
        XCTAssertEqual(a.low, try XCTUnwrap(Statistics.clusterBootstrap(values) { Metrics.mean($0) }).low)
        let mean = try XCTUnwrap(Metrics.mean(values))
        XCTAssertTrue(a.low < mean && mean < a.high)
        // Several levels from one set of resamples equal one call per level.
        let levels = try XCTUnwrap(Statistics.clusterBootstrap(values, levels: [0.95, 0.9]) { Metrics.mean($0) })
        XCTAssertEqual(levels[0].low, a.low)
        XCTAssertEqual(levels[1].high, try XCTUnwrap(Statistics.clusterBootstrap(values, level: 0.9) { Metrics.mean($0) }).high)
    }

    /// Student's t and Welch's test over seeds against scipy 1.17 (scipy.stats.t.cdf / t.ppf,
    /// ttest_ind(equal_var=False), ttest_1samp).
    func testStudentTAndWelchAgainstScipy() throws {
        XCTAssertEqual(Statistics.studentTCDF(2.0, df: 10), 0.9633059826146299, accuracy: 1e-12)
        XCTAssertEqual(Statistics.studentTCDF(-1.3, df: 3.7), 0.13433336208631375, accuracy: 1e-12)
        XCTAssertEqual(Statistics.studentTCDF(0.4, df: 1), 0.6211189415908434, accuracy: 1e-12)
        XCTAssertEqual(Statistics.studentTQuantile(0.975, df: 4), 2.7764451051977934, accuracy: 1e-9)
        XCTAssertEqual(Statistics.studentTQuantile(0.9875, df: 2.5), 4.863905554317859, accuracy: 1e-9)
        XCTAssertEqual(Statistics.studentTQuantile(0.95, df: 30), 1.697260886593957, accuracy: 1e-9)
        let a = [0.42, 0.45, 0.40], b = [0.38, 0.37, 0.41]
        let w = try XCTUnwrap(Statistics.welch(a, b))
        XCTAssertEqual(w.difference / w.standardError, 1.9445436482630072, accuracy: 1e-9)
        XCTAssertEqual(w.df, 3.8641509433962256, accuracy: 1e-9)
        XCTAssertEqual(w.p, 0.12622233842665473, accuracy: 1e-9)
        let ci = w.interval(0.95)
        XCTAssertEqual(ci.low + ci.high, 2 * w.difference, accuracy: 1e-12)
        XCTAssertTrue(ci.low < 0 && ci.high > 0, "p > 0.05: the 95 % interval holds 0")
        // Against the base model's single value: a one-sample test.
        let one = try XCTUnwrap(Statistics.welch(a, [0.30], bIsExact: true))
        XCTAssertEqual(one.difference / one.standardError, 8.488382153210788, accuracy: 1e-9)
        XCTAssertEqual(one.p, 0.013596339246753483, accuracy: 1e-9)
        XCTAssertNil(Statistics.welch([0.4], b), "one seed has no spread")
        XCTAssertNil(Statistics.welch(a, [0.30]), "one seed of an arm is not an exact value")
        XCTAssertNil(Statistics.welch([0.4, 0.4], [0.3, 0.3]), "no spread at all: no interval")
    }

    func testTrajectoryNeedsFiveCheckpoints() throws {
        let dir = tmp("trajectory")
        try? FileManager.default.removeItem(atPath: dir)
        for (k, step) in [10, 20, 30].enumerated() {
            let items = [item("spelling", .letters, word: "ab", gold: "a-b", correct: k > 0), item("count", .number, word: "ab", gold: "1", correct: k > 1)]
            var s = items
            s[0].spelling = Metrics.spellingScores(k > 0 ? "ab" : "xb", "ab")
            let summary = EvaluationSummary(model: "m", adapter: nil, data: nil, split: "test", questions: 2, generations: 2, questionsPerSecond: 1, tokensPerSecond: 1,
                                            seconds: 1, batchSize: 1, metrics: Aggregation.metrics(s), stratified: [:])
            let d = dir + "/checkpoint-\(step)"
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try RecordFile.writeLines(s, to: d + "/items.jsonl")
            try RecordFile.write(summary, to: d + "/metrics.json")
        }
        let t = try XCTUnwrap(Compare.trajectory(dir))
        XCTAssertEqual(t.checkpoints.count, 3)
        XCTAssertNil(t.correlations["count"]?.value)
        XCTAssertEqual(t.correlations["count"]?.note, "not computed: 3 checkpoints evaluated, at least 5 needed")
    }

    /// Files written before the normalised edit distance was named so still read.
    func testLegacyLevenshteinKeyReads() throws {
        let line = #"{"bleu_1":1.0,"bleu_2":1.0,"bleu_3":1.0,"bleu_4":1.0,"character_accuracy":1.0,"correct":true,"gold":"a-b","id":"i","levenshtein":0.25,"metadata":{},"mode":"non-thinking","output":"a-b","parsed":"ab","prompt":"p","rouge_l_precision":1.0,"sample":0,"style":"direct","task":"spelling","truncated":false}"#
        let path = tmp("legacy.jsonl")
        try (line + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let item = try XCTUnwrap(RecordFile.readLines(EvaluatedItem.self, from: path).first)
        XCTAssertEqual(item.spelling?.levenshtein, 0.25)
        XCTAssertEqual(item.answerType, .letters)
        XCTAssertTrue(try RecordFile.text(item).contains(#""normalized_levenshtein":0.25"#))
    }
}

extension MeasurementTests {
    /// A question file's gold answer must be one its answer type can match, or every output would be
    /// scored wrong in silence; each bad line is named.
    func testExternalGoldMustFitItsAnswerType() throws {
        let bad = [
            #"{"prompt": "q", "answer": "hello", "answer_type": "number"}"#, #"{"prompt": "q", "answer": "ab", "answer_type": "letter"}"#,
            #"{"prompt": "q", "answer": "maybe", "answer_type": "yes_no"}"#, #"{"prompt": "q", "answer": "123", "answer_type": "letters"}"#,
            #"{"prompt": "", "answer": "1"}"#, #"{"prompt": "q", "answer": "1", "task": "a\tb"}"#,
            #"{"prompt": "q", "answer": "1", "answer_type": "integer"}"#, #"{"prompt": "q", "answer": [1]}"#,
        ]
        var r = EvalRequest(model: "unused", out: tmp("unused"))
        let f = tmp("bad-gold.jsonl")
        r.evalFile = f
        for line in bad {
            try (#"{"prompt": "ok", "answer": "1"}"# + "\n" + line + "\n").write(toFile: f, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try Evaluator.loadItems(r), line) {
                XCTAssertTrue("\($0)".contains("bad-gold.jsonl:2:"), "\($0)")
                XCTAssertTrue("\($0)".contains("Fix that line"), "\($0)")
            }
        }
        // Public benchmarks' own field names are accepted.
        try #"{"question": "Does 'kiwi' contain w?", "target": "Yes", "task": "contains"}"#.write(toFile: f, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Evaluator.loadItems(r).items.map(\.answerType), [.yesNo])
        try #"{"q": "Does 'kiwi' contain w?", "a": "Yes"}"#.write(toFile: f, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Evaluator.loadItems(r)) { XCTAssertTrue("\($0)".contains("question, input"), "\($0)") }
        // Numbers as gold: integral doubles are integers; others are text.
        try #"{"prompt": "q", "answer": 3.0}"# .appending("\n").appending(#"{"prompt": "q", "answer": 3.5}"#).write(toFile: f, atomically: true, encoding: .utf8)
        let items = try Evaluator.loadItems(r).items
        XCTAssertEqual(items.map(\.gold), ["3", "3.5"])
        XCTAssertEqual(items.map(\.answerType), [.number, .text])
        try #"{"prompt": "q", "answer": "1", "answer_type": "integer"}"#.write(toFile: f, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Evaluator.loadItems(r)) { XCTAssertTrue("\($0)".contains("number, letter, yes_no, word, letters, text"), "\($0)") }
    }
}
