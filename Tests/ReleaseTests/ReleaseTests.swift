// The release gate: the decision table, the weighted score, registration that is atomic and
// serialised between processes, promotion, rollback, and a damaged store named clearly.
import Foundation
import ModelFormats
import Records
@testable import Release
import TestSupport
import XCTest

final class ReleaseTests: XCTestCase {
    func tmp(_ n: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("release-\(getpid())-\(n)").path }

    func testDecisionTable() {
        let t = 0.001
        XCTAssertEqual(Gate.decide(score: 0.2, history: [], threshold: t, force: false).outcome, .firstModel)
        XCTAssertEqual(Gate.decide(score: 0.30, history: [0.1, 0.25], threshold: t, force: false).outcome, .improved)
        XCTAssertEqual(Gate.decide(score: 0.20, history: [0.1, 0.25], threshold: t, force: false).outcome, .notImproved)    // worse
        XCTAssertEqual(Gate.decide(score: 0.25, history: [0.1, 0.25], threshold: t, force: false).outcome, .notImproved)    // equal
        XCTAssertEqual(Gate.decide(score: 0.2505, history: [0.25], threshold: t, force: false).outcome, .notImproved)       // within threshold
        XCTAssertEqual(Gate.decide(score: 0.2515, history: [0.25], threshold: t, force: false).outcome, .improved)          // beyond it
        XCTAssertEqual(Gate.decide(score: 0.1, history: [0.25], threshold: t, force: true).outcome, .forced)
        XCTAssertTrue(Gate.decide(score: 0.2505, history: [0.25], threshold: t, force: false).reason.contains("no more than the threshold"))
    }

    func testWeightedScore() throws {
        var m = HeadlineMetrics()
        m.bleu1 = 0.5; m.bleu2 = 0.4; m.bleu3 = 0.3; m.bleu4 = 0.2; m.rougeLPrecision = 0.6
        let s = try Gate.score(m, weights: Gate.defaultWeights, source: "x")
        XCTAssertEqual(s.score, 0.10 * 0.5 + 0.15 * 0.4 + 0.25 * 0.3 + 0.40 * 0.2 + 0.10 * 0.6, accuracy: 1e-12)
        XCTAssertEqual(s.components.map(\.metric), ["bleu_1", "bleu_2", "bleu_3", "bleu_4", "rouge_l_precision"])
        m.accuracy["letter_count"] = Proportion(n: 10, correct: 4, accuracy: 0.4, ci95: [0.1, 0.7])
        XCTAssertEqual(try Gate.score(m, weights: ["letter_count_accuracy": 1], source: "x").score, 0.4)
        XCTAssertThrowsError(try Gate.score(m, weights: ["bleu5": 1], source: "x")) { XCTAssertTrue("\($0)".contains("names no metric"), "\($0)") }
        XCTAssertThrowsError(try Gate.score(m, weights: ["bleu1": -1], source: "x"))
        XCTAssertThrowsError(try Gate.score(m, weights: ["bleu1": 0], source: "x"))
        XCTAssertThrowsError(try Gate.score(HeadlineMetrics(), weights: ["bleu1": 1], source: "r.json")) { XCTAssertTrue("\($0)".contains("r.json"), "\($0)") }
    }

    func adapter(_ name: String, bytes: String) throws -> String {
        let dir = tmp("adapter-" + name)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try bytes.write(toFile: dir + "/adapter_model.safetensors", atomically: true, encoding: .utf8)
        try "{}".write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
        return dir
    }

