// Publishing: the repository folder and its card (offline), and the Hub client against a local
// stand-in for the Hub (Tests/Fixtures/hub/fake_hub.py, 127.0.0.1, its own process group) that logs
// the requests: the sequence the real huggingface_hub client sends (checked here too when it is
// installed), a 429 then success, an interrupted upload resumed, multipart transfers, and downloads
// verified against the Hub's hashes.
import Foundation
import Hashing
@testable import HTTPTransport
@testable import Hub
import ModelFormats
@testable import Publishing
import Records
import Release
import TestSupport
import XCTest

extension FakeHub {
    func client(token: String? = "secret") -> HubClient { HubClient(endpoint: url, token: token, attempts: 3, firstDelay: 0.05) }
}

final class HubTests: XCTestCase {
    func tmp(_ n: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("hub-\(getpid())-\(n)").path
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    /// An adapter (the committed tiny PEFT fixture, base model named by a local path as training
    /// writes it) and a report directory with evaluation_results.json.
    func inputs() throws -> (adapter: String, report: String, results: EvaluationResults) {
        let adapter = tmp("adapter")
        try FileManager.default.createDirectory(atPath: adapter, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestPaths.fixtures + "/training/llama/peft_adapter/adapter_model.safetensors", toPath: adapter + "/adapter_model.safetensors")
        // As training writes it: the base model named by the local file it was trained from.
        let config = try String(contentsOfFile: TestPaths.fixtures + "/training/llama/peft_adapter/adapter_config.json", encoding: .utf8)
            .replacingOccurrences(of: "\"models/llama\"", with: "\"assets/SmolLM2-135M-Instruct.Q4_1.gguf\"")
        try config.write(toFile: adapter + "/adapter_config.json", atomically: true, encoding: .utf8)
        var base = HeadlineMetrics(), ft = HeadlineMetrics()
        base.accuracy = ["letter_count": Proportion(n: 200, correct: 30, accuracy: 0.15, ci95: [0.1, 0.21]),
                         "letter_position": Proportion(n: 200, correct: 40, accuracy: 0.2, ci95: [0.15, 0.26]),
                         "spelling": Proportion(n: 200, correct: 0, accuracy: 0, ci95: [0, 0.018])]
        ft.accuracy = ["letter_count": Proportion(n: 200, correct: 47, accuracy: 0.235, ci95: [0.18, 0.3]),
                       "letter_position": Proportion(n: 200, correct: 33, accuracy: 0.165, ci95: [0.12, 0.22]),
                       "spelling": Proportion(n: 200, correct: 19, accuracy: 0.095, ci95: [0.06, 0.14])]
        ft.characterLevelAccuracy = 0.4612345678901
        ft.bleu1 = 0.61; ft.bleu2 = 0.42; ft.bleu3 = 0.3; ft.bleu4 = 0.00005; ft.rougeLPrecision = 0.55
        let results = EvaluationResults(baseModel: .init(metrics: base, source: "eval-base"), finetunedModel: .init(metrics: ft, source: "eval-ft"))
        let report = tmp("report")
        try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
        try RecordFile.write(results, to: report + "/evaluation_results.json")
        try "<svg xmlns='http://www.w3.org/2000/svg'/>\n".write(toFile: report + "/accuracy_by_task.svg", atomically: true, encoding: .utf8)
        return (adapter, report, results)
    }

    func publication(repoId: String? = nil, path: String? = nil) throws -> (Publication, EvaluationResults, String) {
        let (adapter, report, results) = try inputs()
        var r = PublicationRequest(adapter: adapter, evaluationResults: report)
        r.baseModel = "HuggingFaceTB/SmolLM2-135M-Instruct"
        r.repoId = repoId
        r.pathInRepo = path
        return (try Publication.gather(r), results, adapter)
    }

    // MARK: the folder and the card (offline)

    func testFolderLayoutAndCard() throws {
        let (p, results, adapter) = try publication(repoId: "alice/spell")
        XCTAssertTrue(p.pathInRepo.hasPrefix("SmolLM2-135M-Instruct/") && p.pathInRepo.split(separator: "/").count == 3, p.pathInRepo)
        let dir = tmp("folder")
        try p.write(to: dir, overwrite: false, inputs: [adapter])
        let files = try Publication.uploadable(dir)
        for f in ["README.md", "adapter_config.json", "adapter_model.safetensors", "evaluation_results.json", "charts/accuracy_by_task.svg", "share.txt"] {
            XCTAssertTrue(files.contains(p.pathInRepo + "/" + f), "\(f) in \(files)")
        }
        XCTAssertTrue(files.contains("README.md"))   // the repository's card
        XCTAssertFalse(files.contains(OutputDirectory.markerName))
        // The published adapter names the base model by its Hub id; the weights are the adapter's own bytes.
        let config = try RecordFile.read(PEFTAdapterConfig.self, from: dir + "/" + p.pathInRepo + "/adapter_config.json")
        XCTAssertEqual(config.baseModelNameOrPath, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(try Checksum.sha256(file: dir + "/" + p.pathInRepo + "/adapter_model.safetensors"), try Checksum.sha256(file: adapter + "/adapter_model.safetensors"))
        // The card's model-index holds the measured values exactly.
        let card = try String(contentsOfFile: dir + "/README.md", encoding: .utf8)
        XCTAssertTrue(card.hasPrefix("---\n"))
        XCTAssertTrue(card.contains("value: 0.4612345678901"), "exact character accuracy")
        XCTAssertTrue(card.contains("value: 5.0e-05"), "a float to YAML 1.1 readers too")
        XCTAssertTrue(card.contains("library_name: \"peft\""))
        XCTAssertTrue(card.contains("PeftModel.from_pretrained(base, \"alice/spell\", subfolder=\"\(p.pathInRepo)\")"))
        XCTAssertTrue(card.contains("| Letter counting | 15.0 % [10.0, 21.0] (200) | 23.5 % [18.0, 30.0] (200) |"), card)
        XCTAssertTrue(p.share.contains("https://huggingface.co/alice/spell/tree/main/\(p.pathInRepo)"))
        // Reproducible: the same inputs give the same bytes.
        let again = tmp("folder-again")
        try p.write(to: again, overwrite: false, inputs: [adapter])
        for f in files { XCTAssertEqual(FileManager.default.contents(atPath: dir + "/" + f), FileManager.default.contents(atPath: again + "/" + f), f) }
        // An earlier folder is replaced only with overwrite; a folder it did not write is never pushed.
        XCTAssertThrowsError(try p.write(to: dir, overwrite: false, inputs: []))
        XCTAssertNoThrow(try p.write(to: dir, overwrite: true, inputs: []))
        XCTAssertThrowsError(try Publication.uploadable(adapter)) { XCTAssertTrue("\($0)".contains("was not written by"), "\($0)") }
    }

    /// A run streamed to W&B (`report_to: wandb`, RUN_DIR/wandb_run.json): the Hub folder is named by its W&B id,
    /// and the card and share.txt link its page. An id that is not a folder name, or a URL that is not https,
    /// is not used.
    func testTrackedRunNamesTheFolderAndLinksTheRun() throws {
        let (adapter, report, _) = try inputs()
        let run = tmp("run-tracked")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: adapter, toPath: run + "/final")
        try "model: assets/x.gguf\nlearning_rate: 0.001\n".write(toFile: run + "/config.yaml", atomically: true, encoding: .utf8)
        let url = "https://wandb.ai/alice/strawberry/runs/run-tracked-1a2b3c4d"
        try #"{"finished": true, "project": "strawberry", "url": "\#(url)", "wandb_id": "run-tracked-1a2b3c4d"}"#
            .write(toFile: run + "/wandb_run.json", atomically: true, encoding: .utf8)
        var r = PublicationRequest(adapter: run + "/final", evaluationResults: report)
        r.baseModel = "HuggingFaceTB/SmolLM2-135M-Instruct"
        r.repoId = "alice/spell"
        let p = try Publication.gather(r)
        XCTAssertTrue(p.pathInRepo.hasSuffix("/run-tracked-1a2b3c4d"), p.pathInRepo)
        XCTAssertTrue(p.share.contains("W&B run: \(url)\n"), p.share)
        XCTAssertTrue(ModelCard.text(p.facts).contains("the run in Weights & Biases: <\(url)>"))
        for hostile in [#"{"wandb_id": "../../etc", "url": "javascript:alert(1)"}"#, #"{"wandb_id": "ok-id", "url": "https://x.y/<script>"}"#, "[1", ""] {
            try hostile.write(toFile: run + "/wandb_run.json", atomically: true, encoding: .utf8)
            let q = try Publication.gather(r)
            XCTAssertFalse(q.share.contains("W&B run"), hostile)
            let folder = hostile.contains("ok-id") ? "ok-id" : URL(fileURLWithPath: run).lastPathComponent
            XCTAssertTrue(q.pathInRepo.hasSuffix("/" + folder), "\(hostile): \(q.pathInRepo)")
        }
    }

    func testRequestsThatAreRefused() throws {
        let (adapter, report, _) = try inputs()
        var r = PublicationRequest(adapter: adapter, evaluationResults: report)
        // The fixture's adapter names its base model by a local path: a Hub id must be given.
        XCTAssertThrowsError(try Publication.gather(r)) { XCTAssertTrue("\($0)".contains("--base-model"), "\($0)") }
        r.baseModel = "not a hub id"
        XCTAssertThrowsError(try Publication.gather(r))
        r.baseModel = "o/base"
        for bad in ["../x", "/abs", "a//b", "a/./b", "a/\nb"] {
            r.pathInRepo = bad
            XCTAssertThrowsError(try Publication.gather(r), bad)
        }
        r.pathInRepo = ""
        XCTAssertEqual(try Publication.gather(r).files.filter { $0.path == "README.md" }.count, 1)   // the root: one card
        XCTAssertThrowsError(try Publication.gather(PublicationRequest(adapter: adapter, evaluationResults: tmp("none"))))
        for bad in ["a", "a/b/c", "../b", "a/..", "a b/c", ""] { XCTAssertThrowsError(try HubRepo(bad), bad) }
        XCTAssertNil(try HubReference.parse("/local/path"))
        let ref = try XCTUnwrap(try HubReference.parse("hf://alice/spell@v1.0/Smol/abc/run"))
        XCTAssertEqual(ref, HubReference(repo: try HubRepo("alice/spell"), revision: "v1.0", subfolder: "Smol/abc/run"))
        XCTAssertEqual(try HubReference.parse("hf://datasets/alice/words")?.repo.kind, .dataset)
        for bad in ["hf://alice", "hf://alice/spell@", "hf://alice/spell@../x", "hf://alice/spell/../x", "hf://alice/spell@.."] {
            XCTAssertThrowsError(try HubReference.parse(bad), bad)
        }
    }

    func testTokenAndEndpointResolution() throws {
        let dir = tmp("hf-home")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "  file-token\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        XCTAssertEqual(HubClient.token(["HF_TOKEN": "a", "HUGGINGFACE_HUB_TOKEN": "b", "HF_HOME": dir]), "a")
        XCTAssertEqual(HubClient.token(["HUGGINGFACE_HUB_TOKEN": "b", "HF_HOME": dir]), "b")
        XCTAssertEqual(HubClient.token(["HF_HOME": dir]), "file-token")
        XCTAssertEqual(HubClient.token(["HF_TOKEN_PATH": dir + "/token", "HOME": "/nonexistent"]), "file-token")
        XCTAssertNil(HubClient.token(["HOME": "/nonexistent"]))
        XCTAssertEqual(HubClient.endpoint(["HF_ENDPOINT": "http://127.0.0.1:1/"]), "http://127.0.0.1:1")
        XCTAssertEqual(HubClient.endpoint([:]), "https://huggingface.co")
        XCTAssertEqual(GitBlob.sha1(Data("hello\n".utf8)), "ce013625030ba8dba906f756967f9e9ca394464a")   // `git hash-object` of "hello\n"
        XCTAssertEqual(Transport(firstDelay: 0.5, maxDelay: 30).delay(after: 3, retryAfter: nil), 2)
        XCTAssertEqual(Transport(maxDelay: 30).delay(after: 1, retryAfter: "7"), 7)
        XCTAssertEqual(Transport(maxDelay: 30).delay(after: 1, retryAfter: "86400"), 30)
    }

    // MARK: against the local Hub

    /// Distinct consecutive routes (retries and per-file repeats collapsed).
    func sequence(_ rs: [(method: String, route: String, oid: String?)]) -> [String] {
        var out: [String] = []
        for r in rs where !r.route.hasPrefix("faults") { let s = r.method + " " + r.route; if out.last != s { out.append(s) } }
        return out
    }

    func testUploadThenDownloadVerified() async throws {
        let hub = try FakeHub("upload", dir: tmp("hub-upload"))
        let (p, _, adapter) = try publication(repoId: "alice/spell")
        let dir = tmp("to-upload")
        try p.write(to: dir, overwrite: false, inputs: [adapter])
        let files = try Publication.uploadable(dir)
        let repo = try HubRepo("alice/spell")
        // Without a token nothing is sent.
        await assertThrowsAsync({ try await hub.client(token: nil).createRepo(repo, private: false) }) { XCTAssertTrue("\($0)".contains("HF_TOKEN"), "\($0)") }
        await assertThrowsAsync({ try await hub.client(token: "wrong").createRepo(repo, private: false) }) { XCTAssertTrue("\($0)".contains("401"), "\($0)") }
        // A 429 with Retry-After on the pre-upload and on the commit: waited out, then success.
        try hub.faults(["status_once": ["preupload": [429, 0], "commit": [503, 0]]])
        let client = hub.client()
        let start = hub.requests().count
        let created = try await client.createRepo(repo, private: true)
        XCTAssertTrue(created)
        let createdAgain = try await client.createRepo(repo, private: true)   // exists: fine
        XCTAssertFalse(createdAgain)
        let commit = try await client.upload(folder: dir, files: files, to: repo, message: "test")
        XCTAssertNotNil(commit.commitOid)
        XCTAssertEqual(commit.uploadedLFS, [p.pathInRepo + "/adapter_model.safetensors"])
        XCTAssertEqual(sequence(Array(hub.requests().dropFirst(start))), ["POST create", "POST validate-yaml", "POST preupload", "POST lfs-batch", "PUT lfs-put", "POST lfs-verify", "POST commit"])
        XCTAssertEqual(hub.requests().filter { $0.route == "preupload" }.count, 2)   // the 429, then the retry
        XCTAssertEqual(hub.requests().filter { $0.route == "commit" }.count, 2)
        // The same folder again: every file is unchanged, nothing is sent and no commit is made.
        let again = try await client.upload(folder: dir, files: files, to: repo, message: "again")
        XCTAssertNil(again.commitOid)
        XCTAssertEqual(again.unchanged.count, files.count)
        // Download: pinned to the commit, every file verified; the model folder alone with a subfolder.
        let rev = try await client.revision(repo, "main")
        XCTAssertEqual(rev.sha, commit.commitOid)
        let got = tmp("pulled")
        let sub = HubSnapshot.files(rev, subfolder: p.pathInRepo)
        try await HubSnapshot.download(client, repo, sha: rev.sha, files: sub, subfolder: p.pathInRepo, into: got)
        for f in files where f.hasPrefix(p.pathInRepo + "/") {
            XCTAssertEqual(FileManager.default.contents(atPath: got + "/" + f.dropFirst(p.pathInRepo.count + 1)), FileManager.default.contents(atPath: dir + "/" + f), f)
        }
        // A file altered in transit fails verification and is not kept — LFS (sha256) and regular (git blob id).
        for path in [p.pathInRepo + "/adapter_model.safetensors", p.pathInRepo + "/README.md"] {
            try hub.faults(["corrupt": [path]])
            let f = try XCTUnwrap(rev.siblings.first { $0.rfilename == path })
            let corrupt = tmp("corrupt")
            await assertThrowsAsync({ try await client.download(repo, sha: rev.sha, file: f, to: corrupt) }) { XCTAssertTrue("\($0)".contains("verification"), "\($0)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: corrupt))
        }
        try hub.faults(["corrupt": [String]()])
        // hf:// resolution: downloaded once into the cache, then served from it (also without the network).
        let cache = tmp("cache")
        let ref = try XCTUnwrap(try HubReference.parse("hf://alice/spell/" + p.pathInRepo))
        let local = try await HubSnapshot.resolve(ref, cache: cache, client: client)
        XCTAssertEqual(FileManager.default.contents(atPath: local + "/adapter_model.safetensors"), FileManager.default.contents(atPath: adapter + "/adapter_model.safetensors"))
        let before = hub.requests().filter { $0.route == "resolve" }.count
        let cached = try await HubSnapshot.resolve(ref, cache: cache, client: client)
        XCTAssertEqual(cached, local)
        XCTAssertEqual(hub.requests().filter { $0.route == "resolve" }.count, before)   // nothing downloaded again
        let offline = HubClient(endpoint: "http://127.0.0.1:\(freeLoopbackPort())", token: nil, attempts: 1, firstDelay: 0)
        let offlineLocal = try await HubSnapshot.resolve(ref, cache: cache, client: offline)
        XCTAssertEqual(offlineLocal, local)
        // The whole repository and one folder of it are cached side by side.
        let whole = try await HubSnapshot.resolve(try XCTUnwrap(try HubReference.parse("hf://alice/spell")), cache: cache, client: client)
        XCTAssertTrue(FileManager.default.fileExists(atPath: whole + "/" + p.pathInRepo + "/adapter_model.safetensors"))
        let cachedAgain = try await HubSnapshot.resolve(ref, cache: cache, client: client)
        XCTAssertEqual(cachedAgain, local)
        // A revision the Hub does not have is an error, not the cache.
        await assertThrowsAsync({ try await HubSnapshot.resolve(try XCTUnwrap(try HubReference.parse("hf://alice/spell@nope")), cache: cache, client: client) })
    }

    func testInterruptedUploadResumesAndMultipart() async throws {
        let hub = try FakeHub("resume", dir: tmp("hub-resume"))
        let dir = tmp("two-lfs")
        try FileManager.default.createDirectory(atPath: dir + "/m", withIntermediateDirectories: true)
        var rng = SystemRandomNumberGenerator()
        let a = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &rng) }, b = (0..<200_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(a).write(to: URL(fileURLWithPath: dir + "/m/a.safetensors"))
        try Data(b).write(to: URL(fileURLWithPath: dir + "/m/b.safetensors"))
        try "notes\n".write(toFile: dir + "/m/notes.txt", atomically: true, encoding: .utf8)
        FileManager.default.createFile(atPath: dir + "/m/empty.txt", contents: Data())
        var files = ["m/a.safetensors", "m/b.safetensors", "m/empty.txt", "m/notes.txt"]
        let repo = try HubRepo("alice/resume")
        let client = hub.client()
        _ = try await client.createRepo(repo, private: false)
        // The second object's upload keeps failing: the upload stops after the first was stored.
        let oidB = Checksum.sha256(b), oidA = Checksum.sha256(a)
        try hub.faults(["fail_put": [oidB]])
        await assertThrowsAsync({ try await client.upload(folder: dir, files: files, to: repo, message: "first try") })
        XCTAssertEqual(hub.requests().filter { $0.route == "commit" }.count, 0)
        // Re-run: the server already has a, so only b is sent; then the commit.
        try hub.faults(["fail_put": [String]()])
        let commit = try await client.upload(folder: dir, files: files, to: repo, message: "resumed")
        XCTAssertEqual(commit.alreadyStoredLFS, ["m/a.safetensors"])
        XCTAssertEqual(commit.uploadedLFS, ["m/b.safetensors"])
        XCTAssertEqual(hub.requests().filter { $0.route == "lfs-put" && $0.oid == oidA }.count, 1)
        XCTAssertNotNil(commit.commitOid)
        // Multipart: the server asks for 64 KiB parts for the large object (reassembled and verified by the
        // server) and a basic transfer for the small one in the same batch.
        try hub.faults(["multipart": 65_536])
        let c = (0..<150_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(c).write(to: URL(fileURLWithPath: dir + "/m/a.safetensors"))
        try Data(repeating: 7, count: 1000).write(to: URL(fileURLWithPath: dir + "/m/small.safetensors"))
        files.append("m/small.safetensors")
        let changed = try await client.upload(folder: dir, files: files, to: repo, message: "multipart")
        XCTAssertEqual(changed.uploadedLFS, ["m/a.safetensors", "m/small.safetensors"])
        XCTAssertEqual(Set(changed.unchanged), ["m/b.safetensors", "m/empty.txt", "m/notes.txt"])
        XCTAssertEqual(hub.requests().filter { $0.route == "lfs-put-part" }.count, 3)
        let rev = try await client.revision(repo, "main")
        let back = tmp("a-back")
        try await client.download(repo, sha: rev.sha, file: try XCTUnwrap(rev.siblings.first { $0.rfilename == "m/a.safetensors" }), to: back)
        XCTAssertEqual(FileManager.default.contents(atPath: back), Data(c))
        // An empty file comes back as an empty file, verified.
        let empty = tmp("empty-back")
        try await client.download(repo, sha: rev.sha, file: try XCTUnwrap(rev.siblings.first { $0.rfilename == "m/empty.txt" }), to: empty)
        XCTAssertEqual(FileManager.default.contents(atPath: empty), Data())
    }

    /// The real huggingface_hub client against the same local Hub: it uploads the same folder with the
    /// same request sequence as ours, and each client downloads what the other uploaded. Optional:
    /// skipped when huggingface_hub is not installed (CI installs it).
    func testRealClientSendsTheSameSequence() async throws {
        guard (try? shell("python3 -c 'import huggingface_hub'"))?.status == 0 else { throw XCTSkip("huggingface_hub is not installed") }
        let (p, _, adapter) = try publication(repoId: "alice/spell")
        let dir = tmp("real-folder")
        try p.write(to: dir, overwrite: false, inputs: [adapter])
        let theirs = try FakeHub("real", dir: tmp("hub-real"))
        let script = """
        import sys
        from huggingface_hub import HfApi
        api = HfApi(endpoint=sys.argv[1], token="secret")
        api.create_repo("alice/spell", exist_ok=True)
        api.upload_folder(repo_id="alice/spell", folder_path=sys.argv[2], commit_message="real client", ignore_patterns=[".strawberry"])
        """
        let uploadScript = tmp("upload.py")
        try script.write(toFile: uploadScript, atomically: true, encoding: .utf8)
        let r = try shell("HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 python3 \(uploadScript) \(theirs.url) \(dir)")
        XCTAssertEqual(r.status, 0, r.output)
        let ours = try FakeHub("ours", dir: tmp("hub-ours"))
        let client = ours.client()
        let repo = try HubRepo("alice/spell")
        _ = try await client.createRepo(repo, private: false)
        _ = try await client.upload(folder: dir, files: try Publication.uploadable(dir), to: repo, message: "ours")
        XCTAssertEqual(sequence(ours.requests()), sequence(theirs.requests()))
        // Ours downloads theirs, verified, byte for byte.
        let theirClient = theirs.client()
        let rev = try await theirClient.revision(repo, "main")
        let got = tmp("from-real")
        try await HubSnapshot.download(theirClient, repo, sha: rev.sha, files: HubSnapshot.files(rev, subfolder: p.pathInRepo), subfolder: p.pathInRepo, into: got)
        XCTAssertEqual(FileManager.default.contents(atPath: got + "/README.md"), FileManager.default.contents(atPath: dir + "/" + p.pathInRepo + "/README.md"))
        // The real client downloads ours.
        let dl = """
        import sys, filecmp
        from huggingface_hub import snapshot_download
        d = snapshot_download("alice/spell", endpoint=sys.argv[1], token="secret", cache_dir=sys.argv[2])
        assert filecmp.cmp(d + "/" + sys.argv[4], sys.argv[3] + "/" + sys.argv[4], shallow=False)
        """
        let downloadScript = tmp("download.py")
        try dl.write(toFile: downloadScript, atomically: true, encoding: .utf8)
        let d = try shell("HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 python3 \(downloadScript) \(ours.url) \(tmp("hf-cache")) \(dir) \(p.pathInRepo)/adapter_model.safetensors")
        XCTAssertEqual(d.status, 0, d.output)
    }

    /// huggingface_hub's own card parser reads the card, and its evaluation results are the measured
    /// metrics of evaluation_results.json. Optional (huggingface_hub).
    func testCardParsesWithHuggingFaceHub() throws {
        guard (try? shell("python3 -c 'import huggingface_hub'"))?.status == 0 else { throw XCTSkip("huggingface_hub is not installed") }
        let (p, results, adapter) = try publication(repoId: "alice/spell", path: "")
        let dir = tmp("card")
        try p.write(to: dir, overwrite: false, inputs: [adapter])
        let script = """
        import sys, json
        from huggingface_hub import ModelCard
        card = ModelCard.load(sys.argv[1])
        d = card.data
        out = {"base_model": d.base_model, "library_name": d.library_name, "license": d.license,
               "results": [[r.task_name, r.metric_name, r.metric_value, r.dataset_split] for r in d.eval_results]}
        print(json.dumps(out))
        """
        let cardScript = tmp("card.py")
        try script.write(toFile: cardScript, atomically: true, encoding: .utf8)
        let r = try shell("python3 \(cardScript) \(dir)/README.md 2>/dev/null")
        XCTAssertEqual(r.status, 0, r.output)
        let o = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(r.output.utf8))) as? [String: Any])
        XCTAssertEqual(o["base_model"] as? String, "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(o["library_name"] as? String, "peft")
        let rows = try XCTUnwrap(o["results"] as? [[Any]])
        var parsed: [String: Double] = [:]
        for row in rows { if let name = row[1] as? String, let v = row[2] as? Double { parsed[name] = v } }
        let ft = results.finetunedModel.metrics
        XCTAssertEqual(parsed["Letter count accuracy"], ft.accuracy["letter_count"]?.accuracy)
        XCTAssertEqual(parsed["Letter position accuracy"], ft.accuracy["letter_position"]?.accuracy)
        XCTAssertEqual(parsed["Exact spelling accuracy"], ft.accuracy["spelling"]?.accuracy)
        XCTAssertEqual(parsed["Character-level accuracy"], ft.characterLevelAccuracy)
        XCTAssertEqual(parsed["BLEU-4 (characters)"], ft.bleu4)
        XCTAssertEqual(parsed["ROUGE-L precision (characters)"], ft.rougeLPrecision)
        XCTAssertEqual(rows.count, 9)
    }

    /// The gate's Hub step: a deployment pushes the registered version with its card; a push that fails
    /// (no token) leaves the deployment done and the folder ready for `publish --from-dir`.
    func testDeployPushesToTheHub() throws {
        let hub = try FakeHub("deploy", dir: tmp("hub-deploy"))
        let (adapter, report, _) = try inputs()
        setenv("HF_ENDPOINT", hub.url, 1)
        defer { unsetenv("HF_ENDPOINT"); unsetenv("HF_TOKEN") }
        var r = DeployRequest(evaluationResults: report, adapter: adapter, store: tmp("deploy-store"))
        r.outputDir = tmp("deploy-out")
        r.pushToHub = true
        r.hubModelId = "alice/deployed"
        r.hubBaseModel = "HuggingFaceTB/SmolLM2-135M-Instruct"
        r.hubPathInRepo = ""
        setenv("HF_TOKEN", "secret", 1)
        let (info, _) = try Deploy.run(r)
        XCTAssertTrue(info.deployed)
        XCTAssertTrue(info.huggingFace.hasPrefix("pushed to alice/deployed (commit "), info.huggingFace)
        let client = hub.client(), deployed = try HubRepo("alice/deployed")
        let rev = try Transport.blocking { try await client.revision(deployed, "main") }
        XCTAssertEqual(Set(rev.siblings.map(\.rfilename)).isSuperset(of: ["README.md", "adapter_config.json", "adapter_model.safetensors", "evaluation_results.json"]), true)
        XCTAssertNoThrow(try Publication.uploadable(r.outputDir + "/hub"))
        // No token: the deployment happens, the push is reported failed with the command that repeats it.
        unsetenv("HF_TOKEN")
        setenv("HF_HOME", tmp("no-hf-home"), 1)
        defer { unsetenv("HF_HOME") }
        r.force = true
        r.outputDir = tmp("deploy-out-2")
        let (second, _) = try Deploy.run(r)
        XCTAssertTrue(second.deployed)
        XCTAssertTrue(second.huggingFace.hasPrefix("push failed: no Hugging Face token"), second.huggingFace)
        XCTAssertTrue(second.huggingFace.contains("publish --from-dir"))
    }
}

/// The network under hostile servers and careless configuration: bounded time and memory, and no
/// secret in any message or file.
final class NetworkHardeningTests: XCTestCase {
    /// A Python server on a free port, started in its own process group: `mode` "silent" accepts and
    /// never answers; "flood" answers 200 with an endless body.
    func server(_ mode: String) throws -> (url: String, process: Process) {
        let port = freeLoopbackPort()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", """
            import socket, sys, time
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1', \(port))); s.listen(16)
            print('ready', flush=True); kept = []; end = time.time() + 60
            while time.time() < end:
                c, _ = s.accept(); kept.append(c)
                if sys.argv[1] == 'redirect':
                    c.recv(65536); c.sendall(b'HTTP/1.1 302 Found\\r\\nLocation: http://127.0.0.1:99999/x\\r\\nContent-Length: 0\\r\\n\\r\\n'); c.close()
                if sys.argv[1] == 'dribble':
                    c.recv(65536); c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Length: 100000000\\r\\n\\r\\n')
                    try:
                        while time.time() < end: c.sendall(b' '); time.sleep(0.5)
                    except OSError: pass
                if sys.argv[1] == 'flood':
                    c.recv(65536); c.sendall(b'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n')
                    try:
                        while time.time() < end: c.sendall(b' ' * 65536)
                    except OSError: pass
            """, mode]
        let out = Pipe()
        p.standardOutput = out
        try withDefaultSignalMask { try p.run() }
        _ = out.fileHandleForReading.availableData
        return ("http://127.0.0.1:\(port)", p)
    }

    /// A server that accepts and never answers costs the operation's deadline, retries included.
    func testSilentServerCostsTheDeadlineNotAttemptsTimesTimeout() async throws {
        let (url, p) = try server("silent")
        defer { p.terminate(); p.waitUntilExit() }
        let t = Transport(attempts: 5, firstDelay: 0.1, readTimeout: 300, deadline: 2)
        let start = Date()
        await assertThrowsAsync({ try await t.send(.GET, url + "/api/models/a/b") }) { XCTAssertTrue("\($0)".contains("did not answer within 2 s"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 6)
    }

    /// A body that trickles in forever is cut off by the same deadline.
    func testTricklingBodyCostsTheDeadline() async throws {
        let (url, p) = try server("dribble")
        defer { p.terminate(); p.waitUntilExit() }
        let t = Transport(attempts: 3, firstDelay: 0.1, deadline: 2)
        let start = Date()
        await assertThrowsAsync({ try await t.send(.GET, url + "/api/models/a/b") }) { XCTAssertTrue("\($0)".contains("did not answer within 2 s"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 6)
    }

    /// A URL the client cannot use (a port beyond 65535, no scheme) is an error before any request,
    /// not a trap inside the HTTP client; its secret stays hidden.
    func testUnusableURLsAreErrors() async throws {
        for bad in ["http://127.0.0.1:99999", "http://127.0.0.1:0/x", "user:SECRET@127.0.0.1:8080", "ftp://h/x", "http:///x", "http://h:12ab/"] {
            XCTAssertThrowsError(try Transport.check(bad), bad) { XCTAssertFalse("\($0)".contains("SECRET"), "\($0)") }
        }
        XCTAssertNoThrow(try Transport.check("https://huggingface.co"))
        XCTAssertNoThrow(try Transport.check("http://[::1]:8080/api"))
        let t = Transport(attempts: 1, deadline: 5)
        await assertThrowsAsync({ try await t.send(.GET, "http://u:SECRET@127.0.0.1:99999/api") }) { e in
            XCTAssertTrue("\(e)".contains("not in 1...65535") && !"\(e)".contains("SECRET"), "\(e)")
        }
        // A server's redirect is checked like a URL given by the user.
        let (url, p) = try server("redirect")
        defer { p.terminate(); p.waitUntilExit() }
        await assertThrowsAsync({ try await t.send(.GET, url + "/api/models/a/b") }) { XCTAssertTrue("\($0)".contains("not in 1...65535"), "\($0)") }
        // An MLflow URI without a host stays hostless (not "http:/" + "/api/…": a host named "api").
        setenv("MLFLOW_TRACKING_URI", "http://", 1)
        defer { unsetenv("MLFLOW_TRACKING_URI") }
        XCTAssertThrowsError(try Transport.check(try XCTUnwrap(MLflowClient.configured) + "/api/2.0/mlflow/experiments/list"))
    }

    /// An answer is never held in memory beyond a small limit.
    func testEndlessAnswerIsCutOff() async throws {
        let (url, p) = try server("flood")
        defer { p.terminate(); p.waitUntilExit() }
        let t = Transport(attempts: 1, deadline: 60)
        await assertThrowsAsync({ try await t.send(.GET, url + "/api/models/a/b/revision/main") }) { XCTAssertTrue("\($0)".contains("more than the \(Transport.maxAnswer)"), "\($0)") }
    }

    func testURLsAreRedacted() {
        XCTAssertEqual(Redact.url("http://alice:pa55@host:5000/api?x=1&token=abc&sig=zz#f"), "http://alice:***@host:5000/api?x=1&token=***&sig=***#f")
        XCTAssertEqual(Redact.url("https://tok3n@hub.example/x"), "https://***@hub.example/x")
        XCTAssertEqual(Redact.url("https://huggingface.co/a/b"), "https://huggingface.co/a/b")
        XCTAssertEqual(Redact.text("failed: http://u:p@h/x (HTTP 500)"), "failed: http://u:***@h/x (HTTP 500)")
    }

    /// A deployment with a password in MLFLOW_TRACKING_URI and in HF_ENDPOINT (both unreachable):
    /// the secret is in no line printed and no file written — logs, records, the store, the queue.
    func testSecretsInURLsAreNeverWritten() throws {
        let closed = "127.0.0.1:\(freeLoopbackPort())"
        setenv("MLFLOW_TRACKING_URI", "http://alice:mlfl0wpa55@\(closed)", 1)
        setenv("HF_ENDPOINT", "http://bob:hfpa55@\(closed)/?token=t0k3nsecret", 1)
        setenv("HF_TOKEN", "hf_t0ken", 1)
        setenv("STRAWBERRY_HTTP_DEADLINE", "2", 1)
        defer { for k in ["MLFLOW_TRACKING_URI", "HF_ENDPOINT", "HF_TOKEN", "STRAWBERRY_HTTP_DEADLINE"] { unsetenv(k) } }
        let hub = HubTests(name: "inputs", testClosure: { _ in })
        let (adapter, report, _) = try hub.inputs()
        var r = DeployRequest(evaluationResults: report, adapter: adapter, store: hub.tmp("secret-store"))
        r.outputDir = hub.tmp("secret-out")
        r.pushToHub = true
        r.hubModelId = "alice/secret"
        r.hubBaseModel = "HuggingFaceTB/SmolLM2-135M-Instruct"
        var printed: [String] = []
        let (info, _) = try Deploy.run(r) { printed.append($0) }
        XCTAssertTrue(info.huggingFace.hasPrefix("push failed"), info.huggingFace)
        var everything = printed.joined(separator: "\n")
        for dir in [r.outputDir, r.store] {
            for rel in (try FileManager.default.subpathsOfDirectory(atPath: dir)) where !isDirectory(dir + "/" + rel) {
                everything += String(decoding: (FileManager.default.contents(atPath: dir + "/" + rel) ?? Data()), as: UTF8.self)
            }
        }
        XCTAssertTrue(everything.contains("alice:***@"), "the MLflow failure is reported")
        for secret in ["mlfl0wpa55", "hfpa55", "t0k3nsecret", "hf_t0ken"] { XCTAssertFalse(everything.contains(secret), secret) }
    }
}

/// XCTAssertThrowsError for async expressions.
func assertThrowsAsync<T>(_ expression: () async throws -> T, file: StaticString = #filePath, line: UInt = #line,
                          _ check: (Error) -> Void = { _ in }) async {
    do {
        _ = try await expression()
        XCTFail("expected an error", file: file, line: line)
    } catch {
        check(error)
    }
}
