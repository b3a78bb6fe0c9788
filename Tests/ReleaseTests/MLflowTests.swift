// Against a real MLflow server (pip install mlflow), started here on 127.0.0.1 with a SQLite
// backend and stopped by process group: runs with params and metric history, the registry (model,
// version, alias, archiving), and the queue for an unreachable server. Skipped when MLflow is absent.
import Foundation
import Hashing
import ModelFormats
import Records
@testable import Release
import TestSupport
import XCTest

final class MLflowTests: XCTestCase {
    func tmp(_ n: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("mlflow-\(getpid())-\(n)").path }

    func freePort() -> Int { freeLoopbackPort() }

    func shell(_ cmd: String) -> Int32 { (try? TestSupport.shell(cmd))?.status ?? -1 }

    /// Starts `mlflow server` (SQLite backend, loopback, its own process group); returns its URL and a stop function.
    func startServer(port: Int) throws -> (url: String, stop: () -> Void) {
        guard shell("command -v mlflow") == 0 else { throw XCTSkip("MLflow is not installed (pip install mlflow)") }
        let dir = tmp("server-\(port)")
        let url = "http://127.0.0.1:\(port)"
        guard let server = BackgroundServer(command: "mlflow server --host 127.0.0.1 --port \(port) --backend-store-uri sqlite:///\(dir)/mlflow.db "
                                            + "--artifacts-destination \(dir)/artifacts --workers 1", dir: dir, url: url + "/health",
                                            environment: ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"]) else {
            throw XCTSkip("mlflow server did not start within 60 s")
        }
        return (url, server.stop)
    }

    func testRunsAndRegistryRoundTripAgainstARealServer() throws {
        let (url, stop) = try startServer(port: freePort())
        defer { stop() }
        let client = MLflowClient(base: url, attempts: 2, firstDelay: 0.1)
        let run = RunRecord(id: "train-test-1", kind: "train", created: 1_790_000_000, params: ["learning_rate": "0.001", "lora.r": "16"],
                            metrics: ["loss": [MetricPoint(step: 10, value: 2.5), MetricPoint(step: 20, value: 1.25)]],
                            artifacts: [:], lineage: ["dataset_manifest": "abc"])
        let id = try client.send(run)
        // Sent twice (a sync after a partial send): the same MLflow run, not a second one.
        XCTAssertEqual(try client.send(run), id)
        let got = try client.call(.GET, "runs/get", query: [("run_id", id)], as: JSONValue.self)
        let data = try XCTUnwrap(got["run"]?["data"])
        let params = (data["params"]?.array ?? []).reduce(into: [String: String]()) { $0[$1["key"]?.string ?? ""] = $1["value"]?.string }
        XCTAssertEqual(params, ["learning_rate": "0.001", "lora.r": "16"])
        let history = try client.call(.GET, "metrics/get-history", query: [("run_id", id), ("metric_key", "loss")], as: JSONValue.self)
        let points = (history["metrics"]?.array ?? []).map { ($0["step"]?.int ?? -1, $0["value"]?.double ?? .nan) }
        XCTAssertEqual(points.map(\.0), [10, 20])
        XCTAssertEqual(points.map(\.1), [2.5, 1.25])
        try mirrorRoundTrip(client: client)
    }

