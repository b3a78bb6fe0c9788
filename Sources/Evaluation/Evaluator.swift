// `strawberry eval`: the dataset's questions through a model (optionally with an adapter), with
// continuous batched generation, auditable answer extraction, per-item records and metrics.
import Adapters
import Foundation
import Generation
import Hashing
import ModelFormats
import Models
import Records
import Signals
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
    /// How closed-set answers (counts, letters, yes/no asked directly) are scored: generated and read,
    /// by likelihood over their candidates, or both (the CLI's default; a library caller asks for
    /// likelihood explicitly). Open answers (spellings) are always generated.
    public var scoring: [Scoring] = [.generate]
    /// Worked examples before each question (K earlier chat turns), drawn with `shotsSeed` from the
    /// validation split: never from the split evaluated, the same for every model given the same seed.
    public var shots = 0
    public var shotsSeed: UInt64 = 0
    public var limit: Int?
    public var samples = 1
    /// Greedy or the model card's sampling, per mode.
    public var sampling: EvalSampling = .auto
    public var batchSize = 32
    /// Thinking-mode sampling.
    public var seed: UInt64 = 0
    /// The `limit` sample of words (kept apart from `seed`, so changing one leaves the other's draws alone).
    public var sampleSeed: UInt64 = 0
    /// Wrap questions in the model's chat template (when it has one).
    public var chatTemplate = true
    /// Check the dataset's files against the SHA-256s in its manifest before reading them.
    public var verifyData = true
    /// How the base model's weights sit in memory (an adapter's layers become float32).
    public var weights: WeightPrecision = .f32
    public var out: String
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
    public init(model: String, out: String) { self.model = model; self.out = out }

    /// The numbers a library caller could get wrong (the CLI checks the same in `validate()`).
    public func validate() throws(EvaluationError) {
        guard (1...4096).contains(batchSize) else { throw .badRequest("batch size \(batchSize) is outside 1...4096") }
        guard (1...1000).contains(samples) else { throw .badRequest("samples \(samples) is outside 1...1000") }
        guard !tasks.isEmpty, !styles.isEmpty, !modes.isEmpty, !scoring.isEmpty else { throw .badRequest("give at least one task, style, mode and scoring") }
        guard (0...32).contains(shots) else { throw .badRequest("shots \(shots) is outside 0...32") }
        if shots > 0 && split == "validation" { throw .badRequest("--shots draws its examples from the validation split, so it cannot evaluate that split; evaluate test (or another split)") }
        if shots > 0 && evalFile != nil { throw .badRequest("--shots needs a dataset's validation split (--data), not --eval-file") }
    }
}

/// One evaluation question, whatever file it came from.
public struct EvalItem: Sendable {
    public var id: String
    /// A built-in task (spelling, count, position) or a benchmark's own label.
    public var task: String
    public var answerType: AnswerType
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
    /// Spelled-sequence (letters) answers only.
    public var spelling: SpellingScores?
}

/// The questions an evaluation asks, and the sample they were drawn as (nil: all of them).
public struct QuestionSet: Sendable {
    public var items: [EvalItem]
    public var sample: SampleRecord?
}

