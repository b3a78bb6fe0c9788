import Foundation

// The files of an evaluation run (`strawberry eval --out DIR`):
//   items.jsonl    EvaluatedItem per line: prompt, output, parsed answer, gold, correctness
//   metrics.json   EvaluationSummary: per task/style/mode metrics with intervals, strata, speed

/// One generated answer, scored.
public struct EvaluatedItem: Codable, Equatable, Sendable {
    public var id: String
    /// A built-in task (spelling, count, position) or an external benchmark's own label.
    public var task: String
    /// How the answer was read and judged (older files: implied by the built-in task).
    public var answerType: AnswerType
    public var style: String
    /// non-thinking | thinking
    public var mode: String
    /// Sample index (thinking mode may sample a question several times).
    public var sample: Int
    public var prompt: String
    public var output: String
    public var gold: String
    /// The answer read from the output; null when none could be read (unparseable).
    @ExplicitNull public var parsed: String?
    public var correct: Bool
    /// Generation hit its token budget before the end-of-turn token.
    public var truncated: Bool
    public var word: String?
    public var metadata: QuestionFacts
    /// Spelling items: similarity of the parsed spelling to the gold letters.
    public var spelling: SpellingScores?
    /// Count and position items: whether the output also spelled the word right on the way.
    public var spelledWordCorrectly: Bool?
    /// Tokens generated for this answer (the cost of thinking mode); absent in older files.
    public var outputTokens: Int?
    /// How the answer was obtained; absent: generated (every file before likelihood scoring).
    public var scoring: Scoring?
    /// Likelihood-scored items: every candidate's log-probability (the prediction is the argmax).
    public var likelihood: CandidateScores?
    /// Count and position items: the answer the model's own spelling of the word implies.
    public var implied: ImpliedAnswer?

    enum CodingKeys: String, CodingKey {
        case id, task, answerType = "answer_type", style, mode, sample, prompt, output, gold, parsed, correct, truncated, word, metadata
        case spelledWordCorrectly = "spelled_word_correctly", outputTokens = "output_tokens", scoring, likelihood, implied
    }

    public init(id: String, task: String, answerType: AnswerType, style: String, mode: String, sample: Int, prompt: String, output: String, gold: String,
                parsed: String?, correct: Bool, truncated: Bool, word: String?, metadata: QuestionFacts,
                spelling: SpellingScores? = nil, spelledWordCorrectly: Bool? = nil, outputTokens: Int? = nil) {
        self.id = id
        self.task = task
        self.answerType = answerType
        self.style = style
        self.mode = mode
        self.sample = sample
        self.prompt = prompt
        self.output = output
        self.gold = gold
        self.parsed = parsed
        self.correct = correct
        self.truncated = truncated
        self.word = word
        self.metadata = metadata
        self.spelling = spelling
        self.spelledWordCorrectly = spelledWordCorrectly
        self.outputTokens = outputTokens
    }

    /// Whether the answer was chosen by likelihood rather than generated.
    public var isLikelihood: Bool { scoring == .likelihood }
    /// task/style/mode (and "/likelihood" for likelihood-scored items): the group this item is aggregated in.
    public var group: String { "\(task)/\(style)/\(mode)" + (isLikelihood ? "/likelihood" : "") }
    /// Identifies the same question (and sample, and scoring) across two runs, for paired tests.
    public var pairKey: String { "\(id)#\(mode)#\(sample)" + (isLikelihood ? "#likelihood" : "") }

