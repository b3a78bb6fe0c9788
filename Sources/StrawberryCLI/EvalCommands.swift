// `strawberry eval` and `strawberry compare`.
import ArgumentParser
import Evaluation
import Foundation
import Records
import Release
import Signals

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model (and optional adapter) on the dataset's spelling, letter-count and letter-position questions.",
        discussion: "Writes DIR/items.jsonl (prompt, output, parsed, gold, correct per item) and DIR/metrics.json (per task/style/mode with 95% intervals, stratified tables, throughput).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Dataset directory made by `strawberry data build`.")
    var data: String?
    @Option(name: .long, help: "Score an external JSONL question set instead: prompt and answer per line; optional id, task (any label), answer_type (number, letter, yes_no, word, letters, text; else inferred from the answer), style, word, metadata.")
    var evalFile: String?
    @Option(name: .long, help: "Split to evaluate: test, validation, or heldout_vocab (spelling of held-out vocabulary tokens).")
    var split: SplitChoice = .test
    @Option(name: .long, help: "Comma-separated dataset tasks: spelling,count,position (default: all).", transform: commaList)
    var tasks: [EvalTask]?
    @Option(name: .long, help: "Comma-separated dataset prompt styles: direct,spell_first (default: both).", transform: commaList)
    var styles: [PromptStyle]?
    @Option(name: .long, help: "Qwen3 chat mode: non-thinking, thinking or both (other models: non-thinking).")
    var mode: ModeChoice = .nonThinking
    @Option(name: .long, help: "A seeded random sample of N (≥ 1) words, stratified by word length and first letter, the same words for every task and style (recorded in metrics.json). Default: every question.")
    var limit: Int?
    @Option(name: .long, help: "Samples per question in sampled modes, 1...1000 (mean accuracy over samples).")
    var samples = 1
    @Option(name: .long, help: ArgumentHelp("auto: greedy, except Qwen3's thinking mode, sampled as its model card says; card: the card's sampling in both modes (non-thinking T 0.7, top-p 0.8, top-k 20); greedy: greedy in both.", valueName: "auto|card|greedy"))
    var sampling: EvalSampling = .auto
    @Option(name: .long, help: "Sequences generated together, 1...1024 (continuous batching, shared-prefix KV reuse).")
    var batchSize = 32
    @Option(name: .long, help: "Seed of the --limit sample of words (recorded in metrics.json).")
    var sampleSeed: UInt64 = 0
    @Option(name: .long, help: "Seed for thinking-mode sampling.")
    var seed: UInt64 = 0
    @Option(name: .long, help: ArgumentHelp("How count, position and yes/no answers asked directly are scored: generate (read from the generated text), likelihood (the most likely candidate in the answer slot: counts 0–20, letters a–z, yes/no; each candidate's log-probability in items.jsonl), or both. Spellings are always generated.", valueName: "generate|likelihood|both"))
    var scoring: ScoringChoice = .both
    @Option(name: .long, help: "Worked examples shown before each question (0...32): validation questions with their answers as earlier chat turns; the same for every model given the same --shots-seed. Not with --split validation.")
    var shots = 0
    @Option(name: .long, help: "Seed of the --shots draw (recorded in metrics.json).")
    var shotsSeed: UInt64 = 0
    @Option(name: .long, help: "Output directory.")
    var out: String
    @Flag(name: .long, inversion: .prefixedNo, help: "Wrap questions in the model's chat template (default on).")
    var chatTemplate = true
    @Flag(name: .long, help: "Skip checking the dataset's files against the SHA-256s in its manifest.json.")
    var noVerify = false
    @Flag(name: .long, help: "Print metrics.json to stdout.")
    var json = false
    @OptionGroup var store: StoreOption

    func validate() throws {
        guard (data == nil) != (evalFile == nil) else { throw ValidationError("give exactly one of --data DATASET_DIR or --eval-file FILE.jsonl") }
        guard tasks?.isEmpty != true, styles?.isEmpty != true else { throw ValidationError("--tasks and --styles need at least one value each") }
        if evalFile != nil && (tasks != nil || styles != nil) {
            throw ValidationError("--tasks and --styles choose a dataset's questions; an --eval-file is scored whole (its own task labels)")
        }
        if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1, got \(limit)") }
        guard (1...1000).contains(samples) else { throw ValidationError("--samples must be in 1...1000, got \(samples)") }
        guard (1...1024).contains(batchSize) else { throw ValidationError("--batch-size must be in 1...1024, got \(batchSize)") }
        guard (0...32).contains(shots) else { throw ValidationError("--shots must be in 0...32, got \(shots)") }
        if shots > 0 && (evalFile != nil || split == .validation) {
            throw ValidationError("--shots draws worked examples from the dataset's validation split: give --data and evaluate another split")
        }
    }

    func run() throws {
        modelOptions.threads.apply()
        let (localModel, localAdapter) = try modelOptions.local()
        var r = EvalRequest(model: localModel, out: out)
        r.adapter = localAdapter
        r.data = data
        r.evalFile = evalFile
        r.split = split.rawValue
        r.tasks = tasks ?? EvalTask.allCases
        r.styles = styles ?? PromptStyle.allCases
        r.modes = mode.modes
        r.limit = limit
        r.samples = samples
        r.sampling = sampling
        r.batchSize = batchSize
        r.seed = seed
        r.sampleSeed = sampleSeed
        r.chatTemplate = chatTemplate
        r.verifyData = !noVerify
        r.weights = modelOptions.precision
        r.scoring = scoring.methods
        r.shots = shots
        r.shotsSeed = shotsSeed
        Interruption.install()
        let s: EvaluationSummary
        do { s = try Evaluator.run(r) } catch let stop as Interruption.Stopped {
            FileHandle.standardError.write(Data("\(stop)\n".utf8))
            throw ExitCode(128 + stop.signal)
        }
        var params = ["model": modelOptions.model, "split": split.rawValue, "batch_size": String(batchSize)]
        params["adapter"] = modelOptions.adapter
        params["data"] = data
        params["eval_file"] = evalFile
        params["limit"] = limit.map(String.init)
        params["sample_seed"] = String(sampleSeed)
        params["scoring"] = scoring.rawValue
        if shots > 0 { params["shots"] = String(shots); params["shots_seed"] = String(shotsSeed) }
        RunTracker.eval(out: out, summary: s, params: params, model: localModel, adapter: localAdapter, data: data, store: store.store)
        if json { try printJSON(s); return }
        printMetrics(s)
        print(String(format: "%.2f questions/s, %.1f generated tokens/s, %.0f s; items: %@/items.jsonl", s.questionsPerSecond, s.tokensPerSecond, s.seconds, out))
    }
}

