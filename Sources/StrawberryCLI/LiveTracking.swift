// `report_to: wandb`: the training steps streamed to Weights & Biases while `strawberry train` runs.
//
// Strawberry stays free of Python: the streaming is done by the optional Python package's follower
// (`strawberry-torch wandb-live RUN_DIR`, through the real `wandb` client), which the PyTorch backend's trainer
// starts the same way. It reads the run's metrics.jsonl as lines are appended and stops when its standard
// input closes — when this process closes the pipe after training, or when it dies, so a killed trainer
// never leaves a follower behind. Without the package the run trains as usual and a warning says how to
// export it afterwards.
import Foundation

final class LiveTracking {
    let process: Process
    let input: Pipe

    private init(process: Process, input: Pipe) {
        self.process = process
        self.input = input
    }

    /// The follower: $STRAWBERRY_TORCH, else `strawberry-torch` on PATH.
    static func follower() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let p = env["STRAWBERRY_TORCH"], !p.isEmpty { return FileManager.default.isExecutableFile(atPath: p) ? p : nil }
        for dir in (env["PATH"] ?? "").split(separator: ":") where !dir.isEmpty {
            let p = String(dir) + "/strawberry-torch"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Starts the follower for `runDir` (`resumed`: continue the run's W&B run), its log in RUN_DIR/wandb-live.log;
    /// nil, with a warning on standard error, when it cannot be started.
    static func start(runDir: String, resumed: Bool, warn: (String) -> Void) -> LiveTracking? {
        guard let exe = follower() else {
            warn("warning: report_to: wandb, but strawberry-torch is not on PATH (pip install -e python wandb, or set STRAWBERRY_TORCH): "
                 + "steps are not streamed; export the run afterwards with strawberry-torch wandb-sync")
            return nil
        }
        let p = Process(), input = Pipe()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["wandb-live", runDir] + (resumed ? ["--resume"] : [])
        p.standardInput = input
        p.standardOutput = FileHandle.nullDevice
        let logPath = runDir + "/wandb-live.log"
        // Appended to (a resumed run keeps its earlier follower's log).
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        if let log = FileHandle(forWritingAtPath: logPath) {
            log.seekToEndOfFile()
            p.standardError = log
        }
        do { try p.run() } catch {
            warn("warning: report_to: wandb: \(exe) did not start (\(error)); steps are not streamed")
            return nil
        }
        return LiveTracking(process: p, input: input)
    }

    /// Training is over: closes the follower's input and waits (up to `timeout` seconds) for it to log the last
    /// lines and finish the W&B run. Returns its exit status, or nil when it had to be stopped.
    @discardableResult
    func finish(timeout: Double = 120) -> Int32? {
        try? input.fileHandleForWriting.close()
        let end = Date(timeIntervalSinceNow: timeout)
        while process.isRunning && Date() < end { Thread.sleep(forTimeInterval: 0.05) }
        guard process.isRunning else { return process.terminationStatus }
        // SIGTERM: the follower logs what it has read and finishes the W&B run.
        process.terminate()
        let grace = Date(timeIntervalSinceNow: 15)
        while process.isRunning && Date() < grace { Thread.sleep(forTimeInterval: 0.05) }
        return nil
    }
}
