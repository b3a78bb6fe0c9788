// Reports: evaluation_results.json (the schema downstream tools read), final_report.json with
// computed success criteria, comparison.json, and report.md + a self-contained report.html with
// SVG charts. Every figure comes from the typed records; nothing is re-parsed from text.
import Charts
import Foundation
import Records

public enum Report {
    /// Headline metrics of one run, pooled over prompt styles (non-thinking mode when present).
    public static func headline(_ run: EvalRun) -> HeadlineMetrics {
        let mode = headlineMode(run)
        let rows = run.items.filter { $0.mode == mode && !$0.isLikelihood }
        var m = HeadlineMetrics()
        for (task, name) in HeadlineMetrics.taskNames {
            let rs = rows.filter { $0.task == task }
            if !rs.isEmpty { m.accuracy[name] = Metrics.proportion(rs.map(\.correct)) }
        }
        let spell = rows.compactMap { $0.task == "spelling" ? $0.spelling : nil }
        func mean(_ k: SpellingScores.CodingKeys) -> Double? { Metrics.mean(spell.map { $0[k] }) }
        m.characterLevelAccuracy = mean(.characterAccuracy)
        m.levenshteinDistance = mean(.levenshtein)
        m.bleu1 = mean(.bleu1); m.bleu2 = mean(.bleu2); m.bleu3 = mean(.bleu3); m.bleu4 = mean(.bleu4)
        m.rougeLPrecision = mean(.rougeLPrecision)
        m.unparseableRate = Double(rows.filter { $0.parsed == nil }.count) / Double(max(rows.count, 1))
        return m
    }

    /// Success criteria per task (spelling, count, position), each pooled over prompt styles in the
    /// fine-tuned run's headline mode: the paired change over the base model, tested by the exact
    /// McNemar test clustered by word (a word's direct and spell-first items are not independent),
    /// with a word-cluster bootstrap interval; and the fine-tuned model against the strongest trivial
    /// baseline on the same items, tested the same way. The tasks' tests against the base model are
    /// one Holm family; the tests against baselines (tasks that have one) another.
    public static func criteria(base: EvalRun, finetuned ft: EvalRun, _ b: HeadlineMetrics, _ f: HeadlineMetrics) -> [String: TaskCriterion] {
        let mode = headlineMode(ft)
        var out: [String: TaskCriterion] = [:]
        var tests: [(task: String, vsBase: Double, vsBaseline: Double?)] = []
        for (task, name) in HeadlineMetrics.taskNames {
            guard b.accuracy[name] != nil, f.accuracy[name] != nil else { continue }
            let pairs = Compare.paired(base, ft, task: task, mode: mode)
            guard !pairs.isEmpty else { continue }
            let change = Compare.change(pairs)
            let p = Statistics.clusteredMcNemar(Statistics.discordantByCluster(pairs))
            var k = TaskCriterion(improved: change > 0, improvementSignificant: false, mcnemarP: p, accuracyChange: change)
            k.accuracyChangeCI95 = Compare.changeInterval(pairs)
            let vs = Compare.versusBaseline(ft.items(task: task).filter { $0.mode == mode }, fitted: fittedConstant(ft, task: task, mode: mode))
            k.bestBaseline = vs?.baseline
            k.bestBaselineAccuracy = vs?.baselineAccuracy
            k.aboveBestBaseline = vs.map { $0.modelAccuracy > $0.baselineAccuracy }
            out[task] = k
            // Only a model above its baseline can beat it: below it, the (two-sided) test is not a candidate.
            tests.append((task, p, vs.map { $0.modelAccuracy > $0.baselineAccuracy ? $0.p : 1 }))
        }
        let adjusted = Statistics.holm(tests.map(\.vsBase))
        let baselineTests = tests.filter { $0.vsBaseline != nil }
        let adjustedBaseline = Statistics.holm(baselineTests.compactMap(\.vsBaseline))
        for (i, t) in tests.enumerated() {
            guard var k = out[t.task] else { continue }
            k.mcnemarPHolm = adjusted[i]
            k.improvementSignificant = k.improved && adjusted[i] < 0.05
            out[t.task] = k
        }
        for (i, t) in baselineTests.enumerated() {
            guard var k = out[t.task] else { continue }
            k.vsBaselinePHolm = adjustedBaseline[i]
            k.beatsBestBaseline = k.aboveBestBaseline == true && adjustedBaseline[i] < 0.05
            out[t.task] = k
        }
        return out
    }

