// `strawberry eval`: the dataset's questions through a model (optionally with an adapter), with
// continuous batched generation, auditable answer extraction, per-item records and metrics.
import Foundation
import Generation
import ModelFormats
import Models
import TensorCore
import Tokenization
import Training

public enum EvalMode: String, CaseIterable, Sendable { case nonThinking = "non-thinking", thinking }

public struct EvalRequest {
    public var model: String
    public var adapter: String?
    public var data: String?
    public var evalFile: String?
    public var split = "test"
    public var tasks = ["spelling", "count", "position"]
    public var styles = ["direct", "spell_first"]
    public var modes: [EvalMode] = [.nonThinking]
    public var limit: Int?
    public var samples = 1
    public var batchSize = 32
    public var seed: UInt64 = 0
    /// Wrap questions in the model's chat template (when it has one).
    public var chatTemplate = true
    public var out: String
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    public init(model: String, out: String) { self.model = model; self.out = out }
}

/// One evaluation question.
public struct EvalItem {
    public var id: String
    public var task: String
    public var style: String
    public var prompt: String
    public var gold: String
    public var word: String?
    public var metadata: [String: Any]
}

/// The dataset's default question wording (SpellingData's QuestionWording), for splits that carry no prompts.
enum QuestionWordingDefaults {
    static let spelling = "Spell the word '{word}' letter by letter, separated by dashes."
    static let directSpelling = " Answer with only the spelling."
    static let spellFirstSpelling = " First spell the word letter by letter, then give the spelling."
}

