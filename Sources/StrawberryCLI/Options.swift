// Option groups shared by the commands, their range checks (in `validate()`, so a bad number is a
// usage error before anything loads), and the argument types the commands parse.
import Adapters
import ArgumentParser
import Hub
import Models
import Records
import TensorCore
import Tokenization

/// --model, --adapter, --threads: every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "A .gguf file, a directory with config.json, *.safetensors and tokenizer.json, or hf://OWNER/NAME[@REV][/FOLDER].")
    var model: String

    @Option(name: .long, help: "A PEFT LoRA adapter directory to apply (folded into the weights at load), or hf://OWNER/NAME[@REV][/FOLDER].")
    var adapter: String?

    @OptionGroup var threads: ThreadOptions

    @Option(name: .long, help: ArgumentHelp("Weights in memory: f32 (default; training and reference numerics), native (a GGUF file's Q4_0/Q4_1/Q8_0/Q4_K/Q6_K blocks computed directly: 2-5x faster decode), q8_0 (every matrix quantised at load) or bf16 (every matrix rounded to bfloat16: half of f32's memory).", valueName: "f32|native|q8_0|bf16"))
    var weights: WeightPrecision?

    @Option(name: .long, help: ArgumentHelp("Quantise a float32 or bf16 checkpoint on load (the same as --weights q8_0).", valueName: "q8_0"))
    var quantize: QuantizeFormat?

    enum QuantizeFormat: String, ExpressibleByArgument, CaseIterable { case q8_0 }

    func validate() throws {
        if quantize != nil, let weights, weights != .q8_0 { throw ValidationError("--quantize q8_0 and --weights \(weights.rawValue) disagree; give one") }
    }

    /// How the weights are held: --weights, or q8_0 with --quantize.
    var precision: WeightPrecision { quantize != nil ? .q8_0 : (weights ?? .f32) }

    /// Loads the model (and folds in the adapter) after setting up BLAS.
    func load() throws -> LoadedModel {
        threads.apply()
        let (model, adapter) = try local()
        let m = try LoadedModel.load(path: model, precision: precision)
        guard let adapter else { return m }
        return try AdapterMerge.apply(adapter: adapter, to: m)
    }

    /// Local paths for --model and --adapter (hf:// references downloaded into the store's cache).
    func local() throws -> (model: String, adapter: String?) {
        (try HubPaths.localBlocking(model), try adapter.map { try HubPaths.localBlocking($0) })
    }
}

/// --threads.
struct ThreadOptions: ParsableArguments {
    static let maxThreads = 1024

    @Option(name: .long, help: "Compute threads, 1...\(maxThreads) (default: the CPUs this process may use: its affinity mask and cgroup CPU quota).")
    var threads: Int?

    func validate() throws {
        if let threads, !(1...Self.maxThreads).contains(threads) { throw ValidationError("--threads must be in 1...\(Self.maxThreads), got \(threads)") }
    }

    func apply() {
        BLAS.tuneAllocator()
        if let threads { BLAS.setThreads(threads) }
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

/// A comma-separated list of enum values (`--tasks spelling,count`).
func commaList<T: RawRepresentable & CaseIterable>(_ s: String) throws -> [T] where T.RawValue == String {
    try s.split(separator: ",").map { part in
        let name = part.trimmingCharacters(in: .whitespaces)
        guard let v = T(rawValue: name) else {
            throw ValidationError("'\(name)' is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }
}

/// `--split`: which questions of a dataset.
enum SplitChoice: String, CaseIterable, ExpressibleByArgument {
    case test, validation
    case heldoutVocab = "heldout_vocab"
}

extension EvalTask: ExpressibleByArgument {}
extension PromptStyle: ExpressibleByArgument {}

/// `--mode`: one chat mode or both.
enum ModeChoice: String, CaseIterable, ExpressibleByArgument {
    case nonThinking = "non-thinking", thinking, both
    var modes: [EvalMode] {
        switch self { case .nonThinking: return [.nonThinking]; case .thinking: return [.thinking]; case .both: return [.nonThinking, .thinking] }
    }
}

enum ScoringChoice: String, CaseIterable, ExpressibleByArgument {
    case generate, likelihood, both
    var methods: [Scoring] {
        switch self { case .generate: return [.generate]; case .likelihood: return [.likelihood]; case .both: return [.generate, .likelihood] }
    }
}

/// Writes a record as one line of JSON with sorted keys (stable output for scripts).
func printJSON<T: Encodable>(_ value: T) throws {
    print(try RecordFile.text(value))
}

extension WeightPrecision: ExpressibleByArgument {}