    // The spelling scores sit at the top level of the line (the published schema).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        // Task, style and mode name groups ("task/style/mode"), so none may be empty or hold a "/";
        // the answer type decides how an answer is read, and a free task label must name one.
        task = try c.decode(String.self, forKey: .task)
        guard !task.isEmpty, !task.contains("/") else {
            throw DecodingError.dataCorruptedError(forKey: .task, in: c, debugDescription: "expected a task label (spelling, count, position, or a benchmark's own) without '/'")
        }
        if let t = try c.decodeIfPresent(AnswerType.self, forKey: .answerType) { answerType = t }
        else if let t = AnswerType(task: task) { answerType = t }
        else { throw DecodingError.keyNotFound(CodingKeys.answerType, .init(codingPath: c.codingPath, debugDescription: "task '\(task)' is not built in, so answer_type is required")) }
        style = try c.decode(String.self, forKey: .style)
        guard !style.isEmpty, !style.contains("/") else {
            throw DecodingError.dataCorruptedError(forKey: .style, in: c, debugDescription: "expected a prompt style name (direct, spell_first, …)")
        }
        mode = try c.decode(EvalMode.self, forKey: .mode).rawValue
        sample = try c.decode(Int.self, forKey: .sample)
        prompt = try c.decode(String.self, forKey: .prompt)
        output = try c.decode(String.self, forKey: .output)
        gold = try c.decode(String.self, forKey: .gold)
        _parsed = try c.decode(ExplicitNull<String>.self, forKey: .parsed)
        correct = try c.decode(Bool.self, forKey: .correct)
        truncated = try c.decode(Bool.self, forKey: .truncated)
        word = try c.decodeIfPresent(String.self, forKey: .word)
        metadata = try c.decodeIfPresent(QuestionFacts.self, forKey: .metadata) ?? QuestionFacts()
        spelledWordCorrectly = try c.decodeIfPresent(Bool.self, forKey: .spelledWordCorrectly)
        outputTokens = try c.decodeIfPresent(Int.self, forKey: .outputTokens)
        if let n = outputTokens, n < 0 {
            throw DecodingError.dataCorruptedError(forKey: .outputTokens, in: c, debugDescription: "expected a token count ≥ 0, found \(n)")
        }
        scoring = try c.decodeIfPresent(Scoring.self, forKey: .scoring)
        likelihood = try c.decodeIfPresent(CandidateScores.self, forKey: .likelihood)
        implied = try c.decodeIfPresent(ImpliedAnswer.self, forKey: .implied)
        guard (scoring == .likelihood) == (likelihood != nil) else {
            throw DecodingError.dataCorruptedError(forKey: .likelihood, in: c, debugDescription: "a likelihood-scored item (scoring: likelihood) carries its candidates, and only such an item does")
        }
        let s = try decoder.container(keyedBy: DynamicKey.self)
        spelling = s.contains(DynamicKey(SpellingScores.CodingKeys.characterAccuracy.rawValue)) ? try SpellingScores(from: decoder) : nil
        if let sc = spelling, let bad = SpellingScores.CodingKeys.allCases.first(where: { !(0...1).contains(sc[$0]) }) {
            throw DecodingError.dataCorruptedError(forKey: DynamicKey(bad.rawValue), in: s, debugDescription: "expected a score in [0, 1], found \(sc[bad])")
        }
    }

    public func encode(to encoder: Encoder) throws {
        try spelling?.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(task, forKey: .task)
        try c.encode(answerType, forKey: .answerType)
        try c.encode(style, forKey: .style)
        try c.encode(mode, forKey: .mode)
        try c.encode(sample, forKey: .sample)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(output, forKey: .output)
        try c.encode(gold, forKey: .gold)
        try c.encode(_parsed, forKey: .parsed)
        try c.encode(correct, forKey: .correct)
        try c.encode(truncated, forKey: .truncated)
        try c.encodeIfPresent(word, forKey: .word)
        try c.encode(metadata, forKey: .metadata)
        try c.encodeIfPresent(spelledWordCorrectly, forKey: .spelledWordCorrectly)
        try c.encodeIfPresent(outputTokens, forKey: .outputTokens)
        if scoring == .likelihood { try c.encode(Scoring.likelihood, forKey: .scoring) }
        try c.encodeIfPresent(likelihood, forKey: .likelihood)
        try c.encodeIfPresent(implied, forKey: .implied)
    }
}

/// Similarity of a predicted spelling to the gold letters (definitions in docs/metrics.md).
public struct SpellingScores: Codable, Equatable, Sendable {
    public var characterAccuracy: Double
    /// Normalised edit distance: 0 = identical, 1 = nothing shared (lower is better). Written as
    /// `normalized_levenshtein`; files from before it was named so say `levenshtein`.
    public var levenshtein: Double
    public var bleu1: Double
    public var bleu2: Double
    public var bleu3: Double
    public var bleu4: Double
    public var rougeLPrecision: Double

