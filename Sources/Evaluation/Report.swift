// Reports: evaluation_results.json (the schema downstream tools read), final_report.json with
// computed success criteria, and report.md + a self-contained report.html with SVG charts.
import Foundation
import ModelFormats

public enum Report {
    /// Headline metrics of one run, pooled over prompt styles (non-thinking mode when present).
    static func headline(_ run: EvalRun) -> [String: Any] {
        var m: [String: Any] = [:]
        let rows = run.items.filter { ($0["mode"] as? String ?? "non-thinking") == (run.items.contains { $0["mode"] as? String == "non-thinking" } ? "non-thinking" : $0["mode"] as? String) }
        func acc(_ task: String) -> (Double, [Double], Int)? {
            let rs = rows.filter { $0["task"] as? String == task }
            guard !rs.isEmpty else { return nil }
            let k = rs.filter { $0["correct"] as? Bool == true }.count
            let ci = Metrics.wilson(k, rs.count)
            return (Double(k) / Double(rs.count), [ci.low, ci.high], rs.count)
        }
        for (task, key) in [("count", "letter_count_accuracy"), ("position", "letter_position_accuracy"), ("spelling", "spelling_accuracy")] {
            if let (a, ci, n) = acc(task) { m[key] = a; m[key + "_ci95"] = ci; m[key + "_n"] = n }
        }
        let spell = rows.filter { $0["task"] as? String == "spelling" }
        func mean(_ k: String) -> Double? {
            let v = spell.compactMap { num($0[k]) }
            return v.isEmpty ? nil : v.reduce(0, +) / Double(v.count)
        }
        if let v = mean("character_accuracy") { m["character_level_accuracy"] = v }
        if let v = mean("levenshtein") { m["levenshtein_distance"] = v }
        for n in 1...4 { if let v = mean("bleu_\(n)") { m["bleu_\(n)"] = v } }
        if let v = mean("rouge_l_precision") { m["rouge_l_precision"] = v }
        m["unparseable_rate"] = Double(rows.filter { isMissing($0["parsed"]) }.count) / Double(max(rows.count, 1))
        return m
    }

    public static func write(base: EvalRun, finetuned ft: EvalRun, comparison: [String: Any], trainingRun: String?, to out: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let hb = headline(base), hf = headline(ft)
        let results: [String: Any] = ["base_model": ["metrics": hb, "source": base.dir], "finetuned_model": ["metrics": hf, "source": ft.dir]]
        try writeTextAtomically(try JSONWriter.string(results, pretty: true) + "\n", to: out + "/evaluation_results.json")

        let groups = comparison["groups"] as? [String: [String: Any]] ?? [:]
        func pooledTest(_ task: String) -> (Double, Double) {
            var b = 0, c = 0
            for (k, g) in groups where k.hasPrefix(task + "/") { b += g["mcnemar_base_only_correct"] as? Int ?? 0; c += g["mcnemar_finetuned_only_correct"] as? Int ?? 0 }
            return (Double(c - b), Metrics.mcnemarExact(b: b, c: c))
        }
        var criteria: [String: Any] = [:]
        for (task, key) in [("count", "letter_count_accuracy"), ("position", "letter_position_accuracy"), ("spelling", "spelling_accuracy")] {
            guard let a = num(hb[key]), let c = num(hf[key]) else { continue }
            let (_, p) = pooledTest(task)
            criteria["\(task)_improved"] = c > a
            criteria["\(task)_improvement_significant"] = c > a && p < 0.05
            criteria["\(task)_mcnemar_p"] = p
            criteria["\(task)_accuracy_change"] = c - a
        }
        let final: [String: Any] = ["success_criteria": criteria, "base": hb, "finetuned": hf, "transfer": comparison["transfer"] ?? [:],
                                    "conclusion": conclusion(criteria)]
        try writeTextAtomically(try JSONWriter.string(final, pretty: true) + "\n", to: out + "/final_report.json")
        try writeTextAtomically(try JSONWriter.string(comparison, pretty: true) + "\n", to: out + "/comparison.json")

        var charts = makeCharts(base: base, ft: ft, groups: groups, trainingRun: trainingRun)
        if let traj = comparison["trajectory"] as? [String: Any], let pts = traj["checkpoints"] as? [[String: Any]] {
            func series(_ k: String) -> [(Double, Double, Int)] {
                pts.compactMap { p in (p["accuracy"] as? [String: Any]).flatMap { num($0[k]) }.map { (num(p["step"]) ?? 0, $0, 0) } }
            }
            charts.append(("checkpoint_trajectory.svg", Charts.lines(title: "Accuracy of saved checkpoints during training", xLabel: "optimizer step", series: [
                ("spelling character accuracy", series("spelling_character_accuracy")), ("letter count", series("count")), ("letter position", series("position")),
            ].filter { !$0.1.isEmpty })))
        }
        var md = markdown(hb, hf, groups, comparison["transfer"] as? [String: Any] ?? [:], criteria, charts: charts.map(\.0))
        // Generalisation and trajectory tables go before the charts.
        if let r = md.range(of: "## Charts") { md.insert(contentsOf: extraSections(comparison) + "\n", at: r.lowerBound) } else { md += extraSections(comparison) }
        for (name, svg) in charts { try writeTextAtomically(svg, to: out + "/" + name) }
        try writeTextAtomically(md, to: out + "/report.md")
        try writeTextAtomically(html(md: md, charts: charts), to: out + "/report.html")
        return summaryLines(hb, hf, criteria)
    }