    /// The mode headline figures use: non-thinking when the run has it.
    static func headlineMode(_ run: EvalRun) -> String {
        run.items.contains { $0.mode == EvalMode.nonThinking.rawValue } ? EvalMode.nonThinking.rawValue : (run.items.first?.mode ?? EvalMode.nonThinking.rawValue)
    }

    /// The constant baseline answer a run's metrics.json fitted on validation for a task (the same in
    /// every prompt style: the styles ask the same questions).
    static func fittedConstant(_ run: EvalRun, task: String, mode: String) -> String? {
        run.summary.fittedConstants.filter { $0.key.hasPrefix(task + "/") && $0.key.hasSuffix("/" + mode) }.sorted { $0.key < $1.key }.first?.value
    }

    /// Trivial baselines of each headline task, pooled over prompt styles.
    public static func baselines(_ run: EvalRun) -> [String: [String: BaselineScore]] {
        let mode = headlineMode(run)
        var out: [String: [String: BaselineScore]] = [:]
        for (task, name) in HeadlineMetrics.taskNames {
            let rs = run.items(task: task).filter { $0.mode == mode }
            guard !rs.isEmpty else { continue }
            var m = GroupMetrics(n: 0, correct: 0, accuracy: 0, accuracyCI95: [0, 1], unparseable: 0, truncated: 0)
            Baselines.annotate(&m, items: rs, fitted: fittedConstant(run, task: task, mode: mode))
            out[name] = m.baselines
        }
        return out
    }

    /// Writes every report file into `out` and returns the summary lines for the terminal. Every
    /// file is rendered first, so a value that cannot be written stops the report before any file is.
    public static func write(base: EvalRun, finetuned ft: EvalRun, comparison: Comparison, trainingRun: String?, to out: String) throws -> [String] {
        let hb = headline(base), hf = headline(ft)
        let trivial = baselines(ft)
        let results = EvaluationResults(baseModel: .init(metrics: hb, source: base.dir), finetunedModel: .init(metrics: hf, source: ft.dir), baselines: trivial)
        let c = criteria(base: base, finetuned: ft, hb, hf)
        let final = FinalReport(successCriteria: c, base: hb, finetuned: hf, transfer: comparison.transfer, conclusion: conclusion(c))
        let charts = makeCharts(base: base, ft: ft, comparison: comparison, trainingRun: trainingRun)
        let md = markdown(hb, hf, comparison, c, baselines: trivial, charts: charts.map(\.0))
        var files: [(String, String)] = [
            ("evaluation_results.json", try RecordFile.text(results, pretty: true) + "\n"),
            ("final_report.json", try RecordFile.text(final, pretty: true) + "\n"),
            ("comparison.json", try RecordFile.text(comparison, pretty: true) + "\n"),
        ]
        files += charts
        files += [("report.md", md), ("report.html", html(md: md, charts: charts))]
        // The report directory is replaced as a whole: no chart from an earlier report stays behind.
        let dir = try OutputDirectory.begin(out, kind: .report, replace: true, inputs: [base.dir, ft.dir] + (trainingRun.map { [$0] } ?? []))
        try dir.fill { for (name, text) in files { try writeTextAtomically(text, to: dir.file(name)) } }
        return summaryLines(hb, hf, c)
    }

