// The analysis notebook runs against the committed results (optional: needs Jupyter's nbclient,
// pandas and matplotlib; skipped with the reason when they are absent).
import Foundation
import TestSupport
import XCTest

final class NotebookTests: XCTestCase {
    func testTransferNotebookRunsOnCommittedResults() throws {
        guard FileManager.default.fileExists(atPath: TestPaths.root + "/results/experiment/summary/summary.json") else {
            throw XCTSkip("results/experiment is not committed yet (make reproduce)")
        }
        guard let probe = try? shell("python3 -c 'import nbclient, nbformat, ipykernel, pandas, matplotlib'"), probe.status == 0 else {
            throw XCTSkip("Jupyter's nbclient, ipykernel, pandas or matplotlib is not installed (pip install nbclient ipykernel pandas matplotlib)")
        }
        let r = try shell("python3 scripts/run-notebook.py notebooks/transfer_learning_analysis.ipynb")
        XCTAssertEqual(r.status, 0, r.output)
    }
}
