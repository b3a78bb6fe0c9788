// `strawberry experiment run|status|report SPEC.yaml`: a declarative, resumable experiment.
import ArgumentParser
import Experiment
import Foundation
import Records
import Signals

struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Run a transfer experiment from a spec: datasets per arm, training per arm and seed, checkpoints scored on validation, final adapters once on test, the analysis.",
        discussion: "configs/experiment-pilot.yaml is an example spec with every key. `run` is resumable: interrupt it anywhere and run it again.",
        subcommands: [ExperimentRun.self, ExperimentStatus.self, ExperimentReportCommand.self])
}

struct SpecArgument: ParsableArguments {
    @Argument(help: "The experiment spec (YAML; configs/experiment-pilot.yaml is an example).")
    var spec: String
    @Option(name: .long, help: "Working directory, instead of the spec's `out`.")
    var out: String?

    func load() throws -> ExperimentRunner {
        var s = try ExperimentSpec.load(spec)
        if let out {
            guard !out.trimmingCharacters(in: .whitespaces).isEmpty, URL(fileURLWithPath: out).standardizedFileURL.path != "/" else {
                throw ValidationError("--out must name a working directory (not empty, not /)")
            }
            s.out = out
        }
        let runner = ExperimentRunner(spec: s)
        try runner.checkRecordedSpec()
        return runner
    }
}

/// Which part of the spec a command covers: `run` does it, `status` estimates it.
struct RunSelection: ParsableArguments {
    @Option(name: .customLong("stop-after"), help: ArgumentHelp("A short rerun: train each run only to this step (on the full budget's schedule, so its checkpoints are the full run's), score the checkpoints up to it, skip test. Give it its own --out.", valueName: "STEP"))
    var stopAfter: Int?
    @Option(name: .long, help: ArgumentHelp("Only this run and its arm's dataset (repeatable), e.g. spelling-seed42.", valueName: "ARM-seedS"))
    var only: [String] = []

    func validate() throws {
        if let s = stopAfter, s < 1 { throw ValidationError("--stop-after must be a step ≥ 1") }
    }

    func apply(to runner: ExperimentRunner) throws -> ExperimentRunner {
        var runner = runner
        runner.stopAfter = stopAfter
        if !only.isEmpty {
            let runs = Set(runner.spec.arms.flatMap { arm in runner.spec.seeds(for: arm).map { "\(arm.rawValue)-seed\($0)" } })
            guard only.allSatisfy(runs.contains) else {
                throw ValidationError("--only names a run of the spec: \(runs.sorted().joined(separator: ", "))")
            }
            runner.only = Set(only)
        }
        return runner
    }
}

struct ExperimentRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run every stage of the spec that is not complete (datasets, training, evaluations), in order.",
        discussion: "Ctrl-C (or SIGTERM) stops at the next safe point — training saves a checkpoint — and exits 130 (143); running the same command again continues where it stopped. The spec is recorded in OUT/spec.json; a later run must use the same one (arms and seeds may be added).")
    @OptionGroup var spec: SpecArgument
    @OptionGroup var threads: ThreadOptions
    @OptionGroup var selection: RunSelection

    func run() throws {
        threads.apply()
        let runner = try selection.apply(to: spec.load())
        do { try runner.run() } catch let stop as Interruption.Stopped {
            FileHandle.standardError.write(Data("experiment stopped by signal \(stop.signal); run the same command again to continue\n".utf8))
            throw ExitCode(128 + stop.signal)
        }
    }
}

struct ExperimentStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "What is done, partly done and left, with time estimates from the speed measured so far.",
        discussion: "Give the same --stop-after and --only as the `run` being estimated.")
    @OptionGroup var spec: SpecArgument
    @OptionGroup var selection: RunSelection
    @Flag(name: .long, help: "One JSON object per stage.")
    var json = false

    func run() throws {
        let runner = try selection.apply(to: spec.load())
        let all = runner.status()
        func duration(_ s: Double?) -> String {
            guard let s else { return "unknown" }
            return s >= 3600 ? String(format: "%.1f h", s / 3600) : s >= 60 ? String(format: "%.0f min", s / 60) : String(format: "%.0f s", s)
        }
        if json {
            for st in all {
                var o: [(String, JSONValue)] = [("stage", .string(st.stage.name)), ("kind", .string(st.stage.kind.rawValue)), ("state", .string(st.state.rawValue)),
                                                ("dir", .string(st.stage.dir))]
                if let d = st.stepsDone { o.append(("steps_done", .int(d))) }
                if let s = st.secondsLeft { o.append(("seconds_left", .double(s))) }
                print(try JSONText.string(.object(o)))
            }
            return
        }
        for st in all {
            let mark = st.state == .done ? "done   " : st.state == .partial ? "partial" : "todo   "
            var line = "\(mark)  \(st.stage.name)"
            if st.stage.kind == .train, let d = st.stepsDone, st.state != .done { line += "  (\(d)/\(st.stage.step ?? runner.spec.train.maxSteps) steps)" }
            if st.state != .done { line += "  ≈ \(duration(st.secondsLeft))" }
            print(line)
        }
        let left = all.filter { $0.state != .done }
        let known = left.compactMap(\.secondsLeft).reduce(0, +), unknown = left.filter { $0.secondsLeft == nil }.count
        let estimate = unknown == 0 ? "about \(duration(known)) left"
            : known > 0 ? "about \(duration(known)) left, plus \(unknown) stages of a kind not yet timed"
            : "time left unknown until a stage of each kind has run"
        print("\(all.count - left.count) of \(all.count) stages done; " + estimate)
    }
}

struct ExperimentReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Dose–response charts, arm contrasts (word-clustered intervals) and conclusions against the spec's smallest effect of interest, from the evaluation files alone.",
        discussion: "Writes REPORT_DIR/experiment.json, report.md and dose_*.svg (default: OUT/report). Works on a partial experiment: only seeds whose every checkpoint is scored count.")
    @OptionGroup var spec: SpecArgument
    @Option(name: .customLong("report-dir"), help: "Where to write the report (default: OUT/report; an earlier report there is replaced).")
    var reportDir: String?
    @Flag(name: .long, help: "Print experiment.json to stdout.")
    var json = false

    func run() throws {
        let runner = try spec.load()
        let r = try ExperimentAnalysis.report(runner)
        let dir = reportDir ?? runner.paths.out + "/report"
        try ExperimentAnalysis.write(r, to: dir, inputs: [])
        if json { try printJSON(r); return }
        r.conclusions.forEach { print($0) }
        print("report: \(dir)/report.md")
    }
}