    /// One clause per task: against the base model (Holm-adjusted, clustered by word) and against
    /// the strongest trivial baseline — a gain that does not beat "always answer 1" is no skill.
    static func conclusion(_ c: [String: TaskCriterion]) -> String {
        ["spelling", "count", "position"].map { t in
            guard let k = c[t] else { return "\(t): not evaluated" }
            var s = "\(t) " + (!k.improved ? "did not improve over the base model"
                : k.improvementSignificant ? String(format: "improved significantly over the base model (Holm p = %.2g)", k.mcnemarPHolm)
                : String(format: "improved over the base model, not significantly (Holm p = %.2g)", k.mcnemarPHolm))
            if let name = k.bestBaseline, let acc = k.bestBaselineAccuracy {
                let label = "the \(baselineLabel(name)) baseline (\(pct(acc)))"
                s += k.beatsBestBaseline == true ? " and is significantly above \(label)"
                    : k.aboveBestBaseline == true ? ", above \(label) but not significantly" : ", and is not above \(label)"
            }
            return s
        }.joined(separator: "; ")
    }

    static func baselineLabel(_ name: String) -> String {
        switch name {
        case "majority": return "majority-answer"
        case "first_letter": return "first-letter"
        case "most_frequent_letter": return "most-frequent-letter"
        default: return name
        }
    }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", 100 * $0) } ?? "–" }
    static func num(_ v: Double?) -> String { String(format: "%.3f", v ?? .nan) }

    static func summaryLines(_ b: HeadlineMetrics, _ f: HeadlineMetrics, _ c: [String: TaskCriterion]) -> [String] {
        var l: [String] = []
        for (name, key, task) in [("spelling", "spelling", "spelling"), ("letter count", "letter_count", "count"), ("letter position", "letter_position", "position")] {
            var line = name.padding(toLength: 16, withPad: " ", startingAt: 0) + String(format: " base %@ → fine-tuned %@  (clustered McNemar p = %.3g, Holm %.3g)",
                            pct(b.accuracy[key]?.accuracy), pct(f.accuracy[key]?.accuracy), c[task]?.mcnemarP ?? 1, c[task]?.mcnemarPHolm ?? 1)
            if let bl = c[task]?.bestBaseline { line += "; \(baselineLabel(bl)) baseline \(pct(c[task]?.bestBaselineAccuracy))" }
            l.append(line)
        }
        l.append(String(format: "spelling char accuracy %@ → %@, normalised Levenshtein %.3f → %.3f", pct(b.characterLevelAccuracy), pct(f.characterLevelAccuracy),
                        b.levenshteinDistance ?? .nan, f.levenshteinDistance ?? .nan))
        l.append("conclusion: " + conclusion(c))
        return l
    }

    /// Group keys in task order (spelling, count, position), then by style/mode.
    static func taskOrdered(_ keys: some Collection<String>) -> [String] {
        let order = EvalTask.allCases.map(\.rawValue)
        func rank(_ k: String) -> Int { order.firstIndex(of: String(k.prefix { $0 != "/" })) ?? order.count }
        return keys.sorted { rank($0) != rank($1) ? rank($0) < rank($1) : $0 < $1 }
    }