    /// The store's registry mirrored in MLflow's through registrations, promotion to Staging
    /// (challenger), to Production (champion, archiving), rollback and free aliases; every mirror is
    /// checked against what the server then reports, and a second mirror changes nothing.
    func mirrorRoundTrip(client: MLflowClient) throws {
        let store = try Store(directory: tmp("mirror-store"))
        var files: [String] = []
        for (i, bytes) in ["A", "B", "C"].enumerated() {
            let dir = tmp("adapter-\(i)")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try bytes.write(toFile: dir + "/adapter_model.safetensors", atomically: true, encoding: .utf8)
            try "{}".write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
            files.append(dir)
        }
        func deploy(_ i: Int) throws {
            let runId = "deploy-test-\(i)"
            try store.record(RunRecord(id: runId, kind: "deploy", created: 1_790_000_000 + Double(i), metrics: ["weighted_score": [MetricPoint(step: 0, value: Double(i))]]))
            _ = try store.register(name: "spell", sourceDir: files[i], score: Double(i), runId: runId,
                                   decide: { _ in Store.Promotion(stage: "Production", alias: "champion", archiveExisting: true) }, hash: { try Checksum.sha256(file: $0) })
        }
        /// MLflow's view, in store numbering: stage per version, alias → version.
        func remote() throws -> (stages: [Int: String], aliases: [String: Int]) {
            let mirrored = try client.mirroredVersions("spell")
            let number = Dictionary(uniqueKeysWithValues: mirrored.map { ($0.value.mlflow, $0.key) })
            let got = try client.call(.GET, "registered-models/get", query: [("name", "spell")], as: JSONValue.self)
            var aliases: [String: Int] = [:]
            for a in got["registered_model"]?["aliases"]?.array ?? [] {
                if let name = a["alias"]?.string, let v = a["version"]?.string, let n = number[v] { aliases[name] = n }
            }
            return (mirrored.mapValues(\.stage), aliases)
        }
        func local() throws -> (stages: [Int: String], aliases: [String: Int]) {
            let vs = try store.versions(of: "spell")
            var aliases: [String: Int] = [:]
            for v in vs { for a in v.aliases { aliases[a] = v.version } }
            return (Dictionary(uniqueKeysWithValues: vs.map { ($0.version, $0.stage.rawValue) }), aliases)
        }
        func syncAndCheck(_ label: String) throws {
            let report = try RegistryMirror.sync(store: store, name: "spell", client: client)
            XCTAssertTrue(report.skipped.isEmpty, "\(label): \(report.lines)")
            let (r, l) = (try remote(), try local())
            XCTAssertEqual(r.stages, l.stages, label)
            XCTAssertEqual(r.aliases, l.aliases, label)
            XCTAssertTrue(try RegistryMirror.sync(store: store, name: "spell", client: client).lines.isEmpty, "\(label): a second mirror changes nothing")
        }
        try deploy(0)
        try syncAndCheck("first deployment")
        XCTAssertEqual(try remote().aliases, ["champion": 1])
        try deploy(1)
        try deploy(2)   // two deployments while MLflow was not told: both are created by the next mirror
        try syncAndCheck("v2, v3 deployed")
        XCTAssertEqual(try remote().stages, [1: "Archived", 2: "Archived", 3: "Production"])
        _ = try store.promote(name: "spell", version: 2, stage: "Staging")
        try syncAndCheck("v2 to Staging")
        XCTAssertEqual(try remote().aliases, ["champion": 3, "challenger": 2])
        _ = try store.rollback(name: "spell")
        try store.setAlias(name: "spell", alias: "first", version: 1)
        try syncAndCheck("rollback to v2 and a free alias")
        XCTAssertEqual(try remote().stages, [1: "Archived", 2: "Production", 3: "Archived"])
        XCTAssertEqual(try remote().aliases, ["champion": 2, "first": 1])
        try store.setAlias(name: "spell", alias: "first", version: nil)
        try syncAndCheck("alias removed")
        // Another store (reset, or another machine's) deploys its own v1 under the same name: its mirror
        // creates a version for it and archives the first store's Production version, which is not its own.
        let other = try Store(directory: tmp("mirror-store-2"))
        try other.record(RunRecord(id: "deploy-other-1", kind: "deploy", created: 1_790_000_100))
        let otherFiles = tmp("adapter-other")
        try FileManager.default.createDirectory(atPath: otherFiles, withIntermediateDirectories: true)
        try "D".write(toFile: otherFiles + "/adapter_model.safetensors", atomically: true, encoding: .utf8)
        _ = try other.register(name: "spell", sourceDir: otherFiles, score: 9, runId: "deploy-other-1",
                               decide: { _ in Store.Promotion(stage: "Production", alias: "champion", archiveExisting: true) }, hash: { try Checksum.sha256(file: $0) })
        let foreign = try RegistryMirror.sync(store: other, name: "spell", client: client)
        XCTAssertEqual(foreign.created.count, 1, "\(foreign.lines)")
        XCTAssertTrue(foreign.transitions.contains { $0.contains("another store's v2") }, "\(foreign.lines)")
        // An MLflow version's files are the store version's.
        let mv = try XCTUnwrap(try client.mirroredVersions("spell")[3]?.mlflow)
        let got = try client.call(.GET, "model-versions/get", query: [("name", "spell"), ("version", mv)], as: JSONValue.self)
        XCTAssertTrue((got["model_version"]?["source"]?.string ?? "").hasSuffix("/model-v3"))
    }

    /// An unreachable server: the run is queued with a warning, and `runs sync` sends it once the server is up.
    func testUnreachableServerQueuesThenSyncs() throws {
        guard shell("command -v mlflow") == 0 else { throw XCTSkip("MLflow is not installed (pip install mlflow)") }
        let port = freePort()
        let store = try Store(directory: tmp("queue-store"))
        let run = RunRecord(id: "eval-test-queued", kind: "eval", created: 1_790_000_000, metrics: ["acc": [MetricPoint(step: 0, value: 0.5)]])
        setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:\(port)", 1)
        defer { unsetenv("MLFLOW_TRACKING_URI") }
        let line = try XCTUnwrap(MLflowQueue.deliver(run, store: store)).line
        XCTAssertTrue(line.contains("queued"), line)
        XCTAssertTrue(FileManager.default.fileExists(atPath: store.directory + "/mlflow-queue/eval-test-queued.json"))
        let (url, stop) = try startServer(port: port)
        defer { stop() }
        let (sent, failed) = MLflowQueue.sync(store: store, uri: url)
        XCTAssertEqual(sent, ["eval-test-queued"])
        XCTAssertTrue(failed.isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: store.directory + "/mlflow-queue/eval-test-queued.json"))
    }
}
