// Chat templates must render byte-identical to transformers' apply_chat_template
// (Tests/Fixtures/make_template_fixtures.py), and unsupported Jinja must be a clear error.
import Foundation
import TestSupport
import Tokenization
import XCTest

final class ChatTemplateTests: XCTestCase {
    func testRendersLikeTransformers() throws {
        let json = try TestPaths.loadJSON(TestPaths.fixtures + "/chat_template_cases.json") as! [String: Any]
        let cases = json["cases"] as! [[String: Any]]
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        var compiled: [String: ChatTemplate] = [:]
        for c in cases {
            let name = c["template"] as! String
            if compiled[name] == nil {
                compiled[name] = try ChatTemplate(String(contentsOfFile: TestPaths.fixtures + "/templates/" + name, encoding: .utf8))
            }
            let messages = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
            let thinking = c["enable_thinking"] as? Bool
            let got = try compiled[name]!.render(messages, addGenerationPrompt: true, enableThinking: thinking)
            XCTAssertEqual(got, c["expected"] as! String, "\(name) thinking=\(String(describing: thinking)) \(messages.map(\.content))")
        }
    }

    func testQwen3NonThinkingInsertsEmptyThinkBlock() throws {
        let t = try ChatTemplate(String(contentsOfFile: TestPaths.fixtures + "/templates/qwen3.jinja", encoding: .utf8))
        let out = try t.render([ChatMessage(role: "user", content: "hi")], enableThinking: false)
        XCTAssertTrue(out.hasSuffix("<|im_start|>assistant\n<think>\n\n</think>\n\n"))
    }

    func testUnsupportedConstructsAreClearErrors() {
        for src in ["{% macro f() %}x{% endmacro %}", "{{ x | wordwrap }}", "{% if x %}unclosed", "{{ 'a' ", "{% include 'x' %}"] {
            XCTAssertThrowsError(try ChatTemplate(src).render([])) { error in
                XCTAssertTrue("\(error)".contains("chat template"), "\(src): \(error)")
            }
        }
    }

    func testExpressions() throws {
        func r(_ s: String) throws -> String { try ChatTemplate(s).render([ChatMessage(role: "user", content: "Hello")]) }
        XCTAssertEqual(try r("{{ messages[0]['content'][::-1] }}"), "olleH")
        XCTAssertEqual(try r("{{ messages|length + 2 * 3 }}"), "7")
        XCTAssertEqual(try r("{{ 'yes' if 'ell' in messages[0].content else 'no' }}"), "yes")
        XCTAssertEqual(try r("{% for i in range(3) %}{{ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}"), "1,2,3")
        XCTAssertEqual(try r("{% set ns = namespace(n=0) %}{% for m in [1,2,3] %}{% set ns.n = ns.n + m %}{% endfor %}{{ ns.n }}"), "6")
        XCTAssertEqual(try r("{{ '  x \n'.strip() ~ '|' ~ 'a,b'.split(',')[-1] }}"), "x|b")
        XCTAssertEqual(try r("{{ {'a': [1, 'b']} | tojson }}"), "{\"a\": [1, \"b\"]}")
    }
}