public enum Evaluator {
    public static func loadItems(_ r: EvalRequest) throws -> QuestionSet {
        if let f = r.evalFile { return try loadExternal(f, limit: r.limit, seed: r.sampleSeed) }
        guard let dir = r.data else { throw EvaluationError.noQuestions(reason: "give --data DATASET_DIR or --eval-file FILE.jsonl") }
        guard fileExists(dir + "/manifest.json") || !r.verifyData else { throw EvaluationError.notADataset(path: dir + "/manifest.json", split: r.split) }
        let manifest = !fileExists(dir + "/manifest.json") ? nil
            : r.verifyData ? try DatasetManifest.verified(dir: dir, hash: { try Checksum.sha256(file: $0) })
            : try RecordFile.read(DatasetManifest.self, from: dir + "/manifest.json")
        if r.split == "heldout_vocab" { return try heldoutVocabItems(dir, r, wording: manifest?.config.questions ?? QuestionWording()) }
        var items: [EvalItem] = []
        for task in r.tasks {
            for style in r.styles {
                let path = "\(dir)/eval/\(task.rawValue)_\(style.rawValue)_\(r.split).jsonl"
                guard fileExists(path) else { throw EvaluationError.notADataset(path: path, split: r.split) }
                let questions = try RecordFile.readLines(Question.self, from: path)
                if questions.isEmpty { throw EvaluationError.noQuestions(reason: "\(path) holds no questions; is the dataset complete?") }
                for q in questions {
                    // A question with no prompt, or a position outside its word, is not one the builder writes.
                    guard !q.prompt.isEmpty, q.facts.position.map({ p in (1...max(q.facts.wordLength ?? Int.max, 1)).contains(p) }) ?? true else {
                        throw EvaluationError.noQuestions(reason: "\(path): question \(q.id) has an empty prompt or a position outside its word")
                    }
                    var facts = q.facts
                    facts.other = [:]
                    items.append(EvalItem(id: q.id, task: task.rawValue, answerType: AnswerType(task: task.rawValue) ?? .text, style: style.rawValue,
                                          prompt: q.prompt, gold: q.answer, word: q.facts.word, metadata: facts))
                }
            }
        }
        guard !items.isEmpty else { throw EvaluationError.noQuestions(reason: "no evaluation items in \(dir) for split '\(r.split)' (empty split?)") }
        return sampled(items, limit: r.limit, seed: r.sampleSeed)
    }

    /// The items about a seeded sample of `limit` words (every item when no limit is given or the
    /// split has no more words). Items without a word are sampled by id.
    static func sampled(_ items: [EvalItem], limit: Int?, seed: UInt64) -> QuestionSet {
        guard let limit else { return QuestionSet(items: items, sample: nil) }
        let unit = { (i: EvalItem) in i.word ?? i.id }
        let population = Set(items.map(unit))
        let chosen = Sampling.words(Array(population), count: limit, seed: seed)
        let keep = Set(chosen)
        return QuestionSet(items: items.filter { keep.contains(unit($0)) },
                           sample: SampleRecord(method: Sampling.method, seed: seed, population: population.count, words: chosen))
    }

    /// Spelling questions on the held-out vocabulary tokens (never trained on, but single tokens), worded
    /// like the dictionary-word spelling questions (the dataset's own wording, from its manifest), to
    /// separate generalisation to unseen tokens from generalisation to unseen multi-token words.
    static func heldoutVocabItems(_ dir: String, _ r: EvalRequest, wording q: QuestionWording) throws -> QuestionSet {
        let path = dir + "/heldout_vocab.jsonl"
        guard fileExists(path) else { throw EvaluationError.notADataset(path: path, split: r.split) }
        var words = try RecordFile.readLines(SpellingExample.self, from: path).map(\.word)
        guard !words.isEmpty else { throw EvaluationError.noQuestions(reason: "\(path) has no words") }
        var sample: SampleRecord? = nil
        if let limit = r.limit {
            let chosen = Sampling.words(words, count: limit, seed: r.sampleSeed)
            sample = SampleRecord(method: Sampling.method, seed: r.sampleSeed, population: Set(words).count, words: chosen)
            let keep = Set(chosen)
            var seen = Set<String>()
            words = words.filter { keep.contains($0) && seen.insert($0).inserted }
        }
        var items: [EvalItem] = []
        for style in r.styles {
            let suffix = (style == .direct ? q.directSuffix : q.spellFirstSuffix).replacingOccurrences(of: "{answer_kind}", with: "spelling")
            for (i, w) in words.enumerated() {
                let prompt = q.spelling.replacingOccurrences(of: "{word}", with: w) + suffix
                var facts = QuestionFacts()
                facts.wordLength = w.count
                items.append(EvalItem(id: "heldout_vocab-spelling-\(style.rawValue)-\(i)", task: EvalTask.spelling.rawValue, answerType: .letters,
                                      style: style.rawValue, prompt: prompt, gold: w.map(String.init).joined(separator: "-"), word: w, metadata: facts))
            }
        }
        return QuestionSet(items: items, sample: sample)
    }

