// `strawberry experiment report`: from the committed evaluation files alone, the dose–response
// curves (each measure against training steps, per arm, base model at step 0), the arm contrasts
// (a − b per item, averaged over seeds, with intervals that resample whole words, since a word's
// count, position and spelling items are not independent) and a conclusion per contrast stated
// against the smallest effect of interest fixed in the spec:
//   above         the 95 % interval of a − b lies above 0
//   below         it lies below 0
//   equivalent    the 90 % interval lies inside ±sesoi (two one-sided tests at 5 %): no effect as
//                 large as the smallest one of interest
//   inconclusive  neither: the data cannot tell (always, below `minWords` words: a bootstrap over a
//                 handful of words has no width to speak of)
// The conclusions name the primary measures (spelling exact match, count and position by likelihood —
// plain and balanced accuracy — else by generation); the contrast table holds every measure. Each
// contrast also has a seed-level test where side a has two or more seeds: each seed's accuracy is a
// replicate, a − b by Welch's t (one-sample t against the base model).
//
// The experiment's question is answered by one rule, fixed here before any test result exists, on
// the primary contrast (`analysis.primary`, by default spelling − control) on test after the full
// budget, likelihood scoring, for each task T in {count, position} on both its accuracy and its
// balanced accuracy:
//   equivalent    for both measures, the word-clustered and the seed-level 90 % intervals lie
//                 inside ±sesoi (two one-sided tests at 5 %, on both kinds of replicate);
//   transfer      otherwise, when for both measures the word-clustered 97.5 % interval and the
//                 seed-level 97.5 % interval lie above 0 (97.5 %: the two tasks share α = 5 %, Bonferroni);
//   negative      otherwise, when for both measures both 97.5 % intervals lie below 0;
//   inconclusive  anything else, and always with fewer than two seeds of either arm (no seed-level test).
// The order matters only where two apply: a difference shown but inside ±sesoi is smaller than the
// least effect that matters, so it is "equivalent".
// Overall: "transfer shown" when a task shows transfer; "no transfer beyond ±sesoi" when every task
// is equivalent; otherwise "inconclusive".
import Charts
import Evaluation
import Foundation
import Records

/// A quantity the report follows: the outcome of one item of one evaluation group.
struct Measure {
    /// As the contrasts name it (" (balanced)" for balanced accuracy).
    var name: String
    /// The dose–response curve it is drawn on (nil: its plain-accuracy twin's curve shows it).
    var curve: String?
    var group: String
    var outcome: (EvaluatedItem) -> Bool?
    /// Contrasts of balanced accuracy (mean over gold classes of the accuracy within the class).
    var balanced: Bool
    /// The curve's points carry the group's balanced accuracy too (closed-set answers).
    var curveBalanced = false
    /// One of the measures the conclusions are stated on.
    var primary = false
    /// A measure of the transfer rule: the task it answers for (count/position by likelihood).
    var transferTask: EvalTask? = nil
}

public enum ExperimentAnalysis {
    /// The measures of a spec's validation section: spelling by generation, count and position by
    /// every scoring asked for, and what the model's own spellings imply for count and position.
    static func measures(_ section: ExperimentSpec.EvalSection) -> [Measure] {
        let mode = EvalMode.nonThinking.rawValue
        var out: [Measure] = []
        for style in section.styles {
            let s = style == .direct ? "" : " (\(style.rawValue))"
            if section.tasks.contains(.spelling) {
                let name = "spelling exact\(s)"
                out.append(Measure(name: name, curve: name, group: "spelling/\(style.rawValue)/\(mode)", outcome: { $0.correct }, balanced: false,
                                   primary: style == .direct))
            }
            for task in [EvalTask.count, .position] where section.tasks.contains(task) {
                let methods = section.methods ?? []
                let likelihood = style == .direct && methods.contains(.likelihood)
                if likelihood {
                    // Both accuracies: plain (what a user sees) and balanced (half the count golds are "1",
                    // and letters are far from uniform, so plain accuracy rewards a constant answer).
                    let name = "\(task.rawValue) likelihood\(s)", group = "\(task.rawValue)/\(style.rawValue)/\(mode)/likelihood"
                    out.append(Measure(name: name, curve: name, group: group, outcome: { $0.correct }, balanced: false, curveBalanced: true,
                                       primary: true, transferTask: task))
                    out.append(Measure(name: name + " (balanced)", curve: nil, group: group, outcome: { $0.correct }, balanced: true,
                                       primary: true, transferTask: task))
                }
                if methods.contains(.generate) || !likelihood {
                    let name = "\(task.rawValue) generated\(s)"
                    out.append(Measure(name: task == .count ? name + " (balanced)" : name, curve: name, group: "\(task.rawValue)/\(style.rawValue)/\(mode)",
                                       outcome: { $0.correct }, balanced: task == .count, curveBalanced: true, primary: !likelihood && style == .direct))
                }
                if section.tasks.contains(.spelling) {
                    let g = likelihood ? "\(task.rawValue)/\(style.rawValue)/\(mode)/likelihood" : "\(task.rawValue)/\(style.rawValue)/\(mode)"
                    let name = "\(task.rawValue) implied by own spelling\(s)"
                    out.append(Measure(name: name, curve: name, group: g, outcome: { $0.implied?.correct }, balanced: false))
                }
            }
        }
        return out
    }