/// The terminal table of an evaluation: per group accuracy with its interval, the strongest
/// trivial baseline beside it, and the spelling scores.
func printMetrics(_ s: EvaluationSummary) {
        if let sample = s.sample { print("sample: \(sample.size) of \(sample.population) words, seed \(sample.seed)") }
        for k in s.metrics.keys.sorted() {
            guard let m = s.metrics[k] else { continue }
            let ci = m.accuracyCI95
            var line = k.padding(toLength: max(34, k.count), withPad: " ", startingAt: 0) + String(format: " n=%4d  accuracy %5.1f%% [%4.1f, %4.1f]  unparseable %d  truncated %d", m.n,
                              100 * m.accuracy, 100 * (ci.first ?? 0), 100 * (ci.last ?? 0), m.unparseable, m.truncated)
            if let b = m.balancedAccuracy { line += String(format: "  balanced %5.1f%%", 100 * b) }
            if let (name, b) = m.bestBaseline { line += String(format: "  baseline %@ %.1f%%", name, 100 * b.accuracy) }
            if let r = m.meanGoldRank, let b = m.brier { line += String(format: "  gold rank %.2f  Brier %.3f", r, b) }
            if let p = m.spellingImplied { line += String(format: "  spelling implies %.1f%% (n=%d)", 100 * p.accuracy, p.n) }
            if let c = m.spelling[.characterAccuracy]?.value, let l = m.spelling[.levenshtein]?.value {
                line += String(format: "  char acc %.1f%%  normalised Levenshtein %.3f", 100 * c, l)
            }
            print(line)
        }
}