    /// An external question set (any benchmark): JSONL with prompt and answer, and optionally id,
    /// task (a free label), answer_type, style, word and metadata. See docs/metrics.md.
    static func loadExternal(_ path: String, limit: Int?, seed: UInt64) throws -> QuestionSet {
        let questions: [ExternalQuestion]
        switch Result(catching: { () throws(RecordError) -> [ExternalQuestion] in try RecordFile.readLines(ExternalQuestion.self, from: path) }) {
        case .success(let q): questions = q
        case .failure(let e): throw handWritten(e)
        }
        guard !questions.isEmpty else { throw EvaluationError.noQuestions(reason: "\(path) holds no questions (one JSON object per line with prompt and answer)") }
        var ids = Set<String>()
        var items: [EvalItem] = []
        for (i, q) in questions.enumerated() {
            let type = q.answerType ?? q.task.flatMap(AnswerType.init(task:)) ?? AnswerType(inferredFrom: q.answer)
            let id = q.id ?? "external-\(i)"
            guard ids.insert(id).inserted else { throw EvaluationError.noQuestions(reason: "\(path) line \(i + 1): id '\(id)' is used twice") }
            items.append(EvalItem(id: id, task: q.task ?? type.defaultTask, answerType: type, style: q.style ?? "external", prompt: q.prompt,
                                  gold: q.answer, word: q.word ?? q.metadata?.word, metadata: q.metadata ?? QuestionFacts()))
        }
        return sampled(items, limit: limit, seed: seed)
    }

    /// A question file is written by hand on purpose: the advice for a bad line is to fix it, not to
    /// re-create the file with the command that wrote it.
    static func handWritten(_ e: RecordError) -> Error {
        guard case .malformed(let p, let line, let field, let reason) = e else { return e }
        let at = p + (line.map { ":\($0)" } ?? "")
        return EvaluationError.noQuestions(reason: "\(at): \(field.map { "field '\($0)': " } ?? "")\(reason). Fix that line of the question file (format: docs/metrics.md, \"Any benchmark through --eval-file\").")
    }

    /// New-token budget: room for the answer (and the spelling in spell-first style, or the
    /// reasoning in thinking mode) without letting a rambling model run on.
    static func budget(type: AnswerType, style: String, mode: EvalMode) -> Int {
        if mode == .thinking { return 768 }
        if style == PromptStyle.spellFirst.rawValue { return 96 }
        switch type {
        case .letters: return 48
        case .text: return 64
        case .number, .letter, .yesNo, .word: return 24
        }
    }

    /// Scores one output: the parsed answer (nil = unparseable), correctness, and for spelled
    /// sequences the similarity scores.
    public static func score(_ type: AnswerType, output: String, gold: String, facts: QuestionFacts? = nil) -> Score {
        let p = AnswerExtraction.read(type, output, facts: facts), g = AnswerExtraction.normalizedGold(type, gold)
        guard type == .letters else { return Score(parsed: p, correct: p != nil && p == g) }
        return Score(parsed: p, correct: (p ?? "") == g, spelling: Metrics.spellingScores(p ?? "", g))
    }

    /// Re-reads every item's answer from its stored output with the current extraction rules
    /// (`strawberry rescore`): the generations are kept, parsed/correct/scores are recomputed.
    public static func rescored(_ run: EvalRun) -> (summary: EvaluationSummary, items: [EvaluatedItem]) {
        var items = run.items.map { r -> EvaluatedItem in
            var r = r
            if let c = r.likelihood {
                r.parsed = c.argmax
                r.correct = c.argmax == AnswerExtraction.normalizedGold(r.answerType, r.gold)
                return r
            }
            let s = score(r.answerType, output: r.output, gold: r.gold, facts: r.metadata)
            r.parsed = s.parsed
            r.correct = s.correct
            r.spelling = s.spelling
            if r.answerType != .letters, let w = r.word { r.spelledWordCorrectly = AnswerExtraction.spelling(r.output) == w.lowercased() }
            return r
        }
        SpellingImplied.annotate(&items)
        var summary = run.summary
        // A constant baseline fitted on validation keeps its fitted answer.
        summary.metrics = Aggregation.metrics(items, fitted: run.summary.fittedConstants)
        summary.stratified = Aggregation.stratified(items)
        return (summary, items)
    }