    /// Outcomes of a measure in one evaluation, by item key (with the item's word and gold class).
    static func outcomes(_ run: EvalRun, _ m: Measure) -> [String: (word: String, gold: String, ok: Bool)] {
        var out: [String: (word: String, gold: String, ok: Bool)] = [:]
        for r in run.items where r.group == m.group {
            if let ok = m.outcome(r) { out[r.pairKey] = (r.word ?? r.id, AnswerExtraction.normalizedGold(r.answerType, r.gold), ok) }
        }
        return out
    }

    public static func report(_ runner: ExperimentRunner) throws -> ExperimentReport {
        let spec = runner.spec, paths = runner.paths
        guard runner.isDone(Stage(kind: .evaluate, name: "", dir: paths.evalBase("validation"))) else {
            throw ExperimentError.notRun(what: "the base model's validation evaluation (\(paths.evalBase("validation"))) is missing")
        }
        let base = try EvalRun(dir: paths.evalBase("validation"))
        // A seed counts for an arm once every checkpoint of it has been scored.
        var complete: [DatasetArm: [UInt64]] = [:]
        for arm in spec.arms {
            complete[arm] = spec.seeds(for: arm).filter { seed in spec.checkpoints.allSatisfy { fileExists(paths.evalStep(arm, seed, $0) + "/metrics.json") } }
        }
        var runs: [String: EvalRun] = [:]
        func load(_ dir: String) throws -> EvalRun {
            if let r = runs[dir] { return r }
            let r = try EvalRun(dir: dir)
            runs[dir] = r
            return r
        }
        let measures = measures(spec.validation)
        var dose: [String: [String: [DosePoint]]] = [:]
        for m in measures {
            guard let curve = m.curve else { continue }
            for arm in spec.arms {
                let seeds = complete[arm] ?? []
                guard !seeds.isEmpty else { continue }
                var points = [point(0, [base], m, seeds: 1)].compactMap { $0 }
                for step in spec.checkpoints {
                    let evals = try seeds.map { try load(paths.evalStep(arm, $0, step)) }
                    if let p = point(step, evals, m, seeds: seeds.count) { points.append(p) }
                }
                if points.count > 1 { dose[curve, default: [:]][arm.rawValue] = points }
            }
        }
        // Contrasts at the final budget on validation, on test and on the few-shot pass where every needed file exists.
        var contrasts: [ArmContrast] = []
        var primary = Set<String>()
        var transferContrasts: [(task: EvalTask, contrast: ArmContrast)] = []
        var secondary: [String: SecondaryOutcomes] = [:]
        var levels: [String: [String: [String: DosePoint]]] = [:]
        let final = spec.train.maxSteps
        typealias Split = (name: String, measures: [Measure], base: String, dir: (DatasetArm, UInt64) -> String)
        var splits: [Split] = [("validation", measures, paths.evalBase("validation"), { paths.evalStep($0, $1, final) })]
        if spec.test.enabled { splits.append(("test", Self.measures(spec.test), paths.evalBase("test"), paths.evalTest)) }
        if spec.test.enabled, let f = spec.fewShot, f.enabled {
            // Secondary: neither a conclusion nor the transfer rule reads the few-shot pass.
            let ms = Self.measures(f).map { m -> Measure in var m = m; m.primary = false; m.transferTask = nil; return m }
            splits.append((paths.fewShotSplit(f.shots), ms, paths.evalBase(paths.fewShotSplit(f.shots)), { paths.evalFewShot($0, $1, f.shots) }))
        }
        let names = ["base"] + spec.arms.map(\.rawValue)
        for split in splits {
            // Each side's evaluations at the final budget, found once per split: the base model's one, an
            // arm's one per complete seed (absent until every one of them exists).
            var sides: [String: [EvalRun]] = [:]
            for name in names {
                if name == "base" {
                    if fileExists(split.base + "/metrics.json") { sides[name] = [try load(split.base)] }
                    continue
                }
                guard let arm = DatasetArm(rawValue: name), let seeds = complete[arm], !seeds.isEmpty else { continue }
                let dirs = seeds.map { split.dir(arm, $0) }
                if dirs.allSatisfy({ fileExists($0 + "/metrics.json") }) { sides[name] = try dirs.map(load) }
            }
            for m in split.measures {
                for name in names {
                    guard let runs = sides[name], let p = point(final, runs, m, seeds: name == "base" ? 1 : runs.count) else { continue }
                    levels[split.name, default: [:]][m.name, default: [:]][name] = p
                }
                for pair in spec.analysis.contrasts {
                    guard let a = sides[pair[0]], let b = sides[pair[1]],
                          let c = contrast(m, a, b, names: (pair[0], pair[1]), split: split.name, step: final, sesoi: spec.analysis.sesoi,
                                           resamples: spec.analysis.resamples) else { continue }
                    contrasts.append(c)
                    if m.primary { primary.insert("\(c.measure)|\(c.split)|\(c.a)|\(c.b)") }
                    if let task = m.transferTask, split.name == "test", pair == spec.analysis.primaryPair { transferContrasts.append((task, c)) }
                }
            }
            let present = names.compactMap { name in sides[name].map { (name, $0) } }
            if !present.isEmpty { secondary[split.name] = secondaryOutcomes(present, resamples: spec.analysis.resamples) }
        }
        // Every evaluation must have seen the same base weights (a change of precision mid-experiment is no comparison).
        let weights = Set(runs.values.map { $0.summary.weights ?? "f32" })
        guard weights.count <= 1 else {
            throw ExperimentError.inconsistent(what: "the evaluations disagree on the base weights (\(weights.sorted().joined(separator: ", "))): an experiment compares like with like; re-run the evaluations of one kind")
        }
        let seedsDone = spec.seeds.filter { s in spec.arms.allSatisfy { !spec.seeds(for: $0).contains(s) || complete[$0]?.contains(s) == true } }
        return ExperimentReport(name: spec.name, model: spec.model, modelNote: spec.modelNote, weights: weights.first, arms: spec.arms.map(\.rawValue), seeds: seedsDone, checkpoints: spec.checkpoints,
                                sesoi: spec.analysis.sesoi, doseResponse: dose, contrasts: contrasts,
                                conclusions: contrasts.filter { primary.contains("\($0.measure)|\($0.split)|\($0.a)|\($0.b)") }
                                    .map { conclusion($0, sesoi: spec.analysis.sesoi) },
                                transfer: transfer(transferContrasts, tasks: Self.measures(spec.test).compactMap(\.transferTask), sesoi: spec.analysis.sesoi),
                                secondary: secondary, levels: levels)
    }

