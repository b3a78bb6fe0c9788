// `strawberry deploy`, `strawberry runs …`, `strawberry registry …`: the release gate and the
// embedded run and model registry (Sources/Release).
import Adapters
import ArgumentParser
import Foundation
import Hub
import Models
import Records
import Release

struct StoreOption: ParsableArguments {
    @Option(name: .long, help: "Store directory (default: $STRAWBERRY_HOME, else ~/.strawberry).")
    var store: String?
    func validate() throws {
        if store?.isEmpty == true { throw ValidationError("--store is empty; give a directory, or leave it out for $STRAWBERRY_HOME or ~/.strawberry") }
    }
    func open() throws -> Store { try Store(directory: Store.location(store)) }
}

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "The release gate: score a comparison's fine-tuned model and register + promote its adapter when it beats every earlier version.",
        discussion: """
            Score = Σ weight × metric of the fine-tuned model (default BLEU-1 0.10, BLEU-2 0.15, BLEU-3 0.25, BLEU-4 0.40, ROUGE-L precision 0.10). \
            Deploys when it is the first model, or its score beats the best earlier score by more than the threshold (or with --force-deploy): \
            a new registered version, promoted to Production with alias champion, the previous Production version archived. \
            Writes deployment_info.json, model_comparison.json and deployment_logs.txt; exits 0 whether or not it deploys.
            """)
    @Option(name: .long, help: "A `strawberry compare` output directory, or its evaluation_results.json.")
    var evaluationResults: String
    @Option(name: .long, help: "The PEFT adapter directory to register.")
    var adapter: String
    @Option(name: .long, help: "The base model the adapter is for (a .gguf file, a model directory or hf://OWNER/NAME): the adapter is loaded against its shapes before anything is decided. Default: the adapter's base_model_name_or_path when that is a local path; otherwise the adapter is checked on its own.")
    var baseModel: String?
    @Option(name: .long, help: "params.yaml with a deployment: section (threshold, model_registry_name, huggingface, weighted_scoring.weights).")
    var params: String?
    @OptionGroup var store: StoreOption
    @Option(name: .long, help: "Where the decision files go (default: params.yaml deployment.output_dir, else results/deployment).")
    var outputDir: String?
    @Option(name: .long, help: "Minimum score improvement over the best earlier version (overrides params.yaml).")
    var minImprovementThreshold: Double?
    @Flag(name: .long, help: "Deploy without comparing with earlier versions.")
    var forceDeploy = false
    @Flag(name: .long, help: "Do not push to the Hugging Face Hub.")
    var skipHfPush = false
    @Flag(name: .long, help: "Print deployment_info.json to stdout.")
    var json = false

    func validate() throws {
        if let t = minImprovementThreshold, !(t.isFinite && t >= 0) { throw ValidationError("--min-improvement-threshold must be a finite number ≥ 0") }
    }

    func run() throws {
        var r = DeployRequest(evaluationResults: evaluationResults, adapter: adapter, store: Store.location(store.store))
        if let params { try DeploymentParams.load(params).apply(to: &r) }
        if let outputDir { r.outputDir = outputDir }
        if let t = minImprovementThreshold { r.threshold = t }
        r.force = forceDeploy
        if skipHfPush { r.pushToHub = false }
        let base = baseModel
        r.verifyAdapter = { dir in try Self.verify(adapter: dir, baseModel: base) }
        let (info, _) = try Deploy.run(r) { if !json { print($0) } }
        if json { try printJSON(info) } else {
            print(info.deployed ? "deployed: \(info.modelName) version \(info.registeredVersion.map(String.init) ?? "?") is Production (champion)"
                                : "not deployed: \(info.modelName) keeps its current Production version")
            print("decision files: \(r.outputDir)/deployment_info.json, model_comparison.json, deployment_logs.txt")
        }
        // The decision stands either way; a Hub push that was asked for and failed is still a failure.
        if info.huggingFace.hasPrefix("push failed") {
            FileHandle.standardError.write(Data("error: the Hugging Face push failed: \(info.huggingFace)\n".utf8))
            throw ExitCode(1)
        }
    }
}

