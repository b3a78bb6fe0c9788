// `strawberry experiment run` and `status`: the spec's stages in order, each skipped when its output
// is complete, so an interrupted experiment (Ctrl-C, a killed process, a session that ended)
// continues where it stopped. Every output is written whole or not at all — datasets and
// evaluations are staged and renamed, training resumes from its newest checkpoint — so "complete"
// is simply "its files are there".
//
// Layout under `out`:
//   spec.json                                   the spec the experiment started with
//   timings.jsonl                               seconds per stage run (status's time estimates)
//   data/ARM/                                   one dataset per arm (the same validation and test)
//   runs/ARM-seedS/                             training runs (checkpoint-STEP at every scored budget)
//   eval/base/{validation,test}/                the base model
//   eval/ARM-seedS/step-N/                      validation, the adapter after N steps
//   eval/ARM-seedS/test/                        test, the final adapter (once)
//   eval/{base,ARM-seedS}/test-Kshot/           test with K worked examples before each question (few_shot)
import Evaluation
import Foundation
import Records
import Signals
import SpellingData
import Training

public struct ExperimentPaths: Sendable {
    public let out: String
    public init(_ out: String) { self.out = out }
    public func data(_ arm: DatasetArm) -> String { "\(out)/data/\(arm.rawValue)" }
    public func run(_ arm: DatasetArm, _ seed: UInt64) -> String { "\(out)/runs/\(arm.rawValue)-seed\(seed)" }
    public func evalBase(_ split: String) -> String { "\(out)/eval/base/\(split)" }
    public func evalStep(_ arm: DatasetArm, _ seed: UInt64, _ step: Int) -> String { "\(out)/eval/\(arm.rawValue)-seed\(seed)/step-\(step)" }
    public func evalTest(_ arm: DatasetArm, _ seed: UInt64) -> String { "\(out)/eval/\(arm.rawValue)-seed\(seed)/test" }
    /// The few-shot evaluations: `evalBase(fewShotSplit(k))`, and the final adapters' beside their test.
    public func fewShotSplit(_ shots: Int) -> String { "test-\(shots)shot" }
    public func evalFewShot(_ arm: DatasetArm, _ seed: UInt64, _ shots: Int) -> String { "\(out)/eval/\(arm.rawValue)-seed\(seed)/\(fewShotSplit(shots))" }
    public var timings: String { out + "/timings.jsonl" }
    public var spec: String { out + "/spec.json" }
}

/// One unit of work of an experiment.
public struct Stage: Sendable {
    public enum Kind: String, Sendable { case data, train, evaluate }
    public var kind: Kind
    public var name: String
    public var dir: String
    public var arm: DatasetArm?
    public var seed: UInt64?
    /// Training: the budget; evaluation: the adapter's step (nil: base model, or the final adapter).
    public var step: Int?
    /// Evaluation: the split and the adapter directory (nil: the base model).
    public var split: String?
    public var adapter: String?
    /// Evaluation: worked examples before each question (the spec's few_shot section); nil: zero-shot.
    public var shots: Int?
}

/// A stage's state for `status`.
public struct StageStatus: Sendable {
    public enum State: String, Sendable { case done, partial, todo }
    public var stage: Stage
    public var state: State
    /// Training: steps done so far.
    public var stepsDone: Int?
    /// Seconds still needed, from measured speed (nil: nothing measured yet).
    public var secondsLeft: Double?
}

/// A line of timings.jsonl.
struct TimingLine: Codable {
    var stage: String
    var kind: String
    var seconds: Double
    /// Training: optimizer steps done in this stretch.
    var steps: Int?
    var split: String?
}

public struct ExperimentRunner {
    public let spec: ExperimentSpec
    public let paths: ExperimentPaths
    /// A short rerun (reproducibility checks): train each run only to this step — its schedule still
    /// that of `train.max_steps`, so its checkpoints are the full run's — score the checkpoints at or
    /// below it, and skip test. nil: the whole experiment.
    public var stopAfter: Int? = nil
    /// Only these runs ("spelling-seed42") and the datasets of their arms (nil: every run).
    public var only: Set<String>? = nil
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    public init(spec: ExperimentSpec) {
        self.spec = spec
        paths = ExperimentPaths(spec.out)
    }