    /// Unparseable rates, exact spelling by word length and by tokens per word, and the per-word
    /// association between spelling a word right and answering about it right, each side pooled over its seeds.
    static func secondaryOutcomes(_ sides: [(name: String, runs: [EvalRun])], resamples: Int) -> SecondaryOutcomes {
        var unparseable: [String: [String: Double]] = [:]
        var spellingBy: [String: [String: [String: [Int]]]] = [:]
        var association: [String: [String: Association]] = [:]
        let spelling = "spelling/direct/\(EvalMode.nonThinking.rawValue)"
        for (name, runs) in sides {
            var counts: [String: [Int]] = [:]   // group → [unparseable, n]
            for r in runs {
                for (group, g) in r.summary.metrics where !group.hasSuffix("/likelihood") {
                    var c = counts[group] ?? [0, 0]
                    c[0] += g.unparseable
                    c[1] += g.n
                    counts[group] = c
                }
                for (key, strata) in r.summary.stratified[spelling] ?? [:] where key == "word_length" || key == "word_tokens" {
                    for (stratum, cell) in strata where cell.count == 2 {
                        var v = spellingBy[name, default: [:]][key, default: [:]][stratum] ?? [0, 0]
                        v[0] += cell[0]
                        v[1] += cell[1]
                        spellingBy[name, default: [:]][key, default: [:]][stratum] = v
                    }
                }
            }
            unparseable[name] = counts.filter { $0.value[1] > 0 }.mapValues { Double($0[0]) / Double($0[1]) }
            for task in [EvalTask.count, .position] {
                // Per word, the (spelled right, answered right) pair of every seed: one cluster per word.
                var byWord: [String: [(Bool, Bool)]] = [:]
                for r in runs {
                    var spelled: [String: Bool] = [:], answered: [String: Bool] = [:], scored: [String: Bool] = [:]
                    for item in r.items where item.style == PromptStyle.direct.rawValue && item.mode == EvalMode.nonThinking.rawValue && item.sample == 0 {
                        guard let w = item.word else { continue }
                        if item.task == EvalTask.spelling.rawValue { spelled[w] = item.correct }
                        else if item.task == task.rawValue {
                            // Likelihood where the item was scored that way, else its generated answer.
                            if item.isLikelihood { scored[w] = item.correct } else { answered[w] = item.correct }
                        }
                    }
                    let answers = scored.isEmpty ? answered : scored
                    for w in spelled.keys.sorted() { if let s = spelled[w], let a = answers[w] { byWord[w, default: []].append((s, a)) } }
                }
                let clusters = byWord.keys.sorted().compactMap { byWord[$0] }
                guard !clusters.isEmpty else { continue }
                let x = clusters.flatMap { $0.map(\.0) }, y = clusters.flatMap { $0.map(\.1) }
                if let phi = Metrics.phi(x, y) {
                    let ci = Statistics.clusterBootstrap(clusters, resamples: resamples) { s in Metrics.phi(s.flatMap { $0.map(\.0) }, s.flatMap { $0.map(\.1) }) }
                    association[name, default: [:]][task.rawValue] = Association(words: clusters.count, phi: phi, phiCI95: ci.map { [$0.low, $0.high] })
                } else {
                    association[name, default: [:]][task.rawValue] = Association(words: clusters.count, phi: nil,
                                                                                   phiNote: "undefined: spelling or \(task.rawValue) correctness is the same for every word")
                }
            }
        }
        return SecondaryOutcomes(unparseable: unparseable, spellingBy: spellingBy, association: association)
    }

