// The one SVG chart writer: small self-contained charts for reports and training runs — grouped
// bars with interval whiskers, and lines on a percentage or a value axis.
import Foundation

public enum Charts {
    static let colors = ["#9aa5b1", "#1f77b4", "#d62728", "#2ca02c"]

    public struct Bar: Sendable {
        public var series: String, value: Double, low: Double, high: Double
        public init(series: String, value: Double, low: Double, high: Double) { self.series = series; self.value = value; self.low = low; self.high = high }
    }
    public struct BarGroup: Sendable {
        public var label: String, bars: [Bar]
        public init(label: String, bars: [Bar]) { self.label = label; self.bars = bars }
    }
    public struct Point: Sendable {
        public var x: Double, y: Double, n: Int
        /// An interval around y, drawn as a whisker when given.
        public var low: Double?, high: Double?
        public init(x: Double, y: Double, n: Int, low: Double? = nil, high: Double? = nil) {
            self.x = x; self.y = y; self.n = n; self.low = low; self.high = high
        }
    }

    /// XML text escaping (also used by the HTML report).
    public static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Grouped bars of proportions in [0, 1] with their interval whiskers.
    public static func bars(title: String, groups: [BarGroup], width: Double = 720, height: Double = 320) -> String {
        let left = 48.0, bottom = 56.0, top = 36.0, right = 12.0
        let plotW = width - left - right, plotH = height - top - bottom
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(Int(left))\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(esc(title))</text>\n"
        for i in 0...5 {
            let v = Double(i) / 5, y = top + plotH * (1 - v)
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%d%%</text>\n",
                        left, width - right, y, y, left - 4, y + 4, i * 20)
        }
        let gw = plotW / Double(max(groups.count, 1))
        var legend: [String] = []
        for (g, group) in groups.enumerated() {
            let label = group.label, items = group.bars
            let bw = min(28, (gw - 16) / Double(max(items.count, 1)))
            let x0 = left + gw * Double(g) + (gw - bw * Double(items.count)) / 2
            for (k, bar) in items.enumerated() {
                let (series, v, lo, hi) = (bar.series, bar.value, bar.low, bar.high)
                if !legend.contains(series) { legend.append(series) }
                let color = colors[(legend.firstIndex(of: series) ?? k) % colors.count]
                let x = x0 + bw * Double(k), y = top + plotH * (1 - v)
                s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@: %.1f%% [%.1f, %.1f]</title></rect>\n",
                            x + 1, y, bw - 2, top + plotH - y, color, esc(series), 100 * v, 100 * lo, 100 * hi)
                let cx = x + bw / 2, ylo = top + plotH * (1 - lo), yhi = top + plotH * (1 - hi)
                s += String(format: "<path d=\"M%.1f %.1f V%.1f M%.1f %.1f H%.1f M%.1f %.1f H%.1f\" stroke=\"#222\" stroke-width=\"1\"/>\n",
                            cx, ylo, yhi, cx - 4, ylo, cx + 4, cx - 4, yhi, cx + 4)
            }
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", left + gw * (Double(g) + 0.5), height - bottom + 16, esc(label))
        }
        for (k, name) in legend.enumerated() {
            let x = left + Double(k) * 140
            s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%@\"/><text x=\"%.1f\" y=\"%.1f\">%@</text>\n",
                        x, height - 22, colors[k % colors.count], x + 14, height - 13, esc(name))
        }
        return s + "<text x=\"\(Int(width - right))\" y=\"\(Int(height - 13))\" text-anchor=\"end\" fill=\"#555\">whiskers: 95% Wilson interval</text>\n</svg>\n"
    }

    /// The y axis of a line chart: proportions shown as percentages, or raw values (a loss) on a
    /// range fitted to the data.
    public enum Axis: Sendable { case percent, values }

    /// One line per series; `n` (when > 0) is shown in each point's tooltip.
    public static func lines(title: String, xLabel: String, series: [(String, [Point])], axis: Axis = .percent,
                             width: Double = 720, height: Double = 300) -> String {
        let left = 48.0, bottom = 48.0, top = 36.0, right = 12.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.1.map(\.x) }, ys = series.flatMap { $0.1.map(\.y) }
        guard let minX = xs.min(), let maxX = xs.max(), let minY0 = ys.min(), let maxY0 = ys.max() else { return "" }
        let (lo, hi): (Double, Double)
        switch axis {
        case .percent: (lo, hi) = (0, 1)
        case .values:
            let pad = 0.05 * max(maxY0 - minY0, 1e-6)
            (lo, hi) = (minY0 >= 0 ? max(0, minY0 - pad) : minY0 - pad, maxY0 + pad)
        }
        func px(_ x: Double) -> Double { left + plotW * (maxX > minX ? (x - minX) / (maxX - minX) : 0.5) }
        func py(_ y: Double) -> Double { top + plotH * (1 - (y - lo) / (hi - lo)) }
        func label(_ y: Double) -> String { axis == .percent ? String(format: "%.1f%%", 100 * y) : String(format: "%.4g", y) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(Int(left))\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(esc(title))</text>\n"
        for i in 0...5 {
            let v = lo + (hi - lo) * Double(i) / 5, y = py(v)
            let tick = axis == .percent ? "\(i * 20)%" : String(format: "%.2f", v)
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%@</text>\n",
                        left, width - right, y, y, left - 4, y + 4, tick)
        }
        // Label every distinct x up to a dozen; beyond that about eight evenly spaced ones.
        let distinct = Set(xs).sorted()
        let every = distinct.count > 12 ? (distinct.count + 7) / 8 : 1
        for (i, x) in distinct.enumerated() where i % every == 0 || i == distinct.count - 1 {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%.0f</text>\n", px(x), height - bottom + 14, x)
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", left + plotW / 2, height - bottom + 30, esc(xLabel))
        for (k, (name, pts)) in series.enumerated() {
            let color = colors[(k + 1) % colors.count]
            let path = pts.sorted { $0.x < $1.x }.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for p in pts {
                if let l = p.low, let h = p.high {
                    s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-opacity=\"0.6\"/>\n", px(p.x), px(p.x), py(l), py(h), color)
                }
                let n = p.n > 0 ? " (n=\(p.n))" : ""
                s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"><title>%@ %.0f: %@%@</title></circle>\n", px(p.x), py(p.y), color, esc(name), p.x, label(p.y), n)
            }
            let step = (width - left - right) / Double(max(series.count, 1))
            s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%@\"/><text x=\"%.1f\" y=\"%.1f\">%@</text>\n",
                        left + Double(k) * step, height - 14, color, left + Double(k) * step + 14, height - 5, esc(name))
        }
        return s + "</svg>\n"
    }
}