    /// An absent answer: nil in memory, null once read back from items.jsonl.
    static func isMissing(_ v: Any?) -> Bool { v == nil || v is NSNull || v is () }

    static func conclusion(_ c: [String: Any]) -> String {
        func word(_ t: String) -> String {
            guard let imp = c["\(t)_improved"] as? Bool else { return "\(t): not evaluated" }
            let sig = c["\(t)_improvement_significant"] as? Bool ?? false
            return "\(t) " + (imp ? (sig ? "improved significantly" : "improved, not significantly") : "did not improve")
        }
        return ["spelling", "count", "position"].map(word).joined(separator: "; ")
    }

    static func pct(_ v: Any?) -> String { (num(v)).map { String(format: "%.1f%%", 100 * $0) } ?? "–" }

    static func summaryLines(_ b: [String: Any], _ f: [String: Any], _ c: [String: Any]) -> [String] {
        var l: [String] = []
        for (name, key, task) in [("spelling", "spelling_accuracy", "spelling"), ("letter count", "letter_count_accuracy", "count"), ("letter position", "letter_position_accuracy", "position")] {
            l.append(String(format: "%-16@ base %@ → fine-tuned %@  (McNemar p = %.3g)", name as NSString, pct(b[key]), pct(f[key]), num(c["\(task)_mcnemar_p"]) ?? 1))
        }
        l.append(String(format: "spelling char accuracy %@ → %@, normalised Levenshtein %.3f → %.3f", pct(b["character_level_accuracy"]), pct(f["character_level_accuracy"]),
                        num(b["levenshtein_distance"]) ?? .nan, num(f["levenshtein_distance"]) ?? .nan))
        l.append("conclusion: " + conclusion(c))
        return l
    }