    public static func run(_ r: EvalRequest) throws -> EvaluationSummary {
        try r.validate()
        let questions = try loadItems(r)
        guard !questions.items.isEmpty else { throw EvaluationError.noQuestions(reason: "no evaluation items left after sampling (--limit \(r.limit ?? 0))") }
        // The output is staged (and its location checked) before any generation runs.
        let out = try OutputDirectory.begin(r.out, kind: .evaluation, replace: true,
                                            inputs: [r.model, r.adapter, r.data, r.evalFile].compactMap { $0 })
        return try out.fill {
            var summary = try evaluate(questions.items, r)
            summary.summary.sample = questions.sample
            try RecordFile.writeLines(summary.items, to: out.file("items.jsonl"))
            try RecordFile.write(summary.summary, to: out.file("metrics.json"))
            return summary.summary
        }
    }

    static func evaluate(_ items: [EvalItem], _ r: EvalRequest) throws -> (summary: EvaluationSummary, items: [EvaluatedItem]) {
        var m = try LoadedModel.load(path: r.model, precision: r.weights)
        if let a = r.adapter { m = try AdapterMerge.apply(adapter: a, to: m) }
        let template = r.chatTemplate ? try m.chatTemplate.map { try ChatTemplate($0) } : nil
        let shots = try fewShotExamples(r)
        let generating = r.scoring.contains(.generate), likelihood = r.scoring.contains(.likelihood)
        // The prompt as the model sees it: the chat template around the worked examples and the question.
        func render(_ item: EvalItem, thinking: Bool?) throws -> String {
            let examples = shots["\(item.task)/\(item.style)"] ?? []
            guard let template else { return examples.map { $0.prompt + "\n" + $0.answer + "\n\n" }.joined() + item.prompt + "\n" }
            var messages: [ChatMessage] = []
            for e in examples { messages += [ChatMessage(role: "user", content: e.prompt), ChatMessage(role: "assistant", content: e.answer)] }
            return try template.render(messages + [ChatMessage(role: "user", content: item.prompt)], enableThinking: thinking)
        }
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        var requests: [GenerationRequest] = [], index: [(item: Int, mode: EvalMode, sample: Int)] = []
        var queries: [LikelihoodScorer.Query] = [], queryIndex: [(item: Int, mode: EvalMode)] = []
        var candidates: [AnswerType: [String]] = [:]
        for type in Set(items.map(\.answerType)) {
            candidates[type] = CandidateSet.candidates(type, golds: items.filter { $0.answerType == type }.map(\.gold))
        }
        for mode in r.modes {
            let thinking: Bool? = m.config.architecture.descriptor.hasThinkingMode ? (mode == .thinking) : nil
            let sampled = r.sampling.samples(mode)
            let samples = sampled ? max(1, r.samples) : 1
            for (i, item) in items.enumerated() {
                let text = try render(item, thinking: thinking)
                let ids = m.tokenizer.encode(text)
                // Likelihood in the answer slot of a direct question; reasoning (thinking mode) comes before any answer.
                let byLikelihood = likelihood && mode == .nonThinking && CandidateSet.applies(item.answerType, style: item.style)
                    && candidates[item.answerType] != nil
                if byLikelihood, let c = candidates[item.answerType] {
                    queries.append(.init(context: text, contextIds: ids, candidates: c))
                    queryIndex.append((i, mode))
                }
                guard generating || !byLikelihood else { continue }
                for s in 0..<samples {
                    // Greedy for reproducibility unless sampled; Qwen3's card gives each mode its values.
                    var sampling = SamplingParameters.greedy
                    if sampled {
                        sampling = mode == .thinking ? .qwen3Thinking : .qwen3NonThinking
                        sampling.seed = r.seed &+ UInt64(s &* 100_003 &+ i)
                    }
                    requests.append(GenerationRequest(promptIds: ids, maxTokens: budget(type: item.answerType, style: item.style, mode: mode),
                                                      sampling: sampling, stopTokenIds: m.stopTokenIds))
                    index.append((i, mode, s))
                }
            }
        }
        r.log("evaluating \(items.count) questions × \(r.modes.map(\.rawValue).joined(separator: "+")) (\(requests.count) generations, \(queries.count) scored by likelihood, batch \(r.batchSize)) on \(r.model)\(r.adapter.map { " + \($0)" } ?? "")")
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
        let generatedTokens = results.reduce(0) { $0 + $1.outputIds.count }
        let t1 = now()
        let scorer = LikelihoodScorer(model: m.model, tokenizer: m.tokenizer)
        let logprobs = try scorer.score(queries, batch: r.batchSize) { n in
            try Interruption.check()
            if n % max(1, queries.count / 5) < r.batchSize || n == queries.count {
                let el = now() - t1
                r.log(String(format: "  %d/%d scored by likelihood, %.1f questions/s, ETA %.0f s", n, queries.count, Double(n) / el, el / Double(n) * Double(queries.count - n)))
            }
        }
        let seconds = max(now() - t0, 1e-9)

        var records: [EvaluatedItem] = []
        for (k, res) in results.enumerated() {
            let (i, mode, s) = index[k]
            records.append(scored(items[i], mode: mode, sample: s, output: res.text, truncated: res.finishReason == .length, outputTokens: res.outputIds.count))
        }
        for (k, lp) in logprobs.enumerated() {
            let (i, mode) = queryIndex[k]
            records.append(likelihoodScored(items[i], mode: mode, CandidateScores(candidates: queries[k].candidates, logprobs: lp)))
        }
        SpellingImplied.annotate(&records)
        var summary = summary(r, questions: items.count, records: records, seconds: seconds, generatedTokens: generatedTokens,
                              fitted: try fittedConstants(r))
        if r.shots > 0 {
            summary.fewShot = FewShotRecord(shots: r.shots, seed: r.shotsSeed, split: "validation",
                                            examples: shots.keys.sorted().reduce(into: [:]) { $0[$1] = shots[$1]?.map(\.id) ?? [] })
        }
        summary.scoring = r.scoring.map(\.rawValue)
        return (summary, records)
    }