    static func makeCharts(base: EvalRun, ft: EvalRun, comparison: Comparison, trainingRun: String?) -> [(String, String)] {
        var charts: [(String, String)] = []
        var bars: [Charts.BarGroup] = []
        for key in taskOrdered(comparison.groups.keys) {
            guard let g = comparison.groups[key] else { continue }
            let parts = key.split(separator: "/").map(String.init)
            guard let first = parts.first else { continue }
            let items = [("base", g.base.proportion), ("fine-tuned", g.finetuned.proportion)].map {
                Charts.Bar(series: $0.0, value: $0.1.accuracy, low: $0.1.ci95.first ?? 0, high: $0.1.ci95.last ?? 0)
            }
            bars.append(Charts.BarGroup(label: "\(first) · \(parts.count > 1 ? parts[1].replacingOccurrences(of: "_", with: "-") : "")\(parts.count > 3 ? " · " + parts[3] : "")", bars: items))
        }
        charts.append(("accuracy_by_task.svg", Charts.bars(title: "Accuracy by task and prompt style (test words)", groups: bars)))
        func byDim(_ run: EvalRun, task: String, dim: String) -> [Charts.Point] {
            Aggregation.byBucket(run.items(task: task), task: task, dimension: dim).filter { $0.accuracy.n >= 5 }
                .map { Charts.Point(x: Double($0.bucket), y: $0.accuracy.accuracy, n: $0.accuracy.n) }
        }
        charts.append(("accuracy_by_word_length.svg", Charts.lines(title: "Letter-count and position accuracy by word length (buckets with ≥ 5 items)", xLabel: "word length (letters)", series: [
            ("count · base", byDim(base, task: "count", dim: "word_length")), ("count · fine-tuned", byDim(ft, task: "count", dim: "word_length")),
            ("position · base", byDim(base, task: "position", dim: "word_length")), ("position · fine-tuned", byDim(ft, task: "position", dim: "word_length")),
        ].filter { !$0.1.isEmpty })))
        charts.append(("accuracy_by_position.svg", Charts.lines(title: "Letter-position accuracy by asked position (buckets with ≥ 5 items)", xLabel: "asked position (1 = first letter)", series: [
            ("base", byDim(base, task: "position", dim: "position")), ("fine-tuned", byDim(ft, task: "position", dim: "position")),
        ].filter { !$0.1.isEmpty })))
        if let modes = comparison.modes {
            var groups: [Charts.BarGroup] = []
            for task in EvalTask.allCases.map(\.rawValue) {
                var bars: [Charts.Bar] = []
                for (run, label) in [("base", "base"), ("finetuned", "fine-tuned")] {
                    guard let t = modes[run]?.tasks[task] else { continue }
                    for (mode, p) in [("non-thinking", t.nonThinking), ("thinking", t.thinking)] {
                        bars.append(Charts.Bar(series: "\(label) · \(mode)", value: p.accuracy, low: p.ci95.first ?? 0, high: p.ci95.last ?? 0))
                    }
                }
                if !bars.isEmpty { groups.append(Charts.BarGroup(label: task, bars: bars)) }
            }
            charts.append(("accuracy_by_mode.svg", Charts.bars(title: "Accuracy by task: thinking against non-thinking mode (pooled over prompt styles)", groups: groups)))
        }
        if let run = trainingRun, let svg = try? String(contentsOfFile: run + "/loss_curve.svg", encoding: .utf8) {
            charts.append(("training_loss.svg", svg))
        }
        if let pts = comparison.trajectory?.checkpoints {
            func series(_ k: String) -> [Charts.Point] { pts.compactMap { p in p.accuracy[k].map { Charts.Point(x: Double(p.step), y: $0, n: 0) } } }
            charts.append(("checkpoint_trajectory.svg", Charts.lines(title: "Accuracy of saved checkpoints during training", xLabel: "optimizer step", series: [
                ("spelling character accuracy", series("spelling_character_accuracy")), ("letter count", series("count")), ("letter position", series("position")),
            ].filter { !$0.1.isEmpty })))
        }
        return charts.filter { !$0.1.isEmpty }
    }

