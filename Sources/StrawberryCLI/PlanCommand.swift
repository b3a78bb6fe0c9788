// `strawberry plan`: memory and time of a LoRA run on GPUs (the PyTorch backend), before renting one.
import ArgumentParser
import Foundation
import Hub
import ModelFormats
import Models
import Records
import Tokenization
import Training

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Estimate GPU memory and time of a LoRA run (the PyTorch backend) from the model's shapes and the dataset's token counts.",
        discussion: """
            MODEL is a preset (\(ModelConfig.presets.map(\.name).joined(separator: ", "))) or a .gguf file / Hugging Face directory \
            (only its configuration and tokenizer are read). The training config gives the batch, LoRA rank and targets, epochs \
            and the dataset; every training example is tokenised as the backend feeds it (the chat template's single user turn \
            and the completion). Memory is shown with and without gradient checkpointing; how each figure is estimated, and \
            what is assumed, is printed with it (docs/qwen3_4b_guide.md).
            """)

    @Option(name: .long, help: "A preset name or a model path.")
    var model: String
    @Option(name: .long, help: "A GPU (\(GPUSpec.catalog.map(\.name).joined(separator: ", "))) or a memory size such as 24GB (every catalogued GPU of that size).")
    var gpu: String
    @Option(name: .long, help: "YAML training config (default: the built-in defaults).")
    var config: String?
    @Option(name: .customLong("set"), help: "Override a config key, e.g. --set lora.r=32 (repeatable).")
    var overrides: [String] = []
    @Option(name: .long, help: "Dataset directory (default: the config's data).")
    var data: String?
    @Option(name: .long, help: "Tokenizer for a preset: a .tiktoken, .gguf, tokenizer.json or model directory (default for Qwen3: assets/qwen.tiktoken).")
    var tokenizer: String?
    @Option(name: .long, help: "Assumed model FLOPs utilisation, in (0, 1].")
    var mfu = 0.3
    @Option(name: .long, help: "Dense TFLOPS to assume for every GPU shown (bf16; float32 on a GPU without bf16), e.g. for one not in the catalogue.")
    var tflops: Double?
    @Flag(name: .long, help: "Print the plan as JSON.")
    var json = false

    func validate() throws {
        guard mfu.isFinite, mfu > 0, mfu <= 1 else { throw ValidationError("--mfu must be in (0, 1], got \(mfu)") }
        if let t = tflops, !(t.isFinite && t > 0 && t < 1e6) { throw ValidationError("--tflops must be a positive number, got \(t)") }
        guard GPUSpec.parse(gpu) != nil else {
            throw ValidationError("--gpu '\(gpu)': expected one of \(GPUSpec.catalog.map(\.name).joined(separator: ", ")) or a memory size such as 24GB")
        }
    }

    func run() throws {
        let cfg = try TrainConfig.resolve(yamlPath: config, overrides: overrides)
        try cfg.validate()
        let (name, modelConfig, tok, template) = try resolveModel()
        let dataDir = data ?? cfg.data
        // Each example as training tokenises it: the encoder training uses, given the model's parts.
        let encoder = try ExampleEncoder(tokenizer: tok, chatTemplate: template, model: modelConfig, config: cfg)
        let lengths = try TrainingData.readPairs(dataDir + "/train.jsonl").map { try encoder.encode(prompt: $0.prompt, completion: $0.completion).ids.count }
        var gpus = GPUSpec.parse(gpu) ?? []
        if let tflops { gpus = gpus.map { var g = $0; g.tflops = tflops; return g } }
        var req = PlanRequest(modelName: name, model: modelConfig, lora: cfg.lora, batchSize: cfg.batchSize, gradientAccumulationSteps: cfg.gradientAccumulationSteps,
                              epochs: cfg.numEpochs, maxSteps: cfg.maxSteps, exampleTokens: lengths, gpus: gpus)
        req.utilisation = mfu
        let plan = try Planner.plan(req)
        if json { try printJSON(plan); return }
        print(render(plan, data: dataDir))
    }

    /// The model's configuration, a tokenizer, and its chat template source, without loading weights.
    func resolveModel() throws -> (String, ModelConfig, Tokenizer, String?) {
        if let preset = try PlanPreset.resolve(model, tokenizer: tokenizer) {
            return (model.lowercased(), preset.config, preset.tokenizer, preset.template)
        }
        let path = try HubPaths.localBlocking(model)
        guard path.hasSuffix(".gguf") || fileExists(path + "/config.json") else {
            throw ValidationError("--model \(model): not a preset (\(ModelConfig.presets.map(\.name).joined(separator: ", "))), a .gguf file or a model directory")
        }
        let config = try LoadedModel.config(at: path)
        return (model, config, try Tokenizer.load(path: tokenizer ?? path), try LoadedModel.chatTemplate(at: path))
    }

    func render(_ p: TrainingPlan, data: String) -> String {
        // A column never swallows its neighbour: a value wider than its column keeps a space after it.
        func col(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s.padding(toLength: width, withPad: " ", startingAt: 0) }
        func gb(_ v: Double) -> String { String(format: "%.1f GiB", v) }
        func time(_ s: Double?) -> String {
            guard let s else { return "–" }
            return s < 120 ? String(format: "%.0f s", s) : s < 7200 ? String(format: "%.1f min", s / 60) : String(format: "%.1f h", s / 3600)
        }
        var out = """
            \(p.model): \(String(format: "%.2f", Double(p.parameters) / 1e9)) B parameters; LoRA \(p.loraModules) modules, \(String(format: "%.1f", Double(p.loraParameters) / 1e6)) M parameters
            data \(data): \(p.examples) examples, \(p.tokens) tokens (mean \(String(format: "%.1f", p.meanExampleTokens)), longest \(p.maxExampleTokens)); \
            \(p.optimizerSteps) optimizer steps, \(p.trainedTokens) tokens trained

            memory (bf16)                  no checkpointing   gradient checkpointing
            """
        let rows: [(String, KeyPath<MemoryEstimate, Double>)] = [("weights (bf16)", \.weightsGiB), ("LoRA + AdamW states (fp32)", \.loraStatesGiB),
                                                                  ("activations", \.activationsGiB), ("logits + loss", \.logitsGiB),
                                                                  ("CUDA context, workspace", \.overheadGiB), ("total", \.totalGiB)]
        for (name, k) in rows {
            out += "\n" + col(name, 31) + col(gb(p.memory[keyPath: k]), 19) + gb(p.memoryWithCheckpointing[keyPath: k])
        }
        out += "\n\nGPU            memory     precision  peak (fits?)       peak with checkpointing   time        time (checkpointing)"
        for g in p.gpus {
            out += "\n" + col(g.gpu.name, 15) + col(gb(g.gpu.memoryGiB), 11)
                + col(g.precision, 11)
                + col("\(gb(g.totalGiB)) (\(g.fits ? "yes" : "no"))", 19)
                + col("\(gb(g.totalWithCheckpointingGiB)) (\(g.fitsWithCheckpointing ? "yes" : "no"))", 26)
                + col(time(g.seconds), 12) + time(g.secondsWithCheckpointing)
        }
        if p.gpus.contains(where: { $0.seconds == nil }) { out += "\n(– : the GPU's throughput is not in the catalogue; give it with --tflops)" }
        out += "\n\nassumptions:\n" + p.assumptions.map { "  - " + $0 }.joined(separator: "\n")
        return out
    }
}
