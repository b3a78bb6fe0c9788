// `strawberry eval`: the dataset's questions through a model (optionally with an adapter), with
// continuous batched generation, auditable answer extraction, per-item records and metrics.
import Adapters
import Foundation
import Generation
import ModelFormats
import Models
import Records
import TensorCore
import Tokenization

public struct EvalRequest {
    public var model: String
    public var adapter: String?
    public var data: String?
    public var evalFile: String?
    public var split = "test"
    public var tasks: [EvalTask] = [.spelling, .count, .position]
    public var styles: [PromptStyle] = [.direct, .spellFirst]
    public var modes: [EvalMode] = [.nonThinking]
    public var limit: Int?
    public var samples = 1
    public var batchSize = 32
    public var seed: UInt64 = 0
    /// Wrap questions in the model's chat template (when it has one).
    public var chatTemplate = true
    /// Check the dataset's files against the SHA-256s in its manifest before reading them.
    public var verifyData = true
    public var out: String
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    public init(model: String, out: String) { self.model = model; self.out = out }

    /// The numbers a library caller could get wrong (the CLI checks the same in `validate()`).
    public func validate() throws(EvaluationError) {
        guard (1...4096).contains(batchSize) else { throw .badRequest("batch size \(batchSize) is outside 1...4096") }
        guard (1...1000).contains(samples) else { throw .badRequest("samples \(samples) is outside 1...1000") }
        guard !tasks.isEmpty, !styles.isEmpty, !modes.isEmpty else { throw .badRequest("give at least one task, style and mode") }
    }
}

/// One evaluation question, whatever file it came from.
public struct EvalItem: Sendable {
    public var id: String
    public var task: EvalTask
    public var style: String
    public var prompt: String
    public var gold: String
    public var word: String?
    public var metadata: QuestionFacts
}

/// An answer read from an output and judged against the gold answer.
public struct Score: Equatable, Sendable {
    public var parsed: String?
    public var correct: Bool
    /// Spelling questions only.
    public var spelling: SpellingScores?
}

public enum Evaluator {
    public static func loadItems(_ r: EvalRequest) throws -> [EvalItem] {
        if let f = r.evalFile { return try loadExternal(f, limit: r.limit) }
        guard let dir = r.data else { throw EvaluationError.noQuestions(reason: "give --data DATASET_DIR or --eval-file FILE.jsonl") }
        guard fileExists(dir + "/manifest.json") || !r.verifyData else { throw EvaluationError.notADataset(path: dir + "/manifest.json", split: r.split) }
        let manifest = !fileExists(dir + "/manifest.json") ? nil
            : r.verifyData ? try DatasetManifest.verified(dir: dir, hash: { try SHA256.hex(file: $0) })
            : try RecordFile.read(DatasetManifest.self, from: dir + "/manifest.json")
        if r.split == "heldout_vocab" { return try heldoutVocabItems(dir, r, wording: manifest?.config.questions ?? QuestionWording()) }
        var items: [EvalItem] = []
        for task in r.tasks {
            for style in r.styles {
                let path = "\(dir)/eval/\(task.rawValue)_\(style.rawValue)_\(r.split).jsonl"
                guard fileExists(path) else { throw EvaluationError.notADataset(path: path, split: r.split) }
                let questions = try RecordFile.readLines(Question.self, from: path, limit: r.limit)
                if questions.isEmpty && (r.limit ?? 1) > 0 { throw EvaluationError.noQuestions(reason: "\(path) holds no questions; is the dataset complete?") }
                for q in questions {
                    // A question with no prompt, or a position outside its word, is not one the builder writes.
                    guard !q.prompt.isEmpty, q.facts.position.map({ p in (1...max(q.facts.wordLength ?? Int.max, 1)).contains(p) }) ?? true else {
                        throw EvaluationError.noQuestions(reason: "\(path): question \(q.id) has an empty prompt or a position outside its word")
                    }
                    var facts = q.facts
                    facts.other = [:]
                    items.append(EvalItem(id: q.id, task: task, style: style.rawValue, prompt: q.prompt, gold: q.answer, word: q.facts.word, metadata: facts))
                }
            }
        }
        guard !items.isEmpty else { throw EvaluationError.noQuestions(reason: "no evaluation items in \(dir) for split '\(r.split)' (empty split?)") }
        return items
    }