    /// Every stage, in the order `run` does them: datasets, the base model on validation, then per
    /// seed every arm's training and its checkpoints on validation (so each finished seed is a
    /// complete replicate), then test once.
    public func stages() -> [Stage] {
        func selected(_ arm: DatasetArm, _ seed: UInt64) -> Bool { spec.seeds(for: arm).contains(seed) && only.map { $0.contains("\(arm.rawValue)-seed\(seed)") } ?? true }
        // Every arm's dataset holds the validation and test questions, read from the first arm's.
        let dataArms = spec.arms.enumerated().filter { i, arm in i == 0 || spec.seeds.contains { selected(arm, $0) } }.map(\.element)
        var out: [Stage] = dataArms.map { Stage(kind: .data, name: "data \($0.rawValue)", dir: paths.data($0), arm: $0) }
        out.append(Stage(kind: .evaluate, name: "base · validation", dir: paths.evalBase("validation"), split: "validation"))
        for seed in spec.seeds {
            for arm in spec.arms where selected(arm, seed) {
                let run = paths.run(arm, seed)
                let budget = stopAfter.map { min($0, spec.train.maxSteps) } ?? spec.train.maxSteps
                out.append(Stage(kind: .train, name: "train \(arm.rawValue) seed \(seed)" + (budget < spec.train.maxSteps ? " to step \(budget)" : ""),
                                 dir: run, arm: arm, seed: seed, step: budget))
                for step in spec.checkpoints where step <= budget {
                    out.append(Stage(kind: .evaluate, name: "\(arm.rawValue) seed \(seed) · step \(step) · validation", dir: paths.evalStep(arm, seed, step),
                                     arm: arm, seed: seed, step: step, split: "validation", adapter: "\(run)/checkpoint-\(step)"))
                }
            }
        }
        if spec.test.enabled && stopAfter == nil {
            out.append(Stage(kind: .evaluate, name: "base · test", dir: paths.evalBase("test"), split: "test"))
            for seed in spec.seeds {
                for arm in spec.arms where selected(arm, seed) {
                    out.append(Stage(kind: .evaluate, name: "\(arm.rawValue) seed \(seed) · final · test", dir: paths.evalTest(arm, seed),
                                     arm: arm, seed: seed, split: "test", adapter: paths.run(arm, seed) + "/final"))
                }
            }
            if let k = spec.fewShot.flatMap({ $0.enabled ? $0.shots : nil }) {
                out.append(Stage(kind: .evaluate, name: "base · test · \(k)-shot", dir: paths.evalBase(paths.fewShotSplit(k)), split: "test", shots: k))
                for seed in spec.seeds {
                    for arm in spec.arms where selected(arm, seed) {
                        out.append(Stage(kind: .evaluate, name: "\(arm.rawValue) seed \(seed) · final · test · \(k)-shot", dir: paths.evalFewShot(arm, seed, k),
                                         arm: arm, seed: seed, split: "test", adapter: paths.run(arm, seed) + "/final", shots: k))
                    }
                }
            }
        }
        return out
    }

    public func isDone(_ s: Stage) -> Bool {
        switch s.kind {
        case .data: return fileExists(s.dir + "/manifest.json")
        case .train:
            return fileExists(s.dir + "/final/adapter_model.safetensors") || (s.step.map { $0 < spec.train.maxSteps && stepsDone(s.dir) >= $0 } ?? false)
        case .evaluate: return fileExists(s.dir + "/metrics.json") && (fileExists(s.dir + "/items.jsonl") || fileExists(s.dir + "/items.jsonl.gz"))
        }
    }

    /// Training steps a run has checkpointed (0: none).
    func stepsDone(_ run: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
        return names.compactMap { $0.hasPrefix("checkpoint-") ? Int($0.dropFirst("checkpoint-".count)) : nil }
            .filter { fileExists("\(run)/checkpoint-\($0)/trainer_state.json") }.max() ?? 0
    }

    /// Runs every stage that is not complete. A signal stops at the next safe point (training saves a
    /// checkpoint first) and throws `Interruption.Stopped`; `run` again continues.
    public func run() throws {
        try recordSpec()
        let all = stages()
        let left = all.filter { !isDone($0) }
        log("experiment \(spec.name): \(all.count - left.count) of \(all.count) stages done, \(left.count) to run (\(paths.out))")
        for (i, s) in left.enumerated() {
            log("[\(i + 1)/\(left.count)] \(s.name)")
            let t0 = Date()
            switch s.kind {
            case .data: try buildData(s)
            case .train:
                // Training records its own time, a line per stretch between checkpoints (see `train`).
                // A signal during the last step finishes the run; the experiment still stops there.
                if try train(s) || Interruption.signal != 0 {
                    throw Interruption.Stopped(signal: Interruption.signal != 0 ? Interruption.signal : SIGINT)
                }
                continue
            case .evaluate: try evaluate(s)
            }
            try appendTiming(TimingLine(stage: s.name, kind: s.kind.rawValue, seconds: Date().timeIntervalSince(t0), split: s.split))
        }
        log("experiment \(spec.name): every stage is done; `strawberry experiment report` writes the analysis")
    }

