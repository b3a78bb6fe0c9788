// The release surface under hostile and careless input, one test per class of failure: numbers
// outside their domain, duplicate keys, a damaged store, a held lock, special files, links, paths
// that hold one another, an output directory that is not really empty.
import Foundation
import Hashing
import ModelFormats
import Records
@testable import Release
import TestSupport
import XCTest

/// A PEFT adapter that loads (one module, r 2, values from `seed`), `width` inputs wide: what deploy accepts.
func makeValidAdapter(at dir: String, seed: Float, width: Int = 8) throws -> String {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let m = "base_model.model.model.layers.0.self_attn.q_proj"
    try SafetensorsWriter.write([m + ".lora_A.weight": ([2, width], (0..<(2 * width)).map { seed + Float($0 % 97) / 97 }),
                                 m + ".lora_B.weight": ([4, 2], (0..<8).map { seed - Float($0) / 8 })], to: dir + "/adapter_model.safetensors")
    try #"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"}"#
        .write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
    return dir
}

final class HardeningTests: XCTestCase {
    func tmp(_ n: String) -> String {
        let p = FileManager.default.temporaryDirectory.appendingPathComponent("hardening-\(getpid())-\(n)").path
        try? FileManager.default.removeItem(atPath: p)
        return p
    }

    func validAdapter(_ name: String, seed: Float) throws -> String { try makeValidAdapter(at: tmp("adapter-" + name), seed: seed) }

