// Training progress: a one-line bar with step/total, loss, learning rate, tokens/s and ETA on a
// terminal; plain log lines (every ~5 % of the run) when stderr is a file or pipe.
import Foundation
import TensorCore

final class TrainingProgress {
    let total: Int
    let interactive: Bool
    let log: (String) -> Void
    let start = now()
    let startStep: Int
    var lastPlain = -1

    init(total: Int, startStep: Int, interactive: Bool, log: @escaping (String) -> Void) {
        self.total = total
        self.startStep = startStep
        self.interactive = interactive
        self.log = log
    }

    func update(step: Int, loss: Double, lr: Float, tokensPerSecond: Double) {
        let done = step - startStep, elapsed = now() - start
        let eta = done > 0 ? elapsed / Double(done) * Double(total - step) : 0
        let text = String(format: "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %@", step, total, loss, lr, tokensPerSecond, Self.clock(eta))
        if interactive {
            let width = 24, filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(text)".utf8))
        } else {
            let bucket = total > 0 ? step * 20 / total : step
            if bucket != lastPlain || step == total { lastPlain = bucket; log(text) }
        }
    }

    func note(_ s: String) {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        log(s)
    }

    func finish() { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }

    static func clock(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }
}