    static func markdown(_ b: HeadlineMetrics, _ f: HeadlineMetrics, _ comparison: Comparison, _ c: [String: TaskCriterion],
                         baselines: [String: [String: BaselineScore]], charts: [String]) -> String {
        var s = "# Strawberry evaluation report\n\nBase vs fine-tuned on held-out dictionary words (never a training target). Every number is computed from `items.jsonl`; intervals are 95 % Wilson (accuracies) or bootstrap (means).\n\n"
        s += Markdown.section("Headline") + Markdown.tableHeader(["metric", "base", "fine-tuned"])
        for (name, key) in [("spelling exact match", "spelling"), ("letter-count accuracy", "letter_count"), ("letter-position accuracy", "letter_position")] {
            s += "| \(name) | \(pct(b.accuracy[key]?.accuracy)) | \(pct(f.accuracy[key]?.accuracy)) |\n"
        }
        s += "| spelling character accuracy | \(pct(b.characterLevelAccuracy)) | \(pct(f.characterLevelAccuracy)) |\n"
        s += "| normalised Levenshtein (lower is better) | \(num(b.levenshteinDistance)) | \(num(f.levenshteinDistance)) |\n"
        for (n, bv, fv) in [(1, b.bleu1, f.bleu1), (2, b.bleu2, f.bleu2), (3, b.bleu3, f.bleu3), (4, b.bleu4, f.bleu4)] {
            s += "| character BLEU-\(n) | \(num(bv)) | \(num(fv)) |\n"
        }
        s += "| ROUGE-L precision (characters) | \(num(b.rougeLPrecision)) | \(num(f.rougeLPrecision)) |\n"
        s += "| unparseable answers | \(pct(b.unparseableRate)) | \(pct(f.unparseableRate)) |\n\n"
        s += "**Conclusion:** \(conclusion(c)).\n\n" + criteriaSection(c) + baselineSection(baselines, b, f)
        s += Markdown.section("By task and prompt style", ReportProse.byTask)
            + Markdown.tableHeader(["task / style / mode", "n", "base", "fine-tuned", "change", "McNemar p", "best baseline",
                                     "vs baseline p", "off-majority base → fine-tuned"])
        for k in taskOrdered(comparison.groups.keys) {
            guard let g = comparison.groups[k] else { continue }
            let bp = g.base.proportion, fp = g.finetuned.proportion
            s += String(format: "| %@ | %d | %@ [%.0f, %.0f] | %@ [%.0f, %.0f] | %+.1f pts | %.3g | ", k, g.pairedItems, pct(bp.accuracy), 100 * (bp.ci95.first ?? 0),
                        100 * (bp.ci95.last ?? 0), pct(fp.accuracy), 100 * (fp.ci95.first ?? 0), 100 * (fp.ci95.last ?? 0), 100 * g.accuracyChange, g.mcnemarP)
            if let v = g.finetunedVsBaseline { s += String(format: "%@ %@ | %.3g | ", baselineLabel(v.baseline), pct(v.baselineAccuracy), v.p) } else { s += "– | – | " }
            s += "\(pct(g.base.nonMajority?.accuracy)) → \(pct(g.finetuned.nonMajority?.accuracy)) |\n"
        }
        s += transferSection(comparison.transfer) + modeSection(comparison.modes, transfer: comparison.transfer)
        s += generalizationSection(comparison.generalization) + trajectorySection(comparison.trajectory) + "\n"
        s += "## Charts\n\n" + charts.map { "![\($0)](\($0))\n" }.joined(separator: "\n")
        if !charts.contains("training_loss.svg") { s += "\n(No training run given: pass `--run RUN_DIR` to include the loss curve.)\n" }
        return s
    }

    static func criteriaSection(_ c: [String: TaskCriterion]) -> String {
        var s = Markdown.section("Tests behind the conclusion", ReportProse.criteria)
            + Markdown.tableHeader(["task", "change [95% CI]", "clustered McNemar p", "Holm p", "best trivial baseline", "fine-tuned vs baseline, Holm p"])
        for t in ["spelling", "count", "position"] {
            guard let k = c[t] else { continue }
            let ci = k.accuracyChangeCI95.map { String(format: " [%+.1f, %+.1f]", 100 * ($0.first ?? 0), 100 * ($0.last ?? 0)) } ?? ""
            s += String(format: "| %@ | %+.1f pts%@ | %.3g | %.3g | ", t, 100 * k.accuracyChange, ci, k.mcnemarP, k.mcnemarPHolm)
            s += "\(k.bestBaseline.map { baselineLabel($0) + " " + pct(k.bestBaselineAccuracy) } ?? "–") | \(k.vsBaselinePHolm.map { String(format: "%.3g", $0) } ?? "–") |\n"
        }
        return s + "\n"
    }

