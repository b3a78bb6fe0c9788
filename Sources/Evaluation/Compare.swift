// `strawberry compare`: base vs fine-tuned on the same questions — per task and style, paired
// McNemar tests, and the transfer analysis (does getting a word's spelling right go with getting
// its count/position right; how much of the spelling gain reaches counting and positions).
import Foundation
import Records

/// An evaluation directory read back: its summary and every item, typed and checked.
public struct EvalRun: Sendable {
    public let dir: String
    public let summary: EvaluationSummary
    public let items: [EvaluatedItem]

    public init(dir: String) throws {
        for f in ["metrics.json", "items.jsonl"] where !fileExists(dir + "/" + f) {
            throw EvaluationError.notAnEvaluation(dir: dir, missing: f)
        }
        self.dir = dir
        summary = try RecordFile.read(EvaluationSummary.self, from: dir + "/metrics.json")
        items = try RecordFile.readLines(EvaluatedItem.self, from: dir + "/items.jsonl")
        var seen = Set<String>()
        for (i, r) in items.enumerated() where !seen.insert(r.pairKey).inserted {
            throw EvaluationError.incomplete(dir: dir, reason: "items.jsonl line \(i + 1) repeats item \(r.id) (mode \(r.mode), sample \(r.sample))")
        }
        // A file cut at a line boundary is still valid JSONL: the counts metrics.json recorded catch it.
        guard items.count == summary.generations else {
            throw EvaluationError.incomplete(dir: dir, reason: "items.jsonl has \(items.count) items, metrics.json counts \(summary.generations) generations")
        }
        for (group, rs) in Aggregation.groups(items) {
            let correct = rs.filter(\.correct).count
            guard summary.metrics[group]?.n == rs.count, summary.metrics[group]?.correct == correct else {
                throw EvaluationError.incomplete(dir: dir, reason: "items.jsonl has \(rs.count) items (\(correct) correct) in \(group), metrics.json counts \(summary.metrics[group]?.n ?? 0) (\(summary.metrics[group]?.correct ?? 0) correct)")
            }
        }
    }

    public init(dir: String, summary: EvaluationSummary, items: [EvaluatedItem]) {
        self.dir = dir
        self.summary = summary
        self.items = items
    }

    /// Items of one task.
    func items(task: String) -> [EvaluatedItem] { items.filter { $0.task == task } }
}

public enum Compare {
    /// Every figure is computed from the two runs' items (metrics.json is read only to check the
    /// directories are evaluations), so a report can always be traced back to items.jsonl.
    public static func run(base: EvalRun, finetuned ft: EvalRun, trainingRun: String?) throws -> Comparison {
        var groups: [String: GroupComparison] = [:]
        var before: [String: Bool] = [:]
        for r in base.items { before[r.pairKey] = r.correct }
        let bm = Aggregation.metrics(base.items), fm = Aggregation.metrics(ft.items)
        let ftGroups = Aggregation.groups(ft.items)
        for key in Set(bm.keys).intersection(fm.keys).sorted() {
            guard let b = bm[key], let f = fm[key] else { continue }
            var nb = 0, nc = 0, paired = 0
            for r in ftGroups[key] ?? [] {
                guard let was = before[r.pairKey] else { continue }
                paired += 1
                if was && !r.correct { nb += 1 }
                if !was && r.correct { nc += 1 }
            }
            let change = f.accuracy - b.accuracy
            let relative: Double? = b.accuracy > 0 ? 100 * change / b.accuracy : (f.accuracy > 0 ? nil : 0)
            var g = GroupComparison(base: b, finetuned: f, accuracyChange: change, relativeImprovementPercent: relative, pairedItems: paired,
                                    mcnemarBaseOnlyCorrect: nb, mcnemarFinetunedOnlyCorrect: nc, mcnemarP: Metrics.mcnemarExact(b: nb, c: nc))
            if let bl = b.spelling[.levenshtein]?.value, let fl = f.spelling[.levenshtein]?.value {
                g.levenshteinChange = fl - bl   // lower is better
                g.levenshteinRelativeImprovementPercent = bl > 0 ? 100 * (bl - fl) / bl : 0
            }
            groups[key] = g
        }
        // Paired tests need the same questions on both sides: two different question sets compare nothing.
        guard groups.values.contains(where: { $0.pairedItems > 0 }) else {
            throw EvaluationError.nothingPaired(base: base.dir, finetuned: ft.dir)
        }
        return Comparison(groups: groups, transfer: transfer(base, ft, groups: groups), trainingRun: trainingRun)
    }

    /// Spelling accuracy of one run, exact and by character.
    static func spelling(_ r: EvalRun) -> SpellingSummary {
        let rs = r.items(task: "spelling")
        let p = Metrics.proportion(rs.map(\.correct))
        return SpellingSummary(n: p.n, accuracy: p.accuracy, accuracyCI95: p.ci95,
                               characterAccuracy: Metrics.mean(rs.compactMap { $0.spelling?.characterAccuracy }) ?? 0)
    }