    /// Spelling questions on the held-out vocabulary tokens (never trained on, but single tokens), worded
    /// like the dictionary-word spelling questions (the dataset's own wording, from its manifest), to
    /// separate generalisation to unseen tokens from generalisation to unseen multi-token words.
    static func heldoutVocabItems(_ dir: String, _ r: EvalRequest, wording q: QuestionWording) throws -> [EvalItem] {
        let path = dir + "/heldout_vocab.jsonl"
        guard fileExists(path) else { throw EvaluationError.notADataset(path: path, split: r.split) }
        let words = try RecordFile.readLines(SpellingExample.self, from: path, limit: r.limit).map(\.word)
        var items: [EvalItem] = []
        for style in r.styles {
            let suffix = (style == .direct ? q.directSuffix : q.spellFirstSuffix).replacingOccurrences(of: "{answer_kind}", with: "spelling")
            for (i, w) in words.enumerated() {
                let prompt = q.spelling.replacingOccurrences(of: "{word}", with: w) + suffix
                var facts = QuestionFacts()
                facts.wordLength = w.count
                items.append(EvalItem(id: "heldout_vocab-spelling-\(style.rawValue)-\(i)", task: .spelling, style: style.rawValue, prompt: prompt,
                                      gold: w.map(String.init).joined(separator: "-"), word: w, metadata: facts))
            }
        }
        guard !items.isEmpty else { throw EvaluationError.noQuestions(reason: "\(path) has no words") }
        return items
    }

    /// An external question set: JSONL with prompt, answer, optional task (count | position | spelling) and metadata.
    static func loadExternal(_ path: String, limit: Int?) throws -> [EvalItem] {
        let questions = try RecordFile.readLines(ExternalQuestion.self, from: path, limit: limit)
        guard !questions.isEmpty else { throw EvaluationError.noQuestions(reason: "\(path) holds no questions (one JSON object per line with prompt and answer)") }
        return questions.enumerated().map { i, q in
            let task = q.task ?? (Int(q.answer) != nil ? .count : q.answer.count == 1 ? .position : .spelling)
            return EvalItem(id: "external-\(i)", task: task, style: "external", prompt: q.prompt, gold: q.answer, word: nil,
                            metadata: q.metadata ?? QuestionFacts())
        }
    }

    /// New-token budget: room for the answer (and the spelling in spell-first style, or the
    /// reasoning in thinking mode) without letting a rambling model run on.
    static func budget(task: EvalTask, style: String, mode: EvalMode) -> Int {
        if mode == .thinking { return 768 }
        if style == PromptStyle.spellFirst.rawValue { return 96 }
        return task == .spelling ? 48 : 24
    }

    /// Scores one output: the parsed answer (nil = unparseable), correctness and spelling metrics.
    public static func score(task: EvalTask, output: String, gold: String) -> Score {
        switch task {
        case .count:
            let p = AnswerExtraction.count(output).map(String.init)
            return Score(parsed: p, correct: p != nil && p == gold)
        case .position:
            let p = AnswerExtraction.letter(output).map(String.init)
            return Score(parsed: p, correct: p != nil && p == gold.lowercased())
        case .spelling:
            let goldLetters = gold.filter(\.isLetter).lowercased()
            let p = AnswerExtraction.spelling(output)
            let s = p ?? ""
            return Score(parsed: p, correct: s == goldLetters, spelling: Metrics.spellingScores(s, goldLetters))
        }
    }

    public static func run(_ r: EvalRequest) throws -> EvaluationSummary {
        try r.validate()
        let items = try loadItems(r)
        // The output is staged (and its location checked) before any generation runs.
        let out = try OutputDirectory.begin(r.out, kind: .evaluation, replace: true,
                                            inputs: [r.model, r.adapter, r.data, r.evalFile].compactMap { $0 })
        do {
            let summary = try evaluate(items, r)
            try RecordFile.writeLines(summary.items, to: out.file("items.jsonl"))
            try RecordFile.write(summary.summary, to: out.file("metrics.json"))
            try out.commit()
            return summary.summary
        } catch {
            out.abandon()
            throw error
        }
    }