    public enum CodingKeys: String, CodingKey, CaseIterable, Sendable {
        case characterAccuracy = "character_accuracy", levenshtein = "normalized_levenshtein", bleu1 = "bleu_1", bleu2 = "bleu_2", bleu3 = "bleu_3", bleu4 = "bleu_4"
        case rougeLPrecision = "rouge_l_precision"
    }

    public init(characterAccuracy: Double, levenshtein: Double, bleu1: Double, bleu2: Double, bleu3: Double, bleu4: Double, rougeLPrecision: Double) {
        self.characterAccuracy = characterAccuracy
        self.levenshtein = levenshtein
        self.bleu1 = bleu1
        self.bleu2 = bleu2
        self.bleu3 = bleu3
        self.bleu4 = bleu4
        self.rougeLPrecision = rougeLPrecision
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        func d(_ k: CodingKeys) throws -> Double { try c.decode(Double.self, forKey: DynamicKey(k.rawValue)) }
        characterAccuracy = try d(.characterAccuracy)
        levenshtein = try c.decodeIfPresent(Double.self, forKey: DynamicKey(CodingKeys.levenshtein.rawValue))
            ?? c.decode(Double.self, forKey: DynamicKey(Self.legacyLevenshteinKey))
        bleu1 = try d(.bleu1); bleu2 = try d(.bleu2); bleu3 = try d(.bleu3); bleu4 = try d(.bleu4)
        rougeLPrecision = try d(.rougeLPrecision)
    }

    /// The key earlier files used for the normalised edit distance.
    public static let legacyLevenshteinKey = "levenshtein"

    /// The score named by its JSON key.
    public subscript(_ key: CodingKeys) -> Double {
        switch key {
        case .characterAccuracy: return characterAccuracy
        case .levenshtein: return levenshtein
        case .bleu1: return bleu1
        case .bleu2: return bleu2
        case .bleu3: return bleu3
        case .bleu4: return bleu4
        case .rougeLPrecision: return rougeLPrecision
        }
    }
}

/// A proportion with its 95 % Wilson interval.
public struct Proportion: Codable, Equatable, Sendable {
    public var n: Int
    public var correct: Int
    public var accuracy: Double
    public var ci95: [Double]
    public init(n: Int, correct: Int, accuracy: Double, ci95: [Double]) {
        self.n = n
        self.correct = correct
        self.accuracy = accuracy
        self.ci95 = ci95
    }
    enum CodingKeys: String, CodingKey { case n, correct, accuracy, ci95 }
    public init(from decoder: Decoder) throws {
        self = try decoder.container(keyedBy: CodingKeys.self).decodeProportion(n: .n, correct: .correct, accuracy: .accuracy, ci95: .ci95)
    }
}

/// A mean with its 95 % bootstrap interval.
public struct Mean: Codable, Equatable, Sendable {
    public var value: Double
    public var ci95: [Double]
    public init(value: Double, ci95: [Double]) { self.value = value; self.ci95 = ci95 }
}

/// A trivial answering rule scored on the same items: what accuracy needs no model at all.
public struct BaselineScore: Codable, Equatable, Sendable {
    /// The constant answer (the majority baseline); nil for rules that answer per word.
    public var answer: String?
    public var n: Int
    public var correct: Int
    public var accuracy: Double
    public var accuracyCI95: [Double]
    /// "no_knowledge" (a constant answer: what a model that knows nothing of the word scores) or
    /// "spelling_informed" (a rule that reads the word's letters: an oracle, not a floor); absent in older files.
    public var kind: String?
    /// Where a constant answer was chosen: "validation" (fitted on the validation split, scored here)
    /// or "evaluated" (the most common answer of these very items: optimistic); absent in older files.
    public var fittedOn: String?
    enum CodingKeys: String, CodingKey { case answer, n, correct, accuracy, accuracyCI95 = "accuracy_ci95", kind, fittedOn = "fitted_on" }
    public init(answer: String?, _ p: Proportion, kind: String? = nil, fittedOn: String? = nil) {
        self.answer = answer
        n = p.n
        correct = p.correct
        accuracy = p.accuracy
        accuracyCI95 = p.ci95
        self.kind = kind
        self.fittedOn = fittedOn
    }
    public static let noKnowledge = "no_knowledge", spellingInformed = "spelling_informed"
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(answer: try c.decodeIfPresent(String.self, forKey: .answer),
                  try c.decodeProportion(n: .n, correct: .correct, accuracy: .accuracy, ci95: .accuracyCI95),
                  kind: try c.decodeIfPresent(String.self, forKey: .kind), fittedOn: try c.decodeIfPresent(String.self, forKey: .fittedOn))
    }
    /// Whether this rule needs no knowledge of the word (older files: the majority rule is the only such).
    public func isNoKnowledge(name: String) -> Bool { kind.map { $0 == Self.noKnowledge } ?? (name == "majority") }
}

