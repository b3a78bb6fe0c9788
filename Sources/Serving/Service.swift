// What the server does with a request once it is valid: build the prompt the evaluation uses, run
// it through the engine, read the answer with the evaluation's readers, compare with the truth the
// server computes, and count it — the live accuracy per task.
import Adapters
import Evaluation
import Foundation
import Generation
import Hashing
import ModelFormats
import Models
import Records
import Release
import SpellingData
import TensorCore
import Tokenization

/// Model and adapter identity, and the metrics they were measured with (GET /api/model).
public struct ModelInfo: Codable, Sendable {
    public var model: String
    public var modelSHA256: String
    public var architecture: String
    public var adapter: String?
    public var adapterSHA256: String?
    public var registered: Registered?
    public var evaluation: EvaluationResults?
    public var evaluationSource: String?
    public var maxBatchSize: Int
    public var taskType: String
    public var device: String
    public struct Registered: Codable, Sendable {
        public var name: String
        public var version: Int
        public var stage: String
        public var aliases: [String]
        public var score: Double?
    }
}

/// Live accuracy: answers the server could check, per task.
public final class LiveAccuracy: @unchecked Sendable {
    let lock = NSLock()
    var counts: [String: (correct: Int, total: Int)] = [:]
    @discardableResult
    public func record(_ task: String, correct: Bool) -> Double {
        lock.lock(); defer { lock.unlock() }
        var c = counts[task] ?? (0, 0)
        c.total += 1
        if correct { c.correct += 1 }
        counts[task] = c
        return Double(c.correct) / Double(c.total)
    }
    public var snapshot: [String: (correct: Int, total: Int)] { lock.lock(); defer { lock.unlock() }; return counts }
    public func accuracy(_ task: String) -> Double {
        guard let c = snapshot[task], c.total > 0 else { return 0 }
        return Double(c.correct) / Double(c.total)
    }
}

public final class SpellingService: @unchecked Sendable {
    public let config: ServeConfig
    public let engine: InferenceEngine
    public let info: ModelInfo
    public let live = LiveAccuracy()
    /// Told of every checked answer: (task, correct, running accuracy). Set once, before serving.
    public var onAnswer: (@Sendable (String, Bool, Double) -> Void)?
    let tokenizer: Tokenizer
    let template: ChatTemplate?
    let stopTokens: Set<Int>
    let thinkingModel: Bool
    let questions = Questions()

    /// Assigns only; `load` does the work.
    init(config: ServeConfig, engine: InferenceEngine, info: ModelInfo, tokenizer: Tokenizer, template: ChatTemplate?,
         stopTokens: Set<Int>, thinkingModel: Bool) {
        self.config = config
        self.engine = engine
        self.info = info
        self.tokenizer = tokenizer
        self.template = template
        self.stopTokens = stopTokens
        self.thinkingModel = thinkingModel
    }

    /// Loads the model (and folds in the adapter), hashes both, finds them in the registry and starts
    /// the engine. What could not be looked up (an unreadable registry) does not stop the server: it is
    /// reported through `warn`, and the model is served as unregistered.
    public static func load(config: ServeConfig, store: String? = nil, warn: (String) -> Void = { _ in }) throws -> SpellingService {
        if let n = config.threads { BLAS.setThreads(n) }
        var m = try LoadedModel.load(path: config.modelPath, precision: config.weights)
        if let a = config.adapterPath { m = try AdapterMerge.apply(adapter: a, to: m) }
        let template = try m.chatTemplate.map { try ChatTemplate($0) }
        let thinkingModel = m.config.architecture.descriptor.hasThinkingMode
        let info = try identify(config, architecture: "\(m.config.architecture)", store: store, warn: warn)
        let engine = InferenceEngine(model: m.model, tokenizer: m.tokenizer, maxBatch: config.maxBatchSize, maxQueue: config.maxQueue)
        // The template's opening (system prompt, turn markers): the common start of two different questions.
        if let template {
            let thinking: Bool? = thinkingModel ? false : nil
            let a = m.tokenizer.encode(try template.render([ChatMessage(role: "user", content: "a")], enableThinking: thinking))
            let b = m.tokenizer.encode(try template.render([ChatMessage(role: "user", content: "b")], enableThinking: thinking))
            try engine.setSharedPrefix(zip(a, b).prefix { $0 == $1 }.map(\.0))
        }
        return SpellingService(config: config, engine: engine, info: info, tokenizer: m.tokenizer, template: template,
                               stopTokens: m.stopTokenIds, thinkingModel: thinkingModel)
    }