    static func evaluate(_ items: [EvalItem], _ r: EvalRequest) throws -> (summary: EvaluationSummary, items: [EvaluatedItem]) {
        var m = try LoadedModel.load(path: r.model)
        if let a = r.adapter { m = try AdapterMerge.apply(adapter: a, to: m) }
        let template = r.chatTemplate ? try m.chatTemplate.map { try ChatTemplate($0) } : nil
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        var requests: [GenerationRequest] = [], index: [(item: Int, mode: EvalMode, sample: Int)] = []
        for mode in r.modes {
            let thinking: Bool? = m.config.architecture.descriptor.hasThinkingMode ? (mode == .thinking) : nil
            let samples = mode == .thinking ? max(1, r.samples) : 1
            for (i, item) in items.enumerated() {
                let ids: [Int]
                if let template {
                    ids = m.tokenizer.encode(try template.render([ChatMessage(role: "user", content: item.prompt)], enableThinking: thinking))
                } else { ids = m.tokenizer.encode(item.prompt + "\n") }
                for s in 0..<samples {
                    // Greedy for reproducibility; Qwen3 thinking mode samples as its card recommends.
                    let sampling = mode == .thinking ? SamplingParameters(temperature: 0.6, topK: 20, topP: 0.95, seed: r.seed &+ UInt64(s &* 100_003 &+ i))
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
            try Interruption.check()
            done += 1
            if done % max(1, requests.count / 10) == 0 || done == requests.count {
                let el = now() - t0
                r.log(String(format: "  %d/%d generated, %.1f questions/s, ETA %.0f s", done, requests.count, Double(done) / el, el / Double(done) * Double(requests.count - done)))
            }
        }
        let seconds = max(now() - t0, 1e-9)
        let generatedTokens = results.reduce(0) { $0 + $1.outputIds.count }

        var records: [EvaluatedItem] = []
        for (k, res) in results.enumerated() {
            let (i, mode, s) = index[k], item = items[i]
            let score = score(task: item.task, output: res.text, gold: item.gold)
            // Count/position: whether the output also spelled the word right on the way (spell-first transfer).
            let spelled = item.task != .spelling ? item.word.map { AnswerExtraction.spelling(res.text) == $0 } : nil
            records.append(EvaluatedItem(id: item.id, task: item.task.rawValue, style: item.style, mode: mode.rawValue, sample: s, prompt: item.prompt,
                                         output: res.text, gold: item.gold, parsed: score.parsed, correct: score.correct,
                                         truncated: res.finishReason == .length, word: item.word, metadata: item.metadata,
                                         spelling: score.spelling, spelledWordCorrectly: spelled))
        }
        let summary = EvaluationSummary(
            model: r.model, adapter: r.adapter, data: r.data ?? r.evalFile, split: r.split, questions: items.count, generations: requests.count,
            questionsPerSecond: Double(requests.count) / seconds, tokensPerSecond: Double(generatedTokens) / seconds, seconds: seconds,
            batchSize: r.batchSize, metrics: Aggregation.metrics(records), stratified: Aggregation.stratified(records))
        return (summary, records)
    }
}

/// A line of an external question set (--eval-file): prompt and answer (a string or a number),
/// optionally the task and metadata to stratify by.
struct ExternalQuestion: Decodable {
    var prompt: String
    var answer: String
    var task: EvalTask?
    var metadata: QuestionFacts?

    enum CodingKeys: String, CodingKey { case prompt, answer, task, metadata }
    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        prompt = try c.decode(String.self, forKey: .prompt)
        if let s = try? c.decode(String.self, forKey: .answer) { answer = s }
        else if let i = try? c.decode(Int.self, forKey: .answer) { answer = String(i) }
        else { answer = try c.decode(String.self, forKey: .answer) }   // rethrows the type error, naming the field
        task = try c.decodeIfPresent(EvalTask.self, forKey: .task)
        metadata = try c.decodeIfPresent(QuestionFacts.self, forKey: .metadata)
    }
}