    /// A measure pooled over several evaluations (one per seed) at one budget.
    static func point(_ step: Int, _ evals: [EvalRun], _ m: Measure, seeds: Int) -> DosePoint? {
        let all = evals.flatMap { outcomes($0, m).values.map(\.ok) }
        guard !all.isEmpty else { return nil }
        let p = Metrics.proportion(all)
        let balanced = m.curveBalanced || m.balanced ? evals.compactMap { $0.summary.metrics[m.group]?.balancedAccuracy } : []
        return DosePoint(step: step, n: p.n, accuracy: p.accuracy, ci95: p.ci95,
                         balancedAccuracy: balanced.isEmpty ? nil : balanced.reduce(0, +) / Double(balanced.count), seeds: seeds)
    }

    /// a − b on the items both sides answered; each side's outcome is its mean over seeds. A measure
    /// with `balanced` compares **balanced** accuracy (the mean over gold classes of the accuracy within
    /// the class): half the count golds are "1", so plain accuracy rewards answering "1" and punishes a
    /// model for moving off it, whatever it knows. The seed-level test treats the base model (b named
    /// "base") as one exact value, and needs two or more seeds on every arm side.
    static func contrast(_ m: Measure, _ a: [EvalRun], _ b: [EvalRun], names: (String, String), split: String, step: Int,
                         sesoi: Double, resamples: Int) -> ArmContrast? {
        func averaged(_ runs: [EvalRun]) -> [String: (word: String, gold: String, value: Double)] {
            var sum: [String: (word: String, gold: String, total: Double, n: Int)] = [:]
            for r in runs {
                for (k, o) in outcomes(r, m) {
                    let cur = sum[k] ?? (o.word, o.gold, 0, 0)
                    sum[k] = (o.word, o.gold, cur.total + (o.ok ? 1 : 0), cur.n + 1)
                }
            }
            return sum.mapValues { ($0.word, $0.gold, $0.total / Double($0.n)) }
        }
        let va = averaged(a), vb = averaged(b)
        let keys = va.keys.filter { vb[$0] != nil }.sorted()
        guard !keys.isEmpty else { return nil }
        typealias Pair = (gold: String, a: Double, b: Double)
        var byWord: [String: [Pair]] = [:]
        for k in keys { if let x = va[k], let y = vb[k] { byWord[x.word, default: []].append((x.gold, x.value, y.value)) } }
        let clusters = byWord.keys.sorted().compactMap { byWord[$0] }
        func mean(_ cs: [[Pair]]) -> Double? {
            if m.balanced {
                // Per gold class: [n, Σa, Σb]; classes summed in a fixed order so the same items give the same bits.
                var cls: [String: [Double]] = [:]
                for c in cs { for p in c { var v = cls[p.gold] ?? [0, 0, 0]; v[0] += 1; v[1] += p.a; v[2] += p.b; cls[p.gold] = v } }
                guard !cls.isEmpty else { return nil }
                let per = cls.keys.sorted().compactMap { cls[$0] }.map { ($0[1] - $0[2]) / $0[0] }
                return per.reduce(0, +) / Double(per.count)
            }
            var s = 0.0, n = 0
            for c in cs { for p in c { s += p.a - p.b; n += 1 } }
            return n > 0 ? s / Double(n) : nil
        }
        let d = mean(clusters) ?? 0
        let intervals = Statistics.clusterBootstrap(clusters, resamples: resamples, levels: [0.95, 0.90, 0.975], mean)
        let ci95 = intervals?[0], ci90 = intervals?[1], ci975 = intervals?[2]
        let verdict: String
        if clusters.count < minWords { verdict = "inconclusive" }
        else if let c = ci95, c.low > 0 { verdict = "above" }
        else if let c = ci95, c.high < 0 { verdict = "below" }
        else if let c = ci90, c.low > -sesoi, c.high < sesoi { verdict = "equivalent" }
        else { verdict = "inconclusive" }
        // Seed level: each evaluation's own accuracy on the items compared, seeds as the replicates.
        let compared = Set(keys)
        func value(_ run: EvalRun) -> Double? {
            let o = outcomes(run, m).filter { compared.contains($0.key) }
            return mean([o.keys.sorted().compactMap { k in o[k].map { (gold: $0.gold, a: $0.ok ? 1.0 : 0, b: 0.0) } }])
        }
        let seedValues = [a.compactMap(value), b.compactMap(value)]
        let seedLevel = Statistics.welch(seedValues[0], seedValues[1], bIsExact: names.1 == "base").map { t in
            SeedLevelTest(seeds: [a.count, b.count], values: seedValues, difference: t.difference, df: t.df, p: t.p,
                          ci95: [t.interval(0.95).low, t.interval(0.95).high], ci90: [t.interval(0.90).low, t.interval(0.90).high],
                          ci975: [t.interval(0.975).low, t.interval(0.975).high])
        }
        return ArmContrast(measure: m.name, split: split, a: names.0, b: names.1, step: step, items: keys.count, words: clusters.count, difference: d,
                           ci95: ci95.map { [$0.low, $0.high] }, ci90: ci90.map { [$0.low, $0.high] }, ci975: ci975.map { [$0.low, $0.high] },
                           verdict: verdict, seedLevel: seedLevel)
    }