    static func identify(_ c: ServeConfig, architecture: String, store: String?, warn: (String) -> Void) throws -> ModelInfo {
        let modelHash = isDirectory(c.modelPath) ? try Store.treeHash(c.modelPath) { try Checksum.sha256(file: $0) } : try Checksum.sha256(file: c.modelPath)
        let adapterHash = try c.adapterPath.map { try Store.treeHash($0) { try Checksum.sha256(file: $0) } }
        var registered: ModelInfo.Registered?
        var evaluation: EvaluationResults?
        var source: String?
        if let p = c.evaluationResults {
            let file = isDirectory(p) ? p + "/evaluation_results.json" : p
            evaluation = try RecordFile.read(EvaluationResults.self, from: file)
            source = file
        }
        // The registry knows the adapter by its hash: its version, stage, and the results it was deployed on.
        if let adapterHash {
            do {
                let s = try Store(directory: Store.location(store))
                for name in try s.models() {
                    guard let v = try s.versions(of: name).last(where: { $0.sha256 == adapterHash }) else { continue }
                    registered = .init(name: name, version: v.version, stage: v.stage.rawValue, aliases: v.aliases, score: v.score)
                    guard evaluation == nil, let runId = v.runId else { continue }
                    do {
                        let run = try s.run(runId)
                        if let path = run.artifacts.keys.first(where: { $0.hasSuffix("evaluation_results.json") }) {
                            evaluation = try RecordFile.read(EvaluationResults.self, from: path)
                            source = path
                        }
                    } catch {
                        warn("the evaluation of \(name) v\(v.version) (run \(runId)) cannot be read: \(error)")
                    }
                }
            } catch {
                warn("the model registry cannot be read (\(error)): the adapter is served as unregistered")
            }
        }
        return ModelInfo(model: URL(fileURLWithPath: c.modelPath).lastPathComponent, modelSHA256: modelHash, architecture: architecture,
                         adapter: c.adapterPath.map { URL(fileURLWithPath: $0).lastPathComponent }, adapterSHA256: adapterHash,
                         registered: registered, evaluation: evaluation, evaluationSource: source.map { URL(fileURLWithPath: $0).lastPathComponent },
                         maxBatchSize: c.maxBatchSize, taskType: c.taskType.rawValue, device: "cpu")
    }

    /// Token ids of a conversation in the model's chat template (plain text + newline without one).
    func promptIds(_ messages: [ChatMessageIn], thinking: Bool?) throws(APIError) -> [Int] {
        do {
            if let template {
                return tokenizer.encode(try template.render(messages.map { ChatMessage(role: $0.role, content: $0.content) },
                                                            enableThinking: thinkingModel ? (thinking ?? false) : nil))
            }
            return tokenizer.encode(messages.map(\.content).joined(separator: "\n") + "\n")
        } catch {
            throw APIError.invalid("messages", "the chat template cannot render them: \(error)")
        }
    }

    func run(_ ids: [Int], maxTokens: Int, sampling: SamplingParameters = .greedy, stop: [String] = []) async throws(APIError) -> EngineOutput {
        guard !ids.isEmpty else { throw APIError.invalid("prompt", "encodes to no tokens") }
        // Refused here, not after queueing: a prompt the context cannot hold is the client's to shorten.
        guard ids.count + maxTokens <= engine.contextLength else {
            throw APIError.invalid("prompt", "\(ids.count) prompt tokens + max_tokens \(maxTokens) exceed the model's context (\(engine.contextLength) tokens)")
        }
        let req = GenerationRequest(promptIds: ids, maxTokens: maxTokens, sampling: sampling, stopTokenIds: stopTokens, stopStrings: stop)
        do { return try await engine.generate(req, timeout: config.requestTimeout) } catch let e as EngineError {
            throw apiError(e)
        } catch {
            throw APIError(499, "the client closed the request")
        }
    }

    /// Refuses at once what the engine would refuse whatever the request asks (see `InferenceEngine.refusal`).
    func admissible() throws(APIError) {
        if let e = engine.refusal(timeout: config.requestTimeout) { throw apiError(e) }
    }

    /// The API's answer to an engine refusal or failure.
    func apiError(_ e: EngineError) -> APIError {
        switch e {
        case .queueFull(let d): return APIError(429, "the server is at capacity", details: ["queue": "\(d) waiting"], retryAfter: 1, rejection: "queue_full")
        case .wouldMissDeadline(let expected, let retry):
            return APIError(429, "the server cannot answer within the request's deadline now",
                           details: ["expected_seconds": String(format: "%.1f", expected), "deadline_seconds": String(format: "%g", config.requestTimeout)],
                           retryAfter: APIError.retrySeconds(retry), rejection: "would_miss_deadline")
        case .deadlineExceeded: return APIError(504, "the request took longer than \(config.requestTimeout) s", rejection: "deadline")
        case .cancelled: return APIError(499, "the client closed the request")
        case .shuttingDown: return APIError(503, "the server is shutting down", retryAfter: 5, rejection: "shutting_down")
        case .failed(let m): return APIError(500, "generation failed", details: ["reason": m])
        }
    }

    func answered(_ task: String, _ correct: Bool) {
        let accuracy = live.record(task, correct: correct)
        onAnswer?(task, correct, accuracy)
    }

    // MARK: endpoints

