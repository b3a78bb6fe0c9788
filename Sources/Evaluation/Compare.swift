// `strawberry compare`: base vs fine-tuned on the same questions — per task and style, paired
// McNemar tests, and the transfer analysis (does getting a word's spelling right go with getting
// its count/position right; how much of the spelling gain reaches counting and positions).
import Foundation
import ModelFormats

public struct EvalRun {
    public let dir: String
    public let summary: [String: Any]
    public let items: [[String: Any]]

    public init(dir: String) throws {
        self.dir = dir
        guard let m = try? Data(contentsOf: URL(fileURLWithPath: dir + "/metrics.json")),
              let s = try JSONSerialization.jsonObject(with: m) as? [String: Any],
              let text = try? String(contentsOfFile: dir + "/items.jsonl", encoding: .utf8) else {
            throw EvaluationError("\(dir) is not an evaluation directory (needs metrics.json and items.jsonl from `strawberry eval`)")
        }
        summary = s
        items = try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
    }

    var metrics: [String: [String: Any]] { summary["metrics"] as? [String: [String: Any]] ?? [:] }
    func correct(task: String? = nil) -> [String: Bool] {
        var out: [String: Bool] = [:]
        for r in items where task == nil || r["task"] as? String == task {
            out["\(r["id"]!)#\(r["mode"]!)#\(r["sample"]!)"] = r["correct"] as? Bool ?? false
        }
        return out
    }
}

public enum Compare {
    public static func run(base: EvalRun, finetuned ft: EvalRun, trainingRun: String?) throws -> [String: Any] {
        var groups: [String: Any] = [:]
        let b = base.correct(), f = ft.correct()
        for key in Set(base.metrics.keys).intersection(ft.metrics.keys).sorted() {
            let bm = base.metrics[key]!, fm = ft.metrics[key]!
            let parts = key.split(separator: "/").map(String.init)
            var nb = 0, nc = 0, paired = 0
            for r in ft.items where r["task"] as? String == parts[0] && r["style"] as? String == parts[1] && r["mode"] as? String == parts[2] {
                let id = "\(r["id"]!)#\(r["mode"]!)#\(r["sample"]!)"
                guard let before = b[id], let after = f[id] else { continue }
                paired += 1
                if before && !after { nb += 1 }
                if !before && after { nc += 1 }
            }
            let ba = num(bm["accuracy"])!, fa = num(fm["accuracy"])!
            var g: [String: Any] = ["base": bm, "finetuned": fm, "accuracy_change": fa - ba,
                                    "relative_improvement_percent": ba > 0 ? 100 * (fa - ba) / ba : (fa > 0 ? Double.infinity : 0),
                                    "paired_items": paired, "mcnemar_base_only_correct": nb, "mcnemar_finetuned_only_correct": nc,
                                    "mcnemar_p": Metrics.mcnemarExact(b: nb, c: nc)]
            if let bl = num(bm["levenshtein"]), let fl = num(fm["levenshtein"]) {
                g["levenshtein_change"] = fl - bl   // lower is better
                g["levenshtein_relative_improvement_percent"] = bl > 0 ? 100 * (bl - fl) / bl : 0
            }
            if let rel = num(g["relative_improvement_percent"]), !rel.isFinite { g["relative_improvement_percent"] = () }
            groups[key] = g
        }
        var result: [String: Any] = ["groups": groups, "transfer": transfer(base, ft, groups: groups)]
        if let run = trainingRun { result["training_run"] = run }
        return result
    }

    /// Spelling accuracy on held-out vocabulary tokens vs held-out dictionary words, from
    /// `eval --split heldout_vocab` runs (base and fine-tuned) beside the test-split runs.
    public static func generalization(base: EvalRun, finetuned: EvalRun, heldoutBase: EvalRun?, heldoutFinetuned: EvalRun?) -> [String: Any]? {
        guard let hb = heldoutBase, let hf = heldoutFinetuned else { return nil }
        func spelling(_ r: EvalRun) -> [String: Any] {
            let rs = r.items.filter { $0["task"] as? String == "spelling" }
            let k = rs.filter { $0["correct"] as? Bool == true }.count
            let ci = Metrics.wilson(k, rs.count)
            let chars = rs.compactMap { num($0["character_accuracy"]) }
            return ["n": rs.count, "accuracy": Double(k) / Double(max(rs.count, 1)), "accuracy_ci95": [ci.low, ci.high],
                    "character_accuracy": chars.isEmpty ? 0 : chars.reduce(0, +) / Double(chars.count)]
        }
        return ["heldout_vocabulary_tokens": ["base": spelling(hb), "finetuned": spelling(hf)],
                "heldout_dictionary_words": ["base": spelling(base), "finetuned": spelling(finetuned)]]
    }