    static func makeCharts(base: EvalRun, ft: EvalRun, groups: [String: [String: Any]], trainingRun: String?) -> [(String, String)] {
        var charts: [(String, String)] = []
        var bars: [(String, [(String, Double, Double, Double)])] = []
        for key in groups.keys.sorted(by: { a, b in a.split(separator: "/")[0] == b.split(separator: "/")[0] ? a < b : ["spelling", "count", "position"].firstIndex(of: String(a.split(separator: "/")[0]))! < ["spelling", "count", "position"].firstIndex(of: String(b.split(separator: "/")[0]))! }) {
            let g = groups[key]!
            let parts = key.split(separator: "/")
            var items: [(String, Double, Double, Double)] = []
            for (name, m) in [("base", g["base"] as! [String: Any]), ("fine-tuned", g["finetuned"] as! [String: Any])] {
                let ci = m["accuracy_ci95"].flatMap(nums) ?? [0, 0]
                items.append((name, num(m["accuracy"]) ?? 0, ci[0], ci[1]))
            }
            bars.append(("\(parts[0]) · \(parts[1].replacingOccurrences(of: "_", with: "-"))", items))
        }
        charts.append(("accuracy_by_task.svg", Charts.bars(title: "Accuracy by task and prompt style (test words)", groups: bars)))
        func byDim(_ run: EvalRun, task: String, dim: String) -> [(Double, Double, Int)] {
            var cells: [Int: (Int, Int)] = [:]
            for r in run.items where r["task"] as? String == task {
                guard let v = (r["metadata"] as? [String: Any])?[dim] as? Int else { continue }
                let c = cells[v] ?? (0, 0)
                cells[v] = (c.0 + 1, c.1 + ((r["correct"] as? Bool) == true ? 1 : 0))
            }
            return cells.filter { $0.value.0 >= 5 }.map { (Double($0.key), Double($0.value.1) / Double($0.value.0), $0.value.0) }.sorted { $0.0 < $1.0 }
        }
        charts.append(("accuracy_by_word_length.svg", Charts.lines(title: "Letter-count and position accuracy by word length (buckets with ≥ 5 items)", xLabel: "word length (letters)", series: [
            ("count · base", byDim(base, task: "count", dim: "word_length")), ("count · fine-tuned", byDim(ft, task: "count", dim: "word_length")),
            ("position · base", byDim(base, task: "position", dim: "word_length")), ("position · fine-tuned", byDim(ft, task: "position", dim: "word_length")),
        ].filter { !$0.1.isEmpty })))
        charts.append(("accuracy_by_position.svg", Charts.lines(title: "Letter-position accuracy by asked position (buckets with ≥ 5 items)", xLabel: "asked position (1 = first letter)", series: [
            ("base", byDim(base, task: "position", dim: "position")), ("fine-tuned", byDim(ft, task: "position", dim: "position")),
        ].filter { !$0.1.isEmpty })))
        if let run = trainingRun, let svg = try? String(contentsOfFile: run + "/loss_curve.svg", encoding: .utf8) {
            charts.append(("training_loss.svg", svg))
        }
        return charts.filter { !$0.1.isEmpty }
    }