    public func predict(_ r: PredictRequest) async throws(APIError) -> PredictResponse {
        let messages: [ChatMessageIn]
        switch (r.prompt, r.messages) {
        case (let p?, nil): messages = [ChatMessageIn(role: "user", content: p)]
        case (nil, let m?): messages = m
        case (nil, nil): throw .invalid("prompt", "give prompt or messages")
        default: throw .invalid("prompt", "give prompt or messages, not both")
        }
        guard !messages.isEmpty, messages.count <= 64 else { throw .invalid("messages", "1 to 64 messages") }
        for m in messages {
            guard ["system", "user", "assistant"].contains(m.role) else { throw .invalid("messages", "role must be system, user or assistant") }
            guard m.content.utf8.count <= 16_384 else { throw .invalid("messages", "a message is over 16384 bytes") }
        }
        let maxTokens = r.maxTokens ?? 64
        guard (1...config.maxTokensLimit).contains(maxTokens) else { throw .invalid("max_tokens", "must be 1 to \(config.maxTokensLimit)") }
        var s = SamplingParameters()
        if let t = r.temperature { guard t.isFinite, (0...2).contains(t) else { throw .invalid("temperature", "must be 0 to 2") }; s.temperature = Float(t) }
        if let p = r.topP { guard p.isFinite, p > 0, p <= 1 else { throw .invalid("top_p", "must be in (0, 1]") }; s.topP = Float(p) }
        if let k = r.topK { guard (0...1000).contains(k) else { throw .invalid("top_k", "must be 0 to 1000") }; s.topK = k }
        if let m = r.minP { guard m.isFinite, (0..<1).contains(m) else { throw .invalid("min_p", "must be in [0, 1)") }; s.minP = Float(m) }
        if let seed = r.seed { s.seed = seed }
        let stop = r.stop ?? []
        guard stop.count <= 8, stop.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 64 }) else { throw .invalid("stop", "at most 8 strings of 1 to 64 bytes") }
        if let t = r.taskType { guard ["spelling", "letter_count", "letter_position", "general"].contains(t) else { throw .invalid("task_type", "spelling, letter_count, letter_position or general") } }
        let ids = try promptIds(messages, thinking: r.thinking)
        let o = try await run(ids, maxTokens: maxTokens, sampling: s, stop: stop)
        let split = splitReasoning(o.result.text)
        return PredictResponse(text: split.answer, thinking: split.thinking, finishReason: o.result.finishReason.rawValue, promptTokens: ids.count,
                               completionTokens: o.result.outputIds.count, confidence: o.confidence, taskType: r.taskType)
    }

    func ask(_ question: String, maxTokens: Int) async throws(APIError) -> (answer: String, output: EngineOutput) {
        let ids = try promptIds([ChatMessageIn(role: "user", content: question)], thinking: false)
        let o = try await run(ids, maxTokens: maxTokens)
        return (splitReasoning(o.result.text).answer, o)
    }

    public func spell(_ r: WordRequest) async throws(APIError) -> SpellingResponse {
        let word = try Validate.word(r.word)
        let (answer, o) = try await ask(questions.spelling(word), maxTokens: 2 * word.count + 16)
        let spelled = AnswerExtraction.spelling(answer) ?? ""
        let correct = spelled == word
        answered("spelling", correct)
        return SpellingResponse(word: word, spelling: spelled.map(String.init).joined(separator: "-"), letters: spelled.map(String.init),
                                correct: correct, confidence: o.confidence, answer: answer)
    }

    public func check(_ r: CheckRequest) async throws(APIError) -> CheckResponse {
        let word = try Validate.word(r.word)
        let given = try Validate.spelling(r.spelling)
        let letters = Questions.letters(of: given)
        let truth = word.map(String.init)
        let model = try await spell(WordRequest(word: word))
        return CheckResponse(word: word, spelling: given, isCorrect: letters == truth, suggestion: truth.joined(separator: "-"),
                             modelSpelling: model.spelling, modelAgrees: model.correct, confidence: model.confidence)
    }

    public func count(_ r: CountRequest) async throws(APIError) -> CountResponse {
        let word = try Validate.word(r.word)
        let letter = try Validate.letter(r.letter)
        let (answer, o) = try await ask(questions.count(word, letter), maxTokens: 24)
        let n = AnswerExtraction.count(answer, letter: letter)
        let truth = Letters.count(letter, in: word)
        let correct = n == truth
        answered("letter_count", correct)
        return CountResponse(word: word, letter: String(letter), answer: answer, count: n, truth: truth, correct: correct, confidence: o.confidence)
    }

    public func position(_ r: PositionRequest) async throws(APIError) -> PositionResponse {
        let word = try Validate.word(r.word)
        let p = try Validate.position(r.position, in: word)
        let (answer, o) = try await ask(questions.position(word, p), maxTokens: 24)
        let got = AnswerExtraction.letter(answer, position: p)
        let truth = Array(word)[p - 1]
        let correct = got == truth
        answered("letter_position", correct)
        return PositionResponse(word: word, position: p, answer: answer, letter: got.map(String.init), truth: String(truth), correct: correct, confidence: o.confidence)
    }
}