/// Metrics of one task/style/mode group (metrics.json "metrics" values).
public struct GroupMetrics: Codable, Equatable, Sendable {
    public var n: Int
    public var correct: Int
    public var accuracy: Double
    public var accuracyCI95: [Double]
    public var unparseable: Int
    public var truncated: Int
    /// Spelling groups: each SpellingScores field's mean and interval, keyed as in items.jsonl.
    public var spelling: [SpellingScores.CodingKeys: Mean] = [:]
    /// Count/position groups: share of outputs that spelled the word right on the way.
    public var spelledWordInOutputRate: Double?
    /// Trivial baselines on these items: "majority" (the most common gold answer, always), and for
    /// letter answers about a word "first_letter" and "most_frequent_letter".
    public var baselines: [String: BaselineScore] = [:]
    /// Accuracy on the items whose gold answer is not the majority answer.
    public var nonMajority: Proportion?
    /// Number, letter and yes/no answers: mean over gold classes of the accuracy within the class.
    public var balancedAccuracy: Double?
    /// Number and yes/no answers: gold class → [n, correct].
    public var byGoldClass: [String: [Int]]?
    /// Generated count and position groups: share of outputs that hold a spelled-out letter sequence
    /// (two or more single letters in a row) at all — the format a spelling fine-tune drifts towards.
    public var spelledOutRate: Double?
    /// Likelihood-scored groups: the mean rank of the gold answer among the candidates (1 = top).
    public var meanGoldRank: Double?
    /// Likelihood-scored groups: the mean multi-class Brier score of the candidate distribution (0 = certain and right).
    public var brier: Double?
    /// Count and position groups: accuracy of the answers the model's own spellings imply, over the
    /// items whose word it was also asked to spell ("the spelling knows", beside "the model says").
    public var spellingImplied: Proportion?

    public init(n: Int, correct: Int, accuracy: Double, accuracyCI95: [Double], unparseable: Int, truncated: Int) {
        self.n = n
        self.correct = correct
        self.accuracy = accuracy
        self.accuracyCI95 = accuracyCI95
        self.unparseable = unparseable
        self.truncated = truncated
    }