struct Rescore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read every answer of an evaluation from its stored outputs with the current extraction rules (no generation).",
        discussion: "Recomputes parsed, correct and the spelling scores of each item, and metrics.json (baselines included). The directory is replaced as a whole unless --out names a new one.")
    @Argument(help: "An evaluation directory written by `strawberry eval --out`.")
    var dir: String
    @Option(name: .long, help: "Write the rescored evaluation here (a new directory) instead of replacing DIR.")
    var out: String?
    @Flag(name: .long, help: "With --out: replace an earlier evaluation there (its generations are lost).")
    var overwrite = false
    @Flag(name: .long, help: "Print metrics.json to stdout.")
    var json = false

    func validate() throws {
        if overwrite && out == nil { throw ValidationError("--overwrite applies to --out only (without --out, DIR itself is rescored in place)") }
    }

    func run() throws {
        guard isDirectory(dir) else { throw ValidationError("\(dir): no such directory; give an evaluation directory written by `strawberry eval --out`") }
        if let out {
            guard !pathContains(dir, out) else { throw ValidationError("--out \(out) is inside \(dir); choose a directory outside the evaluation") }
        }
        let run = try EvalRun(dir: dir)
        let (summary, items) = Evaluator.rescored(run)
        let target = out ?? dir
        // In place is safe: every item is in memory, and the directory is swapped only once the new one
        // is complete. Elsewhere, an existing evaluation (another model's generations) needs --overwrite.
        let o = try OutputDirectory.begin(target, kind: .evaluation, replace: out == nil || overwrite, inputs: out == nil ? [] : [dir])
        try o.fill {
            try RecordFile.writeLines(items, to: o.file("items.jsonl"))
            try RecordFile.write(summary, to: o.file("metrics.json"))
        }
        let changed = zip(run.items, items).filter { $0.parsed != $1.parsed || $0.correct != $1.correct }.count
        if json { try printJSON(summary); return }
        printMetrics(summary)
        print("\(changed) of \(items.count) items read differently; rescored evaluation: \(target)")
    }
}

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score answers another engine generated (the PyTorch backend's `strawberry-torch eval`) into an evaluation.",
        discussion: """
            DIR holds generations.jsonl and generation_info.json. The questions are re-read from the dataset the request \
            names (--data when it has moved), every answer is read and judged as `strawberry eval` does, and items.jsonl \
            and metrics.json are written beside the generations (or into --out), so `compare`, the report, `deploy` and \
            `publish` take the directory as any evaluation.
            """)
    @Argument(help: "A directory written by `strawberry-torch eval --out`.")
    var dir: String
    @Option(name: .long, help: "The dataset directory, when it is not where generation_info.json says (results brought back from a GPU machine).")
    var data: String?
    @Option(name: .long, help: "Write the evaluation to this new directory instead of beside the generations.")
    var out: String?
    @Flag(name: .long, help: "With --out: replace an earlier evaluation there.")
    var overwrite = false
    @Flag(name: .long, help: "Skip checking the dataset's files against the SHA-256s in its manifest.json.")
    var noVerify = false
    @Flag(name: .long, help: "Print metrics.json to stdout.")
    var json = false

    func validate() throws {
        if overwrite && out == nil { throw ValidationError("--overwrite applies to --out only (without --out, the evaluation is written beside the generations)") }
    }

    func run() throws {
        guard isDirectory(dir) else { throw ValidationError("\(dir): no such directory; give the --out directory of `strawberry-torch eval`") }
        let (summary, items) = try Evaluator.scoreGenerations(dir: dir, data: data, verifyData: !noVerify)
        if let out {
            let o = try OutputDirectory.begin(out, kind: .evaluation, replace: overwrite, inputs: [dir] + [data].compactMap { $0 })
            try o.fill {
                try RecordFile.writeLines(items, to: o.file("items.jsonl"))
                try RecordFile.write(summary, to: o.file("metrics.json"))
            }
        } else {
            // Beside the generations: an items.jsonl or metrics.json already there is replaced only when an
            // earlier `score` wrote it (its metrics.json names the other engine); anything else is the user's.
            if let f = ["items.jsonl", "metrics.json"].first(where: { fileExists(dir + "/" + $0) }),
               (try? RecordFile.read(EvaluationSummary.self, from: dir + "/metrics.json"))?.engine == nil {
                throw ValidationError("\(dir)/\(f) exists and was not written by `strawberry score`; move it away or give --out NEW_DIR")
            }
            // metrics.json last: a directory with it holds a complete items.jsonl.
            try RecordFile.writeLines(items, to: dir + "/items.jsonl")
            try RecordFile.write(summary, to: dir + "/metrics.json")
        }
        if json { try printJSON(summary); return }
        printMetrics(summary)
        print("scored \(items.count) generations of \(summary.engine ?? "another engine"): \(out ?? dir)")
    }
}

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Base vs fine-tuned: per task and style with McNemar tests, transfer analysis, and reports (JSON, Markdown, HTML with charts).")
    @Argument(help: "Evaluation directory of the base model.")
    var base: String
    @Argument(help: "Evaluation directory of the fine-tuned model.")
    var finetuned: String
    @Option(name: .long, help: "Report directory.")
    var out: String
    @Option(name: .customLong("run"), help: "The training run directory (adds its loss curve to the report).")
    var trainingRun: String?
    @Option(name: .long, help: "`eval --split heldout_vocab` of the base model (spelling generalisation to unseen tokens).")
    var heldoutBase: String?
    @Option(name: .long, help: "`eval --split heldout_vocab` of the fine-tuned model.")
    var heldoutFinetuned: String?
    @Option(name: .long, help: "A directory of `eval` runs named checkpoint-STEP (one per saved checkpoint): the trajectory.")
    var trajectory: String?
    @OptionGroup var store: StoreOption

    func validate() throws {
        guard (heldoutBase == nil) == (heldoutFinetuned == nil) else { throw ValidationError("give both --heldout-base and --heldout-finetuned, or neither") }
    }

    func run() throws {
        if let trainingRun, !fileExists(trainingRun + "/metrics.jsonl") {
            throw ValidationError("--run \(trainingRun) has no metrics.jsonl; give the output_dir of a `strawberry train` run")
        }
        let same = [base, finetuned].map(resolvedPath)
        guard same[0] != same[1] else { throw ValidationError("the base and fine-tuned evaluations are the same directory (\(base)); compare two evaluations") }
        // Everything is read and checked before the first report file is written.
        let b = try EvalRun(dir: base), f = try EvalRun(dir: finetuned)
        var c = try Compare.run(base: b, finetuned: f, trainingRun: trainingRun)
        if let hb = heldoutBase, let hf = heldoutFinetuned {
            c.generalization = Compare.generalization(base: b, finetuned: f, heldoutBase: try EvalRun(dir: hb), heldoutFinetuned: try EvalRun(dir: hf))
        }
        if let trajectory { c.trajectory = try Compare.trajectory(trajectory) }
        let lines = try Report.write(base: b, finetuned: f, comparison: c, trainingRun: trainingRun, to: out)
        RunTracker.compare(out: out, base: base, finetuned: finetuned, headline: Report.headline(f), store: store.store)
        lines.forEach { print($0) }
        print("report: \(out)/report.html (also report.md, evaluation_results.json, final_report.json)")
    }
}

struct Aggregate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise one experiment over training seeds: several `compare` reports (same base evaluation) → mean ± sd [min, max] of every figure.",
        discussion: "Writes DIR/summary.json, summary.md, results_table.md (the README's results table) and accuracy_over_seeds.svg.")
    @Argument(help: "Report directories written by `strawberry compare --out`, one per seed.")
    var reports: [String]
    @Option(name: .long, help: "Summary directory.")
    var out: String
    @Flag(name: .long, help: "Print summary.json to stdout.")
    var json = false

    func validate() throws {
        guard !reports.isEmpty else { throw ValidationError("give at least one report directory") }
    }

    func run() throws {
        let s = try Summary.make(try reports.map { try ReportRun(dir: $0) })
        try Summary.write(s, to: out)
        if json { try printJSON(s); return }
        print(Summary.table(s), terminator: "")
        print("summary: \(out)/summary.md")
    }
}

extension EvalSampling: ExpressibleByArgument {}
