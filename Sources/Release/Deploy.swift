// `strawberry deploy`: the release gate. Scores the fine-tuned model of a comparison, compares the
// score with every registered version's, and — when it is the first model, or the best by more than
// the threshold, or forced — registers the adapter as a new version, promotes it to Production
// (alias `champion`) and archives the previous one. The decision and the registration happen in one
// store transaction, so concurrent deployments serialise. Then, with push_to_hub, the registered
// version is published to the Hub with its card (a failed push is reported, the registration stands).
// Exit 0 either way: the decision is in deployment_info.json (and --json).
import Foundation
import HTTPTransport
import Hashing
import Hub
import Publishing
import Records

public struct DeployRequest: Sendable {
    public var evaluationResults: String
    public var adapter: String
    public var store: String
    public var outputDir = "results/deployment"
    public var modelName = "strawberry-spelling-lora"
    public var threshold = Gate.defaultThreshold
    public var weights = Gate.defaultWeights
    public var force = false
    public var pushToHub = false
    public var hubModelId: String?
    public var createModelCard = true
    public var hubBaseModel: String?
    public var hubPrivate = false
    public var hubPathInRepo: String?
    public var license = "apache-2.0"
    /// Loads and checks the adapter before anything is decided (the CLI checks it against the base
    /// model's shapes when one is at hand); returns a line for the log. Release itself cannot read
    /// model files, so the check is handed in.
    public var verifyAdapter: (@Sendable (String) throws -> String)?
    public init(evaluationResults: String, adapter: String, store: String) {
        self.evaluationResults = evaluationResults
        self.adapter = adapter
        self.store = store
    }
}

public enum DeployError: Error, CustomStringConvertible {
    case badRequest(String)
    public var description: String { if case .badRequest(let r) = self { return r }; return "" }
}

public enum Deploy {
    /// The Hub step: the registered version's files published with their card to `deployment.huggingface.model_id`.
    /// The repository folder is kept in the deployment output (`hub/`), so a failed push can be repeated
    /// with `strawberry publish --from-dir OUT/hub --repo-id …`. Returns the status for deployment_info.json.
    static func push(_ r: DeployRequest, version: ModelVersion, resultsPath: String, into dir: String) -> String {
        guard let repoId = r.hubModelId else { return "push failed: deployment.huggingface.model_id is not set" }
        let publication: Publication
        do {
            // The adapter as given (its run directory names the training configuration and metrics); its
            // bytes are the registered version's (same hash).
            var p = PublicationRequest(adapter: r.adapter, evaluationResults: resultsPath)
            p.baseModel = r.hubBaseModel
            p.repoId = repoId
            p.pathInRepo = r.hubPathInRepo
            p.license = r.license
            publication = try Publication.gather(p)
            var kept = publication
            if !r.createModelCard { kept.files.removeAll { $0.path == "README.md" || $0.path.hasSuffix("/README.md") } }
            try kept.write(to: dir, overwrite: false, inputs: [r.adapter, resultsPath])
        } catch {
            return "push failed: \(error) (nothing was sent; set deployment.huggingface in params.yaml and publish with `strawberry publish --adapter \(version.path) --evaluation-results \(resultsPath) --repo-id \(repoId)`)"
        }
        do {
            let repo = try HubRepo(repoId)
            let client = HubClient(), isPrivate = r.hubPrivate, files = try Publication.uploadable(dir)
            let message = "Deploy \(r.modelName) v\(version.version)", description = "score \(version.score.map { String($0) } ?? "–")"
            let commit = try Transport.blocking {
                try await client.createRepo(repo, private: isPrivate)
                return try await client.upload(folder: dir, files: files, to: repo, message: message, description: description)
            }
            return "pushed to \(repoId)" + (publication.pathInRepo.isEmpty ? "" : "/" + publication.pathInRepo)
                + (commit.commitOid.map { " (commit \($0))" } ?? " (already there: no commit)")
        } catch {
            return "push failed: \(error) — the folder is in \(r.outputDir)/hub; `strawberry publish --from-dir \(r.outputDir)/hub --repo-id \(repoId)` sends it later"
        }
    }