    func testRegisterPromoteRollback() throws {
        let store = try Store(directory: tmp("store"))
        let a = try adapter("a", bytes: "A"), b = try adapter("b", bytes: "B")
        let promote = Store.Promotion(stage: "Production", alias: "champion", archiveExisting: true)
        let v1 = try XCTUnwrap(try store.register(name: "m", sourceDir: a, score: 0.1, runId: nil, decide: { _ in promote }, hash: { try SHA256.hex(file: $0) }))
        let v2 = try XCTUnwrap(try store.register(name: "m", sourceDir: b, score: 0.2, runId: nil, decide: { _ in promote }, hash: { try SHA256.hex(file: $0) }))
        XCTAssertEqual(v2.changes, [StageChange(version: 1, from: "Production", to: "Archived"), StageChange(version: 2, from: "None", to: "Production")])
        XCTAssertNotEqual(v1.version.sha256, v2.version.sha256)
        // Versions are immutable copies: changing the source changes nothing registered.
        try "changed".write(toFile: a + "/adapter_model.safetensors", atomically: true, encoding: .utf8)
        XCTAssertEqual(try String(contentsOfFile: v1.version.path + "/adapter_model.safetensors", encoding: .utf8), "A")
        var vs = try store.versions(of: "m")
        XCTAssertEqual(vs.map(\.stage), ["Archived", "Production"])
        XCTAssertEqual(vs.last?.aliases, ["champion"])
        _ = try store.rollback(name: "m")
        vs = try store.versions(of: "m")
        XCTAssertEqual(vs.map(\.stage), ["Production", "Archived"])
        XCTAssertEqual(vs.first?.aliases, ["champion"])
        // A decision not to register leaves nothing behind.
        XCTAssertNil(try store.register(name: "m", sourceDir: b, score: 0.0, runId: nil, decide: { _ in nil }, hash: { try SHA256.hex(file: $0) }))
        XCTAssertEqual(try store.versions(of: "m").count, 2)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.directory + "/models/m").sorted(), ["v1", "v2"])
        XCTAssertThrowsError(try store.promote(name: "m", version: 9, stage: "Production")) { XCTAssertTrue("\($0)".contains("no version 9"), "\($0)") }
        XCTAssertThrowsError(try store.rollback(name: "nope")) { XCTAssertTrue("\($0)".contains("no registered model"), "\($0)") }
    }

    func testRunsRoundTrip() throws {
        let store = try Store(directory: tmp("runs"))
        let run = RunRecord(id: "train-1", kind: "train", created: 1, params: ["lr": "1e-3"],
                            metrics: ["loss": [MetricPoint(step: 10, value: 2.5), MetricPoint(step: 20, value: 1.5)]],
                            artifacts: ["final/adapter_model.safetensors": "ab"], lineage: ["dataset_manifest": "cd"], parents: ["data-1"])
        try store.record(run)
        XCTAssertEqual(try store.run("train-1"), run)
        XCTAssertEqual(try store.runs(kind: "train").map(\.id), ["train-1"])
        XCTAssertThrowsError(try store.run("nope")) { XCTAssertTrue("\($0)".contains("runs list"), "\($0)") }
    }

    func testDamagedStoreIsAClearError() throws {
        let dir = tmp("damaged")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try String(repeating: "not a database ", count: 100).write(toFile: dir + "/registry.sqlite", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try Store(directory: dir)) { XCTAssertTrue("\($0)".contains("move it away"), "\($0)") }
    }

    /// Two processes registering at once both land, as consecutive versions, and only one is Production.
    func testConcurrentRegistrationsSerialise() throws {
        let bin = TestPaths.root + "/.build/debug/strawberry"
        guard FileManager.default.isExecutableFile(atPath: bin) else { throw XCTSkip("\(bin) is not built (swift build)") }
        let store = tmp("concurrent"), report = tmp("report")
        try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
        var m = HeadlineMetrics()
        m.bleu1 = 0.5; m.bleu2 = 0.4; m.bleu3 = 0.3; m.bleu4 = 0.2; m.rougeLPrecision = 0.6
        try RecordFile.write(EvaluationResults(baseModel: .init(metrics: HeadlineMetrics(), source: nil), finetunedModel: .init(metrics: m, source: nil)),
                             to: report + "/evaluation_results.json")
        var procs: [Process] = []
        for i in 0..<4 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = ["deploy", "--evaluation-results", report, "--adapter", try adapter("c\(i)", bytes: "C\(i)"), "--store", store,
                           "--output-dir", tmp("out-\(i)"), "--force-deploy", "--json"]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            procs.append(p)
        }
        for p in procs { p.waitUntilExit(); XCTAssertEqual(p.terminationStatus, 0) }
        let vs = try Store(directory: store).versions(of: "strawberry-spelling-lora")
        XCTAssertEqual(vs.map(\.version), [1, 2, 3, 4])
        XCTAssertEqual(vs.filter { $0.stage == "Production" }.count, 1)
        XCTAssertEqual(vs.filter { $0.aliases.contains("champion") }.map(\.stage), ["Production"])
        XCTAssertEqual(try Store(directory: store).runs(kind: "deploy").count, 4)
    }
}
