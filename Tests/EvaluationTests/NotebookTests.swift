// The analysis notebook runs against the committed results (optional: needs Jupyter's nbclient,
// pandas and matplotlib; skipped with the reason when they are absent).
import Foundation
import TestSupport
import XCTest

final class NotebookTests: XCTestCase {
    func python(_ args: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        p.currentDirectoryURL = URL(fileURLWithPath: TestPaths.root)
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testTransferNotebookRunsOnCommittedResults() throws {
        guard FileManager.default.fileExists(atPath: TestPaths.root + "/results/experiment/summary/summary.json") else {
            throw XCTSkip("results/experiment is not committed yet (make reproduce)")
        }
        guard let probe = try? python(["-c", "import nbclient, nbformat, ipykernel, pandas, matplotlib"]), probe.status == 0 else {
            throw XCTSkip("Jupyter's nbclient, ipykernel, pandas or matplotlib is not installed (pip install nbclient ipykernel pandas matplotlib)")
        }
        let r = try python(["scripts/run-notebook.py", "notebooks/transfer_learning_analysis.ipynb"])
        XCTAssertEqual(r.status, 0, r.output)
    }
}