    /// A likelihood-scored item: the most likely candidate is its answer.
    static func likelihoodScored(_ item: EvalItem, mode: EvalMode, _ c: CandidateScores) -> EvaluatedItem {
        let pred = c.argmax
        var e = EvaluatedItem(id: item.id, task: item.task, answerType: item.answerType, style: item.style, mode: mode.rawValue, sample: 0, prompt: item.prompt,
                              output: pred ?? "", gold: item.gold, parsed: pred, correct: pred == AnswerExtraction.normalizedGold(item.answerType, item.gold),
                              truncated: false, word: item.word, metadata: item.metadata)
        e.scoring = .likelihood
        e.likelihood = c
        return e
    }

    /// A worked example shown before a question: a validation question and its gold answer in the
    /// answer format asked for (the bare answer; spell-first: the dashed spelling, then the answer).
    struct Shot { var id: String; var prompt: String; var answer: String }

    /// `shots` validation questions per task/style, drawn with `shotsSeed` (the same for every model).
    static func fewShotExamples(_ r: EvalRequest) throws -> [String: [Shot]] {
        guard r.shots > 0, let dir = r.data else { return [:] }
        var out: [String: [Shot]] = [:]
        for task in r.tasks {
            for style in r.styles {
                let path = "\(dir)/eval/\(task.rawValue)_\(style.rawValue)_validation.jsonl"
                guard fileExists(path) else { throw EvaluationError.notADataset(path: path, split: "validation") }
                let pool = try RecordFile.readLines(Question.self, from: path)
                guard pool.count >= r.shots else { throw EvaluationError.badRequest("--shots \(r.shots): \(path) holds only \(pool.count) questions") }
                var rng = SplitMix64(seed: r.shotsSeed)
                var order = Array(pool.indices)
                order.seededShuffle(&rng)
                out["\(task.rawValue)/\(style.rawValue)"] = order.prefix(r.shots).map { i in
                    let q = pool[i]
                    let spelled = (q.facts.word ?? "").map(String.init).joined(separator: "-")
                    let answer = style == .spellFirst && task != .spelling ? spelled + "\n" + q.answer : q.answer
                    return Shot(id: q.id, prompt: q.prompt, answer: answer)
                }
            }
        }
        return out
    }

