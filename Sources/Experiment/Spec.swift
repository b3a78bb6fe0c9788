// An experiment as a file: `strawberry experiment run|status|report SPEC.yaml`.
//
// The spec names everything that decides a result — the model, the dataset config, the arms and
// seeds, the training recipe and budget, the checkpoints scored on validation, what the final
// adapters are scored on once on test — and the analysis that turns them into a conclusion (the
// smallest effect of interest is fixed here, before any result is looked at). configs/experiment-pilot.yaml
// is an example with every key.
import ConfigFiles
import Foundation
import Records
import SpellingData
import Training
import Yams

public struct ExperimentSpec: Codable, Equatable, Sendable {
    /// A label for reports.
    public var name = "experiment"
    /// The base model (.gguf or Hugging Face directory).
    public var model = "assets/SmolLM2-135M-Instruct.Q4_1.gguf"
    /// What the model file is, in words, for the report (e.g. "the 4-bit Q4_1 GGUF, not the bf16 release"):
    /// a file path does not say which release of a model it holds. Descriptive only: it may change later.
    public var modelNote: String? = nil
    /// The working directory: datasets, runs, evaluations, timings.
    public var out = "out/experiment"
    /// The word list validation and test words come from.
    public var words = "/usr/share/dict/words"
    /// The dataset config (configs/dataset.yaml's keys); each arm is built from it with its `arm` set.
    public var dataset = DatasetConfig()
    public var arms: [DatasetArm] = [.spelling, .control, .positive]
    public var seeds: [UInt64] = [42]
    /// Arms that run only the first N seeds (e.g. `positive: 1`: the ceiling arm needs no spread);
    /// every other arm runs every seed.
    public var seedsPerArm: [String: Int] = [:]
    public var train = TrainSection()
    /// Steps whose adapters are scored on validation (the dose–response curve); the last must be the budget.
    public var checkpoints: [Int] = [100, 200, 300]
    public var validation = EvalSection(split: "validation", scoring: "likelihood", styles: [.direct])
    /// The final adapters (and the base model), scored once on test.
    public var test = EvalSection(split: "test", scoring: "both", styles: [.direct, .spellFirst], enabled: false)
    /// The final adapters (and the base model) on test once more, with `shots` worked examples (validation
    /// words, as earlier chat turns) before each question; runs with `test` (nil: not asked).
    public var fewShot: EvalSection? = nil
    public var analysis = AnalysisSection()

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, model, modelNote = "model_note", out, words, dataset, arms, seeds, seedsPerArm = "seeds_per_arm", train, checkpoints, validation, test, fewShot = "few_shot", analysis
    }

    /// The seeds an arm is trained with: `seeds`, or their first `seeds_per_arm[arm]`.
    public func seeds(for arm: DatasetArm) -> [UInt64] {
        seedsPerArm[arm.rawValue].map { Array(seeds.prefix(max(0, $0))) } ?? seeds
    }

    public init() {}

    public init(from d: Decoder) throws {
        let c = try d.container(keyedBy: CodingKeys.self), x = ExperimentSpec()
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? x.name
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? x.model
        modelNote = try c.decodeIfPresent(String.self, forKey: .modelNote)
        out = try c.decodeIfPresent(String.self, forKey: .out) ?? x.out
        words = try c.decodeIfPresent(String.self, forKey: .words) ?? x.words
        dataset = try c.decodeIfPresent(DatasetConfig.self, forKey: .dataset) ?? x.dataset
        arms = try c.decodeIfPresent([DatasetArm].self, forKey: .arms) ?? x.arms
        seeds = try c.decodeIfPresent([UInt64].self, forKey: .seeds) ?? x.seeds
        seedsPerArm = try c.decodeIfPresent([String: Int].self, forKey: .seedsPerArm) ?? [:]
        train = try c.decodeIfPresent(TrainSection.self, forKey: .train) ?? x.train
        checkpoints = try c.decodeIfPresent([Int].self, forKey: .checkpoints) ?? x.checkpoints
        validation = try c.decodeIfPresent(EvalSection.self, forKey: .validation).map { var v = $0; v.split = "validation"; return v } ?? x.validation
        test = try c.decodeIfPresent(EvalSection.self, forKey: .test).map { var v = $0; v.split = "test"; return v } ?? x.test
        fewShot = try c.decodeIfPresent(EvalSection.self, forKey: .fewShot).map { var v = $0; v.split = "test"; return v }
        analysis = try c.decodeIfPresent(AnalysisSection.self, forKey: .analysis) ?? x.analysis
    }

    public struct TrainSection: Codable, Equatable, Sendable {
        /// A training config (configs/train-smollm2.yaml's keys); nil: the built-in defaults.
        public var config: String? = nil
        /// `key=value` overrides, as `train --set` takes them.
        public var set: [String] = []
        /// The budget: optimizer steps of every run.
        public var maxSteps = 300
        /// Checkpoints for resuming (only the newest is kept; the scored ones are kept apart).
        public var saveSteps = 50

        enum CodingKeys: String, CodingKey, CaseIterable { case config, set, maxSteps = "max_steps", saveSteps = "save_steps" }
        public init() {}
        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self), x = TrainSection()
            config = try c.decodeIfPresent(String.self, forKey: .config)
            set = try c.decodeIfPresent([String].self, forKey: .set) ?? x.set
            maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps) ?? x.maxSteps
            saveSteps = try c.decodeIfPresent(Int.self, forKey: .saveSteps) ?? x.saveSteps
        }
    }

    public struct EvalSection: Codable, Equatable, Sendable {
        public var split: String
        public var tasks: [EvalTask] = [.spelling, .count, .position]
        public var styles: [PromptStyle]
        /// generate | likelihood | both (closed-set answers; spellings are always generated).
        public var scoring: String
        /// A seeded sample of words (nil: every word of the split).
        public var limit: Int? = nil
        public var sampleSeed: UInt64 = 0
        public var batchSize = 32
        public var enabled = true
        /// Wrap questions in the model's chat template (as `eval`; off only for models without room for it).
        public var chatTemplate = true
        /// Worked examples before each question (`few_shot` only), drawn from validation with `shots_seed`.
        public var shots = 0
        public var shotsSeed: UInt64 = 0

        enum CodingKeys: String, CodingKey, CaseIterable {
            case tasks, styles, scoring, limit, sampleSeed = "sample_seed", batchSize = "batch_size", enabled, chatTemplate = "chat_template"
            case shots, shotsSeed = "shots_seed"
        }
        public init(split: String, scoring: String, styles: [PromptStyle], enabled: Bool = true) {
            self.split = split
            self.scoring = scoring
            self.styles = styles
            self.enabled = enabled
        }
        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            split = ""
            tasks = try c.decodeIfPresent([EvalTask].self, forKey: .tasks) ?? [.spelling, .count, .position]
            styles = try c.decodeIfPresent([PromptStyle].self, forKey: .styles) ?? [.direct]
            scoring = try c.decodeIfPresent(String.self, forKey: .scoring) ?? "likelihood"
            limit = try c.decodeIfPresent(Int.self, forKey: .limit)
            sampleSeed = try c.decodeIfPresent(UInt64.self, forKey: .sampleSeed) ?? 0
            batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? 32
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
            chatTemplate = try c.decodeIfPresent(Bool.self, forKey: .chatTemplate) ?? true
            shots = try c.decodeIfPresent(Int.self, forKey: .shots) ?? 0
            shotsSeed = try c.decodeIfPresent(UInt64.self, forKey: .shotsSeed) ?? 0
        }
        /// The scoring methods `scoring` names.
        public var methods: [Scoring]? {
            switch scoring {
            case "generate": return [.generate]
            case "likelihood": return [.likelihood]
            case "both": return [.generate, .likelihood]
            default: return nil
            }
        }
    }

    public struct AnalysisSection: Codable, Equatable, Sendable {
        /// The smallest effect of interest, in accuracy (0.04 = 4 points): a difference whose 90 %
        /// interval lies inside ±sesoi is called equivalent to none (two one-sided tests at 5 %).
        public var sesoi = 0.04
        /// Pairs [a, b] reported as a − b; "base" names the base model.
        public var contrasts: [[String]] = [["spelling", "control"], ["positive", "control"], ["spelling", "base"]]
        /// Bootstrap resamples of the word-clustered intervals.
        public var resamples = 2000
        /// The contrast the experiment's question is answered on (the transfer rule, on test); nil:
        /// [spelling, control] where the spec contrasts them, else no answer is stated.
        public var primary: [String]? = nil

        /// The contrast the transfer rule reads.
        public var primaryPair: [String]? { primary ?? (contrasts.contains(["spelling", "control"]) ? ["spelling", "control"] : nil) }

        enum CodingKeys: String, CodingKey, CaseIterable { case sesoi, contrasts, resamples, primary }
        public init() {}
        public init(from d: Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self), x = AnalysisSection()
            sesoi = try c.decodeIfPresent(Double.self, forKey: .sesoi) ?? x.sesoi
            contrasts = try c.decodeIfPresent([[String]].self, forKey: .contrasts) ?? x.contrasts
            resamples = try c.decodeIfPresent(Int.self, forKey: .resamples) ?? x.resamples
            primary = try c.decodeIfPresent([String].self, forKey: .primary)
        }
    }

    /// Reads a spec; unknown keys (at the top and in each section) are errors, a typo must not be ignored.
    public static func load(_ path: String) throws -> ExperimentSpec {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ExperimentError.unreadable(path: path) }
        let node: Node?
        do { node = try BoundedYAML.compose(text, maxNodes: 100_000, maxDepth: 16) } catch { throw ExperimentError.badSpec(path: path, reason: "\(error)") }
        guard let top = node?.mapping else { throw ExperimentError.badSpec(path: path, reason: "the top level must be a mapping of keys to values") }
        func keys(_ n: Node?) -> [String] { n?.mapping?.keys.map { $0.string ?? "\($0)" } ?? [] }
        var unknown = keys(node).filter { CodingKeys(rawValue: $0) == nil }
        let sections: [(String, Set<String>)] = [
            ("train", Set(TrainSection.CodingKeys.allCases.map(\.rawValue))),
            ("validation", Set(EvalSection.CodingKeys.allCases.map(\.rawValue))),
            ("test", Set(EvalSection.CodingKeys.allCases.map(\.rawValue))),
            ("few_shot", Set(EvalSection.CodingKeys.allCases.map(\.rawValue))),
            ("analysis", Set(AnalysisSection.CodingKeys.allCases.map(\.rawValue))),
        ]
        for (name, allowed) in sections { unknown += keys(top[Node(name)]).filter { !allowed.contains($0) }.map { "\(name).\($0)" } }
        if let dataset = top[Node("dataset")] { unknown += DatasetConfig.unknownKeys(dataset).map { "dataset." + $0 } }
        guard unknown.isEmpty else { throw ExperimentError.badSpec(path: path, reason: "unknown keys \(unknown.sorted().joined(separator: ", ")) (configs/experiment-pilot.yaml lists every key)") }
        let spec: ExperimentSpec
        do { spec = try YAMLDecoder().decode(ExperimentSpec.self, from: node ?? Node("")) } catch let e as DecodingError {
            throw ExperimentError.badSpec(path: path, reason: RecordFile.describe(e))
        } catch { throw ExperimentError.badSpec(path: path, reason: "\(error)") }
        try spec.validate(path: path)
        return spec
    }

    public func validate(path: String) throws {
        func need(_ ok: Bool, _ what: String) throws { if !ok { throw ExperimentError.badSpec(path: path, reason: what) } }
        let o = out.trimmingCharacters(in: .whitespaces)
        try need(!o.isEmpty && URL(fileURLWithPath: o).standardizedFileURL.path != "/", "out must name a working directory (not empty, not /)")
        try need(!arms.isEmpty && Set(arms).count == arms.count, "arms: give each arm once (spelling, control, positive)")
        try need(!seeds.isEmpty && Set(seeds).count == seeds.count && seeds.count <= 100, "seeds: 1 to 100 distinct seeds")
        for (arm, n) in seedsPerArm {
            try need(arms.contains { $0.rawValue == arm } && (1...seeds.count).contains(n), "seeds_per_arm: an arm of the spec and 1...\(seeds.count) (its first seeds), e.g. {positive: 1}")
        }
        try need((1...10_000_000).contains(train.maxSteps), "train.max_steps must be in 1...10000000")
        try need((0...10_000_000).contains(train.saveSteps), "train.save_steps must be ≥ 0")
        try need(!checkpoints.isEmpty && checkpoints.count <= 100 && checkpoints == checkpoints.sorted() && Set(checkpoints).count == checkpoints.count
                 && checkpoints.allSatisfy { (1...train.maxSteps).contains($0) } && checkpoints.last == train.maxSteps,
                 "checkpoints: 1 to 100 increasing steps in 1...train.max_steps, the last equal to train.max_steps")
        try need(validation.shots == 0 && test.shots == 0, "shots: worked examples are asked for in the few_shot section (validation and test are zero-shot)")
        if let f = fewShot { try need((1...32).contains(f.shots), "few_shot.shots must be in 1...32 (worked examples before each question)") }
        for (name, section) in [("validation", validation), ("test", test)] + (fewShot.map { [("few_shot", $0)] } ?? []) {
            try need(section.methods != nil, "\(name).scoring must be generate, likelihood or both")
            try need(!section.tasks.isEmpty && !section.styles.isEmpty, "\(name): give at least one task and style")
            try need((section.limit ?? 1) >= 1, "\(name).limit must be ≥ 1")
            try need((1...1024).contains(section.batchSize), "\(name).batch_size must be in 1...1024")
        }
        try need(analysis.sesoi.isFinite && analysis.sesoi > 0 && analysis.sesoi < 1, "analysis.sesoi must be in (0, 1)")
        try need((100...100_000).contains(analysis.resamples), "analysis.resamples must be in 100...100000")
        let names = Set(arms.map(\.rawValue) + ["base"])
        for pair in analysis.contrasts {
            try need(pair.count == 2 && pair[0] != pair[1] && pair.allSatisfy(names.contains), "analysis.contrasts: pairs of two different arms of the spec (or base), e.g. [spelling, control]")
        }
        if let p = analysis.primary { try need(analysis.contrasts.contains(p), "analysis.primary must be one of analysis.contrasts, e.g. [spelling, control]") }
        do { try dataset.validate() } catch { throw ExperimentError.badSpec(path: path, reason: "dataset: \(error)") }
        // The recipe is checked now, not when the first training stage reaches it.
        do { try TrainConfig.resolve(yamlPath: train.config, overrides: train.set).validate() } catch {
            throw ExperimentError.badSpec(path: path, reason: "train (\(train.config ?? "built-in defaults") with train.set): \(error)")
        }
    }
}

/// What can stop an experiment; each case says what to do.
public enum ExperimentError: Error, CustomStringConvertible {
    case unreadable(path: String)
    case badSpec(path: String, reason: String)
    case specChanged(out: String, reason: String)
    case notRun(what: String)
    case inconsistent(what: String)

    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read \(p); configs/experiment-pilot.yaml is an example spec"
        case .badSpec(let p, let r): return "\(p): \(r)"
        case .specChanged(let o, let r):
            return "\(o) was started with another spec (\(r)); give the spec a new `out`, or put the original back (its copy is \(o)/spec.json). Only arms and seeds may be added."
        case .notRun(let w): return "nothing to report yet: \(w); run `strawberry experiment run` first"
        case .inconsistent(let w): return "cannot report: \(w)"
        }
    }
}