    static func baselineSection(_ baselines: [String: [String: BaselineScore]], _ b: HeadlineMetrics, _ f: HeadlineMetrics) -> String {
        guard !baselines.isEmpty else { return "" }
        var s = Markdown.section("Trivial baselines", ReportProse.baselines)
            + Markdown.tableHeader(["task", "majority answer", "first letter", "most frequent letter", "base", "fine-tuned"])
        for (_, name) in HeadlineMetrics.taskNames {
            guard let row = baselines[name] else { continue }
            let maj = row["majority"].map { "\"\($0.answer ?? "")\" " + pct($0.accuracy) } ?? "–"
            s += "| \(name) | \(maj) | \(pct(row["first_letter"]?.accuracy)) | \(pct(row["most_frequent_letter"]?.accuracy)) | \(pct(b.accuracy[name]?.accuracy)) | \(pct(f.accuracy[name]?.accuracy)) |\n"
        }
        return s + "\n"
    }

    static func transferSection(_ transfer: [String: TransferAnalysis]) -> String {
        var s = "\n" + Markdown.section("Transfer analysis", ReportProse.transfer)
        func phiText(_ a: Association?) -> String {
            guard let a else { return "–" }
            guard let p = a.phi else { return "undefined" }
            guard let ci = a.phiCI95, ci.count == 2 else { return String(format: "%.2f", p) }
            return String(format: "%.2f [%.2f, %.2f]", p, ci[0], ci[1])
        }
        func rText(_ a: Association?) -> String {
            guard let a else { return "–" }
            guard let r = a.pointBiserial else { return "undefined" }
            guard let ci = a.pointBiserialCI95, ci.count == 2 else { return String(format: "%.2f", r) }
            return String(format: "%.2f [%.2f, %.2f]", r, ci[0], ci[1])
        }
        for k in transfer.keys.sorted() {
            guard let t = transfer[k] else { continue }
            s += "**\(k)**\n\n| association | base phi | fine-tuned phi | base point-biserial r | fine-tuned point-biserial r |\n|---|---:|---:|---:|---:|\n"
            for task in ["count", "position"] {
                s += "| spelling ↔ \(task) | \(phiText(t.base[task])) | \(phiText(t.finetuned[task])) | \(rText(t.base[task])) | \(rText(t.finetuned[task])) |\n"
            }
            for task in ["count", "position"] {
                if let e = t.efficiency[task]?.value { s += String(format: "\n%@ transfer efficiency (exact spelling): %.2f", task, e) }
                else if let note = t.efficiency[task]?.note { s += "\n\(task) transfer efficiency (exact spelling) \(note)." }
                if let e = t.characterEfficiency[task]?.value {
                    let ci = t.characterEfficiency[task]?.ci95.map { String(format: " [%.2f, %.2f]", $0.first ?? 0, $0.last ?? 0) } ?? ""
                    s += String(format: "\n%@ transfer efficiency (character accuracy): %.2f%@", task, e, ci)
                }
                else if let note = t.characterEfficiency[task]?.note { s += "\n\(task) transfer efficiency (character accuracy) \(note)." }
            }
            s += "\n\n"
        }
        return s
    }