    /// The constant answers of the no-knowledge baseline, fitted on the validation split: group →
    /// the most common gold answer there (empty when the split evaluated is validation itself, or the
    /// dataset has none; the baseline then falls back to the evaluated items, and says so).
    static func fittedConstants(_ r: EvalRequest) throws -> [String: String] {
        guard let dir = r.data, r.split != "validation", r.split != "heldout_vocab" else { return [:] }
        var out: [String: String] = [:]
        for task in r.tasks where task != .spelling {
            for style in r.styles {
                let path = "\(dir)/eval/\(task.rawValue)_\(style.rawValue)_validation.jsonl"
                guard fileExists(path) else { continue }
                let type = AnswerType(task: task.rawValue) ?? .text
                let golds = try RecordFile.readLines(Question.self, from: path).map {
                    EvaluatedItem(id: $0.id, task: task.rawValue, answerType: type, style: style.rawValue, mode: EvalMode.nonThinking.rawValue, sample: 0,
                                  prompt: "", output: "", gold: $0.answer, parsed: nil, correct: false, truncated: false, word: nil, metadata: QuestionFacts())
                }
                guard let answer = Baselines.majority(golds) else { continue }
                for mode in r.modes {
                    out["\(task.rawValue)/\(style.rawValue)/\(mode.rawValue)"] = answer
                    out["\(task.rawValue)/\(style.rawValue)/\(mode.rawValue)/likelihood"] = answer
                }
            }
        }
        return out
    }

    /// metrics.json of request `r`'s scored items (the `--limit` sample is the caller's to add).
    static func summary(_ r: EvalRequest, questions: Int, records: [EvaluatedItem], seconds: Double, generatedTokens: Int,
                        fitted: [String: String] = [:]) -> EvaluationSummary {
        let t = max(seconds, 1e-9)
        var s = EvaluationSummary(
            model: r.model, adapter: r.adapter, data: r.data ?? r.evalFile, split: r.split, questions: questions, generations: records.filter { !$0.isLikelihood }.count,
            questionsPerSecond: Double(records.count) / t, tokensPerSecond: Double(generatedTokens) / t, seconds: seconds,
            batchSize: r.batchSize, metrics: Aggregation.metrics(records, fitted: fitted), stratified: Aggregation.stratified(records))
        let scoredByLikelihood = records.filter(\.isLikelihood).count
        s.likelihoodItems = scoredByLikelihood > 0 ? scoredByLikelihood : nil
        s.weights = r.weights == .f32 ? nil : r.weights.rawValue
        s.sampling = r.sampling == .auto ? nil : r.sampling.rawValue
        return s
    }
}

