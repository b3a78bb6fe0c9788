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

    /// McNemar's test for clustered pairs (Durkalski, Palesch, Lipsitz & Rust 2003): for each
    /// cluster k (a word) b_k items are right only under A and c_k right only under B;
    /// X = (Σb − Σc)² / Σ(b_k − c_k)², referred to χ²₁. With one item per cluster it is the
    /// ordinary McNemar χ² (b − c)² / (b + c). Returns 1 when nothing is discordant.
    public static func clusteredMcNemar(_ clusters: [(b: Int, c: Int)]) -> Double {
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
    public static func clusterBootstrap<C>(_ clusters: [C], resamples: Int = 1000, seed: UInt64 = 29,
                                           _ statistic: ([C]) -> Double?) -> (low: Double, high: Double)? {
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
        return (values[Int(0.025 * Double(values.count))], values[min(values.count - 1, Int(0.975 * Double(values.count)))])
    }
}
