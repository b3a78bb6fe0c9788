// The run tracker, the one owner of run lineage: every train, eval, compare and deploy is recorded
// as a run in the store — parameters, metrics with their steps, artifacts with SHA-256, and lineage
// (the dataset manifest, the base model and the adapter by hash, and the runs it read). A store that
// cannot be written is a warning: the command's own outputs are already complete.
// STRAWBERRY_RECORD_RUNS=0 turns recording off.
import Foundation
import Hashing
import Records

public enum RunTracker {
    static var enabled: Bool { ProcessInfo.processInfo.environment["STRAWBERRY_RECORD_RUNS"] != "0" }

    static func newId(_ kind: String) -> String { Store.newRunId(kind) }

    static func absolute(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.path }

    /// SHA-256 of a file, or of a directory's files (a Hugging Face model folder, an adapter).
    public static func hash(_ path: String) -> String? {
        if isDirectory(path) { return try? Store.treeHash(path) { try Checksum.sha256(file: $0) } }
        return try? Checksum.sha256(file: path)
    }

    public static func record(store: String?, _ make: () throws -> RunRecord) {
        guard enabled else { return }
        do {
            let run = try make()
            let s = try Store(directory: Store.location(store))
            try s.record(run)
            FileHandle.standardError.write(Data("recorded run \(run.id) in \(Store.location(store))\n".utf8))
            if let sent = MLflowQueue.deliver(run, store: s) { FileHandle.standardError.write(Data((sent.line + "\n").utf8)) }
        } catch {
            FileHandle.standardError.write(Data("warning: the run was not recorded in the store: \(error)\n".utf8))
        }
    }

    /// The runs (of `kind`, when given) that wrote any of these directories (by their recorded
    /// output), newest first.
    public static func parents(of dirs: [String], kind: String? = nil, store: String?) -> [String] {
        guard let runs = try? Store(directory: Store.location(store)).runs(kind: kind) else { return [] }
        let wanted = Set(dirs.map(absolute))
        return runs.filter { r in r.params["out"].map { wanted.contains($0) } ?? false }.reversed().map(\.id)
    }

    public static func lineage(model: String?, adapter: String?, data: String?) -> [String: String] {
        var l: [String: String] = [:]
        if let model { l["base_model"] = hash(model) }
        if let adapter { l["adapter"] = hash(adapter) }
        if let data { l["dataset_manifest"] = hash(data + "/manifest.json") }
        if let v = ProcessInfo.processInfo.environment["STRAWBERRY_CODE_VERSION"] ?? ProcessInfo.processInfo.environment["GITHUB_SHA"] { l["code_version"] = v }
        return l
    }

    public static func artifacts(_ dir: String, _ names: [String]) -> [String: String] {
        var a: [String: String] = [:]
        for n in names { let p = dir + "/" + n; if fileExists(p), let h = hash(p) { a[absolute(p)] = h } }
        return a
    }

    public static func train(runDir: String, config: [String: String], model: String, data: String, store: String?) {
        record(store: store) {
            var metrics: [String: [MetricPoint]] = [:]
            for line in (try? RecordFile.readLines(TrainingLogLine.self, from: runDir + "/metrics.jsonl")) ?? [] {
                for (k, v) in [("loss", line.loss), ("eval_loss", line.evalLoss), ("learning_rate", line.learningRate), ("grad_norm", line.gradNorm),
                               ("eval_spelling_accuracy", line.evalSpellingAccuracy), ("tokens_per_second", line.tokensPerSecond)] {
                    if let v, v.isFinite { metrics[k, default: []].append(MetricPoint(step: line.step, value: v)) }
                }
            }
            var params = config
            params["out"] = absolute(runDir)
            var lineage = lineage(model: model, adapter: runDir + "/final", data: data)
            lineage["run_dir"] = absolute(runDir)
            return RunRecord(id: newId("train"), kind: "train", created: Date().timeIntervalSince1970, params: params, metrics: metrics,
                             artifacts: artifacts(runDir, ["final/adapter_model.safetensors", "final/adapter_config.json", "config.yaml", "metrics.jsonl"]),
                             lineage: lineage)
        }
    }

    public static func eval(out: String, summary: EvaluationSummary, params: [String: String], model: String, adapter: String?, data: String?, store: String?) {
        record(store: store) {
            var metrics: [String: [MetricPoint]] = [:]
            for (group, m) in summary.metrics { metrics[group + "/accuracy"] = [MetricPoint(step: 0, value: m.accuracy)] }
            var p = params
            p["out"] = absolute(out)
            // The adapter's training run, when this store recorded it.
            let parents = adapter.map { a in Self.parents(of: [URL(fileURLWithPath: a).deletingLastPathComponent().path], store: store) } ?? []
            return RunRecord(id: newId("eval"), kind: "eval", created: Date().timeIntervalSince1970, params: p, metrics: metrics,
                             artifacts: artifacts(out, ["items.jsonl", "metrics.json"]), lineage: lineage(model: model, adapter: adapter, data: data),
                             parents: parents)
        }
    }

    public static func compare(out: String, base: String, finetuned: String, headline: HeadlineMetrics, store: String?) {
        record(store: store) {
            var metrics: [String: [MetricPoint]] = [:]
            for name in ["spelling_accuracy", "letter_count_accuracy", "letter_position_accuracy", "character_level_accuracy", "normalized_levenshtein",
                         "bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l_precision"] {
                if let v = headline.value(named: name) { metrics["finetuned/" + name] = [MetricPoint(step: 0, value: v)] }
            }
            return RunRecord(id: newId("compare"), kind: "compare", created: Date().timeIntervalSince1970,
                             params: ["base": absolute(base), "finetuned": absolute(finetuned), "out": absolute(out)], metrics: metrics,
                             artifacts: artifacts(out, ["evaluation_results.json", "final_report.json", "comparison.json", "report.md"]),
                             lineage: [:], parents: parents(of: [base, finetuned], store: store))
        }
    }
}

extension RunTracker {
    /// A Codable value as flat parameters: nested keys joined with ".", values as text.
    public static func params<T: Encodable>(_ value: T) -> [String: String] {
        guard let tree = try? RecordEncoder().encode(value) else { return [:] }
        var out: [String: String] = [:]
        func text(_ v: JSONValue) -> String {
            switch v {
            case .null: return "null"
            case .bool(let b): return b ? "true" : "false"
            case .int(let i): return String(i)
            case .uint(let u): return String(u)
            case .double(let d): return "\(d)"
            case .string(let s): return s
            case .array(let a): return a.map(text).joined(separator: ",")
            case .object: return (try? JSONText.string(v)) ?? ""
            }
        }
        func walk(_ v: JSONValue, _ prefix: String) {
            if case .object(let kv) = v { for (k, x) in kv { walk(x, prefix.isEmpty ? k : prefix + "." + k) } } else { out[prefix] = text(v) }
        }
        walk(tree, "")
        return out
    }
}
