// The `strawberry` command: thin wiring from flags to the libraries.
import ArgumentParser
import Foundation
import Generation
import ModelFormats
import Models
import TensorCore
import Tokenization
import Training

public struct Strawberry: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "strawberry",
        abstract: "Spelling fine-tuning and letter-level evaluation of language models, in pure Swift.",
        subcommands: [Generate.self, Logits.self, Tokenize.self, Inspect.self, DataCommand.self, Train.self, Merge.self, Eval.self, CompareCommand.self, Bench.self])
    public init() {}
}

/// --model, shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A .gguf file, or a directory with config.json, *.safetensors and tokenizer.json.")
    var model: String

    @Option(name: .long, help: "BLAS threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "A PEFT LoRA adapter directory to apply (folded into the weights at load).")
    var adapter: String?

    func load() throws -> LoadedModel {
        BLAS.tuneAllocator()
        if let threads { BLAS.setThreads(threads) }
        let m = try LoadedModel.load(path: model)
        guard let adapter else { return m }
        let lora = try PEFTAdapter.load(adapter, model: m.config)
        return m.replacing(model: try AdapterMerge.merged(m.model, lora))
    }
}

/// How the prompt text becomes ids.
struct PromptOptions: ParsableArguments {
    @Option(name: .long, help: "The prompt text.")
    var prompt: String

    @Flag(name: .long, help: "Wrap the prompt as a user message in the model's own chat template.")
    var chat = false

    @Option(name: .long, help: "System message (with --chat).")
    var system: String?

    @Flag(name: .long, inversion: .prefixedNo, help: "Qwen3 thinking mode (with --chat): --no-thinking sets enable_thinking=false, which inserts an empty <think></think> block. Unset leaves the template's default.")
    var thinking: Bool?

    func ids(_ m: LoadedModel) throws -> [Int] {
        guard chat else { return m.tokenizer.encode(prompt) }
        guard let source = m.chatTemplate else {
            throw ValidationError("\(m.path) has no chat template; drop --chat or use a chat model.")
        }
        var messages: [ChatMessage] = []
        if let system { messages.append(ChatMessage(role: "system", content: system)) }
        messages.append(ChatMessage(role: "user", content: prompt))
        let text = try ChatTemplate(source).render(messages, addGenerationPrompt: true, enableThinking: thinking)
        return m.tokenizer.encode(text)
    }
}

/// Writes a JSON object with sorted keys (stable output for scripts).
func printJSON(_ object: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a prompt (streams to stdout).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var promptOptions: PromptOptions

    @Option(name: .long, help: "Maximum new tokens.")
    var maxTokens = 128
    @Option(name: .long, help: "Sampling temperature; 0 means greedy. Default: greedy, or Qwen3's recommended value for its mode.")
    var temperature: Float?
    @Option(name: .long, help: "Keep only the K most likely tokens (0 = off).")
    var topK: Int?
    @Option(name: .long, help: "Nucleus sampling: keep the smallest set with this much probability (1 = off).")
    var topP: Float?
    @Option(name: .long, help: "Drop tokens below this fraction of the top token's probability (0 = off).")
    var minP: Float?
    @Option(name: .long, help: "Repetition penalty (1 = off), as in transformers.")
    var repetitionPenalty: Float = 1
    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Stop when this text appears (repeatable).")
    var stop: [String] = []
    @Flag(name: .long, help: "Print one JSON object instead of streaming text.")
    var json = false

    func sampling(_ m: LoadedModel) -> SamplingParameters {
        // Qwen3's model card gives per-mode defaults; explicit flags override them.
        var p = SamplingParameters.greedy
        if m.config.architecture == .qwen3 && promptOptions.chat {
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
        let req = GenerationRequest(promptIds: ids, maxTokens: maxTokens, sampling: sampling(m),
                                    stopTokenIds: m.stopTokenIds, stopStrings: stop)
        let streaming = !json
        let result = try gen.generate(req) { piece in
            if streaming { FileHandle.standardOutput.write(Data(piece.utf8)) }
        }
        let split = splitReasoning(result.text)
        if json {
            var out: [String: Any] = [
                "prompt_ids": result.promptIds, "output_ids": result.outputIds, "text": result.text,
                "finish_reason": result.finishReason.rawValue,
                "prefill_tokens_per_second": result.prefillTokensPerSecond,
                "decode_tokens_per_second": result.decodeTokensPerSecond, "answer": split.answer,
            ]
            if let t = split.thinking { out["thinking"] = t }
            try printJSON(out)
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
    @Option(name: .long, help: "How many of the highest logits to print.")
    var top = 5
    @Flag(name: .long, help: "Print JSON: {\"prompt_ids\": [...], \"top\": [{\"id\", \"logit\", \"token\"}]}.")
    var json = false

    func run() throws {
        let m = try modelOptions.load()
        let ids = try promptOptions.ids(m)
        guard !ids.isEmpty else { throw ValidationError("the prompt encodes to no tokens") }
        let logits = try m.model.forward(ForwardBatch(tokens: ids), cache: m.model.makeCache(), logits: .last).storage
        let best = logits.indices.sorted { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }.prefix(max(top, 0))
        let rows: [[String: Any]] = best.map { ["id": $0, "logit": Double(logits[$0]), "token": m.tokenizer.decode([$0])] }
        if json { try printJSON(["prompt_ids": ids, "top": rows]); return }
        for r in rows { print(String(format: "%8d  %10.4f  %@", r["id"] as! Int, r["logit"] as! Double, (r["token"] as! String).debugDescription)) }
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

    func run() throws {
        let tok = try Tokenizer.load(path: model)
        let ids = tok.encode(text)
        let tokens = ids.map { tok.token($0) ?? "" }
        if json { try printJSON(["ids": ids, "tokens": tokens]); return }
        for (i, t) in zip(ids, tokens) { print(i, t.debugDescription) }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model file: architecture, sizes, types, tokenizer, chat template.")
    @Argument(help: "A .gguf file or a model directory.")
    var path: String
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let m = try LoadedModel.load(path: path)
        let c = m.config
        var facts: [(String, String)] = [
            ("architecture", c.architecture.rawValue), ("layers", "\(c.layers)"), ("hidden", "\(c.hidden)"),
            ("heads", "\(c.heads) (kv \(c.kvHeads), head_dim \(c.headDim))"), ("intermediate", "\(c.intermediate)"),
            ("vocabulary", "\(c.vocabSize)"), ("context", "\(c.contextLength)"), ("tied embeddings", "\(c.tieEmbeddings)"),
        ]
        if c.architecture != .gpt2 { facts.append(("rope theta", "\(c.ropeTheta)")) }
        facts += m.summary
        facts.append(("chat template", m.chatTemplate == nil ? "no" : "yes"))
        facts.append(("SIMD kernels", simdKernelsActive ? "AVX2/FMA" : "portable"))
        if json { try printJSON(Dictionary(facts, uniquingKeysWith: { a, _ in a })); return }
        for (k, v) in facts { print(k.padding(toLength: 16, withPad: " ", startingAt: 0), v) }
    }
}