extension Evaluator {
    /// `strawberry score DIR`: answers another engine generated (generations.jsonl, generation_info.json)
    /// scored exactly as `eval` scores its own. The questions are re-read from the dataset the request
    /// names (`data` overrides its path, for results brought back from another machine), so gold
    /// answers, facts and the `--limit` sample come from the one implementation; every question must
    /// have its generations and no generation may lack a question.
    public static func scoreGenerations(dir: String, data: String?, verifyData: Bool = true)
        throws -> (summary: EvaluationSummary, items: [EvaluatedItem]) {
        let info = try RecordFile.read(GenerationInfo.self, from: dir + "/generation_info.json")
        guard info.seconds.isFinite, info.seconds >= 0, info.generatedTokens >= 0, (1...4096).contains(info.batchSize), (1...1000).contains(info.samples),
              (info.limit ?? 1) >= 1 else {
            throw EvaluationError.badRequest("\(dir)/generation_info.json: seconds, generated_tokens, batch_size (1...4096), samples (1...1000) or limit (≥ 1) out of range")
        }
        var r = EvalRequest(model: info.model, out: dir)
        r.adapter = info.adapter
        r.data = data ?? info.data
        r.split = info.split
        r.limit = info.limit
        r.sampleSeed = info.sampleSeed
        r.sampling = info.sampling ?? .auto
        r.verifyData = verifyData
        func parse<T: RawRepresentable>(_ names: [String], _ what: String) throws -> [T] where T.RawValue == String {
            if let twice = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
                throw EvaluationError.badRequest("\(dir)/generation_info.json: \(what) '\(twice.prefix(40))' is listed twice")
            }
            return try names.map { n in
                guard let v = T(rawValue: n) else { throw EvaluationError.badRequest("\(dir)/generation_info.json: unknown \(what) '\(n.prefix(40))'") }
                return v
            }
        }
        r.tasks = try parse(info.tasks, "task")
        r.styles = try parse(info.styles, "style")
        r.modes = try parse(info.modes, "mode")
        try r.validate()
        let questions = try loadItems(r)
        let answers = try RecordFile.readLines(GeneratedAnswer.self, from: dir + "/generations.jsonl")
        var byKey: [String: GeneratedAnswer] = [:]
        for a in answers {
            guard byKey.updateValue(a, forKey: a.key) == nil else {
                throw EvaluationError.badRequest("\(dir)/generations.jsonl: question \(a.id) (\(a.mode), sample \(a.sample)) is answered twice")
            }
        }
        var records: [EvaluatedItem] = []
        for mode in r.modes {
            let samples = r.sampling.samples(mode) ? info.samples : 1
            for item in questions.items {
                for s in 0..<samples {
                    let key = "\(item.id)#\(mode.rawValue)#\(s)"
                    guard let a = byKey.removeValue(forKey: key) else {
                        throw EvaluationError.badRequest("\(dir)/generations.jsonl has no answer to question \(item.id) (\(mode.rawValue), sample \(s)); was it made from the same dataset, split and --limit sample?")
                    }
                    records.append(scored(item, mode: mode, sample: s, output: a.output, truncated: a.truncated, outputTokens: a.outputTokens))
                }
            }
        }
        if let extra = byKey.values.min(by: { $0.key < $1.key }) {
            throw EvaluationError.badRequest("\(dir)/generations.jsonl answers question \(extra.id) (\(extra.mode), sample \(extra.sample)), which the request's dataset, split and sample do not hold (\(byKey.count) such answers)")
        }
        r.batchSize = info.batchSize
        SpellingImplied.annotate(&records)
        var result = summary(r, questions: questions.items.count, records: records, seconds: info.seconds, generatedTokens: info.generatedTokens,
                             fitted: try fittedConstants(r))
        result.sample = questions.sample
        result.engine = info.engine
        return (result, records)
    }

    /// One output read and judged: what `eval` records for each generation.
    static func scored(_ item: EvalItem, mode: EvalMode, sample: Int, output: String, truncated: Bool, outputTokens: Int) -> EvaluatedItem {
        let score = score(item.answerType, output: output, gold: item.gold, facts: item.metadata)
        // Count/position: whether the output also spelled the word right on the way (spell-first transfer).
        let spelled = item.answerType != .letters ? item.word.map { AnswerExtraction.spelling(output) == $0.lowercased() } : nil
        return EvaluatedItem(id: item.id, task: item.task, answerType: item.answerType, style: item.style, mode: mode.rawValue, sample: sample, prompt: item.prompt,
                             output: output, gold: item.gold, parsed: score.parsed, correct: score.correct, truncated: truncated, word: item.word,
                             metadata: item.metadata, spelling: score.spelling, spelledWordCorrectly: spelled, outputTokens: outputTokens)
    }
}

/// A line of an external question set (--eval-file): prompt and answer (a string, number or
/// boolean); optionally id, task (a free label), answer_type, style, word and metadata.
struct ExternalQuestion: Decodable {
    var id: String?
    var prompt: String
    var answer: String
    var task: String?
    var answerType: AnswerType?
    var style: String?
    var word: String?
    var metadata: QuestionFacts?

