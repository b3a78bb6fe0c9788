// The `strawberry` command: thin wiring from flags to the libraries. Every number a flag takes is
// range-checked in `validate()`, so a bad value is a usage error (exit 64) before anything loads.
import ArgumentParser
import Foundation
import Generation
import Hub
import Models
import Records
import TensorCore
import Tokenization

public struct Strawberry: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "strawberry",
        abstract: "Spelling fine-tuning and letter-level evaluation of language models, in pure Swift.",
        subcommands: [Generate.self, Logits.self, Tokenize.self, Inspect.self, DataCommand.self, Train.self, GradCheck.self, Plan.self, Merge.self, Eval.self,
                      Rescore.self, Score.self, CompareCommand.self, Aggregate.self, DeployCommand.self, RunsCommand.self, RegistryCommand.self, Publish.self, Pull.self, Serve.self, Bench.self, ExperimentCommand.self])
    public init() {}
}

/// `generate --json` output.
struct GenerateOutput: Encodable {
    var promptIds: [Int], outputIds: [Int], text: String, answer: String, thinking: String?, finishReason: String
    var prefillTokensPerSecond: Double, decodeTokensPerSecond: Double
    enum CodingKeys: String, CodingKey {
        case promptIds = "prompt_ids", outputIds = "output_ids", text, answer, thinking, finishReason = "finish_reason"
        case prefillTokensPerSecond = "prefill_tokens_per_second", decodeTokensPerSecond = "decode_tokens_per_second"
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt (streams to stdout).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions

    @Option(name: .long, help: "Maximum new tokens (1...1000000).")
    var maxTokens = 128
    @Option(name: .long, help: "Sampling temperature ≥ 0; 0 means greedy. Default: greedy, or Qwen3's recommended value for its mode.")
    var temperature: Float?
    @Option(name: .long, help: "Keep only the K most likely tokens (0 = off).")
    var topK: Int?
    @Option(name: .long, help: "Nucleus sampling: keep the smallest set with this much probability, in (0, 1] (1 = off).")
    var topP: Float?
    @Option(name: .long, help: "Drop tokens below this fraction of the top token's probability, in [0, 1] (0 = off).")
    var minP: Float?
    @Option(name: .long, help: "Repetition penalty > 0 (1 = off), as in transformers.")
    var repetitionPenalty: Float = 1
    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Stop when this text appears (repeatable).")
    var stop: [String] = []
    @Flag(name: .long, help: "Print one JSON object instead of streaming text.")
    var json = false