    /// Accuracy of each saved checkpoint (evaluated into TRAJECTORY_DIR/checkpoint-STEP by `eval`), and
    /// the correlation across checkpoints of spelling accuracy with count and position accuracy.
    public static func trajectory(_ dir: String) throws -> [String: Any]? {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: dir) else { return nil }
        var points: [(Int, [String: Double])] = []
        for n in names where n.hasPrefix("checkpoint-") {
            guard let step = Int(n.dropFirst("checkpoint-".count)), let run = try? EvalRun(dir: dir + "/" + n) else { continue }
            var acc: [String: Double] = [:]
            for task in ["spelling", "count", "position"] {
                let rs = run.items.filter { $0["task"] as? String == task }
                if !rs.isEmpty { acc[task] = Double(rs.filter { $0["correct"] as? Bool == true }.count) / Double(rs.count) }
            }
            if let c = (run.items.filter { $0["task"] as? String == "spelling" }.compactMap { num($0["character_accuracy"]) }) as [Double]?, !c.isEmpty {
                acc["spelling_character_accuracy"] = c.reduce(0, +) / Double(c.count)
            }
            points.append((step, acc))
        }
        guard !points.isEmpty else { return nil }
        points.sort { $0.0 < $1.0 }
        func pearson(_ a: [Double], _ b: [Double]) -> Double? {
            guard a.count >= 3 else { return nil }
            let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
            let cov = zip(a, b).reduce(0) { $0 + ($1.0 - ma) * ($1.1 - mb) }
            let va = a.reduce(0) { $0 + ($1 - ma) * ($1 - ma) }, vb = b.reduce(0) { $0 + ($1 - mb) * ($1 - mb) }
            return va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : nil
        }
        var out: [String: Any] = ["checkpoints": points.map { ["step": $0.0, "accuracy": $0.1] as [String: Any] }]
        // Exact-match spelling is often flat early in training; character accuracy tracks the skill as it forms.
        let s = points.map { $0.1["spelling_character_accuracy"] ?? 0 }
        for task in ["count", "position"] {
            let t = points.map { $0.1[task] ?? 0 }
            out["correlation_spelling_character_accuracy_vs_\(task)"] = pearson(s, t).map { $0 as Any } ?? ("undefined: fewer than 3 checkpoints or a constant series" as Any)
        }
        return out
    }

    /// Per word: spelled right vs counted/located right (phi with bootstrap CI), before and after;
    /// and transfer efficiency = Δ accuracy (count or position) ÷ Δ spelling accuracy, defined only
    /// when the spelling gain is positive and significant (McNemar p < 0.05).
    static func transfer(_ base: EvalRun, _ ft: EvalRun, groups: [String: Any]) -> [String: Any] {
        var out: [String: Any] = [:]
        let styles = Set(ft.items.compactMap { $0["style"] as? String }).sorted()
        for style in styles {
            for mode in Set(ft.items.compactMap { $0["mode"] as? String }).sorted() {
                var block: [String: Any] = [:]
                for (name, run) in [("base", base), ("finetuned", ft)] {
                    func byWord(_ task: String) -> [String: Bool] {
                        var m: [String: Bool] = [:]
                        for r in run.items where r["task"] as? String == task && r["style"] as? String == style && r["mode"] as? String == mode && r["sample"] as? Int == 0 {
                            if let w = r["word"] as? String { m[w] = r["correct"] as? Bool ?? false }
                        }
                        return m
                    }
                    let spell = byWord("spelling")
                    for task in ["count", "position"] {
                        let other = byWord(task)
                        let words = Set(spell.keys).intersection(other.keys).sorted()
                        let x = words.map { spell[$0]! }, y = words.map { other[$0]! }
                        var cell: [String: Any] = ["words": words.count]
                        if let p = Metrics.phi(x, y) {
                            cell["phi"] = p
                            if let ci = Metrics.phiInterval(x, y) { cell["phi_ci95"] = [ci.low, ci.high] }
                        } else {
                            cell["phi"] = ()
                            cell["phi_note"] = "undefined: spelling or \(task) correctness is constant across words"
                        }
                        block["\(name)_\(task)_association"] = cell
                    }
                }
                let sKey = "spelling/\(style)/\(mode)"
                if let sg = groups[sKey] as? [String: Any] {
                    let dS = num(sg["accuracy_change"])!, pS = num(sg["mcnemar_p"])!
                    for task in ["count", "position"] {
                        guard let tg = groups["\(task)/\(style)/\(mode)"] as? [String: Any] else { continue }
                        let d = num(tg["accuracy_change"])!
                        if dS > 0 && pS < 0.05 {
                            block["\(task)_transfer_efficiency"] = d / dS
                        } else {
                            block["\(task)_transfer_efficiency"] = ()
                            block["\(task)_transfer_efficiency_note"] = String(format: "undefined: spelling accuracy changed by %+.1f points (McNemar p = %.3g), not a significant gain", 100 * dS, pS)
                        }
                    }
                }
                out["\(style)/\(mode)"] = block
            }
        }
        return out
    }
}

/// A JSON number as Double, whether it was read back as an integer or a floating-point value.
func num(_ v: Any?) -> Double? {
    switch v {
    case let d as Double: return d
    case let i as Int: return Double(i)
    case let n as NSNumber: return n.doubleValue
    default: return nil
    }
}

func nums(_ v: Any) -> [Double]? { (v as? [Any])?.compactMap { num($0) } }