    /// The transfer rule (this file's header) on the primary contrast's test contrasts, one verdict per
    /// task from its plain and balanced likelihood accuracy; nil until both exist for every task.
    static func transfer(_ found: [(task: EvalTask, contrast: ArmContrast)], tasks: [EvalTask], sesoi: Double) -> TransferConclusion? {
        let wanted = tasks.reduce(into: [EvalTask]()) { if !$0.contains($1) { $0.append($1) } }
        guard let first = found.first?.contrast, !wanted.isEmpty else { return nil }
        var verdicts: [TransferConclusion.Task] = []
        for task in wanted {
            let cs = found.filter { $0.task == task }.map(\.contrast)
            guard cs.count == 2 else { return nil }
            func all(_ test: (ArmContrast) -> Bool) -> Bool { cs.allSatisfy(test) }
            let inside = { (ci: [Double]?) in ci.map { $0[0] > -sesoi && $0[1] < sesoi } ?? false }
            let verdict: String
            // Equivalence first: a difference shown but inside ±sesoi is smaller than the least that matters.
            if cs.contains(where: { $0.seedLevel == nil || $0.words < minWords }) { verdict = "inconclusive" }
            else if all({ inside($0.ci90) && inside($0.seedLevel?.ci90) }) { verdict = "equivalent" }
            else if all({ ($0.ci975?[0] ?? 0) > 0 && ($0.seedLevel?.ci975[0] ?? 0) > 0 }) { verdict = "transfer" }
            else if all({ ($0.ci975?[1] ?? 0) < 0 && ($0.seedLevel?.ci975[1] ?? 0) < 0 }) { verdict = "negative" }
            else { verdict = "inconclusive" }
            verdicts.append(.init(task: task.rawValue, verdict: verdict, measures: cs.map(\.measure)))
        }
        let overall = verdicts.contains { $0.verdict == "transfer" } ? "transfer shown"
            : verdicts.allSatisfy { $0.verdict == "equivalent" } ? "no transfer beyond ±\(String(format: "%.0f", 100 * sesoi)) points" : "inconclusive"
        let perTask = verdicts.map { "\($0.task): \($0.verdict)" }.joined(separator: "; ")
        let statement = "\(first.a) − \(first.b) on \(first.split) after \(first.step) steps, by likelihood: \(overall) (\(perTask))."
        return TransferConclusion(a: first.a, b: first.b, split: first.split, step: first.step, tasks: verdicts, overall: overall, statement: statement)
    }