    static func markdown(_ b: [String: Any], _ f: [String: Any], _ groups: [String: [String: Any]], _ transfer: [String: Any], _ c: [String: Any], charts: [String]) -> String {
        var s = "# Strawberry evaluation report\n\nBase vs fine-tuned on held-out dictionary words (never a training target). Every number is computed from `items.jsonl`; intervals are 95 % Wilson (accuracies) or bootstrap (means).\n\n"
        s += "## Headline\n\n| metric | base | fine-tuned |\n|---|---:|---:|\n"
        for (name, key) in [("spelling exact match", "spelling_accuracy"), ("letter-count accuracy", "letter_count_accuracy"), ("letter-position accuracy", "letter_position_accuracy"),
                            ("spelling character accuracy", "character_level_accuracy")] {
            s += "| \(name) | \(pct(b[key])) | \(pct(f[key])) |\n"
        }
        s += String(format: "| normalised Levenshtein (lower is better) | %.3f | %.3f |\n", num(b["levenshtein_distance"]) ?? .nan, num(f["levenshtein_distance"]) ?? .nan)
        for n in 1...4 { s += String(format: "| character BLEU-%d | %.3f | %.3f |\n", n, num(b["bleu_\(n)"]) ?? .nan, num(f["bleu_\(n)"]) ?? .nan) }
        s += String(format: "| ROUGE-L precision (characters) | %.3f | %.3f |\n", num(b["rouge_l_precision"]) ?? .nan, num(f["rouge_l_precision"]) ?? .nan)
        s += "| unparseable answers | \(pct(b["unparseable_rate"])) | \(pct(f["unparseable_rate"])) |\n\n"
        s += "**Conclusion:** \(conclusion(c)).\n\n## By task and prompt style\n\n| task / style / mode | n | base | fine-tuned | change | McNemar p |\n|---|---:|---:|---:|---:|---:|\n"
        for k in groups.keys.sorted() {
            let g = groups[k]!, bm = g["base"] as! [String: Any], fm = g["finetuned"] as! [String: Any]
            let bci = bm["accuracy_ci95"].flatMap(nums) ?? [0, 0], fci = fm["accuracy_ci95"].flatMap(nums) ?? [0, 0]
            s += String(format: "| %@ | %d | %@ [%.0f, %.0f] | %@ [%.0f, %.0f] | %+.1f pts | %.3g |\n", k, g["paired_items"] as? Int ?? 0, pct(bm["accuracy"]), 100 * bci[0], 100 * bci[1],
                        pct(fm["accuracy"]), 100 * fci[0], 100 * fci[1], 100 * (num(g["accuracy_change"]) ?? 0), num(g["mcnemar_p"]) ?? 1)
        }
        s += "\n## Transfer analysis\n\nPer word, does spelling it right go with counting / locating its letters right (phi coefficient, bootstrap 95 % CI)? Transfer efficiency = accuracy gain on the task ÷ spelling accuracy gain, defined only when the spelling gain is significant.\n\n"
        for k in transfer.keys.sorted() {
            guard let t = transfer[k] as? [String: Any] else { continue }
            s += "**\(k)**\n\n| association | base phi | fine-tuned phi |\n|---|---:|---:|\n"
            for task in ["count", "position"] {
                func phiText(_ cell: Any?) -> String {
                    guard let c = cell as? [String: Any] else { return "–" }
                    guard let p = num(c["phi"]) else { return "undefined" }
                    let ci = c["phi_ci95"].flatMap(nums)
                    return ci.map { String(format: "%.2f [%.2f, %.2f]", p, $0[0], $0[1]) } ?? String(format: "%.2f", p)
                }
                s += "| spelling ↔ \(task) | \(phiText(t["base_\(task)_association"])) | \(phiText(t["finetuned_\(task)_association"])) |\n"
            }
            for task in ["count", "position"] {
                if let e = num(t["\(task)_transfer_efficiency"]) { s += String(format: "\n%@ transfer efficiency: %.2f", task, e) }
                else if let note = t["\(task)_transfer_efficiency_note"] as? String { s += "\n\(task) transfer efficiency \(note)." }
            }
            s += "\n\n"
        }
        s += "## Charts\n\n" + charts.map { "![\($0)](\($0))\n" }.joined(separator: "\n")
        if !charts.contains("training_loss.svg") { s += "\n(No training run given: pass `--run RUN_DIR` to include the loss curve.)\n" }
        return s
    }

    static func extraSections(_ c: [String: Any]) -> String {
        var s = ""
        if let g = c["generalization"] as? [String: [String: [String: Any]]] {
            s += "\n## Spelling generalisation\n\n| held-out set | base exact | fine-tuned exact | base char acc | fine-tuned char acc |\n|---|---:|---:|---:|---:|\n"
            for (name, key) in [("vocabulary tokens (never trained on)", "heldout_vocabulary_tokens"), ("dictionary words (multi-token)", "heldout_dictionary_words")] {
                guard let row = g[key] else { continue }
                s += "| \(name) | \(pct(row["base"]?["accuracy"])) | \(pct(row["finetuned"]?["accuracy"])) | \(pct(row["base"]?["character_accuracy"])) | \(pct(row["finetuned"]?["character_accuracy"])) |\n"
            }
        }
        if let t = c["trajectory"] as? [String: Any], let pts = t["checkpoints"] as? [[String: Any]] {
            s += "\n## Checkpoint trajectory\n\n| step | spelling char acc | spelling exact | count | position |\n|---:|---:|---:|---:|---:|\n"
            for p in pts {
                let a = p["accuracy"] as? [String: Any] ?? [:]
                s += "| \(Int(num(p["step"]) ?? 0)) | \(pct(a["spelling_character_accuracy"])) | \(pct(a["spelling"])) | \(pct(a["count"])) | \(pct(a["position"])) |\n"
            }
            for task in ["count", "position"] {
                let v = t["correlation_spelling_character_accuracy_vs_\(task)"]
                s += "\nCorrelation across checkpoints, spelling character accuracy vs \(task) accuracy: " + (num(v).map { String(format: "%.2f", $0) } ?? "\(v ?? "undefined")") + "\n"
            }
        } else {
            s += "\nCheckpoint trajectory: not evaluated (pass `--trajectory DIR` with `eval` runs of each checkpoint).\n"
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