    /// Thinking against non-thinking mode, for each run evaluated in both: accuracy, tokens spent and
    /// the transfer association per mode.
    static func modeSection(_ modes: [String: ModeComparison]?, transfer: [String: TransferAnalysis]) -> String {
        guard let modes, !modes.isEmpty else { return "" }
        var s = Markdown.section("Thinking vs non-thinking mode", ReportProse.modes)
            + Markdown.tableHeader(["model", "task", "non-thinking", "thinking", "change [95% CI]", "clustered McNemar p", "Holm p", "tokens non-thinking", "tokens thinking", "truncated (non-thinking / thinking)"], left: 2)
        func tokens(_ m: Mean?) -> String { m.map { String(format: "%.1f [%.1f, %.1f]", $0.value, $0.ci95.first ?? 0, $0.ci95.last ?? 0) } ?? "–" }
        for (run, label) in [("base", "base"), ("finetuned", "fine-tuned")] {
            guard let m = modes[run] else { continue }
            for task in EvalTask.allCases.map(\.rawValue) {
                guard let t = m.tasks[task] else { continue }
                let ci = t.accuracyChangeCI95.map { String(format: " [%+.1f, %+.1f]", 100 * ($0.first ?? 0), 100 * ($0.last ?? 0)) } ?? ""
                s += "| \(label) | \(task) | \(pct(t.nonThinking.accuracy)) (n=\(t.nonThinking.n)) | \(pct(t.thinking.accuracy)) (n=\(t.thinking.n)) | "
                s += String(format: "%+.1f pts%@ | %.3g | %.3g | ", 100 * t.accuracyChange, ci, t.mcnemarP, t.mcnemarPHolm)
                s += "\(tokens(t.nonThinkingTokens)) | \(tokens(t.thinkingTokens)) | \(t.nonThinkingTruncated) / \(t.thinkingTruncated) |\n"
            }
        }
        // Transfer per mode: the per-word association of spelling with each task, from the transfer analysis.
        let styles = Set(transfer.keys.compactMap { $0.split(separator: "/").first.map(String.init) }).sorted()
        var rows = ""
        for style in styles {
            for task in ["count", "position"] {
                var cells: [String] = []
                for (side, mode) in [(true, "non-thinking"), (true, "thinking"), (false, "non-thinking"), (false, "thinking")] {
                    let a = transfer["\(style)/\(mode)"].flatMap { side ? $0.base[task] : $0.finetuned[task] }
                    cells.append(a?.phi.map { String(format: "%.2f", $0) } ?? (a == nil ? "–" : "undefined"))
                }
                rows += "| \(style) | spelling ↔ \(task) | " + cells.joined(separator: " | ") + " |\n"
            }
        }
        if !rows.isEmpty {
            s += "\nTransfer per mode (phi, exact spelling against task correctness per word; intervals in the transfer analysis above):\n\n| style | association | base non-thinking | base thinking | fine-tuned non-thinking | fine-tuned thinking |\n|---|---|---:|---:|---:|---:|\n" + rows
        }
        return s + "\n"
    }

    static func generalizationSection(_ g: Generalization?) -> String {
        guard let g else { return "" }
        var s = "\n" + Markdown.section("Spelling generalisation")
            + Markdown.tableHeader(["held-out set", "base exact", "fine-tuned exact", "base char acc", "fine-tuned char acc"])
        for (name, row) in [("vocabulary tokens (never trained on)", g.heldoutVocabularyTokens), ("dictionary words (multi-token)", g.heldoutDictionaryWords)] {
            s += "| \(name) | \(pct(row.base.accuracy)) | \(pct(row.finetuned.accuracy)) | \(pct(row.base.characterAccuracy)) | \(pct(row.finetuned.characterAccuracy)) |\n"
        }
        return s
    }