    /// Fewer words than this give no verdict but "inconclusive".
    public static let minWords = 20

    static func pct(_ x: Double) -> String { String(format: "%+.1f", 100 * x) }

    static func conclusion(_ c: ArmContrast, sesoi: Double) -> String {
        let ci = c.ci95.map { "[\(pct($0[0])), \(pct($0[1]))]" } ?? "(no interval)"
        let what = "\(c.measure), \(c.a) − \(c.b) on \(c.split) after \(c.step) steps: \(pct(c.difference)) points, 95 % CI \(ci) over \(c.words) words"
        switch c.verdict {
        case "above": return "\(what) — \(c.a) is higher."
        case "below": return "\(what) — \(c.a) is lower."
        case "equivalent":
            return "\(what) — equivalent to no difference within ±\(String(format: "%.0f", 100 * sesoi)) points (90 % CI \(c.ci90.map { "[\(pct($0[0])), \(pct($0[1]))]" } ?? "–") inside the bounds)."
        default:
            if c.words < minWords { return "\(what) — inconclusive: fewer than \(minWords) words." }
            return "\(what) — inconclusive: neither a difference nor equivalence within ±\(String(format: "%.0f", 100 * sesoi)) points is shown."
        }
    }

    /// Writes experiment.json, report.md and one dose–response chart per measure into `dir`.
    public static func write(_ r: ExperimentReport, to dir: String, inputs: [String]) throws {
        let out = try OutputDirectory.begin(dir, kind: .experimentReport, replace: true, inputs: inputs)
        try out.fill {
            try RecordFile.write(r, to: out.file("experiment.json"))
            var charts: [String] = []
            for (i, measure) in r.doseResponse.keys.sorted().enumerated() {
                guard let byArm = r.doseResponse[measure] else { continue }
                let series = r.arms.compactMap { arm in
                    byArm[arm].map { (arm, $0.map { Charts.Point(x: Double($0.step), y: $0.accuracy, n: $0.n, low: $0.ci95.first, high: $0.ci95.last) }) }
                }
                let name = String(format: "dose_%02d_", i + 1) + measure.map { $0.isLetter || $0.isNumber ? $0 : "_" }.reduce("") { $0 + String($1) } + ".svg"
                try writeTextAtomically(Charts.lines(title: "\(measure) (validation) vs training steps; whiskers: 95% Wilson over pooled items", xLabel: "training steps", series: series),
                                        to: out.file(name))
                charts.append(name)
            }
            try writeTextAtomically(markdown(r, charts: charts), to: out.file("report.md"))
            try writeTextAtomically(resultsTable(r), to: out.file("results_table.md"))
        }
    }