    public var proportion: Proportion { Proportion(n: n, correct: correct, accuracy: accuracy, ci95: accuracyCI95) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        let p = try c.decodeProportion(n: DynamicKey("n"), correct: DynamicKey("correct"), accuracy: DynamicKey("accuracy"), ci95: DynamicKey("accuracy_ci95"))
        (n, correct, accuracy, accuracyCI95) = (p.n, p.correct, p.accuracy, p.ci95)
        unparseable = try c.decodeCount(DynamicKey("unparseable"))
        truncated = try c.decodeCount(DynamicKey("truncated"))
        for (key, v) in [("unparseable", unparseable), ("truncated", truncated)] where v > n {
            throw c.refuse(DynamicKey(key), "expected at most n (\(n)), found \(v)")
        }
        for k in SpellingScores.CodingKeys.allCases {
            // Files from before the normalised distance was named so call it "levenshtein".
            let names = k == .levenshtein ? [k.rawValue, SpellingScores.legacyLevenshteinKey] : [k.rawValue]
            for name in names {
                guard spelling[k] == nil, let v = try c.decodeUnitIfPresent(DynamicKey(name)) else { continue }
                let ci = c.contains(DynamicKey(name + "_ci95")) ? try c.decodeUnitInterval(DynamicKey(name + "_ci95")) : [v, v]
                spelling[k] = Mean(value: v, ci95: ci)
            }
        }
        spelledWordInOutputRate = try c.decodeUnitIfPresent(DynamicKey("spelled_word_in_output_rate"))
        baselines = try c.decodeIfPresent([String: BaselineScore].self, forKey: DynamicKey("baselines")) ?? [:]
        nonMajority = try c.decodeIfPresent(Proportion.self, forKey: DynamicKey("non_majority"))
        balancedAccuracy = try c.decodeUnitIfPresent(DynamicKey("balanced_accuracy"))
        byGoldClass = try c.decodeIfPresent([String: [Int]].self, forKey: DynamicKey("by_gold_class"))
        if let bad = byGoldClass?.first(where: { $0.value.count != 2 || !$0.value.allSatisfy({ (0...maxRecordCount).contains($0) }) || $0.value[1] > $0.value[0] }) {
            throw c.refuse(DynamicKey("by_gold_class"), "expected [n, correct] counts for class '\(bad.key)', found \(bad.value)")
        }
        spelledOutRate = try c.decodeUnitIfPresent(DynamicKey("spelled_out_rate"))
        meanGoldRank = try c.decodeIfPresent(Double.self, forKey: DynamicKey("mean_gold_rank"))
        if let r = meanGoldRank, !(r >= 1 && r <= Double(maxRecordCount)) { throw c.refuse(DynamicKey("mean_gold_rank"), "expected a rank ≥ 1, found \(r)") }
        brier = try c.decodeIfPresent(Double.self, forKey: DynamicKey("brier"))
        // The multi-class Brier score lies in [0, 2].
        if let b = brier, !(0...2).contains(b) { throw c.refuse(DynamicKey("brier"), "expected a Brier score in [0, 2], found \(b)") }
        spellingImplied = try c.decodeIfPresent(Proportion.self, forKey: DynamicKey("spelling_implied"))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        try c.encode(n, forKey: DynamicKey("n"))
        try c.encode(correct, forKey: DynamicKey("correct"))
        try c.encode(accuracy, forKey: DynamicKey("accuracy"))
        try c.encode(accuracyCI95, forKey: DynamicKey("accuracy_ci95"))
        try c.encode(unparseable, forKey: DynamicKey("unparseable"))
        try c.encode(truncated, forKey: DynamicKey("truncated"))
        for (k, m) in spelling {
            try c.encode(m.value, forKey: DynamicKey(k.rawValue))
            try c.encode(m.ci95, forKey: DynamicKey(k.rawValue + "_ci95"))
        }
        try c.encodeIfPresent(spelledWordInOutputRate, forKey: DynamicKey("spelled_word_in_output_rate"))
        if !baselines.isEmpty { try c.encode(baselines, forKey: DynamicKey("baselines")) }
        try c.encodeIfPresent(nonMajority, forKey: DynamicKey("non_majority"))
        try c.encodeIfPresent(balancedAccuracy, forKey: DynamicKey("balanced_accuracy"))
        try c.encodeIfPresent(byGoldClass, forKey: DynamicKey("by_gold_class"))
        try c.encodeIfPresent(spelledOutRate, forKey: DynamicKey("spelled_out_rate"))
        try c.encodeIfPresent(meanGoldRank, forKey: DynamicKey("mean_gold_rank"))
        try c.encodeIfPresent(brier, forKey: DynamicKey("brier"))
        try c.encodeIfPresent(spellingImplied, forKey: DynamicKey("spelling_implied"))
    }

    /// The constant answer of the majority baseline when it was fitted on the validation split (else nil:
    /// fitted on the items themselves, which every reader recomputes).
    public var fittedMajority: String? { baselines["majority"].flatMap { $0.fittedOn == "validation" ? $0.answer : nil } }