extension DeployCommand {
    /// What deploy promotes is loaded first, as `--adapter` loading does: against the base model's
    /// layer shapes (its configuration only) when the base model is at hand, else on its own
    /// (configuration, tensor pairs, ranks, finite values).
    static func verify(adapter dir: String, baseModel: String?) throws -> String {
        let local = try baseModel.map { try HubPaths.localBlocking($0) } ?? (try? PEFTAdapter.config(dir))?.baseModelNameOrPath.flatMap { fileExists($0) ? $0 : nil }
        guard let local else {
            let (modules, r) = try PEFTAdapter.check(dir)
            return "adapter checked on its own: \(modules) modules, r \(r) (give --base-model to check it against the model's shapes)"
        }
        let lora = try PEFTAdapter.load(dir, model: try LoadedModel.config(at: local))   // the shapes; no weights are read
        return "adapter checked against \(local): \(lora.modules.count) modules, r \(lora.config.r)"
    }
}

struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runs", abstract: "The runs recorded in the store.",
                                                    subcommands: [List.self, Show.self, Compare.self, Sync.self])
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every run: id, kind, time, key metrics.")
        @OptionGroup var store: StoreOption
        @Option(name: .long, help: "Only runs of this kind (train, eval, compare, deploy).")
        var kind: String?
        @Flag(name: .long, help: "JSON output.")
        var json = false
        func run() throws {
            let runs = try store.open().runs(kind: kind)
            if json { try printJSON(runs); return }
            for r in runs {
                let metrics = r.metrics.keys.sorted().prefix(4).compactMap { k in r.metrics[k]?.last.map { String(format: "%@=%.4g", k, $0.value) } }
                print("\(r.id)  \(r.kind)  \(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: r.created)))  \(metrics.joined(separator: " "))")
            }
            if runs.isEmpty { print("no runs in \(Store.location(store.store))") }
        }
    }
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run: parameters, metrics with steps, artifacts with SHA-256, lineage.")
        @Argument(help: "Run id.")
        var id: String
        @OptionGroup var store: StoreOption
        @Flag(name: .long, help: "JSON output.")
        var json = false
        func run() throws {
            let r = try store.open().run(id)
            if json { try printJSON(r); return }
            print("\(r.id) (\(r.kind))")
            for (k, v) in r.params.sorted(by: { $0.key < $1.key }) { print("  param \(k) = \(v)") }
            for (k, pts) in r.metrics.sorted(by: { $0.key < $1.key }) { print("  metric \(k): " + pts.map { "\($0.step):\(String(format: "%.4g", $0.value))" }.joined(separator: " ")) }
            for (p, h) in r.artifacts.sorted(by: { $0.key < $1.key }) { print("  artifact \(p) sha256 \(h)") }
            for (k, v) in r.lineage.sorted(by: { $0.key < $1.key }) { print("  lineage \(k) \(v)") }
            if !r.parents.isEmpty { print("  parents \(r.parents.joined(separator: ", "))") }
        }
    }
}

extension RunsCommand {
    struct Compare: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Runs side by side: the parameters that differ, and each metric's last value.")
        @Argument(help: "Two or more run ids.")
        var ids: [String]
        @OptionGroup var store: StoreOption
        @Flag(name: .long, help: "JSON output: {differing_params: {key: {run: value}}, metrics: {key: {run: value}}}.")
        var json = false
        func validate() throws {
            guard ids.count >= 2 else { throw ValidationError("give at least two run ids") }
            guard Set(ids).count == ids.count else { throw ValidationError("a run id is given twice") }
        }
        func run() throws {
            let s = try store.open()
            let runs = try ids.map { try s.run($0) }
            var params: [String: [String: String]] = [:], metrics: [String: [String: Double]] = [:]
            for key in Set(runs.flatMap(\.params.keys)).sorted() {
                let values = runs.map { $0.params[key] ?? "" }
                if Set(values).count > 1 { params[key] = Dictionary(uniqueKeysWithValues: zip(ids, values)) }
            }
            for key in Set(runs.flatMap(\.metrics.keys)).sorted() {
                var row: [String: Double] = [:]
                for r in runs { if let v = r.metrics[key]?.last?.value { row[r.id] = v } }
                metrics[key] = row
            }
            if json { try printJSON(RunsComparison(differingParams: params, metrics: metrics)); return }
            print((["key"] + ids).joined(separator: "\t"))
            for (k, row) in params.sorted(by: { $0.key < $1.key }) { print((["param " + k] + ids.map { row[$0] ?? "" }).joined(separator: "\t")) }
            for (k, row) in metrics.sorted(by: { $0.key < $1.key }) {
                print((["metric " + k] + ids.map { row[$0].map { String(format: "%.4g", $0) } ?? "–" }).joined(separator: "\t"))
            }
        }
    }
}