    func write(_ text: String, _ name: String) throws -> String {
        let p = tmp(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    func results(_ finetuned: String) -> String {
        #"{"base_model": {"metrics": {"bleu_1": 0.1}}, "finetuned_model": {"metrics": {\#(finetuned)}}}"#
    }

    /// Counts, accuracies, scores and intervals are checked where they are decoded: a value out of
    /// its domain is refused naming the field, and never reaches arithmetic that traps.
    func testNumbersOutsideTheirDomainAreRefused() throws {
        let bad = [
            #""spelling_accuracy": 0.5, "spelling_accuracy_n": 9223372036854775807"#,
            #""spelling_accuracy": 0.5, "spelling_accuracy_n": -3"#,
            #""spelling_accuracy": 1.5"#,
            #""bleu_1": 1e300"#, #""bleu_4": -1000"#, #""rouge_l_precision": 1.0000001"#,
            #""normalized_levenshtein": 2"#, #""unparseable_rate": -0.1"#,
            #""spelling_accuracy": 0.5, "spelling_accuracy_ci95": [0.6, 0.4]"#,
            #""spelling_accuracy": 0.5, "spelling_accuracy_ci95": [0.1, 7]"#,
        ]
        for (i, b) in bad.enumerated() {
            let p = try write(results(b), "results-\(i).json")
            XCTAssertThrowsError(try RecordFile.read(EvaluationResults.self, from: p), b) { e in
                XCTAssertTrue("\(e)".contains("finetuned_model.metrics."), "\(b): \(e)")
            }
        }
        let good = try write(results(#""spelling_accuracy": 0.5, "spelling_accuracy_n": 9007199254740992, "bleu_1": 1, "bleu_4": 0"#), "results-good.json")
        XCTAssertEqual(try RecordFile.read(EvaluationResults.self, from: good).finetunedModel.metrics.accuracy["spelling"]?.n, 1 << 53)
        // metrics.json groups: counts within n, rates in [0, 1].
        let group = #"{"n": 10, "correct": 11, "accuracy": 0.5, "accuracy_ci95": [0.2, 0.8], "unparseable": 0, "truncated": 0}"#
        XCTAssertThrowsError(try RecordFile.read(GroupMetrics.self, from: try write(group, "group.json"))) { XCTAssertTrue("\($0)".contains("correct"), "\($0)") }
    }

    /// A key given twice is refused, in records and in what a server answers.
    func testDuplicateKeysAreRefused() throws {
        let p = try write(#"{"base_model": {"metrics": {}}, "finetuned_model": {"metrics": {"bleu_1": 0.9, "bleu_1": 0.1}}}"#, "dup.json")
        XCTAssertThrowsError(try RecordFile.read(EvaluationResults.self, from: p)) { XCTAssertTrue("\($0)".contains("duplicate"), "\($0)") }
        XCTAssertThrowsError(try RecordFile.decode(JSONValue.self, Data(#"{"a": 1, "a": 2}"#.utf8), path: "answer", line: nil))
    }

    /// Version numbers that leave no next one are an error, not an overflow trap.
    func testVersionNumberThatCannotGrowIsAnError() throws {
        let store = try Store(directory: tmp("overflow-store"))
        try FileManager.default.createDirectory(atPath: store.directory + "/models/m/v\(Int.max)", withIntermediateDirectories: true)
        let a = try validAdapter("overflow", seed: 1)
        XCTAssertThrowsError(try store.register(name: "m", sourceDir: a, score: 1, runId: nil, decide: { _ in .registerOnly })) {
            XCTAssertTrue("\($0)".contains("leaves no next one"), "\($0)")
        }
    }

    func sqlite(_ db: String, _ sql: String) throws {
        let r = try shell("sqlite3 '\(db)' \"\(sql)\"")
        XCTAssertEqual(r.status, 0, r.output)
    }

    /// A hand-edited registry.sqlite: NULL where a value belongs, a stage that is not one, a column
    /// gone. Each read is a clean error naming the file and the column.
    func testDamagedRowsAreErrorsNamingTheColumn() throws {
        guard (try? shell("command -v sqlite3"))?.status == 0 else { throw XCTSkip("sqlite3 is needed to damage a store") }
        func fresh(_ name: String) throws -> Store {
            let s = try Store(directory: tmp(name))
            try s.record(RunRecord(id: "train-1", kind: "train", created: 1, params: ["lr": "1"]))
            _ = try s.register(name: "m", sourceDir: try validAdapter(name, seed: 1), score: 0.5, runId: nil, decide: { _ in .registerOnly })
            return s
        }
        let nullKind = try fresh("null-kind")
        try sqlite(nullKind.directory + "/registry.sqlite", """
            PRAGMA foreign_keys=OFF; CREATE TABLE r2 (id TEXT PRIMARY KEY, kind TEXT, created REAL, params TEXT, lineage TEXT, parents TEXT);
            INSERT INTO r2 SELECT * FROM runs; DROP TABLE runs; ALTER TABLE r2 RENAME TO runs; UPDATE runs SET kind = NULL;
            """)
        XCTAssertThrowsError(try Store(directory: nullKind.directory).runs()) { e in
            XCTAssertTrue("\(e)".contains("registry.sqlite") && "\(e)".contains("kind"), "\(e)")
        }
        let badStage = try fresh("bad-stage")
        try sqlite(badStage.directory + "/registry.sqlite", "UPDATE model_versions SET stage = 'Bogus';")
        XCTAssertThrowsError(try Store(directory: badStage.directory).versions(of: "m")) { e in
            XCTAssertTrue("\(e)".contains("registry.sqlite") && "\(e)".contains("stage"), "\(e)")
        }
        let noColumn = try fresh("no-column")
        try sqlite(noColumn.directory + "/registry.sqlite", "ALTER TABLE model_versions DROP COLUMN sha256;")
        XCTAssertThrowsError(try Store(directory: noColumn.directory).versions(of: "m")) { e in
            XCTAssertTrue("\(e)".contains("registry.sqlite") && "\(e)".contains("sha256"), "\(e)")
        }
        // A value of the wrong kind (text where a number belongs, a version beyond 2^53): SQLite would
        // hand it over as 0, so the store refuses to open instead.
        for (name, sql, column) in [("text-score", "UPDATE model_versions SET score = 'high';", "model_versions.score"),
                                    ("text-version", "UPDATE model_versions SET version = 'abc';", "model_versions.version"),
                                    ("huge-version", "UPDATE model_versions SET version = 9007199254740993;", "model_versions.version"),
                                    ("view", "DROP TABLE model_versions; CREATE VIEW model_versions AS SELECT 'm' name, 1 version, 'Production' stage, 0.5 score, NULL run_id, 'x' source, '/etc' path, 'aa' sha256, 0 created;", "model_versions is a view"),
                                    ("trigger", "CREATE TRIGGER t AFTER INSERT ON runs BEGIN DELETE FROM runs; END;", "trigger")] {
            let s = try fresh(name)
            try sqlite(s.directory + "/registry.sqlite", sql)
            XCTAssertThrowsError(try Store(directory: s.directory), name) { e in
                XCTAssertTrue("\(e)".contains("registry.sqlite") && "\(e)".contains(column), "\(e)")
            }
        }
        // The optional lookups degrade: lineage finds no parents rather than failing the command.
        XCTAssertEqual(RunTracker.parents(of: ["/nowhere"], store: nullKind.directory), [])
    }

    /// A process that holds the store's lock (stopped, say) delays others a bounded time, and the
    /// refusal names it.
    func testLockWaitIsBoundedAndNamesTheHolder() throws {
        let dir = tmp("locked")
        _ = try Store(directory: dir)
        try "999999\n".write(toFile: dir + "/registry.lock", atomically: false, encoding: .utf8)   // a stale pid is never named
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = ["python3", "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'r+'); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)",
                            dir + "/registry.lock"]
        let out = Pipe()
        holder.standardOutput = out
        try withDefaultSignalMask { try holder.run() }
        defer { holder.terminate(); holder.waitUntilExit() }
        _ = out.fileHandleForReading.availableData   // "held"
        let fd = open(dir + "/registry.lock", O_RDWR)
        defer { close(fd) }
        let start = Date()
        XCTAssertThrowsError(try Store.lock(fd, path: dir + "/registry.lock", timeout: 0.5)) { e in
            XCTAssertTrue("\(e)".contains("pid \(holder.processIdentifier)"), "\(e)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    }

    /// FIFOs, sockets and devices are never opened for hashing (a FIFO would block forever), and a
    /// registered version never holds a link.
    func testSpecialFilesAreRefusedNotRead() throws {
        let a = try validAdapter("fifo", seed: 1)
        XCTAssertEqual(mkfifo(a + "/pipe", 0o644), 0)
        XCTAssertThrowsError(try Checksum.sha256(file: a + "/pipe")) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try Store.treeHash(a))
        let store = try Store(directory: tmp("fifo-store"))
        XCTAssertThrowsError(try store.register(name: "m", sourceDir: a, score: 1, runId: nil, decide: { _ in .registerOnly })) {
            XCTAssertTrue("\($0)".contains("a FIFO"), "\($0)")
        }
        XCTAssertThrowsError(try Checksum.sha256(file: "/dev/zero"))
        // A FIFO in the place of a file a reader maps or reads: refused at once, not waited on.
        let b = try validAdapter("fifo-model", seed: 1)
        try FileManager.default.removeItem(atPath: b + "/adapter_model.safetensors")
        XCTAssertEqual(mkfifo(b + "/adapter_model.safetensors", 0o644), 0)
        XCTAssertThrowsError(try SafetensorsFile(path: b + "/adapter_model.safetensors")) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }
        XCTAssertThrowsError(try RecordFile.read(EvaluationResults.self, from: b + "/adapter_model.safetensors"))
    }

    /// --adapter given as a link: the version holds the bytes, and editing the adapter later changes
    /// nothing registered.
    func testLinkedAdapterIsRegisteredAsItsBytes() throws {
        let a = try validAdapter("linked", seed: 1), link = tmp("adapter-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: a)
        let store = try Store(directory: tmp("link-store"))
        let v = try XCTUnwrap(try store.register(name: "m", sourceDir: link, score: 1, runId: nil, decide: { _ in .registerOnly })).version
        XCTAssertNil(try? FileManager.default.destinationOfSymbolicLink(atPath: v.path))
        let before = try Data(contentsOf: URL(fileURLWithPath: v.path + "/adapter_model.safetensors"))
        try "changed".write(toFile: a + "/adapter_model.safetensors", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: v.path + "/adapter_model.safetensors")), before)
    }

    /// A store inside the adapter is refused before anything is copied: nothing is left behind in
    /// the user's directory.
    func testStoreInsideTheAdapterIsRefused() throws {
        let a = try validAdapter("nested", seed: 1)
        let before = try FileManager.default.contentsOfDirectory(atPath: a).sorted()
        let store = try Store(directory: a + "/store")
        XCTAssertThrowsError(try store.register(name: "m", sourceDir: a, score: 1, runId: nil, decide: { _ in .registerOnly })) {
            XCTAssertTrue("\($0)".contains("contains the store"), "\($0)")
        }
        let left = try FileManager.default.subpathsOfDirectory(atPath: a + "/store").filter { $0.contains(".staging-") }
        XCTAssertEqual(left, [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: a).sorted(), (before + ["store"]).sorted())
    }

    func deployRequest(_ name: String) throws -> DeployRequest {
        let report = tmp(name + "-report")
        try FileManager.default.createDirectory(atPath: report, withIntermediateDirectories: true)
        var m = HeadlineMetrics()
        m.bleu1 = 0.5; m.bleu2 = 0.4; m.bleu3 = 0.3; m.bleu4 = 0.2; m.rougeLPrecision = 0.6
        try RecordFile.write(EvaluationResults(baseModel: .init(metrics: HeadlineMetrics(), source: nil), finetunedModel: .init(metrics: m, source: nil)),
                             to: report + "/evaluation_results.json")
        var r = DeployRequest(evaluationResults: report, adapter: try validAdapter(name, seed: 1), store: tmp(name + "-store"))
        r.outputDir = tmp(name + "-out")
        return r
    }

    /// Output, store and adapter must not hold one another, in any combination, however spelled.
    func testDeployLocationsThatHoldOneAnotherAreRefused() throws {
        var r = try deployRequest("places")
        let adapter = r.adapter, store = r.store, link = tmp("places-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: adapter)
        let cases: [(out: String, store: String)] = [
            (adapter + "/out", store),          // output inside the adapter
            (store, store),                     // output is the store
            (store + "/../" + URL(fileURLWithPath: store).lastPathComponent, store),   // the same, spelled otherwise
            (tmp("places-out"), adapter + "/s"), // store inside the adapter
            (tmp("places-out"), adapter),        // store is the adapter
            (link + "/out", store),             // output inside the adapter, through a link, not yet existing
            (tmp("places-out"), link + "/store"), // the store likewise
        ]
        for c in cases {
            r.outputDir = c.out
            r.store = c.store
            XCTAssertThrowsError(try Deploy.run(r), "\(c)") { XCTAssertTrue("\($0)".contains("apart"), "\($0)") }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: adapter).sorted(), ["adapter_config.json", "adapter_model.safetensors"])
        XCTAssertFalse(fileExists(store + "/registry.sqlite"))
    }

    /// What deploy promotes is checked first: a failing check registers nothing.
    func testDeployChecksTheAdapterBeforeDeciding() throws {
        var r = try deployRequest("checked")
        r.verifyAdapter = { _ in throw DeployError.badRequest("garbage adapter") }
        XCTAssertThrowsError(try Deploy.run(r)) { XCTAssertTrue("\($0)".contains("garbage adapter"), "\($0)") }
        XCTAssertFalse(fileExists(r.store + "/registry.sqlite"))
    }
}