    /// The README's table: the primary measures and the spelling skill at the final budget, on test where
    /// it was scored (else validation), each arm and the base model, and the primary contrast with both
    /// intervals; then the answer. Balanced accuracy where a row says so.
    public static func resultsTable(_ r: ExperimentReport) -> String {
        let split = r.levels["test"] != nil ? "test" : "validation"
        guard let levels = r.levels[split] else { return "No evaluation at the final budget yet.\n" }
        let sides = ["base"] + r.arms
        let pair = r.transfer.map { [$0.a, $0.b] } ?? (r.arms.contains("control") && r.arms.contains("spelling") ? ["spelling", "control"] : [])
        let rows = ["spelling exact", "count likelihood", "count likelihood (balanced)", "position likelihood", "position likelihood (balanced)",
                    "count generated (balanced)", "position generated", "count implied by own spelling", "position implied by own spelling"]
        var s = "| \(split) words, after \(r.checkpoints.last ?? 0) steps | " + sides.joined(separator: " | ")
        s += pair.isEmpty ? " |\n" : " | \(pair[0]) − \(pair[1]) (95 % CI: words; seeds) |\n"
        s += "|---|" + sides.map { _ in "---:" }.joined(separator: "|") + (pair.isEmpty ? "|\n" : "|---|\n")
        for row in rows {
            guard let byArm = levels[row] else { continue }
            let balanced = row.hasSuffix("(balanced)")
            let cells = sides.map { side in byArm[side].map { p in String(format: "%.1f %%", 100 * (balanced ? p.balancedAccuracy ?? p.accuracy : p.accuracy)) } ?? "–" }
            s += "| \(row) | " + cells.joined(separator: " | ")
            if !pair.isEmpty {
                let c = r.contrasts.first { $0.measure == row && $0.split == split && $0.a == pair[0] && $0.b == pair[1] }
                s += " | " + (c.map { c in
                    pct(c.difference) + " points [" + (c.ci95.map { "\(pct($0[0])), \(pct($0[1]))" } ?? "–") + "; "
                        + (c.seedLevel.map { "\(pct($0.ci95[0])), \(pct($0.ci95[1]))" } ?? "no seed-level test") + "]"
                } ?? "–")
            }
            s += " |\n"
        }
        if let t = r.transfer { s += "\n**\(t.statement)**\n" }
        return s
    }

    static func markdown(_ r: ExperimentReport, charts: [String]) -> String {
        var s = "# Experiment \(r.name)\n\n"
        s += "Model `\(r.model)`" + (r.modelNote.map { " (\($0))" } ?? "")
        s += (r.weights.map { ", its weights held in \($0) in every evaluation" } ?? "") + "; arms \(r.arms.joined(separator: ", ")); seeds complete: \(r.seeds.map(String.init).joined(separator: ", ")); "
        s += "checkpoints \(r.checkpoints.map(String.init).joined(separator: ", ")); smallest effect of interest ±\(String(format: "%.0f", 100 * r.sesoi)) points.\n\n"
        if let t = r.transfer {
            s += "## The question (primary outcome)\n\n**\(t.statement)**\n\n"
            s += "Rule (fixed before any test result): per task, on likelihood accuracy and balanced accuracy of \(t.a) − \(t.b), \"equivalent\" when both the word-clustered and the seed-level 90 % intervals lie inside ±\(String(format: "%.0f", 100 * r.sesoi)) points; otherwise \"transfer\" when both 97.5 % intervals lie above 0, \"negative\" when both lie below 0, else inconclusive.\n\n"
        }
        s += "## Conclusions\n\n" + (r.conclusions.isEmpty ? "None yet: no contrast has both sides complete.\n" : r.conclusions.map { "- \($0)" }.joined(separator: "\n") + "\n")
        s += "\n## Dose–response (validation)\n\nAccuracy (%) after each budget, pooled over seeds; step 0 is the base model. Balanced accuracy in parentheses where it applies. The intervals in experiment.json are Wilson intervals over the pooled items: they treat items as independent (neither words nor seeds are resampled), so they are narrower than the contrasts' word-clustered intervals.\n\n"
        for measure in r.doseResponse.keys.sorted() {
            guard let byArm = r.doseResponse[measure] else { continue }
            let steps = Array(Set(byArm.values.flatMap { $0.map(\.step) })).sorted()
            s += "### \(measure)\n\n| arm | " + steps.map(String.init).joined(separator: " | ") + " |\n|---|" + steps.map { _ in "---:" }.joined(separator: "|") + "|\n"
            for arm in r.arms {
                guard let pts = byArm[arm] else { continue }
                let cells = steps.map { st in pts.first { $0.step == st }.map { p in
                    String(format: "%.1f", 100 * p.accuracy) + (p.balancedAccuracy.map { String(format: " (%.1f)", 100 * $0) } ?? "") } ?? "–" }
                s += "| \(arm) | " + cells.joined(separator: " | ") + " |\n"
            }
            s += "\n"
        }
        if !charts.isEmpty { s += charts.map { "![\($0)](\($0))" }.joined(separator: "\n") + "\n\n" }
        s += "## Contrasts\n\n| measure | split | contrast | step | words | difference | 95 % CI | 90 % CI | verdict | seeds | seed-level 95 % CI | p (seeds) |\n|---|---|---|---:|---:|---:|---|---|---|---:|---|---:|\n"
        for c in r.contrasts {
            func ci(_ x: [Double]?) -> String { x.map { "[\(pct($0[0])), \(pct($0[1]))]" } ?? "–" }
            let seeds = c.seedLevel.map { "\($0.seeds[0])/\($0.seeds[1])" } ?? "–"
            s += "| \(c.measure) | \(c.split) | \(c.a) − \(c.b) | \(c.step) | \(c.words) | \(pct(c.difference)) | \(ci(c.ci95)) | \(ci(c.ci90)) | \(c.verdict) | \(seeds) | \(ci(c.seedLevel?.ci95)) | \(c.seedLevel.map { String(format: "%.3g", $0.p) } ?? "–") |\n"
        }
        s += "\nIntervals resample whole words (percentile bootstrap, seeded). \"equivalent\": the 90 % interval lies inside ±sesoi (two one-sided tests at 5 %). Seed-level: each seed's accuracy is one replicate, Welch's t (a one-sample t against the base model); shown where side a has two or more seeds.\n"
        for split in r.secondary.keys.sorted() {
            guard let o = r.secondary[split] else { continue }
            s += secondaryMarkdown(o, split: split, step: r.checkpoints.last ?? 0, sides: ["base"] + r.arms)
        }
        return s
    }

