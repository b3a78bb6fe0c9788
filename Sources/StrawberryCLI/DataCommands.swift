// `strawberry data build` and `strawberry data stats`.
import ArgumentParser
import Foundation
import Records
import SpellingData

extension DatasetArm: ExpressibleByArgument {}

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "data", abstract: "Build and inspect spelling datasets.",
                                                    subcommands: [DataBuild.self, DataStats.self])
}

struct DataBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Spelling training data from a tokenizer's multi-letter tokens; held-out evaluation sets from dictionary words.")

    @Option(name: .long, help: "Tokenizer source: a .gguf model, a model directory or tokenizer.json, or GPT-2's encoder.json (vocab.bpe beside it) or their directory.")
    var tokenizer: String
    @Option(name: .long, help: "Word list for validation/test words, one per line.")
    var words = "/usr/share/dict/words"
    @Option(name: .long, help: "YAML config (see configs/dataset.yaml); flags below override it.")
    var config: String?
    @Option(name: .long, help: "Output directory (written to a temporary directory, then renamed).")
    var out: String
    @Option(name: .long, help: "Seed for every random choice (splits, templates, questions).")
    var seed: UInt64?
    @Option(name: .long, help: "Words of an external benchmark to remove from training (decontamination), one per line.")
    var exclude: String?
    @Flag(name: .long, inversion: .prefixedNo, help: "Keep only ASCII a–z tokens. Default: on for large multilingual (Qwen-style) vocabularies.")
    var englishOnly: Bool?
    @Option(name: .long, help: "Number of validation words (0...10000000).")
    var validationSize: Int?
    @Option(name: .long, help: "Number of test words (0...10000000).")
    var testSize: Int?
    @Option(name: .long, help: ArgumentHelp("What the training split teaches: spelling (vocabulary tokens, plus joins when configured), control (the same words and prompts, completions without letters: the word repeated), positive (spelling plus count/position questions on vocabulary tokens: training on the target tasks). Validation and test are the same in every arm.", valueName: "spelling|control|positive"))
    var arm: DatasetArm?
    @Option(name: .long, help: "Share of training spelling examples that join 2–3 vocabulary tokens into a pseudo-word (0...0.9; 0: none). Overrides joins.share of the config.")
    var joins: Double?
    @Flag(name: .long, help: "Replace an existing dataset directory (one made by `strawberry data build`; any other directory is refused).")
    var overwrite = false
    @Flag(name: .long, help: "Print the manifest as JSON.")
    var json = false

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out needs a directory name") }
        if let v = validationSize, !(0...10_000_000).contains(v) { throw ValidationError("--validation-size must be in 0...10000000, got \(v)") }
        if let v = testSize, !(0...10_000_000).contains(v) { throw ValidationError("--test-size must be in 0...10000000, got \(v)") }
        if let j = joins, !(0...0.9).contains(j) { throw ValidationError("--joins must be in 0...0.9, got \(j)") }
    }

    func run() throws {
        var c = try config.map { try DatasetConfig.load(yamlPath: $0) } ?? DatasetConfig()
        if let seed { c.seed = seed }
        if let englishOnly { c.englishOnly = englishOnly }
        if let validationSize { c.validationSize = validationSize }
        if let testSize { c.testSize = testSize }
        if let arm { c.arm = arm }
        if let joins { c.joins = joins > 0 ? JoinsConfig(share: joins, minTokens: c.joins?.minTokens ?? 2, maxTokens: c.joins?.maxTokens ?? 3) : nil }
        var req = BuildRequest(tokenizerPath: tokenizer, outDir: out)
        req.wordsPath = words
        req.excludePath = exclude
        req.config = c
        req.overwrite = overwrite
        let summary = try DatasetBuilder.build(req)
        if json { try printJSON(summary.manifest); return }
        summary.lines.forEach { print($0) }
    }
}

struct DataStats: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Summarise a built dataset: items per split and task, length and repeated-letter histograms.")
    @Argument(help: "A dataset directory made by `strawberry data build`.")
    var dir: String
    @Flag(name: .long, help: "Skip checking the files against the SHA-256s in manifest.json.")
    var noVerify = false
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    func run() throws {
        let s = try DatasetStats.read(dir, verify: !noVerify)
        if json { try printJSON(s); return }
        print(s.text)
    }
}