    /// The strongest no-knowledge baseline (highest accuracy; ties by name), if any: the floor a
    /// model must beat (spelling-informed oracles are reported beside it, never as the floor).
    public var bestBaseline: (name: String, score: BaselineScore)? {
        baselines.filter { $0.value.isNoKnowledge(name: $0.key) }.max { a, b in a.value.accuracy != b.value.accuracy ? a.value.accuracy < b.value.accuracy : a.key > b.key }.map { ($0.key, $0.value) }
    }
}

/// How the evaluated questions were chosen when `--limit` asked for fewer than all: a seeded
/// random sample of words, stratified by word length and first letter, the same words for every
/// task and style (so items stay paired).
public struct SampleRecord: Codable, Equatable, Sendable {
    public var method: String
    public var seed: UInt64
    /// Words (or, for a question file without words, question ids) in the population and in the sample.
    public var population: Int
    public var size: Int
    public var words: [String]
    public init(method: String, seed: UInt64, population: Int, words: [String]) {
        self.method = method
        self.seed = seed
        self.population = population
        self.size = words.count
        self.words = words
    }
}

/// The worked examples an evaluation showed before each question (`--shots K --shots-seed S`).
public struct FewShotRecord: Codable, Equatable, Sendable {
    public var shots: Int
    public var seed: UInt64
    /// The split the examples came from (validation: never the split evaluated).
    public var split: String
    /// task/style → the ids of the questions shown, in order.
    public var examples: [String: [String]]
    public init(shots: Int, seed: UInt64, split: String, examples: [String: [String]]) {
        self.shots = shots
        self.seed = seed
        self.split = split
        self.examples = examples
    }
}

/// metrics.json of an evaluation run.
public struct EvaluationSummary: Codable, Equatable, Sendable {
    public var model: String
    @ExplicitNull public var adapter: String?
    /// The dataset directory or the external question file.
    @ExplicitNull public var data: String?
    public var split: String
    public var questions: Int
    public var generations: Int
    public var questionsPerSecond: Double
    public var tokensPerSecond: Double
    public var seconds: Double
    public var batchSize: Int
    /// task/style/mode → metrics.
    public var metrics: [String: GroupMetrics]
    /// task/style/mode → dimension → bucket → [n, correct].
    public var stratified: [String: [String: [String: [Int]]]]
    /// The sample evaluated, when `--limit` drew one (absent: every question of the split).
    public var sample: SampleRecord?
    /// How the weights sat in memory ("native", "q8_0"); absent: float32.
    public var weights: String?
    /// The engine that generated the answers when it was not Strawberry's own (e.g. the PyTorch
    /// backend: "transformers 5.24.0 + peft 0.21.2 (cuda, bfloat16)"); absent: Strawberry.
    public var engine: String?
    /// `card` or `greedy` when evaluation decoded so in every mode (absent: `auto`, greedy unless thinking).
    public var sampling: String?
    /// How closed-set answers were scored ("generate", "likelihood"); absent: generated only (older files).
    public var scoring: [String]?
    /// Items scored by likelihood rather than generated (items.jsonl holds generations + these).
    public var likelihoodItems: Int?
    /// The worked examples shown before each question, when `--shots` asked for some.
    public var fewShot: FewShotRecord?

    /// Group → the constant baseline answer fitted on the validation split, as this evaluation recorded it.
    public var fittedConstants: [String: String] { metrics.compactMapValues(\.fittedMajority) }

    enum CodingKeys: String, CodingKey {
        case model, adapter, data, split, questions, generations, questionsPerSecond = "questions_per_second"
        case tokensPerSecond = "tokens_per_second", seconds, batchSize = "batch_size", metrics, stratified, sample, weights, engine, sampling
        case scoring, fewShot = "few_shot", likelihoodItems = "likelihood_items"
    }

    public init(model: String, adapter: String?, data: String?, split: String, questions: Int, generations: Int,
                questionsPerSecond: Double, tokensPerSecond: Double, seconds: Double, batchSize: Int,
                metrics: [String: GroupMetrics], stratified: [String: [String: [String: [Int]]]]) {
        self.model = model
        self.adapter = adapter
        self.data = data
        self.split = split
        self.questions = questions
        self.generations = generations
        self.questionsPerSecond = questionsPerSecond
        self.tokensPerSecond = tokensPerSecond
        self.seconds = seconds
        self.batchSize = batchSize
        self.metrics = metrics
        self.stratified = stratified
    }
}

