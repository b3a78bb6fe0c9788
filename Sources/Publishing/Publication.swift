// The folder a publication uploads, assembled offline: the adapter (or a merged model with the adapter
// beside it), its card, the evaluation's files, the training configuration and metrics, the charts, and
// a short shareable summary — under a path in the repository, so many runs can share one repository:
//   <base model>/<training-config hash>/<run id>/   (default; `--path-in-repo` chooses another, "" the root)
// `--to-dir` writes exactly this folder; a push uploads exactly its files (the `.strawberry` marker aside).
import ConfigFiles
import Foundation
import Hashing
import Hub
import Records
import Yams

public enum PublishError: Error, CustomStringConvertible {
    case badRequest(String)
    public var description: String { if case .badRequest(let r) = self { return r }; return "" }
}

public struct PublicationRequest: Sendable {
    public var adapter: String
    /// A `compare` output directory or its evaluation_results.json.
    public var evaluationResults: String
    /// A merged model directory (config.json, model.safetensors, tokenizer files) to publish as the model.
    public var merged: String?
    /// Where in the repository; nil = the default taxonomy, "" = the root.
    public var pathInRepo: String?
    /// The base model's Hub id; nil = from adapter_config.json when it names one.
    public var baseModel: String?
    public var license = "apache-2.0"
    public var repoId: String?
    public var datasets: [String] = []
    /// The training run's id in the store (for the default path); nil = the run directory's name.
    public var runId: String?
    public init(adapter: String, evaluationResults: String) { self.adapter = adapter; self.evaluationResults = evaluationResults }
}

/// One file of the folder: copied from a file, or written from bytes.
public struct PlannedFile: Sendable {
    public enum Content: Sendable { case copy(String), bytes([UInt8]) }
    public var path: String
    public var content: Content
}

public struct Publication: Sendable {
    public var facts: CardFacts
    public var files: [PlannedFile]
    public var share: String
    public var pathInRepo: String
    /// The training run the adapter came from, when found (where `publish` records the upload).
    public var runDir: String? = nil
}

/// Where a training run's adapter was published: RUN_DIR/hub_publication.json, written by `publish` after an
/// upload, so that `strawberry-torch wandb-sync` can put the Hub folder's URL in the W&B run's summary.
public struct HubPublicationRecord: Codable, Equatable, Sendable {
    public var repoId: String
    public var pathInRepo: String
    public var revision: String
    public var url: String
    public var commit: String?
    enum CodingKeys: String, CodingKey { case repoId = "repo_id", pathInRepo = "path_in_repo", revision, url, commit }
    public init(repoId: String, pathInRepo: String, revision: String, url: String, commit: String?) {
        self.repoId = repoId; self.pathInRepo = pathInRepo; self.revision = revision; self.url = url; self.commit = commit
    }
    public static let fileName = "hub_publication.json"
}

public extension OutputKind {
    /// A Hub repository folder (`publish --to-dir`).
    static let hubRepository = OutputKind(name: "hub-repository", legacyFiles: nil)
}

extension Publication {
    /// The W&B run a training run was streamed to (`report_to: wandb`: RUN_DIR/wandb_run.json, written by
    /// `strawberry-torch wandb-live`): its id when it is a usable folder name, and its page when it is an
    /// https URL (an offline run has none until it is synced).
    static func trackedRun(_ runDir: String) -> (id: String, url: String?)? {
        guard let text = readSmallText(runDir + "/wandb_run.json", limit: 1 << 16), case .object(let o)? = try? JSONParser.parse(text),
              case .string(let id)? = o.first(where: { $0.0 == "wandb_id" })?.1,
              (1...64).contains(id.count), id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var url: String?
        if case .string(let u)? = o.first(where: { $0.0 == "url" })?.1, u.hasPrefix("https://"), u.count <= 500,
           !u.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" }) { url = u }
        return (id, url)
    }

    /// A Hub id: OWNER/NAME (the rule `HubRepo` enforces).
    public static func isHubId(_ s: String) -> Bool { (try? HubRepo(s)) != nil }

