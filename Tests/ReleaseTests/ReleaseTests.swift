// The release gate: the decision table, the weighted score, registration that is atomic and
// serialised between processes, promotion, rollback, and a damaged store named clearly.
import Foundation
import Hashing
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

    /// A PEFT adapter that loads (one module, r 2, values from `seed`), `floats` wide: what deploy accepts.
    func validAdapter(_ name: String, seed: Float, width: Int = 8) throws -> String {
        try makeValidAdapter(at: tmp("valid-adapter-" + name), seed: seed, width: width)
    }

    func testRegisterPromoteRollback() throws {
        let store = try Store(directory: tmp("store"))
        let a = try adapter("a", bytes: "A"), b = try adapter("b", bytes: "B")
        let promote = Store.Promotion(stage: "Production", alias: "champion", archiveExisting: true)
        let v1 = try XCTUnwrap(try store.register(name: "m", sourceDir: a, score: 0.1, runId: nil, decide: { _ in promote }, hash: { try Checksum.sha256(file: $0) }))
        let v2 = try XCTUnwrap(try store.register(name: "m", sourceDir: b, score: 0.2, runId: nil, decide: { _ in promote }, hash: { try Checksum.sha256(file: $0) }))
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
        // A rolled-back version is not what the next rollback brings back: v3 arrives, rollback returns to v1
        // (the version in Production before v3), not to v2.
        let c = try adapter("c", bytes: "C")
        _ = try store.register(name: "m", sourceDir: c, score: 0.3, runId: nil, decide: { _ in promote }, hash: { try Checksum.sha256(file: $0) })
        _ = try store.rollback(name: "m")
        XCTAssertEqual(try store.versions(of: "m").map(\.stage), ["Production", "Archived", "Archived"])
        // A version leaving Production loses the champion alias.
        _ = try store.promote(name: "m", version: 1, stage: "Archived")
        XCTAssertEqual(try store.versions(of: "m").flatMap(\.aliases), [])
        // A directory without a row keeps its number: the next version does not replace it.
        try FileManager.default.createDirectory(atPath: store.directory + "/models/m/v4", withIntermediateDirectories: true)
        try "keep".write(toFile: store.directory + "/models/m/v4/notes.txt", atomically: true, encoding: .utf8)
        let v5 = try XCTUnwrap(try store.register(name: "m", sourceDir: c, score: 0.3, runId: nil, decide: { _ in promote }, hash: { try Checksum.sha256(file: $0) }))
        XCTAssertEqual(v5.version.version, 5)
        XCTAssertEqual(try String(contentsOfFile: store.directory + "/models/m/v4/notes.txt", encoding: .utf8), "keep")
        XCTAssertThrowsError(try store.register(name: "M", sourceDir: c, score: 0.3, runId: nil, decide: { _ in promote }, hash: { try Checksum.sha256(file: $0) })) {
            XCTAssertTrue("\($0)".contains("only in case"), "\($0)")
        }
        // A decision not to register leaves nothing behind.
        XCTAssertNil(try store.register(name: "m", sourceDir: b, score: 0.0, runId: nil, decide: { _ in nil }, hash: { try Checksum.sha256(file: $0) }))
        XCTAssertEqual(try store.versions(of: "m").count, 4)   // v1, v2, v3, v5 (v4 is not a version)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store.directory + "/models/m").filter { !$0.hasPrefix(".") }.sorted(), ["v1", "v2", "v3", "v4", "v5"])
        XCTAssertThrowsError(try store.promote(name: "m", version: 9, stage: "Production")) { XCTAssertTrue("\($0)".contains("no version 9"), "\($0)") }
        XCTAssertThrowsError(try store.rollback(name: "nope")) { XCTAssertTrue("\($0)".contains("no registered model"), "\($0)") }
    }

    /// champion follows Production and challenger follows Staging; other aliases are free, with MLflow's rules.
    func testStageAliasesAndFreeAliases() throws {
        let store = try Store(directory: tmp("aliases"))
        let promote = Store.Promotion(stage: "Production", alias: "champion", archiveExisting: true)
        for (i, b) in ["A", "B", "C"].enumerated() {
            let p: Store.Promotion = i == 0 ? promote : .registerOnly   // the first to Production, the others registered only
            _ = try store.register(name: "m", sourceDir: try adapter("al\(i)", bytes: b), score: Double(i), runId: nil, decide: { _ in p },
                                   hash: { try Checksum.sha256(file: $0) })
        }
        func aliases() throws -> [Int: [String]] { Dictionary(uniqueKeysWithValues: try store.versions(of: "m").map { ($0.version, $0.aliases) }) }
        XCTAssertEqual(try store.versions(of: "m").map(\.stage), ["Production", "None", "None"])
        _ = try store.promote(name: "m", version: 2, stage: "Staging")
        XCTAssertEqual(try aliases(), [1: ["champion"], 2: ["challenger"], 3: []])
        // A second Staging version archives the first and takes the alias.
        _ = try store.promote(name: "m", version: 3, stage: "Staging")
        XCTAssertEqual(try aliases(), [1: ["champion"], 2: [], 3: ["challenger"]])
        XCTAssertEqual(try store.versions(of: "m").map(\.stage), ["Production", "Archived", "Staging"])
        // The challenger wins: it becomes champion and leaves Staging (and its alias) behind.
        _ = try store.promote(name: "m", version: 3, stage: "Production")
        XCTAssertEqual(try aliases(), [1: [], 2: [], 3: ["champion"]])
        XCTAssertEqual(try store.versions(of: "m").map(\.stage), ["Archived", "Archived", "Production"])
        // Two versions kept in Production: the alias is on the newer; when it leaves, the alias goes back to the other.
        _ = try store.promote(name: "m", version: 1, stage: "Production", archiveExisting: false)
        XCTAssertEqual(try aliases(), [1: ["champion"], 2: [], 3: []])
        _ = try store.promote(name: "m", version: 1, stage: "Archived")
        XCTAssertEqual(try aliases(), [1: [], 2: [], 3: ["champion"]])
        // Free aliases move between versions and can be removed.
        XCTAssertNil(try store.setAlias(name: "m", alias: "baseline-2026", version: 1))
        XCTAssertEqual(try store.setAlias(name: "m", alias: "baseline-2026", version: 2), 1)
        XCTAssertEqual(try aliases()[2], ["baseline-2026"])
        XCTAssertEqual(try store.setAlias(name: "m", alias: "baseline-2026", version: nil), 2)
        XCTAssertEqual(try aliases().values.flatMap { $0 }, ["champion"])
        for bad in ["champion", "Challenger", "latest", "v3", "V12", "9lives", "a b", "é", ""] {
            XCTAssertThrowsError(try store.setAlias(name: "m", alias: bad, version: 1), bad)
        }
        XCTAssertTrue(Store.validAlias("v3b") && Store.validAlias("vNext") && Store.validAlias("x_1-y"))
        XCTAssertThrowsError(try store.setAlias(name: "m", alias: "gone", version: nil)) { XCTAssertTrue("\($0)".contains("no alias"), "\($0)") }
        XCTAssertThrowsError(try store.setAlias(name: "m", alias: "x", version: 7)) { XCTAssertTrue("\($0)".contains("no version 7"), "\($0)") }
        XCTAssertThrowsError(try store.promote(name: "m", version: 1, stage: "Prod")) { XCTAssertTrue("\($0)".contains("not a stage"), "\($0)") }
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
            p.arguments = ["deploy", "--evaluation-results", report, "--adapter", try validAdapter("c\(i)", seed: Float(i)), "--store", store,
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

extension ReleaseTests {
    /// A command in a test directory whose store is its own.
    func shell(_ cmd: String, in dir: String) throws -> (status: Int32, output: String) {
        try TestSupport.shell(cmd, in: dir, environment: ["STRAWBERRY_HOME": dir + "/home"])
    }

    /// The repository's dvc.yaml on a tiny configuration (the tiny Llama fixture): every stage runs
    /// once, and a second `dvc repro` runs nothing. Optional: needs DVC (pip install dvc).
    func testDVCPipelineRunsOnceThenNothing() throws {
        let bin = TestPaths.root + "/.build/debug/strawberry"
        guard FileManager.default.isExecutableFile(atPath: bin) else { throw XCTSkip("\(bin) is not built") }
        let dir = tmp("dvc")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        guard (try? shell("dvc --version", in: dir))?.status == 0 else { throw XCTSkip("DVC is not installed (pip install dvc)") }
        try FileManager.default.copyItem(atPath: TestPaths.root + "/dvc.yaml", toPath: dir + "/dvc.yaml")
        try ["strawberry", "committee", "banana", "queue", "necessary", "rhythm", "zebra", "mississippi", "bookkeeper", "quiz", "balloon", "coffee"]
            .joined(separator: "\n").write(toFile: dir + "/words.txt", atomically: true, encoding: .utf8)
        var params = try String(contentsOfFile: TestPaths.root + "/params.yaml", encoding: .utf8)
        for (from, to) in [
            ("strawberry: .build/release/strawberry", "strawberry: \(bin)"),
            ("model: assets/SmolLM2-135M-Instruct.Q4_1.gguf", "model: \(TestPaths.fixtures)/models/llama"),
            (#"  flags: ""                                  # e.g. "--words FILE --validation-size 2 --test-size 3""#,
             #"  flags: "--words words.txt --validation-size 2 --test-size 3""#),
            ("  config: configs/train-smollm2.yaml", "  config: \(TestPaths.root)/configs/train-smollm2.yaml"),
            (#"  overrides: "--set max_steps=60 --set eval_steps=20 --set save_steps=60""#,
             #"  overrides: "--set max_steps=2 --set batch_size=2 --set chat_template=false --set eval_steps=0 --set save_steps=2""#),
            ("  limit: 50", "  limit: 3"),
            (#"  flags: ""                                  # e.g. "--no-chat-template""#, #"  flags: "--no-chat-template --batch-size 4""#),
        ] {
            XCTAssertTrue(params.contains(from), from)
            params = params.replacingOccurrences(of: from, with: to)
        }
        try params.write(toFile: dir + "/params.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try shell("dvc init --no-scm -q", in: dir).status, 0)
        let first = try shell("dvc repro", in: dir)
        XCTAssertEqual(first.status, 0, first.output)
        for stage in ["data", "train", "eval_base", "eval_finetuned", "compare", "deploy"] {
            XCTAssertTrue(first.output.contains("Running stage '\(stage)'"), "\(stage): \(first.output)")
        }
        let info = try RecordFile.read(DeploymentInfo.self, from: dir + "/results/deployment/deployment_info.json")
        XCTAssertEqual(info.decision, "first_model")
        let second = try shell("dvc repro", in: dir)
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertFalse(second.output.contains("Running stage"), second.output)
    }
}

extension ReleaseTests {
    /// `deploy` killed (SIGKILL) at many points: the store never holds a half-registered version —
    /// every version's files are complete and match its hash, one version at most is Production and
    /// champion points at it — and the next deployment works.
    func testKilledDeployLeavesNoHalfVersion() throws {
        let bin = TestPaths.root + "/.build/debug/strawberry"
        guard FileManager.default.isExecutableFile(atPath: bin) else { throw XCTSkip("\(bin) is not built") }
        let store = tmp("killed"), report = tmp("killed-report")
        try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
        var m = HeadlineMetrics()
        m.bleu1 = 0.5; m.bleu2 = 0.4; m.bleu3 = 0.3; m.bleu4 = 0.2; m.rougeLPrecision = 0.6
        try RecordFile.write(EvaluationResults(baseModel: .init(metrics: HeadlineMetrics(), source: nil), finetunedModel: .init(metrics: m, source: nil)),
                             to: report + "/evaluation_results.json")
        // A larger adapter makes the copy and hash take long enough to be interrupted inside them.
        let big = try validAdapter("big", seed: 1, width: 1 << 20)
        func deploy() throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: bin)
            p.arguments = ["deploy", "--evaluation-results", report, "--adapter", big, "--store", store, "--output-dir", tmp("killed-out"), "--force-deploy"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            return p
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<12 {
            let p = try deploy()
            usleep(UInt32.random(in: 0...150_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let s = try Store(directory: store)
            for name in try s.models() {
                let vs = try s.versions(of: name)
                for v in vs {
                    XCTAssertEqual(try Store.treeHash(v.path) { try Checksum.sha256(file: $0) }, v.sha256, "v\(v.version) is incomplete")
                }
                XCTAssertLessThanOrEqual(vs.filter { $0.stage == "Production" }.count, 1)
                XCTAssertEqual(vs.filter { $0.aliases.contains("champion") }.map(\.stage).filter { $0 != "Production" }, [])
            }
        }
        let last = try deploy()
        last.waitUntilExit()
        XCTAssertEqual(last.terminationStatus, 0)
        let vs = try Store(directory: store).versions(of: "strawberry-spelling-lora")
        XCTAssertEqual(vs.last?.stage, "Production")
        // No staging leftovers of killed processes survive a registration.
        let left = try FileManager.default.contentsOfDirectory(atPath: store + "/models/strawberry-spelling-lora").filter { $0.hasPrefix(".staging-") }
        XCTAssertEqual(left, [])
    }
}

extension ReleaseTests {
    /// The CI workflow passes the workflow checkers that are installed: actionlint (expressions, shell,
    /// action inputs), check-jsonschema against its vendored GitHub workflow schema, and zizmor's
    /// offline security audits (unpinned actions, persisted credentials, template injection). Skipped
    /// when none is; .ci/run installs the last two (actionlint has no offline install).
    func testWorkflowLints() throws {
        let wf = TestPaths.root + "/.github/workflows/pipeline.yml"
        let text = try String(contentsOfFile: wf, encoding: .utf8)
        XCTAssertTrue(text.contains("force_deploy:") && text.contains("--force-deploy"))
        let checkers = [("actionlint", "actionlint \(wf)"),
                        ("check-jsonschema", "check-jsonschema --builtin-schema vendor.github-workflows \(wf)"),
                        ("zizmor", "zizmor --offline --no-progress \(wf)")]
        var ran: [String] = []
        for (tool, cmd) in checkers where (try? shell("command -v \(tool)", in: TestPaths.root))?.status == 0 {
            let r = try shell(cmd, in: TestPaths.root)
            XCTAssertEqual(r.status, 0, "\(tool): \(r.output)")
            ran.append(tool)
        }
        if ran.isEmpty { throw XCTSkip("no workflow checker installed (actionlint, check-jsonschema, zizmor)") }
    }
}
