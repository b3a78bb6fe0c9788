// Small self-contained SVG charts for reports: grouped bars with interval whiskers, and lines.
import Foundation

enum Charts {
    static let colors = ["#9aa5b1", "#1f77b4", "#d62728", "#2ca02c"]

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// groups: label → bars (series name, value in [0,1], interval low, high).
    static func bars(title: String, groups: [(String, [(String, Double, Double, Double)])], width: Double = 720, height: Double = 320) -> String {
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
        for (g, (label, items)) in groups.enumerated() {
            let bw = min(28, (gw - 16) / Double(max(items.count, 1)))
            let x0 = left + gw * Double(g) + (gw - bw * Double(items.count)) / 2
            for (k, (series, v, lo, hi)) in items.enumerated() {
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

    /// series: name → points (x, y in [0,1], n).
    static func lines(title: String, xLabel: String, series: [(String, [(Double, Double, Int)])], width: Double = 720, height: Double = 300) -> String {
        let left = 48.0, bottom = 48.0, top = 36.0, right = 12.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = series.flatMap { $0.1.map(\.0) }
        guard let minX = xs.min(), let maxX = xs.max() else { return "" }
        func px(_ x: Double) -> Double { left + plotW * (maxX > minX ? (x - minX) / (maxX - minX) : 0.5) }
        func py(_ y: Double) -> Double { top + plotH * (1 - y) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" width=\"\(Int(width))\" height=\"\(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\">\n"
        s += "<text x=\"\(Int(left))\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(esc(title))</text>\n"
        for i in 0...5 {
            let y = py(Double(i) / 5)
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%d%%</text>\n",
                        left, width - right, y, y, left - 4, y + 4, i * 20)
        }
        for x in Set(xs).sorted() {
            s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%@</text>\n", px(x), height - bottom + 14, String(Int(x)))
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%@</text>\n", left + plotW / 2, height - bottom + 30, esc(xLabel))
        for (k, (name, pts)) in series.enumerated() {
            let color = colors[(k + 1) % colors.count]
            let path = pts.sorted { $0.0 < $1.0 }.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for p in pts { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"><title>%@ %d: %.1f%% (n=%d)</title></circle>\n", px(p.0), py(p.1), color, esc(name), Int(p.0), 100 * p.1, p.2) }
            let step = (width - left - right) / Double(max(series.count, 1))
            s += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%@\"/><text x=\"%.1f\" y=\"%.1f\">%@</text>\n",
                        left + Double(k) * step, height - 14, color, left + Double(k) * step + 14, height - 5, esc(name))
        }
        return s + "</svg>\n"
    }
}
