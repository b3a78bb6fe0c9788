// The loss curve of a run as a self-contained SVG (training loss per logged step, validation
// loss where evaluated), drawn from metrics.jsonl by the shared chart writer.
import Charts
import Foundation
import Records

public enum LossCurve {
    public static func write(metrics: String, to path: String) throws {
        let lines = try RecordFile.readLines(TrainingLogLine.self, from: metrics)
        let train = lines.compactMap { l in l.loss.map { Charts.Point(x: Double(l.step), y: $0, n: 0) } }
        let eval = lines.compactMap { l in l.evalLoss.map { Charts.Point(x: Double(l.step), y: $0, n: 0) } }
        let svg = Charts.lines(title: "LoRA spelling fine-tuning: loss", xLabel: "optimizer step",
                               series: [("training loss", train), ("validation loss", eval)].filter { !$0.1.isEmpty }, axis: .values)
        try writeTextAtomically(svg.isEmpty ? "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"80\"><text x=\"20\" y=\"40\">no data</text></svg>\n" : svg,
                                to: path)
    }
}
