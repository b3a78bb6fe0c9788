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

    /// A template comes inside a model file: every way it could exhaust the stack, memory or time
    /// ends in a ChatTemplateError naming the construct, quickly.
    func testHostileTemplatesAreBounded() {
        let deep = 100_000
        let cases: [(String, String)] = [
            ("nested parentheses", String(repeating: "{{ ", count: 1) + String(repeating: "(", count: deep) + "1" + String(repeating: ")", count: deep) + " }}"),
            ("nested lists", "{{ " + String(repeating: "[", count: deep) + String(repeating: "]", count: deep) + " }}"),
            ("nested not", "{{ " + String(repeating: "not ", count: deep) + "1 }}"),
            ("unary minus chain", "{{ " + String(repeating: "-", count: deep) + "1 }}"),
            ("long + chain", "{{ 1" + String(repeating: " + 1", count: deep) + " }}"),
            ("nested if blocks", String(repeating: "{% if true %}", count: deep) + "x" + String(repeating: "{% endif %}", count: deep)),
            ("nested for blocks", String(repeating: "{% for i in [1] %}", count: 2_000) + "x" + String(repeating: "{% endfor %}", count: 2_000)),
            ("integer overflow +", "{{ 9223372036854775807 + 1 }}"),
            ("integer overflow *", "{{ 4611686018427387904 * 4 }}"),
            ("integer overflow //", "{{ (-9223372036854775807 - 1) // -1 }}"),
            ("integer overflow negation", "{{ -(-9223372036854775807 - 1) }}"),
            ("huge range", "{% for i in range(3000000000) %}x{% endfor %}"),
            ("huge range span", "{{ range(-9223372036854775807, 9223372036854775807) | length }}"),
            ("endless nested loops", "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"),
            ("deep value", "{% set ns = namespace(x=1) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
            ("output flood", "{% set s = 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' %}{% for i in range(100000) %}{% for j in range(10) %}{{ s }}{% endfor %}{% endfor %}"),
            ("replace blow-up", "{% set ns = namespace(s='aaaaaaaaaaaaaaaa') %}{% for i in range(64) %}{% set ns.s = ns.s.replace('a', 'aa') %}{% endfor %}{{ ns.s|length }}"),
            ("concat blow-up", "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            ("re-reading a big list in a loop", "{% set x = range(100000)|list %}{% for i in x %}{% for j in x %}{% set y = x|length %}{% endfor %}{% endfor %}"),
            ("filling memory with big strings", "{% set ns = namespace(s='a', l=[]) %}{% for i in range(17) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{% for i in range(20000) %}{% set ns.l = ns.l + [ns.s ~ i] %}{% endfor %}{{ ns.l|length }}"),
            ("join blow-up", "{% set ns = namespace(l=['abcdefgh']) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | join(',') }}"),
        ]
        for (name, src) in cases {
            let t0 = Date()
            XCTAssertThrowsError(try ChatTemplate(src).render([ChatMessage(role: "user", content: "hi")]), name) { error in
                XCTAssertTrue(error is ChatTemplateError, "\(name): \(type(of: error)) \(error)")
            }
            XCTAssertLessThan(Date().timeIntervalSince(t0), 20, name)
        }
        // Python's integer semantics where they stay in range.
        func r(_ s: String) throws -> String { try ChatTemplate(s).render([]) }
        XCTAssertEqual(try r("{{ -7 // 2 }} {{ -7 % 2 }} {{ 7 % -2 }} {{ true + 1 }} {{ 9223372036854775806 + 1 }}"), "-4 1 -1 2 9223372036854775807")
        XCTAssertEqual(try r("{{ -7.5 % 2 }}"), "0.5")
    }
}
