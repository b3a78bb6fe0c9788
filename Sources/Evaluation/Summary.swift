// `strawberry aggregate`: one experiment, several training seeds. Each seed's fine-tuned model was
// compared with the same base model by `strawberry compare`; this reads those reports and gives
// every figure as mean ± standard deviation [min, max] over seeds, with the trivial baselines and
// how many seeds pass each test — one seed's luck is not a result.
import Charts
import Foundation
import Records

/// A report directory read back (the three files `compare` writes).
public struct ReportRun: Sendable {
    public let dir: String
    public let results: EvaluationResults
    public let final: FinalReport
    public let comparison: Comparison

    public init(dir: String) throws {
        for f in ["evaluation_results.json", "final_report.json", "comparison.json"] where !fileExists(dir + "/" + f) {
            throw EvaluationError.notAReport(dir: dir, missing: f)
        }
        self.dir = dir
        results = try RecordFile.read(EvaluationResults.self, from: dir + "/evaluation_results.json")
        final = try RecordFile.read(FinalReport.self, from: dir + "/final_report.json")
        comparison = try RecordFile.read(Comparison.self, from: dir + "/comparison.json")
    }
}

public enum Summary {
    /// Headline metrics summarised over seeds (names as in evaluation_results.json).
    public static let metricNames = ["spelling_accuracy", "letter_count_accuracy", "letter_position_accuracy", "character_level_accuracy",
                                     "normalized_levenshtein", "bleu_4", "rouge_l_precision", "unparseable_rate"]

