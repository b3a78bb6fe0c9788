// Tests that respect how the questions were made. Every word is asked in two prompt styles, so
// the items of a task pooled over styles are pairs of items about the same word, not independent
// draws: pooled tests cluster by word. Several tests behind one conclusion are Holm-adjusted.
// Definitions and references in docs/metrics.md.
import Foundation
import TensorCore

public enum Statistics {
    /// Upper tail of the χ² distribution with one degree of freedom: P(X > x) = erfc(√(x/2)).
    public static func chiSquare1Tail(_ x: Double) -> Double {
        guard x.isFinite, x > 0 else { return 1 }
        return erfc((x / 2).squareRoot())
    }

    /// McNemar's test for clustered pairs, exact: for each cluster k (a word) b_k items are right
    /// only under A and c_k right only under B, d_k = b_k − c_k. Under the null hypothesis that A and B
    /// are exchangeable within a word, each d_k is as likely to have either sign, so the two-sided p is
    /// P(|Σ ±d_k| ≥ |Σ d_k|) over the 2^K sign flips — computed exactly by convolving the d_k's
    /// distributions (the randomisation version of Durkalski et al.'s 2003 clustered McNemar, whose
    /// numerator Σd_k it uses; their χ²₁ approximation is anti-conservative with few discordant words).
    /// With one item per cluster it is the exact McNemar test. Returns 1 when nothing is discordant.
    public static func clusteredMcNemar(_ clusters: [(b: Int, c: Int)]) -> Double {
        let d = clusters.map { $0.b - $0.c }.filter { $0 != 0 }.map(abs)
        guard !d.isEmpty else { return 1 }
        let observed = abs(clusters.reduce(0) { $0 + $1.b - $1.c })
        let total = d.reduce(0, +)
        // The exact distribution costs K × Σ|d_k|; past that size (many samples per question) the χ²₁
        // approximation is both affordable and accurate.
        guard total <= 50_000 else { return clusteredMcNemarChiSquare(clusters) }
        // dist[s + total] = P(Σ ±d_k = s)
        var dist = [Double](repeating: 0, count: 2 * total + 1)
        dist[total] = 1
        var reach = 0
        for dk in d {
            var next = [Double](repeating: 0, count: dist.count)
            for s in -reach...reach {
                let p = dist[s + total]
                guard p > 0 else { continue }
                next[s + dk + total] += 0.5 * p
                next[s - dk + total] += 0.5 * p
            }
            dist = next
            reach += dk
        }
        var tail = 0.0
        for s in -total...total where abs(s) >= observed { tail += dist[s + total] }
        return min(1, tail)
    }

    /// The χ²₁ version of the clustered McNemar statistic (Durkalski et al. 2003):
    /// X = (Σb − Σc)² / Σ(b_k − c_k)², for comparison with the exact test above.
    public static func clusteredMcNemarChiSquare(_ clusters: [(b: Int, c: Int)]) -> Double {
        var diff = 0, denom = 0
        for k in clusters { diff += k.b - k.c; denom += (k.b - k.c) * (k.b - k.c) }
        guard denom > 0 else { return 1 }
        return chiSquare1Tail(Double(diff * diff) / Double(denom))
    }

    /// Discordant counts per cluster of paired outcomes (a, b), clusters in first-seen order.
    public static func discordantByCluster(_ pairs: [(cluster: String, a: Bool, b: Bool)]) -> [(b: Int, c: Int)] {
        var order: [String] = [], cells: [String: (b: Int, c: Int)] = [:]
        for p in pairs {
            if cells[p.cluster] == nil { order.append(p.cluster); cells[p.cluster] = (0, 0) }
            if p.a && !p.b { cells[p.cluster]?.b += 1 }
            if !p.a && p.b { cells[p.cluster]?.c += 1 }
        }
        return order.compactMap { cells[$0] }
    }