    /// Spelling accuracy on held-out vocabulary tokens vs held-out dictionary words, from
    /// `eval --split heldout_vocab` runs (base and fine-tuned) beside the test-split runs.
    public static func generalization(base: EvalRun, finetuned: EvalRun, heldoutBase: EvalRun, heldoutFinetuned: EvalRun) -> Generalization {
        Generalization(heldoutVocabularyTokens: BaseAndFinetuned(base: spelling(heldoutBase), finetuned: spelling(heldoutFinetuned)),
                       heldoutDictionaryWords: BaseAndFinetuned(base: spelling(base), finetuned: spelling(finetuned)))
    }

    /// Accuracy of each saved checkpoint (evaluated into TRAJECTORY_DIR/checkpoint-STEP by `eval`), and
    /// the correlation across checkpoints of spelling character accuracy with count and position accuracy.
    /// A directory that is not a readable evaluation is an error, not silently skipped.
    public static func trajectory(_ dir: String) throws -> Trajectory? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
        var points: [Trajectory.Point] = []
        var steps = Set<Int>()
        for n in names.sorted() where n.hasPrefix("checkpoint-") {
            let digits = n.dropFirst("checkpoint-".count)
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), let step = Int(digits) else {
                throw EvaluationError.notAnEvaluation(dir: dir + "/" + n, missing: "a step number in its name (checkpoint-STEP)")
            }
            guard steps.insert(step).inserted else { throw EvaluationError.notAnEvaluation(dir: dir + "/" + n, missing: "a step of its own (another directory has step \(step))") }
            let run = try EvalRun(dir: dir + "/" + n)
            var acc: [String: Double] = [:]
            for task in EvalTask.allCases.map(\.rawValue) {
                let rs = run.items(task: task)
                if !rs.isEmpty { acc[task] = Metrics.proportion(rs.map(\.correct)).accuracy }
            }
            if let c = Metrics.mean(run.items(task: "spelling").compactMap { $0.spelling?.characterAccuracy }) {
                acc["spelling_character_accuracy"] = c
            }
            points.append(Trajectory.Point(step: step, accuracy: acc))
        }
        guard !points.isEmpty else { return nil }
        points.sort { $0.step < $1.step }
        // Exact-match spelling is often flat early in training; character accuracy tracks the skill as it forms.
        let s = points.map { $0.accuracy["spelling_character_accuracy"] ?? 0 }
        var correlations: [String: Estimate] = [:]
        for task in ["count", "position"] {
            let r = Metrics.pearson(s, points.map { $0.accuracy[task] ?? 0 })
            correlations[task] = r.map { Estimate(value: $0) } ?? Estimate(value: nil, note: "undefined: fewer than 3 checkpoints or a constant series")
        }
        return Trajectory(checkpoints: points, correlations: correlations)
    }

    /// Per word: spelled right vs counted/located right (phi with bootstrap CI), before and after;
    /// and transfer efficiency = Δ accuracy (count or position) ÷ Δ spelling accuracy, defined only
    /// when the spelling gain is positive and significant (McNemar p < 0.05).
    static func transfer(_ base: EvalRun, _ ft: EvalRun, groups: [String: GroupComparison]) -> [String: TransferAnalysis] {
        var out: [String: TransferAnalysis] = [:]
        for style in Set(ft.items.map(\.style)).sorted() {
            for mode in Set(ft.items.map(\.mode)).sorted() {
                var block = TransferAnalysis()
                for (isBase, run) in [(true, base), (false, ft)] {
                    func byWord(_ task: String) -> [String: Bool] {
                        var m: [String: Bool] = [:]
                        for r in run.items where r.task == task && r.style == style && r.mode == mode && r.sample == 0 {
                            if let w = r.word { m[w] = r.correct }
                        }
                        return m
                    }
                    let spell = byWord("spelling")
                    for task in ["count", "position"] {
                        let other = byWord(task)
                        let words = Set(spell.keys).intersection(other.keys).sorted()
                        let x = words.map { spell[$0] ?? false }, y = words.map { other[$0] ?? false }
                        let cell: Association
                        if let p = Metrics.phi(x, y) {
                            cell = Association(words: words.count, phi: p, phiCI95: Metrics.phiInterval(x, y).map { [$0.low, $0.high] })
                        } else {
                            cell = Association(words: words.count, phi: nil, phiNote: "undefined: spelling or \(task) correctness is constant across words")
                        }
                        if isBase { block.base[task] = cell } else { block.finetuned[task] = cell }
                    }
                }
                if let sg = groups["spelling/\(style)/\(mode)"] {
                    let dS = sg.accuracyChange, pS = sg.mcnemarP
                    for task in ["count", "position"] {
                        guard let tg = groups["\(task)/\(style)/\(mode)"] else { continue }
                        block.efficiency[task] = dS > 0 && pS < 0.05
                            ? Estimate(value: tg.accuracyChange / dS)
                            : Estimate(value: nil, note: String(format: "undefined: spelling accuracy changed by %+.1f points (McNemar p = %.3g), not a significant gain", 100 * dS, pS))
                    }
                }
                out["\(style)/\(mode)"] = block
            }
        }
        return out
    }
}