extension RunsCommand {
    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Send the runs queued while MLflow was unreachable (MLFLOW_TRACKING_URI) to it.")
        @OptionGroup var store: StoreOption
        func run() throws {
            guard let uri = MLflowClient.configured else { throw ValidationError("MLFLOW_TRACKING_URI is not set to an http(s) tracking server") }
            let (sent, failed) = MLflowQueue.sync(store: try store.open(), uri: uri)
            for id in sent { print("sent \(id)") }
            for (f, e) in failed { print("still queued \(f): \(e)") }
            print("\(sent.count) sent, \(failed.count) still queued")
            if !failed.isEmpty { throw ExitCode(1) }
        }
    }
}

struct RunsComparison: Encodable {
    var differingParams: [String: [String: String]]
    var metrics: [String: [String: Double]]
    enum CodingKeys: String, CodingKey { case differingParams = "differing_params", metrics }
}

struct RegistryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "registry", abstract: "Registered models, versions, stages and aliases.",
                                                    subcommands: [List.self, Show.self, Promote.self, Rollback.self, Alias.self, Sync.self])
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Registered models and their Production version.")
        @OptionGroup var store: StoreOption
        @Flag(name: .long, help: "JSON output.")
        var json = false
        func run() throws {
            let s = try store.open()
            let all = try s.models().map { (name: $0, versions: try s.versions(of: $0)) }
            if json { try printJSON(Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.versions) })); return }
            for m in all {
                let prod = m.versions.last { $0.stage == "Production" }
                print("\(m.name)  \(m.versions.count) versions  Production: \(prod.map { "v\($0.version)" } ?? "none")")
            }
            if all.isEmpty { print("no registered models in \(Store.location(store.store))") }
        }
    }
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A model's versions: stage, aliases, score, files and their hash.")
        @Argument(help: "Registered model name.")
        var name: String
        @OptionGroup var store: StoreOption
        @Flag(name: .long, help: "JSON output.")
        var json = false
        func run() throws {
            let versions = try store.open().versions(of: name)
            guard !versions.isEmpty else { throw StoreError.noSuchModel(name) }
            if json { try printJSON(versions); return }
            for v in versions {
                print("v\(v.version)  \(v.stage)\(v.aliases.isEmpty ? "" : " [" + v.aliases.joined(separator: ", ") + "]")  score \(v.score.map { String(format: "%.6f", $0) } ?? "–")  \(v.path)  sha256 \(v.sha256.prefix(16))…")
            }
        }
    }
    struct Promote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a version to a stage; the versions already in Production or Staging are archived.",
            discussion: """
            Production carries the alias champion and Staging the alias challenger: each moves with the version \
            that enters the stage. With MLFLOW_TRACKING_URI set, MLflow's registry is updated to match.
            """)
        @Argument(help: "Registered model name.")
        var name: String
        @Argument(help: "Version number.")
        var version: Int
        @Option(name: .long, help: "None, Staging, Production or Archived.")
        var stage = "Production"
        @Flag(name: .long, help: "Keep the versions already in the stage there (by default they are archived).")
        var keepExisting = false
        @OptionGroup var store: StoreOption
        @Flag(name: .long, help: "JSON output: {stage_changes, mlflow}.")
        var json = false
        func validate() throws {
            guard Store.stages.contains(stage) else { throw ValidationError("--stage must be one of \(Store.stages.joined(separator: ", "))") }
        }
        func run() throws {
            let s = try store.open()
            let changes = try s.promote(name: name, version: version, stage: stage, archiveExisting: !keepExisting)
            try reportRegistryChange(changes, store: s, name: name, json: json)
        }
    }
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put the version that was in Production before the current one back there (the current one is archived).",
            discussion: "With MLFLOW_TRACKING_URI set, MLflow's registry is updated to match.")
        @Argument(help: "Registered model name.")
        var name: String
        @OptionGroup var store: StoreOption
        @Flag(name: .long, help: "JSON output: {stage_changes, mlflow}.")
        var json = false
        func run() throws {
            let s = try store.open()
            try reportRegistryChange(try s.rollback(name: name), store: s, name: name, json: json)
        }
    }
    struct Alias: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point an alias at a version (or remove it with --delete).",
            discussion: """
            champion and challenger follow Production and Staging (use promote); any other alias (letters, digits, \
            '_', '-'; not 'latest' or 'vN', as in MLflow) is free. With MLFLOW_TRACKING_URI set, MLflow's registry is updated to match.
            """)
        @Argument(help: "Registered model name.")
        var name: String
        @Argument(help: "Alias.")
        var alias: String
        @Argument(help: "Version number (omit with --delete).")
        var version: Int?
        @Flag(name: .long, help: "Remove the alias.")
        var delete = false
        @OptionGroup var store: StoreOption
        func validate() throws {
            guard (version == nil) == delete else { throw ValidationError(delete ? "--delete takes no version" : "give the version the alias points to, or --delete") }
        }
        func run() throws {
            let s = try store.open()
            let was = try s.setAlias(name: name, alias: alias, version: version)
            print("\(alias): \(was.map { "v\($0)" } ?? "none") → \(version.map { "v\($0)" } ?? "none")")
            for line in RegistryMirror.afterChange(store: s, name: name) { print(line) }
        }
    }
    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make MLflow's registry (MLFLOW_TRACKING_URI) match the store's: versions, stages and aliases.",
            discussion: """
            Versions not yet in MLflow are created from their files, attached to their deployment run (sent if it \
            is not there). Safe to repeat: it only changes what differs.
            """)
        @Argument(help: "Registered model names (default: all).")
        var names: [String] = []
        @OptionGroup var store: StoreOption
        func run() throws {
            guard let uri = MLflowClient.configured else { throw ValidationError("MLFLOW_TRACKING_URI is not set to an http(s) tracking server") }
            let s = try store.open()
            let known = try s.models()
            for name in names where !known.contains(name) { throw StoreError.noSuchModel(name) }
            let client = MLflowClient(base: uri)
            var problems: [String] = []
            for name in names.isEmpty ? known : names {
                do {
                    let report = try RegistryMirror.sync(store: s, name: name, client: client)
                    print("\(name): " + (report.lines.isEmpty ? "already in step" : report.lines.joined(separator: "; ")))
                    problems += report.skipped.map { "\(name) v\($0.store): \($0.reason)" }
                } catch {
                    problems.append("\(name): \(error)")
                }
            }
            guard problems.isEmpty else {
                FileHandle.standardError.write(Data(("not mirrored:\n" + problems.map { "  " + $0 }.joined(separator: "\n") + "\n").utf8))
                throw ExitCode(1)
            }
        }
    }
}

struct RegistryChange: Encodable {
    var stageChanges: [StageChange]
    var mlflow: [String]
    enum CodingKeys: String, CodingKey { case stageChanges = "stage_changes", mlflow }
}

/// Prints what a promotion or rollback changed, after mirroring it in MLflow when configured.
func reportRegistryChange(_ changes: [StageChange], store: Store, name: String, json: Bool) throws {
    let mlflow = RegistryMirror.afterChange(store: store, name: name)
    if json { try printJSON(RegistryChange(stageChanges: changes, mlflow: mlflow)); return }
    for c in changes { print("v\(c.version): \(c.from) → \(c.to)") }
    if changes.isEmpty { print("nothing changed") }
    for line in mlflow { print(line) }
}