    /// The spec this output directory was started with is kept; a later run, status or report must use
    /// the same one: only arms and seeds may be added (they add stages; `seeds_per_arm` may give an arm more), `test.enabled` (and
    /// `few_shot.enabled`) turned on — a `few_shot` section itself cannot be added later —, and
    /// the name and `model_note` changed. The analysis — the smallest effect of interest, the contrasts — is fixed with
    /// the rest before any result exists. Returns the recorded spec (nil: none yet).
    @discardableResult
    public func checkRecordedSpec() throws -> ExperimentSpec? {
        guard fileExists(paths.spec) else { return nil }
        let old: ExperimentSpec
        do { old = try RecordFile.read(ExperimentSpec.self, from: paths.spec) } catch {
            throw ExperimentError.specChanged(out: paths.out, reason: "its spec.json cannot be read: \(error)")
        }
        guard Set(old.arms).isSubset(of: spec.arms), Set(old.seeds).isSubset(of: spec.seeds),
              old.arms.allSatisfy({ Set(old.seeds(for: $0)).isSubset(of: spec.seeds(for: $0)) }) else {
            throw ExperimentError.specChanged(out: paths.out, reason: "arms or seeds were removed")
        }
        var a = old, b = spec
        (a.arms, a.seeds, b.arms, b.seeds) = ([], [], [], [])
        (a.seedsPerArm, b.seedsPerArm) = ([:], [:])
        (a.test.enabled, b.test.enabled) = (false, false)
        a.fewShot?.enabled = false
        b.fewShot?.enabled = false
        (a.name, b.name, a.out, b.out, a.modelNote, b.modelNote) = ("", "", "", "", nil, nil)
        guard a == b else {
            let diff = ExperimentSpec.CodingKeys.allCases.map(\.rawValue).filter { (try? field(a, $0)) != (try? field(b, $0)) }
            throw ExperimentError.specChanged(out: paths.out, reason: "changed: \(diff.isEmpty ? "some key" : diff.joined(separator: ", "))")
        }
        return old
    }

    /// Records the spec (first run), or checks it against the recorded one and records what may change.
    func recordSpec() throws {
        try FileManager.default.createDirectory(atPath: paths.out, withIntermediateDirectories: true)
        var s = spec
        s.out = "."   // the directory itself: results can move (results/pilot) and still match
        guard let old = try checkRecordedSpec() else { return try RecordFile.write(s, to: paths.spec) }
        if old.arms != s.arms || old.seeds != s.seeds || old.seedsPerArm != s.seedsPerArm || old.test.enabled != s.test.enabled || old.fewShot?.enabled != s.fewShot?.enabled || old.name != s.name || old.modelNote != s.modelNote {
            try RecordFile.write(s, to: paths.spec)
        }
    }

    /// One top-level field of a spec as JSON text (for naming what changed).
    func field(_ s: ExperimentSpec, _ key: String) throws -> String {
        guard case .object(let o) = try RecordEncoder().encode(s) else { return "" }
        return try o.first { $0.0 == key }.map { try JSONText.string($0.1) } ?? ""
    }

    /// Appends one line (a whole line per write: a killed run leaves at most a cut last line, which
    /// the reader skips with the rest of that stage's unfinished work).
    func appendTiming(_ t: TimingLine) throws {
        let line = Data((try RecordFile.text(t) + "\n").utf8)
        if !fileExists(paths.timings) { FileManager.default.createFile(atPath: paths.timings, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: paths.timings) else { throw ExperimentError.notRun(what: "cannot write \(paths.timings)") }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: line)
    }

    func buildData(_ s: Stage) throws {
        guard let arm = s.arm else { return }
        var req = BuildRequest(tokenizerPath: spec.model, outDir: s.dir)
        req.wordsPath = spec.words
        req.config = spec.dataset
        req.config.arm = arm
        let b = try DatasetBuilder.build(req)
        log("  \(arm.rawValue): " + b.manifest.counts.keys.sorted().filter { ["train", "train_joins", "train_questions", "control_repeats"].contains($0) }
            .map { "\($0)=\(b.manifest.count($0))" }.joined(separator: ", "))
    }

    /// The spec's recipe: its training config with `train.set` applied.
    func recipe() throws -> TrainConfig { try TrainConfig.resolve(yamlPath: spec.train.config, overrides: spec.train.set) }

    /// The resolved training config of a stage: the spec's recipe with the run's data, seed and budget.
    public func trainConfig(_ s: Stage) throws -> TrainConfig {
        guard let arm = s.arm, let seed = s.seed else { throw ExperimentError.notRun(what: "a training stage without arm and seed") }
        // Paths are set on the value, not passed as `key=value` text (a path is not YAML: " #" would start a comment).
        var c = try recipe()
        c.model = spec.model
        c.data = paths.data(arm)
        c.outputDir = s.dir
        c.seed = seed
        c.maxSteps = spec.train.maxSteps
        c.saveSteps = spec.train.saveSteps
        c.saveTotalLimit = 1
        c.saveAt = spec.checkpoints
        try c.validate()
        return c
    }

