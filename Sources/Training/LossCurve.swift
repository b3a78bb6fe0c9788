// The loss curve of a run as a self-contained SVG (training loss per logged step, validation
// loss where evaluated), drawn from metrics.jsonl.
import Foundation
import ModelFormats

public enum LossCurve {
    public static func write(metrics: String, to path: String) throws {
        guard let text = try? String(contentsOfFile: metrics, encoding: .utf8) else { return }
        var train: [(Double, Double)] = [], eval: [(Double, Double)] = []
        for line in text.split(separator: "\n") {
            guard let r = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let s = r["step"] as? Double ?? (r["step"] as? Int).map(Double.init) else { continue }
            if let l = r["loss"] as? Double { train.append((s, l)) }
            if let e = r["eval_loss"] as? Double { eval.append((s, e)) }
        }
        try writeTextAtomically(svg(train: train, eval: eval), to: path)
    }

    static func svg(train: [(Double, Double)], eval: [(Double, Double)]) -> String {
        let W = 640.0, H = 360.0, left = 56.0, right = 16.0, top = 24.0, bottom = 40.0
        let all = train + eval
        guard let maxX = all.map(\.0).max(), let minY0 = all.map(\.1).min(), let maxY0 = all.map(\.1).max() else {
            return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(W))\" height=\"\(Int(H))\"><text x=\"20\" y=\"40\">no data</text></svg>\n"
        }
        let minY = max(0, minY0 - 0.05 * (maxY0 - minY0)), maxY = maxY0 + 0.05 * max(maxY0 - minY0, 1e-6)
        func px(_ x: Double) -> Double { left + (W - left - right) * x / max(maxX, 1) }
        func py(_ y: Double) -> Double { top + (H - top - bottom) * (1 - (y - minY) / (maxY - minY)) }
        func path(_ pts: [(Double, Double)]) -> String { pts.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ") }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(W))\" height=\"\(Int(H))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for i in 0...4 {
            let y = minY + (maxY - minY) * Double(i) / 4
            s += String(format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n",
                        left, W - right, py(y), py(y), left - 6, py(y) + 4, y)
        }
        s += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">optimizer step (0–%d)</text>\n", (left + W - right) / 2, H - 8, Int(maxX))
        s += "<text x=\"\(Int(left))\" y=\"16\" font-weight=\"bold\">LoRA spelling fine-tuning: loss</text>\n"
        if !train.isEmpty { s += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"\(path(train))\"/>\n" }
        if !eval.isEmpty {
            s += "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" stroke-dasharray=\"5,3\" points=\"\(path(eval))\"/>\n"
            for p in eval { s += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", px(p.0), py(p.1)) }
        }
        s += "<text x=\"\(Int(W - 200))\" y=\"16\" fill=\"#1f77b4\">— training loss</text><text x=\"\(Int(W - 100))\" y=\"16\" fill=\"#d62728\">- - validation</text>\n"
        return s + "</svg>\n"
    }
}