    /// Holm's step-down adjustment of a family of p-values (same order as given).
    public static func holm(_ p: [Double]) -> [Double] {
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 1, count: p.count), running = 0.0
        for (rank, i) in order.enumerated() {
            running = max(running, min(1, Double(p.count - rank) * p[i]))
            adjusted[i] = running
        }
        return adjusted
    }

    /// 95 % interval of a Pearson correlation r from n points by Fisher's z transform; nil for n < 4
    /// or |r| = 1.
    public static func fisherInterval(r: Double, n: Int) -> (low: Double, high: Double)? {
        guard n >= 4, abs(r) < 1 else { return nil }
        let z = atanh(r), se = 1 / Double(n - 3).squareRoot(), q = 1.959963984540054
        return (tanh(z - q * se), tanh(z + q * se))
    }

    /// Percentile bootstrap 95 % interval of a statistic of clustered data: whole clusters are
    /// resampled with replacement (seeded, so reports reproduce). Resamples where the statistic is
    /// undefined are dropped; nil when fewer than 100 of 1,000 are defined.
    public static func clusterBootstrap<C>(_ clusters: [C], resamples: Int = 1000, seed: UInt64 = 29, level: Double = 0.95,
                                           _ statistic: ([C]) -> Double?) -> (low: Double, high: Double)? {
        clusterBootstrap(clusters, resamples: resamples, seed: seed, levels: [level], statistic)?.first
    }

    /// The same resamples read at several levels (one interval per level, in order).
    public static func clusterBootstrap<C>(_ clusters: [C], resamples: Int = 1000, seed: UInt64 = 29, levels: [Double],
                                           _ statistic: ([C]) -> Double?) -> [(low: Double, high: Double)]? {
        guard clusters.count > 1 else { return nil }
        var rng = SplitMix64(seed: seed)
        var values: [Double] = []
        var sample: [C] = []
        sample.reserveCapacity(clusters.count)
        for _ in 0..<resamples {
            sample.removeAll(keepingCapacity: true)
            for _ in clusters.indices { sample.append(clusters[rng.below(clusters.count)]) }
            if let v = statistic(sample), v.isFinite { values.append(v) }
        }
        guard values.count >= resamples / 10 else { return nil }
        values.sort()
        // Symmetric order statistics: at 95 %, the 25th smallest and the 25th largest of 1,000.
        return levels.map { level in
            let k = Int((1 - level) / 2 * Double(values.count) + 1e-9)   // (1 − 0.9) / 2 · 2000 is 99.99… in floating point
            return (values[k], values[values.count - 1 - k])
        }
    }

    // --- Student's t, for tests over a handful of seeds ---

    /// P(T ≤ t) for Student's t with `df` degrees of freedom (df > 0, fractional for Welch's test):
    /// 1 − I_x(df/2, 1/2) / 2 at x = df / (df + t²) for t ≥ 0, and by symmetry below 0.
    public static func studentTCDF(_ t: Double, df: Double) -> Double {
        guard df > 0, !t.isNaN else { return .nan }
        if t.isInfinite { return t > 0 ? 1 : 0 }
        let tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The t with P(T ≤ t) = p (0 < p < 1), by bisection on the CDF (monotone, so it cannot miss).
    public static func studentTQuantile(_ p: Double, df: Double) -> Double {
        guard df > 0, p > 0, p < 1 else { return .nan }
        var lo = -1.0, hi = 1.0
        while studentTCDF(lo, df: df) > p { lo *= 2 }
        while studentTCDF(hi, df: df) < p { hi *= 2 }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if studentTCDF(mid, df: df) < p { lo = mid } else { hi = mid }
            if hi - lo < 1e-12 * max(1, abs(mid)) { break }
        }
        return (lo + hi) / 2
    }

    /// I_x(a, b), the regularised incomplete beta function, by its continued fraction (modified
    /// Lentz), on the side of x where the fraction converges fast.
    static func regularizedBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let logBeta: Double = lgamma(a) + lgamma(b) - lgamma(a + b)
        let front: Double = exp(a * log(x) + b * log(1 - x) - logBeta)
        if x > (a + 1) / (a + b + 2) { return 1 - front * betaFraction(1 - x, b, a) / b }
        return front * betaFraction(x, a, b) / a
    }

    static func betaFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        d = 1 / (abs(d) < tiny ? tiny : d)
        var f = d
        for m in 1...300 {
            let m = Double(m)
            // Even step: m(b − m)x / ((a + 2m − 1)(a + 2m)); odd step: −(a + m)(a + b + m)x / ((a + 2m)(a + 2m + 1)).
            let even: Double = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            let odd: Double = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            for num in [even, odd] {
                d = 1 + num * d
                d = 1 / (abs(d) < tiny ? tiny : d)
                c = 1 + num / c
                if abs(c) < tiny { c = tiny }
                f *= c * d
            }
            if abs(c * d - 1) < 1e-15 { break }
        }
        return f
    }

    /// mean(a) − mean(b) over seed-level values, with Welch's t interval and two-sided p: each value is
    /// one seed's accuracy, so the seeds — not the items — are the replicates. `bIsExact`: b is one
    /// value known without seed-to-seed spread (the base model, which has no seeds), tested by a
    /// one-sample t. nil with fewer than two values on a side that has a spread, or when the values
    /// have no spread at all (an interval of zero width would claim a certainty seeds cannot give).
    public struct SeedTest: Equatable, Sendable {
        public var difference: Double
        public var standardError: Double
        public var df: Double
        public var p: Double

        /// The two-sided interval at `level` (0.95: the 95 % interval).
        public func interval(_ level: Double) -> (low: Double, high: Double) {
            guard standardError > 0 else { return (difference, difference) }
            let q = Statistics.studentTQuantile(0.5 + level / 2, df: df)
            return (difference - q * standardError, difference + q * standardError)
        }
    }

    public static func welch(_ a: [Double], _ b: [Double], bIsExact: Bool = false) -> SeedTest? {
        func moments(_ v: [Double]) -> (mean: Double, variance: Double) {
            let m = v.reduce(0, +) / Double(v.count)
            return (m, v.count > 1 ? v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(v.count - 1) : 0)
        }
        guard a.count >= 2, bIsExact ? b.count == 1 : b.count >= 2 else { return nil }
        let x = moments(a), y = moments(b)
        let ua = x.variance / Double(a.count), ub = bIsExact ? 0 : y.variance / Double(b.count)
        let se = (ua + ub).squareRoot(), d = x.mean - y.mean
        guard se > 0 else { return nil }
        // Welch–Satterthwaite; against an exact b the b side adds nothing and df is a.count − 1.
        let df = bIsExact ? Double(a.count - 1) : (ua + ub) * (ua + ub) / (ua * ua / Double(a.count - 1) + ub * ub / Double(b.count - 1))
        let t = d / se
        return SeedTest(difference: d, standardError: se, df: df, p: 2 * studentTCDF(-abs(t), df: df))
    }
}