    /// Trains (or resumes) one run; true when a signal stopped it (its checkpoint saved).
    func train(_ s: Stage) throws -> Bool {
        let cfg = try trainConfig(s)
        let resume = stepsDone(s.dir) > 0 ? s.dir : nil
        if let resume { log("  resuming \(resume) from step \(stepsDone(s.dir))") }
        // One timing line per stretch between checkpoints: a run killed without warning (SIGKILL at a
        // session's end) loses only the stretch since its last checkpoint, which it trains again. The first
        // stretch includes loading the model and data; it starts at the step the trainer restored.
        let started = Date()
        let trainer = try Trainer(config: cfg, resumeFrom: resume)
        trainer.log = log
        let budget = s.step ?? spec.train.maxSteps
        if budget < spec.train.maxSteps { trainer.shouldStop = { $0 >= budget } }
        var mark = (time: started, step: trainer.stepsDone)
        trainer.onCheckpoint = { step in
            try self.appendTiming(TimingLine(stage: s.name, kind: s.kind.rawValue, seconds: Date().timeIntervalSince(mark.time), steps: step - mark.step))
            mark = (Date(), step)
        }
        let r = try trainer.run()
        // The steps after the last checkpoint (none when the budget is one), and saving the final adapter.
        try appendTiming(TimingLine(stage: s.name, kind: s.kind.rawValue, seconds: Date().timeIntervalSince(mark.time), steps: max(0, r.steps - mark.step)))
        // Stopping at the short rerun's step is the plan, not an interruption.
        return r.interrupted && r.steps < budget
    }

    func evaluate(_ s: Stage) throws {
        let section = s.shots != nil ? spec.fewShot ?? spec.test : s.split == "test" ? spec.test : spec.validation
        guard let first = spec.arms.first else { return }
        var r = EvalRequest(model: spec.model, out: s.dir)
        r.adapter = s.adapter
        // The base weights as training held them (`precision` of the recipe): an adapter trained against
        // bf16-rounded weights is scored on those, and the base model with them, so every row of a
        // comparison sees the same base.
        r.weights = try recipe().precision.weights
        // Every arm's dataset holds the same validation and test questions; the first arm's is read.
        r.data = paths.data(first)
        r.split = section.split
        r.tasks = section.tasks
        r.styles = section.styles
        r.scoring = section.methods ?? [.generate, .likelihood]
        r.limit = section.limit
        r.sampleSeed = section.sampleSeed
        r.batchSize = section.batchSize
        r.chatTemplate = section.chatTemplate
        r.shots = section.shots
        r.shotsSeed = section.shotsSeed
        r.log = { self.log("  " + $0) }
        Interruption.install()
        defer { Interruption.uninstall() }
        _ = try Evaluator.run(r)
    }

    /// Every stage with its state and, from the speed measured so far, the time it still needs.
    public func status() -> [StageStatus] {
        // Read line by line: a run killed mid-write leaves a cut last line, which is skipped.
        let text = (try? String(contentsOfFile: paths.timings, encoding: .utf8)) ?? ""
        let timings = RecordFile.lines(of: text).compactMap { try? RecordFile.decode(TimingLine.self, Data($0.utf8), path: paths.timings, line: nil) }
        let trained = timings.filter { $0.kind == Stage.Kind.train.rawValue && ($0.steps ?? 0) > 0 }
        let secondsPerStep = trained.isEmpty ? nil : trained.reduce(0) { $0 + $1.seconds } / Double(trained.reduce(0) { $0 + ($1.steps ?? 0) })
        func mean(_ kind: Stage.Kind, split: String?) -> Double? {
            let t = timings.filter { $0.kind == kind.rawValue && (split == nil || $0.split == split) }
            return t.isEmpty ? nil : t.reduce(0) { $0 + $1.seconds } / Double(t.count)
        }
        return stages().map { s in
            // A short rerun's training stage ends at its own step (`stopAfter`), not at the budget.
            let budget = s.step ?? spec.train.maxSteps
            if isDone(s) { return StageStatus(stage: s, state: .done, stepsDone: s.kind == .train ? budget : nil, secondsLeft: 0) }
            switch s.kind {
            case .train:
                let done = stepsDone(s.dir)
                return StageStatus(stage: s, state: done > 0 ? .partial : .todo, stepsDone: done,
                                   secondsLeft: secondsPerStep.map { $0 * Double(max(0, budget - done)) })
            case .data: return StageStatus(stage: s, state: .todo, secondsLeft: mean(.data, split: nil))
            case .evaluate: return StageStatus(stage: s, state: .todo, secondsLeft: mean(.evaluate, split: s.split))
            }
        }
    }
}
