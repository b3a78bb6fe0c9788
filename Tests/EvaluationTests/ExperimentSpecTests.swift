// What a spec asks the runner to do: the stages `seeds_per_arm` and `few_shot` add or leave out, and
// which later specs may continue an experiment (seeds added, an arm given more seeds) or not.
import Experiment
import Foundation
import Records
import TestSupport
import XCTest

final class ExperimentSpecTests: XCTestCase {
    func testSeedsPerArmAndFewShotStages() throws {
        var spec = ExperimentSpec()
        spec.out = FileManager.default.temporaryDirectory.appendingPathComponent("spec-\(getpid())").path
        spec.seeds = [42, 43, 44]
        spec.seedsPerArm = ["positive": 1]
        spec.checkpoints = [100, 300]
        spec.test.enabled = true
        spec.fewShot = ExperimentSpec.EvalSection(split: "test", scoring: "both", styles: [.direct])
        spec.fewShot?.shots = 3
        try spec.validate(path: "spec")
        XCTAssertEqual(spec.seeds(for: .positive), [42])
        XCTAssertEqual(spec.seeds(for: .control), [42, 43, 44])
        let stages = ExperimentRunner(spec: spec).stages()
        let trains = stages.filter { $0.kind == .train }.map { "\($0.arm?.rawValue ?? "")-\($0.seed ?? 0)" }
        XCTAssertEqual(trains, ["spelling-42", "control-42", "positive-42", "spelling-43", "control-43", "spelling-44", "control-44"])
        // 7 runs: 2 checkpoints each on validation, the final adapter on test and on test with 3 shots; base 3 times.
        XCTAssertEqual(stages.filter { $0.kind == .evaluate }.count, 7 * 2 + 7 + 7 + 3)
        XCTAssertEqual(stages.filter { $0.shots == 3 }.count, 8)
        XCTAssertTrue(stages.contains { $0.dir.hasSuffix("/eval/positive-seed42/test-3shot") })

        // Recorded, then continued: more seeds for an arm may be added; fewer may not.
        let runner = ExperimentRunner(spec: spec)
        try FileManager.default.createDirectory(atPath: spec.out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: spec.out) }
        var recorded = spec
        recorded.out = "."
        try RecordFile.write(recorded, to: runner.paths.spec)
        var more = spec
        more.seedsPerArm = ["positive": 2]
        XCTAssertNoThrow(try ExperimentRunner(spec: more).checkRecordedSpec())
        var fewer = spec
        fewer.seedsPerArm = ["control": 2, "positive": 1]
        XCTAssertThrowsError(try ExperimentRunner(spec: fewer).checkRecordedSpec())
        // The model note only describes the file: it may be added or reworded; the model itself may not change.
        var described = spec
        described.modelNote = "the 4-bit Q4_1 GGUF, not the bf16 release"
        XCTAssertNoThrow(try ExperimentRunner(spec: described).checkRecordedSpec())
        var otherModel = spec
        otherModel.model = "assets/other.gguf"
        XCTAssertThrowsError(try ExperimentRunner(spec: otherModel).checkRecordedSpec())
        var bad = spec
        bad.seedsPerArm = ["positive": 4]
        XCTAssertThrowsError(try bad.validate(path: "spec"))
    }

    /// A spec recorded before `seeds_per_arm`, `few_shot` and `analysis.primary` existed is the same
    /// experiment as its YAML read today, so its experiment continues (and its report regenerates).
    func testSpecsRecordedEarlierStillMatchTheirYAML() throws {
        let dir = TestPaths.root + "/results/pilot"
        guard FileManager.default.fileExists(atPath: dir + "/spec.json") else { throw XCTSkip("results/pilot is not committed") }
        guard FileManager.default.currentDirectoryPath == TestPaths.root else { throw XCTSkip("the spec's paths are relative to the repository root") }
        var spec = try ExperimentSpec.load(TestPaths.root + "/configs/experiment-pilot.yaml")
        spec.out = dir
        XCTAssertNotNil(try ExperimentRunner(spec: spec).checkRecordedSpec())
        XCTAssertTrue(try String(contentsOfFile: dir + "/spec.json", encoding: .utf8).contains("\"seeds\""))
    }
}
