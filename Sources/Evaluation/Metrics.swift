// Metric definitions (written out in docs/metrics.md): exact accuracy with Wilson intervals,
// character accuracy, normalised Levenshtein distance, character BLEU-1..4 and ROUGE-L precision,
// bootstrap intervals for means, exact McNemar tests and the phi coefficient.
import Foundation
import Records
import TensorCore

public enum Metrics {
    /// Accuracy of a list of outcomes with its Wilson interval: the one computation every
    /// table, report, trajectory and gate uses.
    public static func proportion<S: Sequence>(_ outcomes: S) -> Proportion where S.Element == Bool {
        var n = 0, k = 0
        for o in outcomes { n += 1; if o { k += 1 } }
        let ci = wilson(k, n)
        return Proportion(n: n, correct: k, accuracy: n > 0 ? Double(k) / Double(n) : 0, ci95: [ci.low, ci.high])
    }

    /// Arithmetic mean, summed in order (so the same items always give the same bits); nil when empty.
    public static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// Every similarity score of a predicted spelling against the gold letters.
    public static func spellingScores(_ pred: String, _ gold: String) -> SpellingScores {
        SpellingScores(characterAccuracy: characterAccuracy(pred, gold), levenshtein: normalizedLevenshtein(pred, gold),
                       bleu1: bleu(pred, gold, n: 1), bleu2: bleu(pred, gold, n: 2), bleu3: bleu(pred, gold, n: 3),
                       bleu4: bleu(pred, gold, n: 4), rougeLPrecision: rougeLPrecision(pred, gold))
    }

    /// Wilson score interval for k successes in n trials (z = 1.96 → 95 %).
    public static func wilson(_ k: Int, _ n: Int, z: Double = 1.959963984540054) -> (low: Double, high: Double) {
        guard n > 0 else { return (0, 1) }
        let p = Double(k) / Double(n), z2 = z * z, nn = Double(n)
        let centre = (p + z2 / (2 * nn)) / (1 + z2 / nn)
        let half = z * ((p * (1 - p) / nn + z2 / (4 * nn * nn)).squareRoot()) / (1 + z2 / nn)
        return (max(0, centre - half), min(1, centre + half))
    }

    /// Share of positions where predicted and gold spellings agree, over the longer length.
    public static func characterAccuracy(_ pred: String, _ gold: String) -> Double {
        let p = Array(pred), g = Array(gold), n = max(p.count, g.count)
        guard n > 0 else { return 1 }
        return Double(zip(p, g).filter { $0 == $1 }.count) / Double(n)
    }

