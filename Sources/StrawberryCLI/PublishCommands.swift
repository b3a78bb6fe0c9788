// `strawberry publish` and `strawberry pull`: a fine-tuned adapter (or merged model, or dataset) as a
// Hugging Face Hub repository folder with its card — written offline with --to-dir, uploaded with
// --repo-id — and a repository pulled back, verified (Sources/Publishing, Sources/Hub).
import Adapters
import ArgumentParser
import Foundation
import HTTPTransport
import Hub
import Models
import Publishing
import Records
import Release

/// `publish --json` output.
struct PublishOutput: Encodable {
    var pathInRepo: String
    var files: [String]
    var toDir: String?
    var repoId: String?
    var commit: HubCommit?
    var share: String
    enum CodingKeys: String, CodingKey { case pathInRepo = "path_in_repo", files, toDir = "to_dir", repoId = "repo_id", commit, share }
}

struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an adapter (or merged model, or dataset) with its model card: a Hub-layout folder (--to-dir) or a Hub repository (--repo-id).",
        discussion: """
        Three forms:
          publish --adapter RUN/final --evaluation-results REPORT (--to-dir DIR | --repo-id OWNER/NAME)
          publish --dataset DATA_DIR (--to-dir DIR | --repo-id OWNER/NAME)
          publish --from-dir DIR --repo-id OWNER/NAME         (push a folder written by --to-dir)
        The folder holds the adapter (adapter_config.json naming the base model's Hub id), README.md (the model \
        card: Hub metadata with model-index results = the measured metrics), evaluation_results.json, \
        final_report.json, training_config.yaml, training_metrics.jsonl, charts/ and share.txt, under \
        --path-in-repo (default BASE_MODEL/CONFIG_HASH/RUN_ID; "" for the repository root). The token comes from \
        HF_TOKEN, HUGGINGFACE_HUB_TOKEN or the token file; HF_ENDPOINT overrides the Hub's address. \
        docs/publishing.md has the details.
        """)

    @Option(name: .long, help: "PEFT adapter directory (a run's final/ or best/).")
    var adapter: String?
    @Option(name: .long, help: "A `compare` output directory or its evaluation_results.json (the card's numbers).")
    var evaluationResults: String?
    @Flag(name: .long, help: "Also fold the adapter into the base model (--model) and publish the merged transformers model; the adapter goes to adapter/.")
    var merged = false
    @Option(name: .long, help: "Base model file or directory (needed with --merged).")
    var model: String?
    @Option(name: .long, help: "The base model's Hub id, OWNER/NAME (default: the adapter's base_model_name_or_path when it is one).")
    var baseModel: String?
    @Option(name: .long, help: "License id for the card (default apache-2.0, the SmolLM2 and Qwen3 license).")
    var license = "apache-2.0"
    @Option(name: .long, help: "Hub dataset id the card links to (repeatable).")
    var datasetId: [String] = []
    @Option(name: .long, help: "Folder in the repository (default BASE_MODEL/CONFIG_HASH/RUN_ID; \"\" = the root).")
    var pathInRepo: String?
    @Option(name: .long, help: "A dataset directory (`strawberry data build`) to publish as a dataset repository.")
    var dataset: String?
    @Option(name: .long, help: "Push this folder, written earlier by `publish --to-dir`.")
    var fromDir: String?
    @Option(name: .long, help: "Write the repository folder here (no network).")
    var toDir: String?
    @Flag(name: .long, help: "Replace an earlier --to-dir output in that directory (no other directory is ever replaced).")
    var overwrite = false
    @Option(name: .long, help: "Upload to this Hub repository, OWNER/NAME (created if missing).")
    var repoId: String?
    @Option(name: .long, help: "Repository type for --from-dir: model or dataset (default: model; --dataset implies dataset).")
    var repoType: String?
    @Flag(name: .long, help: "Create the repository private.")
    var `private` = false
    @Option(name: .long, help: "Branch to commit to.")
    var revision = "main"
    @Option(name: .long, help: "Commit message (default: one naming the folder and base model).")
    var message: String?
    @OptionGroup var store: StoreOption
    @Flag(name: .long, help: "JSON output.")
    var json = false

    func validate() throws {
        let sources = [adapter != nil, dataset != nil, fromDir != nil].filter { $0 }.count
        guard sources == 1 else { throw ValidationError("give exactly one of --adapter, --dataset, --from-dir") }
        if adapter != nil && evaluationResults == nil { throw ValidationError("--adapter needs --evaluation-results (the card's numbers)") }
        if merged && model == nil { throw ValidationError("--merged needs --model (the base model to fold the adapter into)") }
        if fromDir != nil && toDir != nil { throw ValidationError("--from-dir pushes a folder; --to-dir writes one: give one of them") }
        if fromDir != nil && repoId == nil { throw ValidationError("--from-dir needs --repo-id") }
        guard toDir != nil || repoId != nil else { throw ValidationError("give --to-dir DIR (offline) or --repo-id OWNER/NAME (upload)") }
        if let repoId { _ = try HubRepo(repoId) }
        if let repoType, repoType != "model" && repoType != "dataset" { throw ValidationError("--repo-type is model or dataset") }
        if let p = pathInRepo, !Publication.validRepoPath(p) { throw ValidationError("--path-in-repo must be relative, '/'-separated, without '.', '..' or empty parts") }
    }

    func run() throws {
        let kind: HubRepo.Kind = dataset != nil || repoType == "dataset" ? .dataset : .model
        if let fromDir { return try finish(folder: fromDir, plan: nil, kind: kind, madeTemp: nil) }
        var mergedDir: String?
        defer { if let mergedDir { try? FileManager.default.removeItem(atPath: mergedDir) } }
        let plan: Publication
        let inputs: [String]
        if let dataset {
            plan = try Publication.dataset(dataset)
            inputs = [dataset]
        } else if let adapter, let evaluationResults {
            let adapterDir = try HubPaths.localBlocking(adapter)
            var r = PublicationRequest(adapter: adapterDir, evaluationResults: evaluationResults)
            r.pathInRepo = pathInRepo
            r.baseModel = baseModel
            r.license = license
            r.repoId = repoId
            r.datasets = datasetId
            r.runId = trainingRunId(adapterDir)
            if merged, let model {
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strawberry-merged-\(getpid())").path
                let localModel = try HubPaths.localBlocking(model)
                let m = try LoadedModel.load(path: localModel)
                let lora = try PEFTAdapter.load(adapterDir, model: m.config)
                try HFExport.write(try AdapterMerge.merged(m.model, lora), tokenizer: m.tokenizer, chatTemplate: m.chatTemplate, sourcePath: localModel, to: dir)
                mergedDir = dir
                r.merged = dir
            }
            plan = try Publication.gather(r)
            inputs = [adapterDir, evaluationResults]
        } else {
            throw ValidationError("give --adapter, --dataset or --from-dir")
        }
        var madeTemp: String?
        let folder = try writeFolder(plan, inputs: inputs, temp: &madeTemp)
        try finish(folder: folder, plan: plan, kind: kind, madeTemp: madeTemp)
    }

    /// The folder: --to-dir, or a temporary one (removed after the upload) when only uploading.
    func writeFolder(_ p: Publication, inputs: [String], temp: inout String?) throws -> String {
        if let toDir {
            try p.write(to: toDir, overwrite: overwrite, inputs: inputs)
            return toDir
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strawberry-publish-\(getpid())").path
        try p.write(to: dir, overwrite: true, inputs: inputs)   // replaces only an earlier publication folder
        temp = dir
        return dir
    }

    func finish(folder: String, plan: Publication?, kind: HubRepo.Kind, madeTemp: String?) throws {
        defer { if let madeTemp { try? FileManager.default.removeItem(atPath: madeTemp) } }
        let files = try Publication.uploadable(folder)
        var commit: HubCommit?
        if let repoId {
            let repo = try HubRepo(repoId, kind: kind)
            let client = HubClient(), isPrivate = `private`, quiet = json, revision = revision
            let created = try Transport.blocking { try await client.createRepo(repo, private: isPrivate) }
            if !json { print(created ? "created \(repo)" : "\(repo) exists") }
            let msg = message ?? "Strawberry: \(plan?.pathInRepo.isEmpty == false ? plan?.pathInRepo ?? "" : "publication") (\(files.count) files)"
            commit = try Transport.blocking {
                try await client.upload(folder: folder, files: files, to: repo, revision: revision, message: msg) { line in
                    if !quiet { print(line) }
                }
            }
        }
        if let commit, let repoId, let plan, let runDir = plan.runDir, kind == .model {
            // Recorded beside the run (its own file, replaced by the next upload): the W&B export reads it.
            // Never credentials in a URL that is written down (an endpoint given as https://user:pass@host).
            var parts = URLComponents(string: HubClient.endpoint())
            parts?.user = nil
            parts?.password = nil
            let endpoint = (parts?.string ?? "https://huggingface.co").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            let url = "\(endpoint)/\(repoId)/tree/\(revision)" + (plan.pathInRepo.isEmpty ? "" : "/" + plan.pathInRepo)
            let record = HubPublicationRecord(repoId: repoId, pathInRepo: plan.pathInRepo, revision: revision, url: url, commit: commit.commitOid)
            do { try RecordFile.write(record, to: runDir + "/" + HubPublicationRecord.fileName) } catch {
                FileHandle.standardError.write(Data("warning: \(runDir)/\(HubPublicationRecord.fileName) was not written: \(error)\n".utf8))
            }
        }
        let share = plan?.share ?? ((try? String(contentsOfFile: folder + "/" + (files.first { $0.hasSuffix("share.txt") } ?? "share.txt"), encoding: .utf8)) ?? "")
        if json {
            try printJSON(PublishOutput(pathInRepo: plan?.pathInRepo ?? "", files: files, toDir: toDir, repoId: repoId, commit: commit, share: share))
            return
        }
        if let toDir { print("wrote \(files.count) files to \(toDir)" + (plan.map { $0.pathInRepo.isEmpty ? "" : " (model in \($0.pathInRepo)/)" } ?? "")) }
        if let c = commit {
            print("uploaded: \(c.uploadedLFS.count) LFS files sent, \(c.alreadyStoredLFS.count) already stored, \(c.regular.count) regular files, \(c.unchanged.count) unchanged")
            print(c.commitOid.map { "commit \($0)" + (c.commitUrl.map { " — \($0)" } ?? "") } ?? "nothing to commit: the repository already has these files")
            for w in c.warnings { print("note: \(w)") }
        }
        if !share.isEmpty { print("\n" + share, terminator: "") }
    }

    /// The store's id of the training run that wrote this adapter (for the default path), when recorded.
    func trainingRunId(_ adapterDir: String) -> String? {
        let runDir = URL(fileURLWithPath: adapterDir).standardizedFileURL.deletingLastPathComponent().path
        guard let s = try? store.open() else { return nil }
        return (try? s.runs(kind: "train"))?.last { $0.params["out"] == runDir }?.id
    }
}

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a Hub repository (or one folder of it) at a revision, verified against the Hub's hashes.",
        discussion: """
        The revision is resolved to its commit first and every file comes from that commit; each file's size \
        and SHA-256 (LFS) or git blob id is checked, and the folder appears only when complete.
        """)
    @Argument(help: "OWNER/NAME[@REVISION] (branch, tag or commit; default main).")
    var repo: String
    @Option(name: .long, help: "Only this folder of the repository (its files land at the top of --to).")
    var subfolder: String?
    @Option(name: .long, help: "model or dataset.")
    var repoType = "model"
    @Option(name: .long, help: "Output directory (new, or an earlier pull with --overwrite).")
    var to: String
    @Flag(name: .long, help: "Replace an earlier `pull` output in --to.")
    var overwrite = false
    @Flag(name: .long, help: "JSON output: {repo, revision, commit, files}.")
    var json = false

    struct Output: Encodable { var repo: String; var revision: String; var commit: String; var files: [String] }

    func validate() throws {
        guard repoType == "model" || repoType == "dataset" else { throw ValidationError("--repo-type is model or dataset") }
        _ = try reference()
    }

    func reference() throws -> HubReference {
        let prefix = repoType == "dataset" ? "datasets/" : ""
        var spec = repo
        if let subfolder { spec += "/" + subfolder }
        guard let ref = try HubReference.parse(HubReference.scheme + prefix + spec) else { throw ValidationError("'\(repo)' is not OWNER/NAME[@REVISION]") }
        return ref
    }

    func run() throws {
        let ref = try reference()
        let client = HubClient(), quiet = json
        let rev = try Transport.blocking { try await client.revision(ref.repo, ref.revision) }
        let files = HubSnapshot.files(rev, subfolder: ref.subfolder)
        guard !files.isEmpty else { throw ValidationError("\(ref.repo)@\(ref.revision) has no files\(ref.subfolder.isEmpty ? "" : " under \(ref.subfolder)")") }
        let out = try OutputDirectory.begin(to, kind: .hubDownload, replace: overwrite)
        try out.fill {
            let staging = out.staging
            try Transport.blocking {
                try await HubSnapshot.download(client, ref.repo, sha: rev.sha, files: files, subfolder: ref.subfolder, into: staging) { line in
                    if !quiet { print(line) }
                }
            }
        }
        if json { try printJSON(Output(repo: ref.repo.description, revision: ref.revision, commit: rev.sha, files: files.map(\.rfilename))); return }
        print("pulled \(files.count) files of \(ref.repo)@\(ref.revision) (commit \(rev.sha)) into \(to), all verified")
    }
}

extension OutputKind {
    /// A verified download (`pull --to`).
    static let hubDownload = OutputKind(name: "hub-download", legacyFiles: nil)
}
