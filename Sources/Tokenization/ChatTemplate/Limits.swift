// Bounds on what a chat template may make the interpreter do. A template arrives inside a model
// file, so it is untrusted input: every way it could exhaust the stack (nested blocks or
// expressions, deeply nested values), memory (huge ranges, strings, lists, output) or time
// (nested loops) is capped, and hitting a cap is a ChatTemplateError naming the construct. Real
// chat templates (SmolLM2, Qwen3, Llama 3, Mistral) stay orders of magnitude below every cap.

enum TemplateLimits {
    /// Nested {% if %}/{% for %} blocks, and nested sub-expressions (parentheses, lists, calls).
    static let nesting = 64
    /// Tokens of one expression (bounds the size of its tree before it is built).
    static let expressionTokens = 4096
    /// Nodes of one expression, and its depth (each a level of evaluation).
    static let expressionNodes = 10_000
    static let expressionDepth = 256
    /// Evaluation steps (statements run, expressions evaluated) for one render: bounds time.
    static let steps = 1_000_000
    /// Characters of the rendered prompt, and of any one string value.
    static let outputBytes = 8 << 20
    static let stringBytes = 1 << 20
    /// Elements of any list (`range(n)`, concatenation) and nesting depth of any value.
    static let listElements = 100_000
    static let valueDepth = 64
    /// Text (as rendered) of any one list or dict: bounds the memory a template can fill with values.
    static let valueBytes = 16 << 20
}

extension Expr {
    var children: [Expr] {
        switch self {
        case .literal, .name: return []
        case .list(let items): return items
        case .dict(let kv): return kv.flatMap { [$0.0, $0.1] }
        case .attribute(let b, _): return [b]
        case .index(let b, let i): return [b, i]
        case .slice(let b, let x, let y, let z): return [b] + [x, y, z].compactMap { $0 }
        case .call(let f, let args, let kwargs): return [f] + args + kwargs.map(\.1)
        case .filter(let b, _, let args, let kwargs): return [b] + args + kwargs.map(\.1)
        case .test(let b, _, let args, _): return [b] + args
        case .unary(_, let x): return [x]
        case .binary(_, let a, let b): return [a, b]
        case .conditional(let a, let b, let c): return [a, b] + (c.map { [$0] } ?? [])
        }
    }

    /// Node count and depth, measured without recursion (a long `a + b + …` chain is one deep tree).
    func checkSize(line: Int) throws {
        var stack: [(Expr, Int)] = [(self, 1)]
        var nodes = 0
        while let (e, depth) = stack.popLast() {
            nodes += 1
            guard nodes <= TemplateLimits.expressionNodes, depth <= TemplateLimits.expressionDepth else {
                throw ChatTemplateError(line: line, reason: "expression larger than \(TemplateLimits.expressionNodes) parts or deeper than \(TemplateLimits.expressionDepth) levels")
            }
            for c in e.children { stack.append((c, depth + 1)) }
        }
    }
}

extension TemplateValue {
    /// Nodes visited, whether nesting stays within `depthLimit`, and an upper bound on the bytes of
    /// `rendered` (a string as is; inside a list or dict, JSON with every byte escaped at worst) —
    /// walking no further than needed to exceed either limit.
    func measure(depthLimit: Int = .max, byteLimit: Int) -> (nodes: Int, depthOK: Bool, bytes: Int) {
        if case .string(let s) = self { return (1, true, s.utf8.count) }
        var nodes = 0, bytes = 0, depthOK = true
        func walk(_ v: TemplateValue, _ depth: Int) {
            guard depthOK, bytes <= byteLimit else { return }
            nodes += 1
            guard depth <= depthLimit else { depthOK = false; return }
            switch v {
            case .string(let s): bytes += 6 * s.utf8.count + 2
            case .array(let a): bytes += 2; for x in a { walk(x, depth + 1); bytes += 2 }
            case .dict(let d): bytes += 2; for (k, x) in d { bytes += 6 * k.utf8.count + 6; walk(x, depth + 1) }
            default: bytes += 24
            }
        }
        walk(self, 0)
        return (nodes, depthOK, bytes)
    }

    /// An upper bound on the bytes of `rendered`, counting no further than `cap` (so a huge value is
    /// refused before its text is built).
    func renderedSize(cappedAt cap: Int) -> Int { measure(byteLimit: cap).bytes }
}

extension TemplateInterpreter {
    /// `rendered`, refused when its text could exceed the string limit.
    func render(_ v: TemplateValue) throws -> String {
        if case .string(let s) = v { return s }
        guard v.renderedSize(cappedAt: TemplateLimits.stringBytes) <= TemplateLimits.stringBytes else {
            throw fail("a value whose text exceeds \(TemplateLimits.stringBytes) bytes")
        }
        return v.rendered
    }
}