    /// A Hub id that is not a local path (an adapter's base_model_name_or_path may be either).
    static func looksLikeHubId(_ s: String) -> Bool { isHubId(s) && !fileExists(s) }

    /// A path in a repository: relative, '/'-separated, no '.', '..' or empty segments, no control
    /// characters (C0, DEL, C1) or line separators, no backslash.
    public static func validRepoPath(_ p: String) -> Bool {
        p.isEmpty || (p.count <= 512 && !p.hasPrefix("/") && p.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { seg in
            !seg.isEmpty && seg != "." && seg != ".." && seg.unicodeScalars.allSatisfy { u in
                u.value >= 0x20 && !(0x7F...0x9F).contains(u.value) && u.value != 0x2028 && u.value != 0x2029 && u != "\\"
            }
        })
    }

    /// A license id as the Hub lists them (apache-2.0, mit, cc-by-4.0, other, …).
    public static func validLicense(_ l: String) -> Bool {
        !l.isEmpty && l.count <= 64 && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.+".contains($0)) }
    }

    static func readSmallText(_ path: String, limit: Int = 8 << 20) -> String? {
        guard isRegularFile(path), let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size <= limit else { return nil }
        return try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// Everything a publication says and holds, from the files (no network).
    public static func gather(_ r: PublicationRequest) throws -> Publication {
        let resultsFile = isDirectory(r.evaluationResults) ? r.evaluationResults + "/evaluation_results.json" : r.evaluationResults
        guard fileExists(resultsFile) else {
            throw PublishError.badRequest("\(resultsFile) is missing; give a `strawberry compare` output directory or its evaluation_results.json")
        }
        let reportDir = URL(fileURLWithPath: resultsFile).deletingLastPathComponent().path
        let results = try RecordFile.read(EvaluationResults.self, from: resultsFile)
        let report = fileExists(reportDir + "/final_report.json") ? try RecordFile.read(FinalReport.self, from: reportDir + "/final_report.json") : nil
        for f in ["adapter_config.json", "adapter_model.safetensors"] where !fileExists(r.adapter + "/" + f) {
            throw PublishError.badRequest("\(r.adapter) has no \(f); give a PEFT adapter directory (a run's final/ or best/)")
        }
        // Every key of the adapter's config is kept (PEFT reads more than Strawberry types); one is rewritten below.
        guard let configText = readSmallText(r.adapter + "/adapter_config.json"),
              case .object(var adapterConfig)? = try? JSONParser.parse(configText) else {
            throw PublishError.badRequest("\(r.adapter)/adapter_config.json is not a JSON object")
        }
        let peft = try RecordFile.read(PEFTAdapterConfig.self, from: r.adapter + "/adapter_config.json")
        // The base model as the Hub knows it: the adapter's config names a local file during training.
        let named = peft.baseModelNameOrPath ?? ""
        guard let baseModel = r.baseModel ?? (looksLikeHubId(named) ? named : nil) else {
            throw PublishError.badRequest("the adapter names its base model as '\(named)', which is not a Hub id; give --base-model OWNER/NAME (e.g. HuggingFaceTB/SmolLM2-135M-Instruct)")
        }
        guard isHubId(baseModel) else { throw PublishError.badRequest("--base-model '\(baseModel)' is not a Hub id (OWNER/NAME: letters, digits, '-', '_', '.')") }
        guard validLicense(r.license) else { throw PublishError.badRequest("--license '\(r.license)' is not a license id (e.g. apache-2.0, mit, other)") }
        for d in r.datasets where !isHubId(d) { throw PublishError.badRequest("--dataset-id '\(d)' is not a Hub id (OWNER/NAME)") }
        if let id = r.repoId, !isHubId(id) { throw PublishError.badRequest("'\(id)' is not a Hub repository id (OWNER/NAME)") }
        adapterConfig.removeAll { $0.0 == "base_model_name_or_path" }
        adapterConfig.append(("base_model_name_or_path", .string(baseModel)))
        let adapterJSON = try JSONText.string(.object(adapterConfig), pretty: true)

        // The training run: named by the comparison, else the adapter's parent (RUN/final).
        var runDir: String?
        if let cmp = try? RecordFile.read(Comparison.self, from: reportDir + "/comparison.json"), let t = cmp.trainingRun, fileExists(t + "/config.yaml") { runDir = t }
        if runDir == nil {
            let parent = URL(fileURLWithPath: r.adapter).standardizedFileURL.deletingLastPathComponent().path
            if fileExists(parent + "/config.yaml") { runDir = parent }
        }
        let configYAML = runDir.flatMap { readSmallText($0 + "/config.yaml", limit: 1 << 20) }
        let tracked = runDir.flatMap(trackedRun)
        // The run's recipe values as YAML read them: numbers in their resolved form ("2e-4" → 0.0002).
        // Through the bounded reader, like every config: a few bytes of aliases can expand without end.
        var configNode: Node?
        if let configYAML, let runDir {
            do { configNode = try BoundedYAML.compose(configYAML, maxNodes: 10_000, maxDepth: 32) } catch {
                throw PublishError.badRequest("\(runDir)/config.yaml: \(error)")
            }
        }
        func config(_ key: String) -> String? {
            guard let s = configNode?[key]?.scalar?.string else { return nil }
            return Int(s).map(String.init) ?? Double(s).map { "\($0)" } ?? s
        }
        let configHash = String(Checksum.sha256(Array((configYAML ?? configText).utf8)).prefix(12))
        // A run streamed to W&B is named by its W&B id, so the Hub folder and the W&B run are found by one name
        // (a run exported afterwards has the store's id in W&B too).
        let runId = tracked?.id ?? r.runId ?? runDir.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "run"
        guard validRepoPath(runId), !runId.contains("/") else { throw PublishError.badRequest("the run id '\(runId)' cannot be a folder name; give --path-in-repo") }
        let baseName = String(baseModel.split(separator: "/").last ?? "model")
        let path = r.pathInRepo ?? [baseName, configHash, runId].joined(separator: "/")
        guard validRepoPath(path) else { throw PublishError.badRequest("--path-in-repo '\(path)' must be relative, '/'-separated, without '.', '..' or empty parts") }
        func at(_ name: String) -> String { path.isEmpty ? name : path + "/" + name }

        var recipe: [(String, String)] = [("method", "LoRA (PEFT format), base weights frozen"),
                                          ("rank r / alpha", "\(peft.r) / \(num(peft.loraAlpha))\(peft.useRSLoRA ? " (rsLoRA)" : "")"),
                                          ("dropout", num(peft.loraDropout)),
                                          ("target modules", { if case .names(let n) = peft.targetModules { return n.sorted().joined(separator: ", ") } else if case .regex(let r) = peft.targetModules { return "regex " + r } else { return "" } }())]
        for (key, label) in [("learning_rate", "learning rate"), ("lr_scheduler", "schedule"), ("warmup_steps", "warm-up steps"), ("max_steps", "steps"),
                             ("batch_size", "batch size"), ("gradient_accumulation_steps", "gradient accumulation"), ("weight_decay", "weight decay"),
                             ("max_length", "max sequence length"), ("seed", "seed")] {
            if let v = config(key) { recipe.append((label, v)) }
        }
        var metricsFile: String?
        if let runDir, fileExists(runDir + "/metrics.jsonl") {
            metricsFile = runDir + "/metrics.jsonl"
            if let lines = try? RecordFile.readLines(TrainingLogLine.self, from: runDir + "/metrics.jsonl"),
               let last = lines.last(where: { $0.loss != nil }), let loss = last.loss {
                recipe.append(("final training loss", String(format: "%.4f (step %d)", loss, last.step)))
            }
        }
        var data: [(String, String)] = []
        if let d = config("data"), let m = try? RecordFile.read(DatasetManifest.self, from: d + "/manifest.json") {
            for (key, label) in [("train", "training items (spelling only)"), ("train_tokens", "training words/tokens"), ("validation_words", "validation words"),
                                 ("test_words", "test words (held out)"), ("heldout_vocab_tokens", "held-out vocabulary tokens")] {
                if let n = m.counts[key] { data.append((label, "\(n)")) }
            }
            data.append(("word list", "\(m.words.file) (\(m.words.entries) entries, sha256 \(m.words.sha256.prefix(12))…)"))
            data.append(("tokenizer", "\(m.tokenizer.source.joined(separator: ", ")) (vocabulary \(m.tokenizer.vocabularySize))"))
            data.append(("dataset seed", "\(m.seed)"))
        }
        let name = r.repoId.map { $0 + (path.isEmpty ? "" : " (" + path + ")") } ?? "\(baseName)-spelling-lora"
        let facts = CardFacts(name: name, baseModel: baseModel, license: r.license, library: r.merged == nil ? "peft" : "transformers",
                              datasets: r.datasets, results: results, report: report, recipe: recipe, data: data, pathInRepo: path, repoId: r.repoId,
                              trackingURL: tracked?.url)
        let card = ModelCard.text(facts)

        var files: [PlannedFile] = []
        let adapterAt = r.merged == nil ? "" : "adapter/"
        files.append(PlannedFile(path: at(adapterAt + "adapter_config.json"), content: .bytes(Array(adapterJSON.utf8) + [10])))
        files.append(PlannedFile(path: at(adapterAt + "adapter_model.safetensors"), content: .copy(r.adapter + "/adapter_model.safetensors")))
        if let merged = r.merged {
            for f in ((try? FileManager.default.contentsOfDirectory(atPath: merged)) ?? []).sorted()
            where !f.hasPrefix(".") && !isDirectory(merged + "/" + f) {
                files.append(PlannedFile(path: at(f), content: .copy(merged + "/" + f)))
            }
        }
        files.append(PlannedFile(path: at("README.md"), content: .bytes(Array(card.utf8))))
        if !path.isEmpty { files.append(PlannedFile(path: "README.md", content: .bytes(Array(card.utf8)))) }
        files.append(PlannedFile(path: at("evaluation_results.json"), content: .copy(resultsFile)))
        if report != nil { files.append(PlannedFile(path: at("final_report.json"), content: .copy(reportDir + "/final_report.json"))) }
        if let configYAML { files.append(PlannedFile(path: at("training_config.yaml"), content: .bytes(Array(configYAML.utf8)))) }
        if let metricsFile { files.append(PlannedFile(path: at("training_metrics.jsonl"), content: .copy(metricsFile))) }
        var charts = ((try? FileManager.default.contentsOfDirectory(atPath: reportDir)) ?? []).filter { $0.hasSuffix(".svg") }.sorted().map { (reportDir + "/" + $0, $0) }
        if let runDir, fileExists(runDir + "/loss_curve.svg"), !charts.contains(where: { $0.1 == "loss_curve.svg" }) { charts.append((runDir + "/loss_curve.svg", "loss_curve.svg")) }
        for (src, n) in charts { files.append(PlannedFile(path: at("charts/" + n), content: .copy(src))) }
        let share = shareText(facts, path: path)
        files.append(PlannedFile(path: at("share.txt"), content: .bytes(Array(share.utf8))))
        return Publication(facts: facts, files: files, share: share, pathInRepo: path, runDir: runDir)
    }

    static func num(_ x: Double) -> String { x == x.rounded() && abs(x) < 1e9 ? String(Int(x)) : String(format: "%g", x) }

    /// A few lines to paste in a chat or a paper's notes: model, recipe, headline metrics with intervals, links.
    static func shareText(_ f: CardFacts, path: String) -> String {
        let b = f.results.baseModel.metrics, t = f.results.finetunedModel.metrics
        var s = "\(f.name): LoRA on \(f.baseModel), trained on spelling only (Strawberry)\n"
        let recipe = f.recipe.filter { ["rank r / alpha", "learning rate", "steps", "target modules"].contains($0.0) }.map { "\($0.0) \($0.1)" }
        if !recipe.isEmpty { s += "recipe: " + recipe.joined(separator: "; ") + "\n" }
        for (key, name, _) in ModelCard.tasks {
            guard let ta = t.accuracy[key] else { continue }
            s += "\(name): \(ModelCard.pct(b.accuracy[key]?.accuracy)) → \(ModelCard.pct(ta.accuracy))\(ModelCard.ci(ta.ci95)) (n=\(ta.n))\n"
        }
        if let url = f.trackingURL { s += "W&B run: \(url)\n" }
        if let repo = f.repoId {
            let base = "https://huggingface.co/\(repo)"
            s += "model: \(base)/tree/main\(path.isEmpty ? "" : "/" + path)\ncard: \(base)/blob/main/\(path.isEmpty ? "" : path + "/")README.md\n"
        }
        return s
    }

    /// Writes the folder (a new directory, or an earlier `--to-dir` output with `overwrite`), atomically.
    public func write(to dir: String, overwrite: Bool, inputs: [String]) throws {
        let out = try OutputDirectory.begin(dir, kind: .hubRepository, replace: overwrite, inputs: inputs)
        try out.fill {
            for f in files {
                let dest = out.file(f.path)
                try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: dest).deletingLastPathComponent().path, withIntermediateDirectories: true)
                switch f.content {
                case .copy(let src):
                    guard isRegularFile(src) else { throw PublishError.badRequest("\(src) is not a regular file (a FIFO, socket or device?)") }
                    do { try FileManager.default.copyItem(atPath: src, toPath: dest) } catch {
                        throw PublishError.badRequest("cannot copy \(src) (\(error.localizedDescription))")
                    }
                case .bytes(let b): try writeAtomically(b, to: dest)
                }
            }
        }
    }

    /// The files a push of `dir` uploads: every regular file but the output marker, as repository paths.
    /// A folder that `publish --to-dir` did not write is refused.
    public static func uploadable(_ dir: String) throws -> [String] {
        let marker = (readSmallText(dir + "/" + OutputDirectory.markerName) ?? "").split(separator: "\n").first.map(String.init)
        guard marker == OutputKind.hubRepository.name else {
            throw PublishError.badRequest("\(dir) was not written by `strawberry publish --to-dir` (or `--dataset … --to-dir`); nothing is uploaded from it")
        }
        let fm = FileManager.default
        var out: [String] = []
        for rel in (try? fm.subpathsOfDirectory(atPath: dir)) ?? [] where rel != OutputDirectory.markerName {
            let full = dir + "/" + rel
            if let type = (try? fm.attributesOfItem(atPath: full))?[.type] as? FileAttributeType, type == .typeSymbolicLink {
                throw PublishError.badRequest("\(full) is a symbolic link; a publication holds its own files")
            }
            if !isDirectory(full) { out.append(rel) }
        }
        return out.sorted()
    }

    /// A dataset directory as a dataset repository: its files (the card is its README.md) at the root.
    public static func dataset(_ dir: String) throws -> Publication {
        guard fileExists(dir + "/manifest.json"), fileExists(dir + "/README.md") else {
            throw PublishError.badRequest("\(dir) is not a dataset built by `strawberry data build` (it needs manifest.json and README.md)")
        }
        let fm = FileManager.default
        var files: [PlannedFile] = []
        for rel in ((try? fm.subpathsOfDirectory(atPath: dir)) ?? []).sorted() where !rel.hasPrefix(".") && !rel.contains("/.") {
            if !isDirectory(dir + "/" + rel) { files.append(PlannedFile(path: rel, content: .copy(dir + "/" + rel))) }
        }
        let facts = CardFacts(name: URL(fileURLWithPath: dir).lastPathComponent, baseModel: "", license: "", library: "", datasets: [],
                              results: EvaluationResults(baseModel: .init(metrics: HeadlineMetrics(), source: nil), finetunedModel: .init(metrics: HeadlineMetrics(), source: nil)),
                              report: nil, recipe: [], data: [], pathInRepo: "", repoId: nil)
        return Publication(facts: facts, files: files, share: "dataset \(dir): \(files.count) files\n", pathInRepo: "")
    }
}