public enum Evaluator {
    public static func loadItems(_ r: EvalRequest) throws -> [EvalItem] {
        if let f = r.evalFile { return try loadExternal(f, limit: r.limit) }
        guard let dir = r.data else { throw EvaluationError("give --data DATASET_DIR or --eval-file FILE.jsonl") }
        if r.split == "heldout_vocab" { return try heldoutVocabItems(dir, r) }
        var items: [EvalItem] = []
        for task in r.tasks {
            for style in r.styles {
                let path = "\(dir)/eval/\(task)_\(style)_\(r.split).jsonl"
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw EvaluationError("\(path) is missing; is \(dir) a dataset built by `strawberry data build`, and does it have split '\(r.split)'?")
                }
                var n = 0
                for line in text.split(separator: "\n") {
                    if let limit = r.limit, n >= limit { break }
                    guard let rec = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                          let id = rec["id"] as? String, let prompt = rec["prompt"] as? String, let gold = rec["answer"] as? String else {
                        throw EvaluationError("\(path): a record lacks id, prompt or answer")
                    }
                    var meta = rec
                    for k in ["id", "prompt", "answer", "task", "style", "split"] { meta[k] = nil }
                    items.append(EvalItem(id: id, task: task, style: style, prompt: prompt, gold: gold, word: rec["word"] as? String, metadata: meta))
                    n += 1
                }
            }
        }
        guard !items.isEmpty else { throw EvaluationError("no evaluation items in \(dir) for split '\(r.split)' (empty split?)") }
        return items
    }

    /// Spelling questions on the held-out vocabulary tokens (never trained on, but single tokens), worded
    /// like the dictionary-word spelling questions, to separate generalisation to unseen tokens from
    /// generalisation to unseen multi-token words.
    static func heldoutVocabItems(_ dir: String, _ r: EvalRequest) throws -> [EvalItem] {
        guard let text = try? String(contentsOfFile: dir + "/heldout_vocab.jsonl", encoding: .utf8) else {
            throw EvaluationError("\(dir)/heldout_vocab.jsonl is missing; is \(dir) a dataset built by `strawberry data build`?")
        }
        let words = try text.split(separator: "\n").map { line -> String in
            guard let rec = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let w = rec["word"] as? String else {
                throw EvaluationError("\(dir)/heldout_vocab.jsonl: a record lacks its word")
            }
            return w
        }
        let q = QuestionWordingDefaults.self
        var items: [EvalItem] = []
        for style in r.styles {
            for (i, w) in words.prefix(r.limit ?? .max).enumerated() {
                let prompt = q.spelling.replacingOccurrences(of: "{word}", with: w) + (style == "direct" ? q.directSpelling : q.spellFirstSpelling)
                items.append(EvalItem(id: "heldout_vocab-spelling-\(style)-\(i)", task: "spelling", style: style, prompt: prompt,
                                      gold: w.map(String.init).joined(separator: "-"), word: w, metadata: ["word_length": w.count]))
            }
        }
        guard !items.isEmpty else { throw EvaluationError("\(dir)/heldout_vocab.jsonl has no words") }
        return items
    }

    /// An external question set: JSONL with prompt, answer, optional task (count | position | spelling) and metadata.
    static func loadExternal(_ path: String, limit: Int?) throws -> [EvalItem] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw EvaluationError("cannot read \(path)") }
        return try text.split(separator: "\n").prefix(limit ?? .max).enumerated().map { i, line in
            guard let rec = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let prompt = rec["prompt"] as? String, let answer = rec["answer"] else {
                throw EvaluationError("\(path):\(i + 1): expected an object with prompt and answer")
            }
            let gold = (answer as? String) ?? "\(answer)"
            let task = rec["task"] as? String ?? (Int(gold) != nil ? "count" : gold.count == 1 ? "position" : "spelling")
            return EvalItem(id: "external-\(i)", task: task, style: "external", prompt: prompt, gold: gold, word: nil,
                            metadata: rec["metadata"] as? [String: Any] ?? [:])
        }
    }

    static func budget(task: String, style: String, mode: EvalMode) -> Int {
        if mode == .thinking { return 768 }
        if style == "spell_first" { return 96 }
        return task == "spelling" ? 48 : 24
    }

    /// Scores one output: parsed answer (nil = unparseable), correctness and spelling metrics.
    public static func score(task: String, output: String, gold: String) -> [String: Any] {
        var r: [String: Any] = [:]
        switch task {
        case "count":
            let p = AnswerExtraction.count(output)
            r["parsed"] = p.map { String($0) as Any } ?? ()
            r["correct"] = p != nil && String(p!) == gold
        case "position":
            let p = AnswerExtraction.letter(output)
            r["parsed"] = p.map { String($0) as Any } ?? ()
            r["correct"] = p != nil && String(p!) == gold.lowercased()
        default:
            let goldLetters = gold.filter(\.isLetter).lowercased()
            let p = AnswerExtraction.spelling(output)
            r["parsed"] = p.map { $0 as Any } ?? ()
            let s = p ?? ""
            r["correct"] = s == goldLetters
            r["character_accuracy"] = Metrics.characterAccuracy(s, goldLetters)
            r["levenshtein"] = Metrics.normalizedLevenshtein(s, goldLetters)
            for n in 1...4 { r["bleu_\(n)"] = Metrics.bleu(s, goldLetters, n: n) }
            r["rouge_l_precision"] = Metrics.rougeLPrecision(s, goldLetters)
        }
        return r
    }

    public static func run(_ r: EvalRequest) throws -> [String: Any] {
        let items = try loadItems(r)
        var m = try LoadedModel.load(path: r.model)
        if let a = r.adapter {
            let lora = try PEFTAdapter.load(a, model: m.config)
            m = m.replacing(model: try AdapterMerge.merged(m.model, lora))
        }
        let template = r.chatTemplate ? try m.chatTemplate.map { try ChatTemplate($0) } : nil
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        var requests: [GenerationRequest] = [], index: [(item: Int, mode: EvalMode, sample: Int)] = []
        for mode in r.modes {
            let thinking: Bool? = m.config.architecture == .qwen3 ? (mode == .thinking) : nil
            let samples = mode == .thinking ? max(1, r.samples) : 1
            for (i, item) in items.enumerated() {
                let ids: [Int]
                if let template {
                    ids = m.tokenizer.encode(try template.render([ChatMessage(role: "user", content: item.prompt)], enableThinking: thinking))
                } else { ids = m.tokenizer.encode(item.prompt + "\n") }
                for s in 0..<samples {
                    // Greedy for reproducibility; Qwen3 thinking mode samples as its card recommends.
                    let sampling = mode == .thinking ? SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, seed: r.seed &+ UInt64(s * 100_003 + i))
                                                     : .greedy
                    requests.append(GenerationRequest(promptIds: ids, maxTokens: budget(task: item.task, style: item.style, mode: mode),
                                                      sampling: sampling, stopTokenIds: m.stopTokenIds))
                    index.append((i, mode, s))
                }
            }
        }
        r.log("evaluating \(items.count) questions × \(r.modes.map(\.rawValue).joined(separator: "+")) (\(requests.count) generations, batch \(r.batchSize)) on \(r.model)\(r.adapter.map { " + \($0)" } ?? "")")
        let t0 = now()
        var done = 0
        let results = try gen.generateContinuous(requests, slots: r.batchSize) { _, _ in
            done += 1
            if done % max(1, requests.count / 10) == 0 || done == requests.count {
                let el = now() - t0
                r.log(String(format: "  %d/%d generated, %.1f questions/s, ETA %.0f s", done, requests.count, Double(done) / el, el / Double(done) * Double(requests.count - done)))
            }
        }
        let seconds = now() - t0
        let generatedTokens = results.reduce(0) { $0 + $1.outputIds.count }

        var records: [[String: Any]] = []
        for (k, res) in results.enumerated() {
            let (i, mode, s) = index[k], item = items[i]
            var rec: [String: Any] = ["id": item.id, "task": item.task, "style": item.style, "mode": mode.rawValue, "sample": s,
                                      "prompt": item.prompt, "output": res.text, "gold": item.gold,
                                      "truncated": res.finishReason == .length, "metadata": item.metadata]
            if let w = item.word { rec["word"] = w }
            rec.merge(score(task: item.task, output: res.text, gold: item.gold)) { $1 }
            if item.task != "spelling", let w = item.word {
                // Whether the output also spelled the word right on the way (spell-first transfer).
                rec["spelled_word_correctly"] = AnswerExtraction.spelling(res.text) == w
            }
            records.append(rec)
        }
        let metrics = Aggregation.metrics(records)
        let summary: [String: Any] = [
            "model": r.model, "adapter": r.adapter.map { $0 as Any } ?? (), "data": r.data.map { $0 as Any } ?? r.evalFile.map { $0 as Any } ?? (),
            "split": r.split, "questions": items.count, "generations": requests.count,
            "questions_per_second": Double(requests.count) / seconds, "tokens_per_second": Double(generatedTokens) / seconds,
            "seconds": seconds, "batch_size": r.batchSize, "metrics": metrics,
            "stratified": Aggregation.stratified(records),
        ]
        try FileManager.default.createDirectory(atPath: r.out, withIntermediateDirectories: true)
        var lines = ""
        for rec in records { lines += try JSONWriter.string(rec) + "\n" }
        try writeTextAtomically(lines, to: r.out + "/items.jsonl")
        try writeTextAtomically(try JSONWriter.string(summary, pretty: true) + "\n", to: r.out + "/metrics.json")
        return summary
    }
}
