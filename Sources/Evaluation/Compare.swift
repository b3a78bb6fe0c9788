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

    /// An evaluation directory: metrics.json and items.jsonl (or, as committed results keep it, items.jsonl.gz).
    public init(dir: String) throws {
        let gz = !fileExists(dir + "/items.jsonl") && fileExists(dir + "/items.jsonl.gz")
        for f in ["metrics.json", gz ? "items.jsonl.gz" : "items.jsonl"] where !fileExists(dir + "/" + f) {
            throw EvaluationError.notAnEvaluation(dir: dir, missing: f)
        }
        self.dir = dir
        summary = try RecordFile.read(EvaluationSummary.self, from: dir + "/metrics.json")
        if gz {
            let text = String(decoding: try Gzip.decompress(file: dir + "/items.jsonl.gz"), as: UTF8.self)
            items = try RecordFile.decodeLines(EvaluatedItem.self, text: text, path: dir + "/items.jsonl.gz")
        } else {
            items = try RecordFile.readLines(EvaluatedItem.self, from: dir + "/items.jsonl")
        }
        var seen = Set<String>()
        for (i, r) in items.enumerated() where !seen.insert(r.pairKey).inserted {
            throw EvaluationError.incomplete(dir: dir, reason: "items.jsonl line \(i + 1) repeats item \(r.id) (mode \(r.mode), sample \(r.sample))")
        }
        // A file cut at a line boundary is still valid JSONL: the counts metrics.json recorded catch it.
        guard items.count == summary.generations + (summary.likelihoodItems ?? 0) else {
            throw EvaluationError.incomplete(dir: dir, reason: "items.jsonl has \(items.count) items, metrics.json counts \(summary.generations) generations and \(summary.likelihoodItems ?? 0) likelihood-scored items")
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

    /// Generated items of one task (the likelihood-scored ones are compared in their own groups only).
    func items(task: String) -> [EvaluatedItem] { items.filter { $0.task == task && !$0.isLikelihood } }
}

public enum Compare {
    /// Every figure is computed from the two runs' items (metrics.json is read only to check the
    /// directories are evaluations), so a report can always be traced back to items.jsonl.
    public static func run(base: EvalRun, finetuned ft: EvalRun, trainingRun: String?) throws -> Comparison {
        // Two samples of different words pair only by chance: say so rather than test a sliver.
        if let a = base.summary.sample, let b = ft.summary.sample, Set(a.words) != Set(b.words) {
            throw EvaluationError.badRequest("\(base.dir) and \(ft.dir) evaluated different samples of words (--limit with sample seeds \(a.seed) and \(b.seed)); evaluate both with the same --limit and --sample-seed")
        }
        var groups: [String: GroupComparison] = [:]
        var before: [String: Bool] = [:]
        for r in base.items { before[r.pairKey] = r.correct }
        let bm = Aggregation.metrics(base.items, fitted: base.summary.fittedConstants), fm = Aggregation.metrics(ft.items, fitted: ft.summary.fittedConstants)
        let ftGroups = Aggregation.groups(ft.items)
        for key in Set(bm.keys).intersection(fm.keys).sorted() {
            guard let b = bm[key], let f = fm[key] else { continue }
            var nb = 0, nc = 0, paired = 0
            var pairs: [(cluster: String, a: Bool, b: Bool)] = []
            for r in ftGroups[key] ?? [] {
                guard let was = before[r.pairKey] else { continue }
                paired += 1
                if was && !r.correct { nb += 1 }
                if !was && r.correct { nc += 1 }
                pairs.append((r.word ?? r.id, was, r.correct))
            }
            let change = f.accuracy - b.accuracy
            let relative: Double? = b.accuracy > 0 ? 100 * change / b.accuracy : (f.accuracy > 0 ? nil : 0)
            var g = GroupComparison(base: b, finetuned: f, accuracyChange: change, relativeImprovementPercent: relative, pairedItems: paired,
                                    mcnemarBaseOnlyCorrect: nb, mcnemarFinetunedOnlyCorrect: nc,
                                    // Exact McNemar when each word has one item; samples of one question (thinking mode) are clustered.
                                    mcnemarP: Statistics.clusteredMcNemar(Statistics.discordantByCluster(pairs)))
            if let bl = b.spelling[.levenshtein]?.value, let fl = f.spelling[.levenshtein]?.value {
                g.levenshteinChange = fl - bl   // lower is better
                g.levenshteinRelativeImprovementPercent = bl > 0 ? 100 * (bl - fl) / bl : 0
            }
            g.finetunedVsBaseline = versusBaseline(ftGroups[key] ?? [], fitted: ft.summary.fittedConstants[key])
            groups[key] = g
        }
        // Paired tests need the same questions on both sides: two different question sets compare nothing.
        guard groups.values.contains(where: { $0.pairedItems > 0 }) else {
            throw EvaluationError.nothingPaired(base: base.dir, finetuned: ft.dir)
        }
        var c = Comparison(groups: groups, transfer: transfer(base, ft, groups: groups), trainingRun: trainingRun)
        let modes = [("base", base), ("finetuned", ft)].compactMap { name, run in modeComparison(run).map { (name, $0) } }
        if !modes.isEmpty { c.modes = Dictionary(uniqueKeysWithValues: modes) }
        return c
    }

    /// Thinking against non-thinking mode within one run, per task pooled over styles (each thinking
    /// answer paired with the non-thinking answer to the same question and sample), with the tests
    /// and intervals the base-vs-fine-tuned comparison uses; nil unless the run holds both modes.
    public static func modeComparison(_ run: EvalRun) -> ModeComparison? {
        let off = EvalMode.nonThinking.rawValue, on = EvalMode.thinking.rawValue
        guard run.items.contains(where: { $0.mode == off }), run.items.contains(where: { $0.mode == on }) else { return nil }
        var tasks: [String: ModeTaskComparison] = [:]
        for task in EvalTask.allCases.map(\.rawValue) {
            let a = run.items(task: task).filter { $0.mode == off }, b = run.items(task: task).filter { $0.mode == on }
            guard !a.isEmpty, !b.isEmpty else { continue }
            // A greedy non-thinking run has one answer per question: every thinking sample is paired with it.
            // A sampled one (--sampling card) pairs sample s with sample s, so the change is the columns' change.
            var off: [String: Bool] = [:], answers: [String: Int] = [:]
            for r in a { off["\(r.id)#\(r.sample)"] = r.correct; answers[r.id, default: 0] += 1 }
            let pairs = b.compactMap { r -> (cluster: String, a: Bool, b: Bool)? in
                let key = answers[r.id] == 1 ? "\(r.id)#0" : "\(r.id)#\(r.sample)"
                return off[key].map { (cluster: r.word ?? r.id, a: $0, b: r.correct) }
            }
            guard !pairs.isEmpty else { continue }
            func tokens(_ rs: [EvaluatedItem]) -> Mean? {
                let v = rs.compactMap(\.outputTokens).map(Double.init)
                guard v.count == rs.count, let m = Metrics.mean(v) else { return nil }
                let ci = Metrics.bootstrapMean(v)
                return Mean(value: m, ci95: [ci.low, ci.high])
            }
            tasks[task] = ModeTaskComparison(
                nonThinking: Metrics.proportion(a.map(\.correct)), thinking: Metrics.proportion(b.map(\.correct)), pairedItems: pairs.count,
                accuracyChange: change(pairs), accuracyChangeCI95: changeInterval(pairs), mcnemarP: Statistics.clusteredMcNemar(Statistics.discordantByCluster(pairs)),
                mcnemarPHolm: 1, nonThinkingTokens: tokens(a), thinkingTokens: tokens(b),
                nonThinkingTruncated: a.filter(\.truncated).count, thinkingTruncated: b.filter(\.truncated).count)
        }
        guard !tasks.isEmpty else { return nil }
        let order = tasks.keys.sorted()
        for (k, p) in zip(order, Statistics.holm(order.compactMap { tasks[$0]?.mcnemarP })) { tasks[k]?.mcnemarPHolm = p }
        return ModeComparison(tasks: tasks)
    }

    /// A model's items against the strongest no-knowledge baseline on the same items (the baseline with the
    /// highest accuracy, ties by name as in `GroupMetrics.bestBaseline`; spelling-informed oracles are not floors), tested by the exact McNemar
    /// test clustered by word — the plain exact test when each word has one item.
    public static func versusBaseline(_ items: [EvaluatedItem], fitted: String? = nil) -> BaselineTest? {
        guard !items.isEmpty else { return nil }
        var best: (name: String, rule: Baselines.Rule, accuracy: Double)? = nil
        for r in Baselines.rules(for: items, fitted: fitted).filter(\.isNoKnowledge).sorted(by: { $0.name < $1.name }) {
            let acc = Metrics.proportion(items.map { Baselines.correct(r.rule, $0) }).accuracy
            if best == nil || acc > (best?.accuracy ?? 0) { best = (r.name, r.rule, acc) }
        }
        guard let best else { return nil }
        let pairs = items.map { (cluster: $0.word ?? $0.id, a: $0.correct, b: Baselines.correct(best.rule, $0)) }
        let model = pairs.filter { $0.a && !$0.b }.count, baseline = pairs.filter { !$0.a && $0.b }.count
        return BaselineTest(baseline: best.name, baselineAccuracy: best.accuracy, modelAccuracy: Metrics.proportion(items.map(\.correct)).accuracy,
                            modelOnlyCorrect: model, baselineOnlyCorrect: baseline, p: Statistics.clusteredMcNemar(Statistics.discordantByCluster(pairs)))
    }

    /// Base and fine-tuned outcomes of the same questions of one task (all styles, one mode), with
    /// the word each is about (the cluster of the pooled tests).
    public static func paired(_ base: EvalRun, _ ft: EvalRun, task: String, mode: String) -> [(cluster: String, a: Bool, b: Bool)] {
        var before: [String: Bool] = [:]
        for r in base.items(task: task) where r.mode == mode { before[r.pairKey] = r.correct }
        return ft.items.compactMap { r in
            guard r.task == task, r.mode == mode, !r.isLikelihood, let was = before[r.pairKey] else { return nil }
            return (r.word ?? r.id, was, r.correct)
        }
    }

    /// The accuracy change (b − a) over paired items.
    public static func change(_ pairs: [(cluster: String, a: Bool, b: Bool)]) -> Double {
        Double(pairs.reduce(0) { $0 + ($1.b ? 1 : 0) - ($1.a ? 1 : 0) }) / Double(max(pairs.count, 1))
    }

    /// Word-cluster bootstrap 95 % interval of the accuracy change (b − a) over paired items.
    public static func changeInterval(_ pairs: [(cluster: String, a: Bool, b: Bool)]) -> [Double]? {
        var byCluster: [String: [(a: Bool, b: Bool)]] = [:], order: [String] = []
        for p in pairs {
            if byCluster[p.cluster] == nil { order.append(p.cluster) }
            byCluster[p.cluster, default: []].append((p.a, p.b))
        }
        let clusters = order.compactMap { byCluster[$0] }
        return Statistics.clusterBootstrap(clusters) { sample in
            var n = 0, d = 0
            for c in sample { for p in c { n += 1; d += (p.b ? 1 : 0) - (p.a ? 1 : 0) } }
            return n > 0 ? Double(d) / Double(n) : nil
        }.map { [$0.low, $0.high] }
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
    public static let minimumTrajectoryPoints = 5

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
        // A correlation over a handful of checkpoints says little, so it needs at least
        // `minimumTrajectoryPoints` of them and is always given with its (Fisher z) interval.
        let s = points.map { $0.accuracy["spelling_character_accuracy"] ?? 0 }
        var correlations: [String: Estimate] = [:]
        for task in ["count", "position"] {
            guard points.count >= minimumTrajectoryPoints else {
                correlations[task] = Estimate(value: nil, note: "not computed: \(points.count) checkpoints evaluated, at least \(minimumTrajectoryPoints) needed")
                continue
            }
            guard let r = Metrics.pearson(s, points.map { $0.accuracy[task] ?? 0 }) else {
                correlations[task] = Estimate(value: nil, note: "undefined: a constant series")
                continue
            }
            correlations[task] = Estimate(value: r, ci95: Statistics.fisherInterval(r: r, n: points.count).map { [$0.low, $0.high] })
        }
        return Trajectory(checkpoints: points, correlations: correlations)
    }

    /// Per word: spelled right (phi) and spelling character accuracy (point-biserial) against
    /// counted/located right, with word-bootstrap intervals, before and after; and transfer
    /// efficiency = Δ task accuracy ÷ Δ spelling accuracy (exact: when the gain is significant by
    /// McNemar; character accuracy: when its word-bootstrap interval lies above 0).
    static func transfer(_ base: EvalRun, _ ft: EvalRun, groups: [String: GroupComparison]) -> [String: TransferAnalysis] {
        var out: [String: TransferAnalysis] = [:]
        for style in Set(ft.items.map(\.style)).sorted() {
            for mode in Set(ft.items.map(\.mode)).sorted() {
                var block = TransferAnalysis()
                var charBefore: [String: Double] = [:], charAfter: [String: Double] = [:]
                var taskBefore: [String: [String: Bool]] = [:], taskAfter: [String: [String: Bool]] = [:]
                for (isBase, run) in [(true, base), (false, ft)] {
                    func byWord(_ task: String) -> [String: EvaluatedItem] {
                        var m: [String: EvaluatedItem] = [:]
                        for r in run.items(task: task) where r.style == style && r.mode == mode && r.sample == 0 {
                            if let w = r.word { m[w] = r }
                        }
                        return m
                    }
                    let spell = byWord("spelling")
                    for (w, r) in spell { if isBase { charBefore[w] = r.spelling?.characterAccuracy ?? 0 } else { charAfter[w] = r.spelling?.characterAccuracy ?? 0 } }
                    for task in ["count", "position"] {
                        let other = byWord(task)
                        for (w, r) in other { if isBase { taskBefore[task, default: [:]][w] = r.correct } else { taskAfter[task, default: [:]][w] = r.correct } }
                        let words = Set(spell.keys).intersection(other.keys).sorted()
                        guard !words.isEmpty else { continue }
                        let x = words.map { spell[$0]?.correct ?? false }, y = words.map { other[$0]?.correct ?? false }
                        let c = words.map { spell[$0]?.spelling?.characterAccuracy ?? 0 }
                        var cell: Association
                        if let p = Metrics.phi(x, y) {
                            cell = Association(words: words.count, phi: p, phiCI95: Metrics.phiInterval(x, y).map { [$0.low, $0.high] })
                        } else {
                            cell = Association(words: words.count, phi: nil, phiNote: "undefined: spelling or \(task) correctness is constant across words")
                        }
                        let yd = y.map { $0 ? 1.0 : 0.0 }
                        if let r = Metrics.pearson(c, yd) {
                            cell.pointBiserial = r
                            let pairs = Array(zip(c, yd))
                            cell.pointBiserialCI95 = Statistics.clusterBootstrap(pairs) { s in Metrics.pearson(s.map(\.0), s.map(\.1)) }.map { [$0.low, $0.high] }
                        } else {
                            cell.pointBiserialNote = "undefined: spelling character accuracy or \(task) correctness is constant across words"
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
                    // The same ratio on character accuracy, which moves long before exact spelling does. Both
                    // changes are paired differences over the same words: those with a spelling item and a
                    // task item in both runs.
                    for task in ["count", "position"] {
                        let tb = taskBefore[task] ?? [:], ta = taskAfter[task] ?? [:]
                        let words = Set(charBefore.keys).intersection(charAfter.keys).intersection(tb.keys).intersection(ta.keys).sorted()
                        let diffs = words.map { (char: (charAfter[$0] ?? 0) - (charBefore[$0] ?? 0), task: Double((ta[$0] == true ? 1 : 0) - (tb[$0] == true ? 1 : 0))) }
                        guard let dC = Metrics.mean(diffs.map(\.char)), let dT = Metrics.mean(diffs.map(\.task)) else { continue }
                        let ci = Statistics.clusterBootstrap(diffs.map(\.char)) { Metrics.mean($0) }
                        if let ci, ci.low > 0 {
                            let ratio = Statistics.clusterBootstrap(diffs) { s in
                                guard let c = Metrics.mean(s.map(\.char)), c > 0, let t = Metrics.mean(s.map(\.task)) else { return nil }
                                return t / c
                            }
                            block.characterEfficiency[task] = Estimate(value: dT / dC, ci95: ratio.map { [$0.low, $0.high] })
                        } else {
                            block.characterEfficiency[task] = Estimate(value: nil, note: String(
                                format: "undefined: spelling character accuracy changed by %+.1f points (95%% CI %@), not a clear gain", 100 * dC,
                                ci.map { String(format: "%+.1f to %+.1f", 100 * $0.low, 100 * $0.high) } ?? "undefined"))
                        }
                    }
                }
                out["\(style)/\(mode)"] = block
            }
        }
        return out
    }
}
