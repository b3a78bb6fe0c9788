// The committed experiment (results/experiment) is intact and is what the README shows: every file
// matches MANIFEST.sha256, every record reads back typed, each report's figures recompute from the
// committed per-item records, and README's results table is the summary's table verbatim.
import Evaluation
import Experiment
import Foundation
import Hashing
import ModelFormats
import Records
import TestSupport
import XCTest

final class ResultsTests: XCTestCase {
    var results: String { TestPaths.root + "/results/experiment" }

    func requireResults() throws {
        guard FileManager.default.fileExists(atPath: results + "/MANIFEST.sha256") else {
            throw XCTSkip("results/experiment is not committed yet (make reproduce)")
        }
    }

    func testManifestMatchesEveryFile() throws {
        try requireResults()
        let manifest = try String(contentsOfFile: results + "/MANIFEST.sha256", encoding: .utf8)
        var listed = Set<String>()
        for line in manifest.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            XCTAssertEqual(parts.count, 2, String(line))
            guard parts.count == 2 else { continue }
            let path = parts[1].trimmingCharacters(in: .whitespaces)
            listed.insert(path)
            XCTAssertEqual(try Checksum.sha256(file: results + "/" + path), parts[0], path)
        }
        let all = FileManager.default.enumerator(atPath: results)?.compactMap { $0 as? String }
            .filter { !isDirectory(results + "/" + $0) && $0 != "MANIFEST.sha256" } ?? []
        XCTAssertEqual(Set(all), listed, "files not in the manifest, or listed files missing")
    }

    func testReadmeTableIsTheSummaryTable() throws {
        try requireResults()
        let table = try String(contentsOfFile: results + "/summary/results_table.md", encoding: .utf8)
        let readme = try String(contentsOfFile: TestPaths.root + "/README.md", encoding: .utf8)
        XCTAssertTrue(readme.contains("<!-- results-table:begin -->\n" + table + "<!-- results-table:end -->"),
                      "README's results table differs from results/experiment/summary/results_table.md: run scripts/collect-results.sh")
        let s = try RecordFile.read(SeedSummary.self, from: results + "/summary/summary.json")
        XCTAssertEqual(Summary.table(s), table)
        XCTAssertEqual(s.reports.count, 3)
    }

    /// Each seed's headline figures recompute from the committed items (decompressed here).
    func testReportsRecomputeFromCommittedItems() throws {
        try requireResults()
        func run(_ name: String) throws -> EvalRun {
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("results-\(getpid())-\(name)").path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            XCTAssertEqual(try shell("gzip -dc '\(results)/eval/\(name)/items.jsonl.gz' > '\(dir)/items.jsonl'").status, 0)
            try FileManager.default.copyItem(atPath: results + "/eval/\(name)/metrics.json", toPath: dir + "/metrics.json")
            return try EvalRun(dir: dir)
        }
        let base = try run("base-test")
        XCTAssertEqual(base.items.count, 6000)
        let reports = try FileManager.default.contentsOfDirectory(atPath: results + "/reports").sorted()
        XCTAssertEqual(reports.count, 3)
        for seed in reports {
            let ft = try run(seed + "-test")
            let committed = try RecordFile.read(EvaluationResults.self, from: results + "/reports/\(seed)/evaluation_results.json")
            XCTAssertEqual(Report.headline(ft), committed.finetunedModel.metrics, seed)
            XCTAssertEqual(Report.headline(base), committed.baseModel.metrics, seed)
        }
    }

    /// The experiments run by `strawberry experiment` (results/pilot, the recipe check's candidates in
    /// results/transfer-recipe, results/transfer once committed):
    /// every file matches its MANIFEST.sha256, the report recomputes from the committed files alone
    /// (spec.json; eval/**/metrics.json and items.jsonl.gz) equal to the committed report/experiment.json
    /// and results_table.md, and the README shows the transfer experiment's table verbatim.
    func testExperimentReportsRecomputeFromCommittedFiles() throws {
        var checked = 0
        let recipes = ((try? FileManager.default.contentsOfDirectory(atPath: TestPaths.root + "/results/transfer-recipe")) ?? []).sorted()
        for name in ["pilot", "transfer"] + recipes.map({ "transfer-recipe/" + $0 }) {
            let dir = TestPaths.root + "/results/" + name
            guard FileManager.default.fileExists(atPath: dir + "/spec.json") else { continue }
            checked += 1
            let manifest = try String(contentsOfFile: dir + "/MANIFEST.sha256", encoding: .utf8)
            var listed = Set<String>()
            for line in manifest.split(separator: "\n") {
                let parts = line.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2 else { XCTFail("\(name): \(line)"); continue }
                listed.insert(parts[1])
                XCTAssertEqual(try Checksum.sha256(file: dir + "/" + parts[1]), parts[0], "\(name)/\(parts[1])")
            }
            let all = FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String }
                .filter { !isDirectory(dir + "/" + $0) && $0 != "MANIFEST.sha256" } ?? []
            XCTAssertEqual(Set(all), listed, "\(name): files not in the manifest, or listed files missing")
            var spec = try RecordFile.read(ExperimentSpec.self, from: dir + "/spec.json")
            spec.out = dir
            let report = try ExperimentAnalysis.report(ExperimentRunner(spec: spec))
            XCTAssertEqual(report, try RecordFile.read(ExperimentReport.self, from: dir + "/report/experiment.json"), name)
            let table = ExperimentAnalysis.resultsTable(report)
            XCTAssertEqual(table, try String(contentsOfFile: dir + "/report/results_table.md", encoding: .utf8), name)
            if name == "transfer" {
                let readme = try String(contentsOfFile: TestPaths.root + "/README.md", encoding: .utf8)
                XCTAssertTrue(readme.contains("<!-- transfer-table:begin -->\n" + table + "<!-- transfer-table:end -->"),
                              "README's transfer table differs from results/transfer/report/results_table.md")
            }
        }
        if checked == 0 { throw XCTSkip("no experiment results are committed yet") }
    }
}
