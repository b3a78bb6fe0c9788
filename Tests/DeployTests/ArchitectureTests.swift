// The module graph in docs/module-graph.md is the one the sources' imports give, and the layering
// holds: the leaves (records, hashing, signals, HTTP) import nothing of the project, and the release,
// publishing and Hub modules none of the engine.
import TestSupport
import XCTest

final class ArchitectureTests: XCTestCase {
    func testModuleGraphIsCurrentAndLayered() throws {
        let r = try shell("python3 scripts/module-graph.py --check")
        XCTAssertEqual(r.status, 0, r.output)
    }

    /// One JSON stack: nothing in Sources builds untyped JSON or reaches for Foundation's serializer,
    /// and no global is declared unsafely shared.
    func testOneJSONStackAndNoUnsafeGlobals() throws {
        let r = try shell(#"grep -rn '\[String: Any\]\|JSONSerialization\|nonisolated(unsafe)' Sources"#)
        XCTAssertEqual(r.output, "", "untyped JSON or unsafe globals in Sources")
    }

    /// Nothing traps on input: no `try!`, no GRDB `Row` read through its non-throwing subscripts (a
    /// hand-edited store would trap there), in any file that reads the store.
    func testNoTrappingReadsOfInput() throws {
        let tryBang = try shell(#"grep -rn 'try!' Sources"#)
        XCTAssertEqual(tryBang.output, "", "try! in Sources")
        let rows = try shell(#"grep -ln '^import GRDB' -r Sources | xargs grep -n '\<Row\.fetch\|: Row\>\|\<row\[' || true"#)
        XCTAssertEqual(rows.output, "", "raw GRDB rows read in Sources")
    }
}