    public static func make(_ runs: [ReportRun]) throws -> SeedSummary {
        guard let first = runs.first else { throw EvaluationError.badRequest("give at least one report directory") }
        // One seed counted twice would shrink the spread: each report, and each fine-tuned evaluation, once.
        var seenDirs = Set<String>(), seenSources = Set<String>()
        for r in runs {
            let dir = resolvedPath(r.dir)
            guard seenDirs.insert(dir).inserted else { throw EvaluationError.badRequest("\(r.dir) is given twice; give each seed's report once") }
            if let src = r.results.finetunedModel.source {
                let key = resolvedPath(src)
                guard seenSources.insert(key).inserted else {
                    throw EvaluationError.badRequest("\(r.dir) reports the same fine-tuned evaluation (\(src)) as another report; give one report per seed")
                }
            }
        }
        // Every report must compare against the same base evaluation, or the spread mixes two question sets.
        for r in runs.dropFirst() where r.results.baseModel.metrics != first.results.baseModel.metrics {
            throw EvaluationError.badRequest("\(r.dir) was compared against a different base evaluation than \(first.dir); aggregate reports of one experiment")
        }
        var finetuned: [String: Spread] = [:]
        for name in metricNames {
            let v = runs.compactMap { $0.results.finetunedModel.metrics.value(named: name) }
            if v.count == runs.count, let s = Spread(v) { finetuned[name] = s }
        }
        var groups: [String: GroupSpread] = [:]
        for key in first.comparison.groups.keys.sorted() {
            let gs = runs.compactMap { $0.comparison.groups[key] }
            guard gs.count == runs.count, let g0 = gs.first, let f = Spread(gs.map(\.finetuned.accuracy)), let c = Spread(gs.map(\.accuracyChange)) else { continue }
            let best = g0.base.bestBaseline
            groups[key] = GroupSpread(base: g0.base.accuracy, finetuned: f, change: c, mcnemarP: gs.map(\.mcnemarP),
                                      bestBaseline: best?.name, bestBaselineAccuracy: best?.score.accuracy)
        }
        var criteria: [String: CriterionCount] = [:]
        for task in ["spelling", "count", "position"] {
            let ks = runs.compactMap { $0.final.successCriteria[task] }
            guard ks.count == runs.count else { continue }
            criteria[task] = CriterionCount(reports: ks.count, improved: ks.filter(\.improved).count, improvedSignificantly: ks.filter(\.improvementSignificant).count,
                                            beatsBestBaseline: ks.filter { $0.beatsBestBaseline == true }.count, mcnemarPHolm: ks.map(\.mcnemarPHolm))
        }
        var transfer: [String: [String: Spread]] = [:]
        for key in first.comparison.transfer.keys.sorted() {
            var cells: [String: Spread] = [:]
            for task in ["count", "position"] {
                for (side, pick) in [("base", { (t: TransferAnalysis) in t.base[task] }), ("finetuned", { (t: TransferAnalysis) in t.finetuned[task] })] {
                    let rb = runs.compactMap { $0.comparison.transfer[key].flatMap(pick)?.pointBiserial }
                    if rb.count == runs.count, let s = Spread(rb) { cells["\(side)_\(task)_point_biserial"] = s }
                    let phi = runs.compactMap { $0.comparison.transfer[key].flatMap(pick)?.phi }
                    if phi.count == runs.count, let s = Spread(phi) { cells["\(side)_\(task)_phi"] = s }
                }
            }
            transfer[key] = cells
        }
        return SeedSummary(reports: runs.map(\.dir), base: first.results.baseModel.metrics, finetuned: finetuned, groups: groups,
                           baselines: first.results.baselines ?? [:], criteria: criteria, transfer: transfer)
    }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "–" }

    /// "mean ± sd [min, max]" in percent (or plain numbers).
    static func spread(_ s: Spread?, percent: Bool = true) -> String {
        guard let s else { return "–" }
        let k = percent ? 100.0 : 1.0, f = percent ? "%.1f" : "%.3f"
        // One report has no spread to show.
        if s.values.count == 1 { return String(format: f, k * s.mean) + (percent ? "%" : "") }
        return String(format: "\(f) ± \(f) [\(f), \(f)]", k * s.mean, k * s.sd, k * s.min, k * s.max) + (percent ? "%" : "")
    }

    /// The results table (README and summary.md): base, fine-tuned over seeds, strongest baseline.
    public static func table(_ s: SeedSummary) -> String {
        var t = "| metric (test words, pooled over prompt styles) | base | fine-tuned, mean ± sd [min, max] over \(s.reports.count) seed\(s.reports.count == 1 ? "" : "s") | strongest trivial baseline |\n|---|---:|---:|---:|\n"
        let rows: [(String, String, String?, Bool)] = [
            ("spelling exact match", "spelling_accuracy", "spelling", true), ("spelling character accuracy", "character_level_accuracy", nil, true),
            ("normalised Levenshtein (lower is better)", "normalized_levenshtein", nil, false),
            ("letter-count accuracy", "letter_count_accuracy", "letter_count", true), ("letter-position accuracy", "letter_position_accuracy", "letter_position", true),
            ("unparseable answers", "unparseable_rate", nil, true),
        ]
        for (label, key, task, percent) in rows {
            let base = s.base.value(named: key)
            var baseline = "–"
            if let task, let best = s.baselines[task]?.max(by: { a, b in a.value.accuracy != b.value.accuracy ? a.value.accuracy < b.value.accuracy : a.key > b.key }) {
                baseline = Report.baselineLabel(best.key) + (best.value.answer.map { " (\"\($0)\")" } ?? "") + " " + pct(best.value.accuracy)
            }
            t += "| \(label) | \(percent ? pct(base) : base.map { String(format: "%.3f", $0) } ?? "–") | \(spread(s.finetuned[key], percent: percent)) | \(baseline) |\n"
        }
        return t
    }

    public static func markdown(_ s: SeedSummary) -> String {
        var m = "# Strawberry experiment summary over \(s.reports.count) training seeds\n\nEach seed's fine-tuned model was compared with the same base-model evaluation (`strawberry compare`); every figure below is computed from those reports: \(s.reports.map { "`\($0)`" }.joined(separator: ", ")).\n\n## Headline\n\n"
        m += table(s)
        m += "\n## Conclusions per seed\n\nTests of each seed pooled over prompt styles, clustered by word and Holm-adjusted over the three tasks (see each report).\n\n| task | seeds improved | improved significantly | beat the strongest trivial baseline | Holm p per seed |\n|---|---:|---:|---:|---|\n"
        for task in ["spelling", "count", "position"] {
            guard let c = s.criteria[task] else { continue }
            // A task with no trivial baseline (spelling) has nothing to beat.
            let name = HeadlineMetrics.taskNames.first { $0.0 == task }?.1 ?? task
            let beat = (s.baselines[name]?.isEmpty ?? true) ? "– (no baseline)" : "\(c.beatsBestBaseline)/\(c.reports)"
            m += "| \(task) | \(c.improved)/\(c.reports) | \(c.improvedSignificantly)/\(c.reports) | \(beat) | \(c.mcnemarPHolm.map { String(format: "%.2g", $0) }.joined(separator: ", ")) |\n"
        }
        m += "\n## By task and prompt style\n\n| task / style / mode | base | fine-tuned over seeds | change over seeds (pts) | McNemar p per seed | strongest trivial baseline |\n|---|---:|---:|---:|---|---:|\n"
        for k in Report.taskOrdered(s.groups.keys) {
            guard let g = s.groups[k] else { continue }
            let change = String(format: "%+.1f ± %.1f", 100 * g.change.mean, 100 * g.change.sd)
            m += "| \(k) | \(pct(g.base)) | \(spread(g.finetuned)) | \(change) | \(g.mcnemarP.map { String(format: "%.2g", $0) }.joined(separator: ", ")) | \(g.bestBaseline.map { Report.baselineLabel($0) + " " + pct(g.bestBaselineAccuracy) } ?? "–") |\n"
        }
        m += "\n## Transfer analysis over seeds\n\nPer word, spelling character accuracy against count/position correctness (point-biserial r) and exact spelling against correctness (phi), mean ± sd [min, max] over seeds.\n\n| style / mode | statistic | value |\n|---|---|---:|\n"
        for k in s.transfer.keys.sorted() {
            for (name, v) in (s.transfer[k] ?? [:]).sorted(by: { $0.key < $1.key }) { m += "| \(k) | \(name) | \(spread(v, percent: false)) |\n" }
        }
        return m + "\n![accuracy over seeds](accuracy_over_seeds.svg)\n"
    }

    /// Accuracy per task/style: the base model and the fine-tuned mean, whiskers from min to max over seeds.
    public static func chart(_ s: SeedSummary) -> String {
        var groups: [Charts.BarGroup] = []
        for k in Report.taskOrdered(s.groups.keys) {
            guard let g = s.groups[k] else { continue }
            let parts = k.split(separator: "/").map(String.init)
            guard let first = parts.first else { continue }
            var bars = [Charts.Bar(series: "base", value: g.base, low: g.base, high: g.base),
                        Charts.Bar(series: "fine-tuned (mean, min–max over seeds)", value: g.finetuned.mean, low: g.finetuned.min, high: g.finetuned.max)]
            if let b = g.bestBaselineAccuracy { bars.append(Charts.Bar(series: "strongest trivial baseline", value: b, low: b, high: b)) }
            groups.append(Charts.BarGroup(label: "\(first) · \(parts.count > 1 ? parts[1].replacingOccurrences(of: "_", with: "-") : "")\(parts.count > 3 ? " · " + parts[3] : "")", bars: bars))
        }
        return Charts.bars(title: "Accuracy over \(s.reports.count) training seeds (test words)", groups: groups)
    }

    /// Writes summary.json, summary.md, results_table.md and the chart into `out`.
    public static func write(_ s: SeedSummary, to out: String) throws {
        let files: [(String, String)] = [
            ("summary.json", try RecordFile.text(s, pretty: true) + "\n"), ("summary.md", markdown(s)), ("results_table.md", table(s)),
            ("accuracy_over_seeds.svg", chart(s)),
        ]
        let dir = try OutputDirectory.begin(out, kind: .summary, replace: true, inputs: s.reports)
        try dir.fill { for (name, text) in files { try writeTextAtomically(text, to: dir.file(name)) } }
    }
}