    public static func levenshtein(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        var prev = Array(0...y.count), cur = prev
        for i in 1...x.count {
            cur[0] = i
            for j in stride(from: 1, through: y.count, by: 1) {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }

    /// Edit distance divided by the longer length (0 = identical, 1 = nothing shared).
    public static func normalizedLevenshtein(_ a: String, _ b: String) -> Double {
        let n = max(a.count, b.count)
        return n == 0 ? 0 : Double(levenshtein(a, b)) / Double(n)
    }

    /// Sentence BLEU-n over characters (Papineni et al. 2002): geometric mean of clipped 1..n-gram
    /// precisions with uniform weights and the brevity penalty; 0 when a precision is 0.
    public static func bleu(_ pred: String, _ gold: String, n maxN: Int) -> Double {
        let p = Array(pred), g = Array(gold)
        guard !p.isEmpty else { return 0 }
        var logSum = 0.0
        for n in 1...maxN {
            guard p.count >= n else { return 0 }
            var ref: [String: Int] = [:]
            if g.count >= n { for i in 0...(g.count - n) { ref[String(g[i..<(i + n)]), default: 0] += 1 } }
            var hits = 0, total = 0
            var used: [String: Int] = [:]
            for i in 0...(p.count - n) {
                let k = String(p[i..<(i + n)])
                total += 1
                if used[k, default: 0] < ref[k, default: 0] { used[k, default: 0] += 1; hits += 1 }
            }
            guard hits > 0 else { return 0 }
            logSum += log(Double(hits) / Double(total)) / Double(maxN)
        }
        let bp = p.count >= g.count ? 1 : exp(1 - Double(g.count) / Double(p.count))
        return bp * exp(logSum)
    }

    /// ROUGE-L precision over characters: LCS length / predicted length.
    public static func rougeLPrecision(_ pred: String, _ gold: String) -> Double {
        let p = Array(pred), g = Array(gold)
        guard !p.isEmpty, !g.isEmpty else { return 0 }
        var prev = [Int](repeating: 0, count: g.count + 1), cur = prev
        for i in 1...p.count {
            for j in 1...g.count { cur[j] = p[i - 1] == g[j - 1] ? prev[j - 1] + 1 : max(prev[j], cur[j - 1]) }
            swap(&prev, &cur)
        }
        return Double(prev[g.count]) / Double(p.count)
    }

    /// Percentile bootstrap 95 % interval of the mean (seeded, so reports are reproducible).
    public static func bootstrapMean(_ values: [Double], resamples: Int = 1000, seed: UInt64 = 17) -> (low: Double, high: Double) {
        guard values.count > 1 else { return (values.first ?? 0, values.first ?? 0) }
        var rng = SplitMix64(seed: seed)
        var means: [Double] = []
        for _ in 0..<resamples {
            var s = 0.0
            for _ in values.indices { s += values[rng.below(values.count)] }
            means.append(s / Double(values.count))
        }
        means.sort()
        return (means[Int(0.025 * Double(resamples))], means[min(resamples - 1, Int(0.975 * Double(resamples)))])
    }

    /// Pearson correlation; nil for fewer than 3 points or a constant series.
    public static func pearson(_ a: [Double], _ b: [Double]) -> Double? {
        guard a.count >= 3, a.count == b.count, a.min() != a.max(), b.min() != b.max() else { return nil }
        let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
        let cov = zip(a, b).reduce(0) { $0 + ($1.0 - ma) * ($1.1 - mb) }
        let va = a.reduce(0) { $0 + ($1 - ma) * ($1 - ma) }, vb = b.reduce(0) { $0 + ($1 - mb) * ($1 - mb) }
        return va > 0 && vb > 0 ? cov / (va * vb).squareRoot() : nil
    }

    /// Exact two-sided McNemar test on b (right only before) and c (right only after) discordant pairs.
    public static func mcnemarExact(b: Int, c: Int) -> Double {
        let n = b + c
        guard n > 0 else { return 1 }
        let k = min(b, c)
        var tail = 0.0
        for i in 0...k { tail += exp(logChoose(n, i) - Double(n) * log(2)) }
        return min(1, 2 * tail)
    }

    static func logChoose(_ n: Int, _ k: Int) -> Double { lgamma(Double(n + 1)) - lgamma(Double(k + 1)) - lgamma(Double(n - k + 1)) }

    /// Phi coefficient of two paired binary outcomes; nil when either is constant.
    public static func phi(_ x: [Bool], _ y: [Bool]) -> Double? {
        var n11 = 0.0, n10 = 0.0, n01 = 0.0, n00 = 0.0
        for (a, b) in zip(x, y) {
            switch (a, b) { case (true, true): n11 += 1; case (true, false): n10 += 1; case (false, true): n01 += 1; case (false, false): n00 += 1 }
        }
        let d = ((n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)).squareRoot()
        return d == 0 ? nil : (n11 * n00 - n10 * n01) / d
    }

    /// Bootstrap 95 % interval of phi over word pairs.
    public static func phiInterval(_ x: [Bool], _ y: [Bool], resamples: Int = 1000, seed: UInt64 = 23) -> (low: Double, high: Double)? {
        guard phi(x, y) != nil else { return nil }
        var rng = SplitMix64(seed: seed)
        var vals: [Double] = []
        for _ in 0..<resamples {
            var a: [Bool] = [], b: [Bool] = []
            for _ in x.indices { let i = rng.below(x.count); a.append(x[i]); b.append(y[i]) }
            if let v = phi(a, b) { vals.append(v) }
        }
        guard vals.count > 10 else { return nil }
        vals.sort()
        return (vals[Int(0.025 * Double(vals.count))], vals[min(vals.count - 1, Int(0.975 * Double(vals.count)))])
    }
}

/// Why an evaluation, comparison or report could not be made.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    case noQuestions(reason: String)
    case badRequest(String)
    case notADataset(path: String, split: String)
    case notAnEvaluation(dir: String, missing: String)
    case notAReport(dir: String, missing: String)
    /// The two files of an evaluation directory disagree (one was cut short or edited).
    case incomplete(dir: String, reason: String)
    case nothingPaired(base: String, finetuned: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .noQuestions(let r): return r
        case .badRequest(let r): return "evaluation request: \(r)"
        case .notADataset(let p, let s):
            return "\(p) is missing; is its directory a dataset built by `strawberry data build`, and does it have split '\(s)'?"
        case .notAnEvaluation(let d, let m):
            return "\(d) is not an evaluation directory (no \(m)); give a directory written by `strawberry eval --out`."
        case .notAReport(let d, let m):
            return "\(d) is not a comparison report (no \(m)); give directories written by `strawberry compare --out`."
        case .nothingPaired(let b, let f):
            return "\(b) and \(f) share no question (same id, mode and sample in the same task/style/mode); evaluate both on the same dataset and split"
        case .incomplete(let d, let r): return "\(d): \(r); was a file cut short or edited? Re-run `strawberry eval` for this directory."
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}