    public static func run(_ r: DeployRequest, log: (String) -> Void = { _ in }) throws -> (info: DeploymentInfo, comparison: ModelComparison) {
        guard Store.validName(r.modelName) else { throw DeployError.badRequest("model name '\(r.modelName)' must be letters, digits, '.', '_' or '-' (at most 128)") }
        guard r.threshold.isFinite, r.threshold >= 0 else { throw DeployError.badRequest("min_improvement_threshold must be a finite number ≥ 0, got \(r.threshold)") }
        let resultsPath = isDirectory(r.evaluationResults) ? r.evaluationResults + "/evaluation_results.json" : r.evaluationResults
        guard fileExists(resultsPath) else {
            throw DeployError.badRequest("\(resultsPath) is missing; give a `strawberry compare` output directory or its evaluation_results.json")
        }
        let results = try RecordFile.read(EvaluationResults.self, from: resultsPath)
        for f in ["adapter_config.json", "adapter_model.safetensors"] where !fileExists(r.adapter + "/" + f) {
            throw DeployError.badRequest("\(r.adapter) has no \(f); give a PEFT adapter directory (a run's final/ or best/)")
        }
        // The three locations must not hold one another (on resolved paths): an output inside the
        // adapter would be copied into the version, an output equal to the store would replace it, a
        // store inside the adapter would copy the adapter into itself.
        let places = [("--output-dir", r.outputDir), ("--store", r.store), ("--adapter", r.adapter)]
        for (a, pa) in places { for (b, pb) in places where a != b && pathContains(pa, pb) {
            throw DeployError.badRequest("\(a) \(pa) \(resolvedPath(pa) == resolvedPath(pb) ? "is" : "contains") \(b) \(pb); keep the adapter, the store and the output apart")
        } }
        let checked = try r.verifyAdapter?(r.adapter)
        let (score, components) = try Gate.score(results.finetunedModel.metrics, weights: r.weights, source: resultsPath)
        guard score.isFinite else { throw DeployError.badRequest("the weighted score is not finite (\(score)); are the weights too large?") }
        var lines = (checked.map { [$0] } ?? [])
            + [String(format: "score %.6f (%@)", score, components.map { String(format: "%@ %.4f × %.2f", $0.metric, $0.value, $0.weight) }.joined(separator: " + "))]
        lines.forEach(log)
        // The output directory is claimed before anything is registered: a refused location stops the
        // deployment while the registry is still untouched.
        let out = try OutputDirectory.begin(r.outputDir, kind: .deployment, replace: true, inputs: [r.adapter, resultsPath])
        return try out.fill {
            let store = try Store(directory: r.store)
            let runId = Store.newRunId("deploy")
            var adapterHash = try Store.treeHash(r.adapter) { try Checksum.sha256(file: $0) }
            var outcome: (outcome: Gate.Outcome, reason: String) = (.notImproved, "")
            var history: [ModelVersion] = []
            let registered = try store.register(name: r.modelName, sourceDir: r.adapter, score: score, runId: runId, decide: { versions in
                history = versions
                outcome = Gate.decide(score: score, history: versions.compactMap(\.score), threshold: r.threshold, force: r.force)
                guard outcome.outcome != .notImproved else { return nil }
                return Store.Promotion(stage: "Production", alias: "champion", archiveExisting: true)
            }, hash: { try Checksum.sha256(file: $0) })
            if let v = registered?.version { adapterHash = v.sha256 }   // the registered copy's own digest
            log(outcome.reason)
            lines.append(outcome.reason)
            let best = history.filter { $0.score != nil }.max { ($0.score ?? 0) < ($1.score ?? 0) }
            let hub: String
            if let v = registered?.version, r.pushToHub {
                hub = push(r, version: v, resultsPath: resultsPath, into: out.file("hub"))
                lines.append("Hugging Face Hub: " + hub)
                log(lines[lines.count - 1])
            } else {
                hub = registered == nil ? "not_deployed" : "skipped"
            }
            let info = DeploymentInfo(deployed: registered != nil, decision: outcome.outcome.rawValue, reason: outcome.reason, score: score,
                                      previousBestScore: best?.score, previousBestVersion: best?.version, minImprovementThreshold: r.threshold,
                                      modelName: r.modelName, registeredVersion: registered?.version.version, stageChanges: registered?.changes ?? [],
                                      huggingFace: hub, evaluationResults: resultsPath, adapter: r.adapter, adapterSHA256: adapterHash)
            let ranked = history.compactMap { v in v.score.map { HistoryEntry(version: v.version, score: $0, stage: v.stage.rawValue, aliases: v.aliases) } }
                .sorted { $0.score != $1.score ? $0.score > $1.score : $0.version < $1.version }
            let comparison = ModelComparison(score: score, components: components, weights: r.weights, history: ranked)
            // The deployment is a run too: its score, the adapter's hash, the results it was decided on, and
            // the comparison run that wrote them. The version is already committed, so a store that cannot
            // take the run record is a warning, not a failed deployment.
            let resultsDir = URL(fileURLWithPath: resultsPath).deletingLastPathComponent().standardizedFileURL.path
            let parents = RunTracker.parents(of: [resultsDir], kind: "compare", store: store.directory)
            do {
                let run = RunRecord(id: runId, kind: "deploy", created: Date().timeIntervalSince1970,
                                    params: ["model_name": r.modelName, "min_improvement_threshold": String(r.threshold), "force_deploy": String(r.force),
                                             "decision": outcome.outcome.rawValue, "registered_version": registered.map { String($0.version.version) } ?? ""],
                                    metrics: ["weighted_score": [MetricPoint(step: 0, value: score)]],
                                    artifacts: [r.adapter: adapterHash, resultsPath: try Checksum.sha256(file: resultsPath)],
                                    lineage: ["adapter": adapterHash], parents: parents)
                try store.record(run)
                // MLflow, when configured: the run (sent once), and the registration mirrored in its model registry.
                if let sent = MLflowQueue.deliver(run, store: store) {
                    lines.append(sent.line)
                    log(sent.line)
                    if registered != nil {
                        var more: [String]
                        if let client = sent.client {
                            do { more = try RegistryMirror.sync(store: store, name: r.modelName, client: client).lines.map { "MLflow: " + $0 } } catch {
                                more = ["warning: MLflow's registry was not updated: \(error); the store's was — `strawberry registry sync \(r.modelName)` mirrors it later"]
                            }
                        } else {
                            more = ["MLflow: `strawberry registry sync \(r.modelName)` mirrors this registration (and sends its run) once the server is reachable"]
                        }
                        more.forEach(log)
                        lines += more
                    }
                }
            } catch {
                lines.append("warning: the deployment run was not recorded: \(error)")
                log(lines[lines.count - 1])
            }
            try RecordFile.write(info, to: out.file("deployment_info.json"))
            try RecordFile.write(comparison, to: out.file("model_comparison.json"))
            try writeTextAtomically(lines.joined(separator: "\n") + "\n", to: out.file("deployment_logs.txt"))
            return (info, comparison)
        }
    }
}
