// Prompt/completion records → token ids with per-position targets, and length-bucketed batches.
// With a chat template the prompt becomes a user turn with the generation prompt appended (for
// Qwen3 non-thinking mode that includes the empty think block), and the completion is followed
// by the end-of-turn token, so the model learns to stop. Loss is on completion tokens only unless
// `train_on_prompt` is set.
import Foundation
import Models
import Records
import TensorCore
import Tokenization

public struct TokenizedExample: Sendable {
    public let ids: [Int]
    public let labels: [Int]    // target for each position (next token), −100 where no loss
    public let completion: String
    public let promptIds: [Int]
}

public struct ExampleEncoder: Sendable {
    let tokenizer: Tokenizer
    let template: ChatTemplate?
    let endOfTurn: String
    let enableThinking: Bool?
    let trainOnPrompt: Bool
    let maxLength: Int

    public init(model: LoadedModel, config: TrainConfig) throws {
        try self.init(tokenizer: model.tokenizer, chatTemplate: model.chatTemplate, model: model.config, config: config)
    }

    /// From a model's parts, without its weights (`strawberry plan` counts a dataset's tokens so).
    public init(tokenizer: Tokenizer, chatTemplate: String?, model: ModelConfig, config: TrainConfig) throws {
        self.tokenizer = tokenizer
        template = config.chatTemplate ? try chatTemplate.map { try ChatTemplate($0) } : nil
        // ChatML templates end a turn with <|im_end|>; otherwise the eos token ends the text.
        if template != nil, tokenizer.id(of: "<|im_end|>") != nil { endOfTurn = "<|im_end|>" }
        else { endOfTurn = tokenizer.eosId.flatMap { tokenizer.token($0) } ?? "" }
        enableThinking = model.architecture.descriptor.hasThinkingMode ? config.enableThinking : nil
        trainOnPrompt = config.trainOnPrompt
        maxLength = min(config.maxLength, model.contextLength)
    }

    public func promptIds(_ prompt: String) throws -> [Int] {
        if let template {
            return tokenizer.encode(try template.render([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true,
                                                        enableThinking: enableThinking))
        }
        return tokenizer.encode(prompt + "\n")
    }

    public func encode(prompt: String, completion: String) throws -> TokenizedExample {
        let p = try promptIds(prompt)
        var ids = p + tokenizer.encode(completion + endOfTurn)
        if ids.count > maxLength { ids = Array(ids.prefix(maxLength)) }
        let firstTarget = trainOnPrompt ? 1 : p.count
        let labels = (0..<ids.count).map { t in t + 1 < ids.count && t + 1 >= firstTarget ? ids[t + 1] : -100 }
        return TokenizedExample(ids: ids, labels: labels, completion: completion, promptIds: p)
    }
}

public enum TrainingData {
    /// The fields training reads from a line (a dataset's SpellingExample, or any prompt/completion JSONL).
    public struct Pair: Codable, Sendable {
        public var prompt: String
        public var completion: String
    }

    /// prompt/completion pairs of a JSONL file (as written by `strawberry data build`).
    public static func readPairs(_ path: String) throws -> [Pair] {
        guard fileExists(path) else {
            throw TrainingError.io(path: path, reason: "no such file; build a dataset with `strawberry data build` and point `data` at it")
        }
        return try RecordFile.readLines(Pair.self, from: path)
    }

    /// The batches of one epoch: a seeded shuffle, then within windows of 50 batches examples are
    /// sorted by length so each batch holds similar lengths (stacked rows carry no padding at all),
    /// then the batches themselves are shuffled.
    public static func epochBatches(count: Int, lengths: [Int], batchSize: Int, seed: UInt64, epoch: Int) -> [[Int]] {
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9)
        var order = Array(0..<count)
        order.seededShuffle(&rng)
        var batches: [[Int]] = []
        let window = batchSize * 50
        for start in stride(from: 0, to: order.count, by: window) {
            let chunk = order[start..<min(start + window, order.count)].sorted { (lengths[$0], $0) < (lengths[$1], $1) }
            for b in stride(from: 0, to: chunk.count, by: batchSize) { batches.append(Array(chunk[(chunk.startIndex + b)..<min(chunk.startIndex + b + batchSize, chunk.endIndex)])) }
        }
        batches.seededShuffle(&rng)
        return batches
    }
}
