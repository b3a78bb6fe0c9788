// `strawberry eval` and `strawberry compare`.
import ArgumentParser
import Evaluation
import Foundation
import TensorCore

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score a model (and optional adapter) on the dataset's spelling, letter-count and letter-position questions.",
        discussion: "Writes DIR/items.jsonl (prompt, output, parsed, gold, correct per item) and DIR/metrics.json (per task/style/mode with 95% intervals, stratified tables, throughput).")

    @Option(name: .long, help: "A .gguf file or a Hugging Face model directory.")
    var model: String
    @Option(name: .long, help: "A PEFT LoRA adapter directory to apply.")
    var adapter: String?
    @Option(name: .long, help: "Dataset directory made by `strawberry data build`.")
    var data: String?
    @Option(name: .long, help: "Score an external JSONL question set instead (fields prompt, answer, optional task, metadata).")
    var evalFile: String?
    @Option(name: .long, help: "Split to evaluate: test or validation.")
    var split = "test"
    @Option(name: .long, help: "Comma-separated tasks: spelling,count,position.")
    var tasks = "spelling,count,position"
    @Option(name: .long, help: "Comma-separated prompt styles: direct,spell_first.")
    var styles = "direct,spell_first"
    @Option(name: .long, help: "Qwen3 chat mode: non-thinking, thinking or both (other models: non-thinking).")
    var mode = "non-thinking"
    @Option(name: .long, help: "At most N questions per task and style.")
    var limit: Int?
    @Option(name: .long, help: "Samples per question in thinking mode (mean accuracy over samples).")
    var samples = 1
    @Option(name: .long, help: "Sequences generated together (continuous batching, shared-prefix KV reuse).")
    var batchSize = 32
    @Option(name: .long, help: "Seed for thinking-mode sampling.")
    var seed: UInt64 = 0
    @Option(name: .long, help: "Output directory.")
    var out: String
    @Option(name: .long, help: "BLAS threads (default: all cores).")
    var threads: Int?
    @Flag(name: .long, inversion: .prefixedNo, help: "Wrap questions in the model's chat template (default on).")
    var chatTemplate = true
    @Flag(name: .long, help: "Print metrics.json to stdout.")
    var json = false

    func run() throws {
        if let threads { BLAS.setThreads(threads) }
        BLAS.tuneAllocator()
        var r = EvalRequest(model: model, out: out)
        r.adapter = adapter
        r.data = data
        r.evalFile = evalFile
        r.split = split
        r.tasks = tasks.split(separator: ",").map(String.init)
        r.styles = styles.split(separator: ",").map(String.init)
        switch mode {
        case "non-thinking": r.modes = [.nonThinking]
        case "thinking": r.modes = [.thinking]
        case "both": r.modes = [.nonThinking, .thinking]
        default: throw ValidationError("--mode must be non-thinking, thinking or both")
        }
        r.limit = limit
        r.samples = samples
        r.batchSize = batchSize
        r.seed = seed
        r.chatTemplate = chatTemplate
        let s = try Evaluator.run(r)
        if json { try printJSON(s); return }
        let metrics = s["metrics"] as! [String: [String: Any]]
        for k in metrics.keys.sorted() {
            let m = metrics[k]!
            let ci = m["accuracy_ci95"] as! [Double]
            var line = String(format: "%-34@ n=%4d  accuracy %5.1f%% [%4.1f, %4.1f]  unparseable %d  truncated %d", k as NSString, m["n"] as! Int,
                              100 * (m["accuracy"] as! Double), 100 * ci[0], 100 * ci[1], m["unparseable"] as! Int, m["truncated"] as! Int)
            if let c = m["character_accuracy"] as? Double, let l = m["levenshtein"] as? Double { line += String(format: "  char acc %.1f%%  Levenshtein %.3f", 100 * c, l) }
            print(line)
        }
        print(String(format: "%.2f questions/s, %.1f generated tokens/s, %.0f s; items: %@/items.jsonl", s["questions_per_second"] as! Double,
                     s["tokens_per_second"] as! Double, s["seconds"] as! Double, out))
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

    func run() throws {
        let b = try EvalRun(dir: base), f = try EvalRun(dir: finetuned)
        var c = try Compare.run(base: b, finetuned: f, trainingRun: trainingRun)
        if let hb = heldoutBase, let hf = heldoutFinetuned,
           let g = Compare.generalization(base: b, finetuned: f, heldoutBase: try EvalRun(dir: hb), heldoutFinetuned: try EvalRun(dir: hf)) {
            c["generalization"] = g
        }
        if let trajectory, let t = try Compare.trajectory(trajectory) { c["trajectory"] = t }
        let lines = try Report.write(base: b, finetuned: f, comparison: c, trainingRun: trainingRun, to: out)
        lines.forEach { print($0) }
        print("report: \(out)/report.html (also report.md, evaluation_results.json, final_report.json)")
    }
}