    func validate() throws {
        guard (1...1_000_000).contains(maxTokens) else { throw ValidationError("--max-tokens must be in 1...1000000, got \(maxTokens)") }
        if let t = temperature, !(t.isFinite && t >= 0) { throw ValidationError("--temperature must be a finite number ≥ 0, got \(t)") }
        if let k = topK, k < 0 { throw ValidationError("--top-k must be ≥ 0, got \(k)") }
        if let p = topP, !(p > 0 && p <= 1) { throw ValidationError("--top-p must be in (0, 1], got \(p)") }
        if let p = minP, !(p >= 0 && p <= 1) { throw ValidationError("--min-p must be in [0, 1], got \(p)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else { throw ValidationError("--repetition-penalty must be a finite number > 0") }
    }

    func sampling(_ m: LoadedModel) -> SamplingParameters {
        // Qwen3's model card gives per-mode defaults; explicit flags override them.
        var p = SamplingParameters.greedy
        if m.config.architecture.descriptor.hasThinkingMode && promptOptions.chat {
            p = promptOptions.thinking == false ? .qwen3NonThinking : .qwen3Thinking
        }
        if let temperature { p.temperature = temperature }
        if let topK { p.topK = topK }
        if let topP { p.topP = topP }
        if let minP { p.minP = minP }
        p.repetitionPenalty = repetitionPenalty
        p.seed = seed
        return p
    }

    func run() throws {
        let m = try modelOptions.load()
        let ids = try promptOptions.ids(m)
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        let req = GenerationRequest(promptIds: ids, maxTokens: maxTokens, sampling: sampling(m), stopTokenIds: m.stopTokenIds, stopStrings: stop)
        let streaming = !json
        let result = try gen.generate(req) { piece in
            if streaming { FileHandle.standardOutput.write(Data(piece.utf8)) }
        }
        let split = splitReasoning(result.text)
        if json {
            try printJSON(GenerateOutput(promptIds: result.promptIds, outputIds: result.outputIds, text: result.text, answer: split.answer,
                                         thinking: split.thinking, finishReason: result.finishReason.rawValue,
                                         prefillTokensPerSecond: result.prefillTokensPerSecond, decodeTokensPerSecond: result.decodeTokensPerSecond))
        } else {
            print()
            FileHandle.standardError.write(Data(String(
                format: "[%d prompt tokens, %d new] prefill %.1f tokens/s, decode %.1f tokens/s (%@)\n",
                result.promptIds.count, result.outputIds.count, result.prefillTokensPerSecond, result.decodeTokensPerSecond,
                result.finishReason.rawValue).utf8))
        }
    }
}

struct Logits: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the top next-token logits after a prompt.")
    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions
    @Option(name: .long, help: "How many of the highest logits to print (≥ 0).")
    var top = 5
    @Flag(name: .long, help: "Print JSON: {\"prompt_ids\": [...], \"top\": [{\"id\", \"logit\", \"token\"}]}.")
    var json = false

    struct Row: Encodable { var id: Int, logit: Double, token: String }
    struct Output: Encodable {
        var promptIds: [Int], top: [Row]
        enum CodingKeys: String, CodingKey { case promptIds = "prompt_ids", top }
    }

    func validate() throws { guard top >= 0 else { throw ValidationError("--top must be ≥ 0, got \(top)") } }

    func run() throws {
        let m = try modelOptions.load()
        let ids = try promptOptions.ids(m)
        guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
        let logits = try m.model.forward(ForwardBatch(tokens: ids), cache: m.model.makeCache(), logits: .last).storage
        let best = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }.prefix(top)
        let rows = best.map { Row(id: $0, logit: Double(logits[$0]), token: m.tokenizer.decode([$0])) }
        if json { try printJSON(Output(promptIds: ids, top: rows)); return }
        for r in rows { print(String(format: "%8d  %10.4f  %@", r.id, r.logit, r.token.debugDescription)) }
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the token ids and tokens of a text.")
    @Option(name: .long, help: "A .gguf file or a model directory (its tokenizer is used; weights are not loaded).")
    var model: String
    @Option(name: .long, help: "The text to tokenize.")
    var text: String
    @Flag(name: .long, help: "Print JSON: {\"ids\": [...], \"tokens\": [...]}.")
    var json = false

    struct Output: Encodable { var ids: [Int], tokens: [String] }

    func run() throws {
        let tok = try Tokenizer.load(path: try HubPaths.localBlocking(model))
        let ids = tok.encode(text)
        let tokens = ids.map { tok.token($0) ?? "" }
        if json { try printJSON(Output(ids: ids, tokens: tokens)); return }
        for (i, t) in zip(ids, tokens) { print(i, t.debugDescription) }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model file: architecture, sizes, types, tokenizer, chat template.")
    @Argument(help: "A .gguf file or a model directory.")
    var path: String
    @Option(name: .long, help: ArgumentHelp("Load the weights as f32, native (a GGUF file's blocks kept) q8_0 or bf16, and report what that holds in memory.", valueName: "f32|native|q8_0|bf16"))
    var weights: WeightPrecision = .f32
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let m = try LoadedModel.load(path: try HubPaths.localBlocking(path), precision: weights)
        let c = m.config
        var facts: [(String, String)] = [
            ("architecture", c.architecture.rawValue), ("layers", "\(c.layers)"), ("hidden", "\(c.hidden)"),
            ("heads", "\(c.heads) (kv \(c.kvHeads), head_dim \(c.headDim))"), ("intermediate", "\(c.intermediate)"),
            ("vocabulary", "\(c.vocabSize)"), ("context", "\(c.contextLength)"), ("tied embeddings", "\(c.tieEmbeddings)"),
        ]
        if c.architecture.descriptor.usesRoPE { facts.append(("rope theta", "\(c.ropeTheta)")) }
        facts += m.summary
        facts.append(("chat template", m.chatTemplate == nil ? "no" : "yes"))
        facts.append(("SIMD kernels", simdKernelsDescription))
        facts.append(("threads", "\(BLAS.threads) (of \(BLAS.availableCPUs) CPUs available to this process)"))
        if json { try printJSON(Dictionary(facts, uniquingKeysWith: { a, _ in a })); return }
        for (k, v) in facts { print(k.padding(toLength: 18, withPad: " ", startingAt: 0), v) }
    }
}