// Generations made by another engine (the PyTorch backend, `strawberry-torch eval`), scored by
// `strawberry score` so that every metric keeps one implementation:
//   generations.jsonl      GeneratedAnswer per line: which question, which mode and sample, the text
//   generation_info.json   GenerationInfo: the request (dataset, split, tasks, sampling) and timing

/// One answer generated by another engine; the question itself is re-read from the dataset.
public struct GeneratedAnswer: Codable, Equatable, Sendable {
    public var id: String
    public var mode: String
    public var sample: Int
    public var output: String
    /// The token budget ran out before the end-of-turn token.
    public var truncated: Bool
    public var outputTokens: Int
    public var promptTokens: Int?

    enum CodingKeys: String, CodingKey {
        case id, mode, sample, output, truncated, outputTokens = "output_tokens", promptTokens = "prompt_tokens"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        mode = try c.decode(EvalMode.self, forKey: .mode).rawValue
        sample = try c.decode(Int.self, forKey: .sample)
        output = try c.decode(String.self, forKey: .output)
        truncated = try c.decode(Bool.self, forKey: .truncated)
        outputTokens = try c.decode(Int.self, forKey: .outputTokens)
        promptTokens = try c.decodeIfPresent(Int.self, forKey: .promptTokens)
        guard (0...1000).contains(sample) else { throw DecodingError.dataCorruptedError(forKey: .sample, in: c, debugDescription: "expected a sample index in 0...1000") }
        guard outputTokens >= 0, (promptTokens ?? 0) >= 0 else {
            throw DecodingError.dataCorruptedError(forKey: .outputTokens, in: c, debugDescription: "expected token counts ≥ 0")
        }
    }

    public init(id: String, mode: String, sample: Int, output: String, truncated: Bool, outputTokens: Int, promptTokens: Int? = nil) {
        self.id = id
        self.mode = mode
        self.sample = sample
        self.output = output
        self.truncated = truncated
        self.outputTokens = outputTokens
        self.promptTokens = promptTokens
    }

    /// The same key as `EvaluatedItem.pairKey`.
    public var key: String { "\(id)#\(mode)#\(sample)" }
}

/// generation_info.json: what was asked of the other engine, so the questions can be re-read.
public struct GenerationInfo: Codable, Equatable, Sendable {
    public var engine: String
    public var model: String
    @ExplicitNull public var adapter: String?
    @ExplicitNull public var data: String?
    public var split: String
    public var tasks: [String]
    public var styles: [String]
    public var modes: [String]
    @ExplicitNull public var limit: Int?
    public var sampleSeed: UInt64
    public var seed: UInt64
    public var samples: Int
    public var batchSize: Int
    public var chatTemplate: Bool
    public var seconds: Double
    public var generatedTokens: Int
    /// auto (absent) | card | greedy, as `eval --sampling`.
    public var sampling: EvalSampling?

    enum CodingKeys: String, CodingKey {
        case engine, model, adapter, data, split, tasks, styles, modes, limit, sampleSeed = "sample_seed", seed, samples
        case batchSize = "batch_size", chatTemplate = "chat_template", seconds, generatedTokens = "generated_tokens", sampling
    }

    public init(engine: String, model: String, adapter: String?, data: String?, split: String, tasks: [String], styles: [String], modes: [String],
                limit: Int?, sampleSeed: UInt64, seed: UInt64, samples: Int, batchSize: Int, chatTemplate: Bool, seconds: Double, generatedTokens: Int) {
        self.engine = engine
        self.model = model
        self.adapter = adapter
        self.data = data
        self.split = split
        self.tasks = tasks
        self.styles = styles
        self.modes = modes
        self.limit = limit
        self.sampleSeed = sampleSeed
        self.seed = seed
        self.samples = samples
        self.batchSize = batchSize
        self.chatTemplate = chatTemplate
        self.seconds = seconds
        self.generatedTokens = generatedTokens
    }
}