    static func trajectorySection(_ t: Trajectory?) -> String {
        guard let t else { return "\nCheckpoint trajectory: not evaluated (pass `--trajectory DIR` with `eval` runs of each checkpoint).\n" }
        var s = "\n" + Markdown.section("Checkpoint trajectory")
            + Markdown.tableHeader(["step", "spelling char acc", "spelling exact", "count", "position"], left: 0)
        for p in t.checkpoints {
            let a = p.accuracy
            s += "| \(p.step) | \(pct(a["spelling_character_accuracy"])) | \(pct(a["spelling"])) | \(pct(a["count"])) | \(pct(a["position"])) |\n"
        }
        s += "\nDescriptive only, not a finding: a correlation across a few checkpoints of one run has few degrees of freedom, and successive checkpoints are not independent, so even the 95 % Fisher-z interval is optimistic.\n"
        for task in ["count", "position"] {
            let e = t.correlations[task]
            let ci = e?.ci95.map { String(format: " [%.2f, %.2f]", $0.first ?? 0, $0.last ?? 0) } ?? ""
            s += "\nCorrelation across \(t.checkpoints.count) checkpoints, spelling character accuracy vs \(task) accuracy: "
                + (e?.value.map { String(format: "%.2f", $0) + ci } ?? e?.note ?? "undefined") + "\n"
        }
        return s
    }

    static func html(md: String, charts: [(String, String)]) -> String {
        // A small Markdown subset renderer (headings, tables, paragraphs, bold) with charts inlined.
        var body = ""
        var inTable = false
        for line in md.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("|") {
                let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
                if cells.allSatisfy({ $0.allSatisfy { "-:".contains($0) } }) { continue }
                if !inTable { body += "<table>\n"; inTable = true; body += "<tr>" + cells.map { "<th>\(inline($0))</th>" }.joined() + "</tr>\n"; continue }
                body += "<tr>" + cells.map { "<td>\(inline($0))</td>" }.joined() + "</tr>\n"
                continue
            }
            if inTable { body += "</table>\n"; inTable = false }
            if line.hasPrefix("# ") { body += "<h1>\(inline(String(line.dropFirst(2))))</h1>\n" }
            else if line.hasPrefix("## ") { body += "<h2>\(inline(String(line.dropFirst(3))))</h2>\n" }
            else if line.hasPrefix("![") , let name = line.split(separator: "(").last?.dropLast(), let svg = charts.first(where: { $0.0 == String(name) })?.1 {
                body += "<figure>\(svg.replacingOccurrences(of: "<?xml version=\"1.0\"?>", with: ""))</figure>\n"
            } else if !line.isEmpty { body += "<p>\(inline(line))</p>\n" }
        }
        if inTable { body += "</table>\n" }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>Strawberry evaluation report</title>
            <style>
            body { font-family: Georgia, 'Times New Roman', serif; max-width: 780px; margin: 2em auto; color: #222; line-height: 1.45; }
            h1 { font-size: 1.6em; border-bottom: 2px solid #222; padding-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
            table { border-collapse: collapse; margin: .8em 0; font-size: .9em; font-family: Helvetica, Arial, sans-serif; }
            th { border-top: 2px solid #222; border-bottom: 1px solid #222; padding: .3em .7em; text-align: left; }
            td { padding: .25em .7em; border-bottom: 1px solid #eee; } td:not(:first-child), th:not(:first-child) { text-align: right; }
            figure { margin: 1.2em 0; } svg { max-width: 100%; height: auto; }
            </style></head><body>
            \(body)</body></html>

            """
    }

    static func inline(_ s: String) -> String {
        var t = Charts.esc(s)
        while let a = t.range(of: "**"), let b = t.range(of: "**", range: a.upperBound..<t.endIndex) {
            t = t.replacingCharacters(in: a.lowerBound..<b.upperBound, with: "<strong>" + t[a.upperBound..<b.lowerBound] + "</strong>")
        }
        while let a = t.range(of: "`"), let b = t.range(of: "`", range: a.upperBound..<t.endIndex) {
            t = t.replacingCharacters(in: a.lowerBound..<b.upperBound, with: "<code>" + t[a.upperBound..<b.lowerBound] + "</code>")
        }
        return t
    }
}