    enum CodingKeys: String, CodingKey { case id, prompt, answer, task, answerType = "answer_type", style, word, metadata }
    /// Names public benchmarks use for the question and the gold answer, accepted as they are.
    static let promptNames = ["prompt", "question", "input"], answerNames = ["answer", "target", "gold", "label", "expected"]

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let any = try decoder.container(keyedBy: DynamicKey.self)
        func first(_ names: [String]) throws -> DynamicKey {
            guard let k = names.lazy.map(DynamicKey.init).first(where: { any.contains($0) }) else {
                throw DecodingError.dataCorrupted(.init(codingPath: any.codingPath + [DynamicKey(names[0])],
                                                        debugDescription: "missing (also accepted under the names \(names.dropFirst().joined(separator: ", ")))"))
            }
            return k
        }
        let promptKey = try first(Self.promptNames), answerKey = try first(Self.answerNames)
        prompt = try any.decode(String.self, forKey: promptKey)
        if let s = try? any.decode(String.self, forKey: answerKey) { answer = s }
        else if let i = try? any.decode(Int.self, forKey: answerKey) { answer = String(i) }
        else if let b = try? any.decode(Bool.self, forKey: answerKey) { answer = b ? "yes" : "no" }
        else if let d = try? any.decode(Double.self, forKey: answerKey), d.isFinite {
            answer = d == d.rounded() && abs(d) < 9e15 ? String(Int(d)) : String(d)
        } else {
            throw DecodingError.dataCorruptedError(forKey: answerKey, in: any, debugDescription: "expected the gold answer as a string, number or boolean")
        }
        id = try c.decodeIfPresent(String.self, forKey: .id)
        task = try c.decodeIfPresent(String.self, forKey: .task)
        if let raw = try c.decodeIfPresent(String.self, forKey: .answerType) {
            guard let t = AnswerType(rawValue: raw) else {
                throw DecodingError.dataCorruptedError(forKey: .answerType, in: c, debugDescription:
                    "unknown answer type '\(raw.prefix(40))'; expected one of \(AnswerType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            answerType = t
        }
        style = try c.decodeIfPresent(String.self, forKey: .style)
        word = try c.decodeIfPresent(String.self, forKey: .word)
        metadata = try c.decodeIfPresent(QuestionFacts.self, forKey: .metadata)
        // Task and style name groups ("task/style/mode") and table rows: printable, without "/", short.
        for (key, v) in [(CodingKeys.task, task), (.style, style), (.id, id)] {
            guard let v else { continue }
            if v.isEmpty || (key != .id && v.contains("/")) || v.count > 200 || v.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "expected a non-empty label without '/' or control characters (at most 200 characters)")
            }
        }
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw DecodingError.dataCorruptedError(forKey: promptKey, in: any, debugDescription: "the prompt is empty")
        }
        let gold = answer.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !gold.isEmpty else { throw DecodingError.dataCorruptedError(forKey: answerKey, in: any, debugDescription: "the gold answer is empty") }
        // A gold answer its type can never match would score every output wrong without a word: refuse it.
        let type = answerType ?? task.flatMap(AnswerType.init(task:)) ?? AnswerType(inferredFrom: gold)
        let fits: Bool
        switch type {
        case .number: fits = Int(gold) != nil
        case .letter: fits = gold.count == 1 && gold.first?.isLetter == true
        case .yesNo: fits = ["yes", "no", "true", "false"].contains(gold.lowercased())
        case .letters: fits = gold.contains(where: \.isLetter) && gold.allSatisfy { $0.isLetter || " -,.\t".contains($0) }
        case .word: fits = gold.allSatisfy { $0.isLetter || $0 == "'" || $0 == "-" }
        case .text: fits = !AnswerExtraction.normalizeText(gold).isEmpty
        }
        guard fits else {
            throw DecodingError.dataCorruptedError(forKey: answerKey, in: any, debugDescription: "'\(gold.prefix(40))' is not a possible \(type.rawValue) answer (number: an integer; letter: one letter; yes_no: yes/no/true/false; letters: letters with spaces, dashes or commas; word: one word; text: any text with a letter or digit)")
        }
    }
}

extension AnswerType {
    /// The task label of an external question that names none: the built-in task with this answer
    /// type (count, position, spelling), else the answer type's own name.
    var defaultTask: String {
        switch self {
        case .number: return EvalTask.count.rawValue
        case .letter: return EvalTask.position.rawValue
        case .letters: return EvalTask.spelling.rawValue
        case .yesNo, .word, .text: return rawValue
        }
    }
}