    static func secondaryMarkdown(_ o: SecondaryOutcomes, split: String, step: Int, sides: [String]) -> String {
        let present = sides.filter { o.unparseable[$0] != nil || o.spellingBy[$0] != nil }
        var s = "\n## Secondary outcomes: \(split), after \(step) steps\n\nEach arm pooled over its seeds; base is the base model.\n\n"
        let groups = Set(o.unparseable.values.flatMap(\.keys)).sorted()
        if !groups.isEmpty {
            s += "### Generated answers that could not be read (%)\n\n| group | " + present.joined(separator: " | ") + " |\n|---|" + present.map { _ in "---:" }.joined(separator: "|") + "|\n"
            for g in groups { s += "| \(g) | " + present.map { o.unparseable[$0]?[g].map { String(format: "%.1f", 100 * $0) } ?? "–" }.joined(separator: " | ") + " |\n" }
            s += "\n"
        }
        for (key, title) in [("word_length", "word length (letters)"), ("word_tokens", "tokens per word")] {
            let strata = Set(present.flatMap { o.spellingBy[$0]?[key]?.keys.map { $0 } ?? [] }).sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
            guard !strata.isEmpty else { continue }
            // Words of 10+ letters: the budget's second target.
            let long = key == "word_length" ? ["10+"] : []
            s += "### Exact spelling (direct) by \(title): % (items)\n\n| arm | " + (strata + long).joined(separator: " | ") + " |\n|---|" + (strata + long).map { _ in "---:" }.joined(separator: "|") + "|\n"
            for side in present {
                let cells = o.spellingBy[side]?[key] ?? [:]
                func cell(_ v: [Int]?) -> String { v.flatMap { $0[0] > 0 ? String(format: "%.1f (%d)", 100 * Double($0[1]) / Double($0[0]), $0[0]) : nil } ?? "–" }
                let tenPlus = cells.filter { (Int($0.key) ?? 0) >= 10 }.values.reduce([0, 0]) { [$0[0] + $1[0], $0[1] + $1[1]] }
                s += "| \(side) | " + strata.map { cell(cells[$0]) }.joined(separator: " | ") + (long.isEmpty ? "" : " | " + cell(tenPlus)) + " |\n"
            }
            s += "\n"
        }
        if !o.association.isEmpty {
            s += "### Spelled right against answered right, per word (phi, 95 % CI over words)\n\n| arm | count | position |\n|---|---|---|\n"
            for side in present {
                let cells = ["count", "position"].map { task -> String in
                    guard let a = o.association[side]?[task] else { return "–" }
                    guard let phi = a.phi else { return "undefined (\(a.words) words: one of the two is the same for every word)" }
                    return String(format: "%.2f", phi) + (a.phiCI95.map { String(format: " [%.2f, %.2f]", $0[0], $0[1]) } ?? "") + " (\(a.words) words)"
                }
                s += "| \(side) | " + cells.joined(separator: " | ") + " |\n"
            }
            s += "\nAnswered right: by likelihood where the answers were scored that way, else generated; direct prompts.\n"
        }
        return s
    }
}
