// Statements (if/elif/else, for with loop variables and else, set including namespace
// attributes, break/continue, generation markers) and the evaluator. Anything outside this
// subset (macros, includes, call blocks, unknown filters) is a ChatTemplateError naming it,
// never a silently wrong prompt.
import Foundation

indirect enum TemplateNode {
    case text(String)
    case output(Expr)
    case branch([(Expr, [TemplateNode])], otherwise: [TemplateNode])
    case loop(vars: [String], iterable: Expr, condition: Expr?, body: [TemplateNode], otherwise: [TemplateNode])
    case assign(target: [String], value: Expr)
    case breakLoop, continueLoop
}

struct TemplateParser {
    let pieces: [TemplatePiece]
    var pos = 0
    /// Nested blocks open now (bounded: each is a level of recursion when parsing and running).
    var depth = 0

    /// Parses nodes until one of `terminators` (a statement keyword) is reached; returns that statement.
    mutating func block(until terminators: Set<String>) throws -> ([TemplateNode], (String, String, Int)?) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= TemplateLimits.nesting else {
            throw ChatTemplateError(line: 0, reason: "blocks nested deeper than \(TemplateLimits.nesting) levels")
        }
        var nodes: [TemplateNode] = []
        while pos < pieces.count {
            let piece = pieces[pos]
            pos += 1
            switch piece {
            case .text(let t): nodes.append(.text(t))
            case .output(let src, let line):
                var p = try ExprParser(src, line: line)
                nodes.append(.output(try p.parse()))
                guard p.atEnd else { throw ChatTemplateError(line: line, reason: "unexpected text in {{ \(src) }}") }
            case .statement(let src, let line):
                let keyword = String(src.prefix { $0.isLetter || $0 == "_" })
                let rest = String(src.dropFirst(keyword.count))
                if terminators.contains(keyword) { return (nodes, (keyword, rest, line)) }
                nodes.append(contentsOf: try statement(keyword, rest, line: line))
            }
        }
        if !terminators.isEmpty {
            throw ChatTemplateError(line: 0, reason: "missing {% \(terminators.sorted().joined(separator: " / ")) %}")
        }
        return (nodes, nil)
    }

    mutating func statement(_ keyword: String, _ rest: String, line: Int) throws -> [TemplateNode] {
        switch keyword {
        case "if":
            var branches: [(Expr, [TemplateNode])] = []
            var cond = try Self.expr(rest, line)
            while true {
                let (body, end) = try block(until: ["elif", "else", "endif"])
                branches.append((cond, body))
                switch end!.0 {
                case "elif": cond = try Self.expr(end!.1, end!.2)
                case "else":
                    let (other, _) = try block(until: ["endif"])
                    return [.branch(branches, otherwise: other)]
                default: return [.branch(branches, otherwise: [])]
                }
            }
        case "for":
            var p = try ExprParser(rest, line: line)
            var vars = [try p.identifier()]
            while p.accept(",") { vars.append(try p.identifier()) }
            try p.expect("in")
            // The iterable stops before a trailing `if` filter, so parse below the ternary level.
            let iterable = try p.orExpr()
            try iterable.checkSize(line: line)
            let condition = p.accept("if") ? try p.parse() : nil
            guard p.atEnd else { throw ChatTemplateError(line: line, reason: "unsupported for-loop syntax") }
            let (body, end) = try block(until: ["else", "endfor"])
            var other: [TemplateNode] = []
            if end!.0 == "else" { other = try block(until: ["endfor"]).0 }
            return [.loop(vars: vars, iterable: iterable, condition: condition, body: body, otherwise: other)]
        case "set":
            var p = try ExprParser(rest, line: line)
            var target = [try p.identifier()]
            while p.accept(".") { target.append(try p.identifier()) }
            guard p.accept("=") else { throw ChatTemplateError(line: line, reason: "block {% set %} is not supported") }
            let value = try p.parse()
            guard p.atEnd else { throw ChatTemplateError(line: line, reason: "unexpected text in {% set %}") }
            return [.assign(target: target, value: value)]
        case "break": return [.breakLoop]
        case "continue": return [.continueLoop]
        case "generation":  // transformers' assistant-mask markers: render the body as is
            return try block(until: ["endgeneration"]).0
        default:
            throw ChatTemplateError(line: line, reason: "unsupported statement {% \(keyword) %} (supported: if, for, set, break, continue, generation)")
        }
    }

    static func expr(_ src: String, _ line: Int) throws -> Expr {
        var p = try ExprParser(src, line: line)
        let e = try p.parse()
        guard p.atEnd else { throw ChatTemplateError(line: line, reason: "unexpected text after expression '\(src)'") }
        return e
    }
}

final class TemplateInterpreter {
    var scopes: [[String: TemplateValue]]
    var namespaces: [[String: TemplateValue]] = []
    var out = ""
    /// Evaluation steps taken so far (bounded: nested loops cannot run for ever).
    var steps = 0

    enum Flow { case normal, breakLoop, continueLoop }

    init(globals: [String: TemplateValue]) { scopes = [globals] }

    func fail(_ r: String) -> ChatTemplateError { ChatTemplateError(line: 0, reason: r) }

    func lookup(_ name: String) -> TemplateValue {
        for s in scopes.reversed() { if let v = s[name] { return v } }
        return .undefined
    }

    func step() throws {
        steps += 1
        guard steps <= TemplateLimits.steps else { throw fail("the template takes more than \(TemplateLimits.steps) steps (a loop that does not end?)") }
    }

    func emit(_ s: String) throws {
        out += s
        guard out.utf8.count <= TemplateLimits.outputBytes else { throw fail("the rendered prompt exceeds \(TemplateLimits.outputBytes) bytes") }
    }

    @discardableResult
    func run(_ nodes: [TemplateNode]) throws -> Flow {
        for n in nodes {
            try step()
            switch n {
            case .text(let t): try emit(t)
            case .output(let e): try emit(try render(try eval(e)))
            case .branch(let branches, let other):
                var taken = false
                for (cond, body) in branches where try eval(cond).isTruthy {
                    taken = true
                    let f = try run(body)
                    if f != .normal { return f }
                    break
                }
                if !taken { let f = try run(other); if f != .normal { return f } }
            case .loop(let vars, let iterable, let condition, let body, let other):
                var items = try iterate(try eval(iterable))
                if let condition {
                    items = try items.filter { item in
                        scopes.append(try bind(vars, item))
                        defer { scopes.removeLast() }
                        return try eval(condition).isTruthy
                    }
                }
                if items.isEmpty { try run(other); continue }
                for (i, item) in items.enumerated() {
                    try step()   // an iteration is a step even when its body is empty
                    var scope = try bind(vars, item)
                    scope["loop"] = .dict([
                        ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(items.count - i)),
                        ("revindex0", .int(items.count - i - 1)), ("first", .bool(i == 0)), ("last", .bool(i == items.count - 1)),
                        ("length", .int(items.count)), ("previtem", i > 0 ? items[i - 1] : .undefined),
                        ("nextitem", i + 1 < items.count ? items[i + 1] : .undefined)])
                    scopes.append(scope)
                    let f = try run(body)
                    scopes.removeLast()
                    if f == .breakLoop { break }
                }
            case .assign(let target, let value):
                let v = try eval(value)
                if target.count == 1 {
                    scopes[scopes.count - 1][target[0]] = v
                } else {
                    guard target.count == 2, case .namespace(let id) = lookup(target[0]) else {
                        throw fail("can only set attributes of a namespace (\(target.joined(separator: ".")))")
                    }
                    namespaces[id][target[1]] = v
                }
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    func bind(_ vars: [String], _ item: TemplateValue) throws -> [String: TemplateValue] {
        if vars.count == 1 { return [vars[0]: item] }
        guard case .array(let parts) = item, parts.count == vars.count else { throw fail("cannot unpack into \(vars.joined(separator: ", "))") }
        return Dictionary(uniqueKeysWithValues: zip(vars, parts))
    }

    func iterate(_ v: TemplateValue) throws -> [TemplateValue] {
        switch v {
        case .array(let a): return a
        case .dict(let d): return d.map { .string($0.0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined, .none: return []
        default: throw fail("value is not iterable")
        }
    }

    /// Evaluates with every produced value checked against the size limits.
    func eval(_ e: Expr) throws -> TemplateValue {
        try step()
        let v = try evaluate(e)
        switch e {
        case .literal, .name, .attribute, .index: return v   // existing values, checked when they were made
        default: break
        }
        switch v {
        case .string(let s) where s.utf8.count > TemplateLimits.stringBytes:
            throw fail("a string longer than \(TemplateLimits.stringBytes) bytes")
        case .array(let a) where a.count > TemplateLimits.listElements:
            throw fail("a list longer than \(TemplateLimits.listElements) elements")
        case .array, .dict:
            // A new list or dict is measured once; the walk counts as work, so rebuilding big values in
            // a loop runs out of steps, and its total text (and so its memory) is bounded.
            let m = v.measure(depthLimit: TemplateLimits.valueDepth, byteLimit: TemplateLimits.valueBytes)
            steps += m.nodes
            guard steps <= TemplateLimits.steps else { throw fail("the template takes more than \(TemplateLimits.steps) steps") }
            guard m.depthOK else { throw fail("a value nested deeper than \(TemplateLimits.valueDepth) levels") }
            guard m.bytes <= TemplateLimits.valueBytes else { throw fail("a value whose text exceeds \(TemplateLimits.valueBytes) bytes") }
        default: break
        }
        return v
    }

    func evaluate(_ e: Expr) throws -> TemplateValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map(eval))
        case .dict(let items):
            return .dict(try items.map { k, v in
                guard case .string(let key) = try eval(k) else { throw fail("dict keys must be strings") }
                return (key, try eval(v))
            })
        case .attribute(let base, let name):
            let b = try eval(base)
            if case .namespace(let id) = b { return namespaces[id][name] ?? .undefined }
            return b[name]
        case .index(let base, let idx): return try subscriptValue(try eval(base), try eval(idx))
        case .slice(let base, let a, let b, let c):
            return try slice(try eval(base), try a.map(eval), try b.map(eval), try c.map(eval))
        case .call(let callee, let args, let kwargs): return try call(callee, try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) })
        case .filter(let base, let name, let args, let kwargs):
            return try TemplateBuiltins.filter(name, try eval(base), try args.map(eval), try kwargs.map { ($0.0, try eval($0.1)) })
        case .test(let base, let name, let args, let negated):
            let r = try TemplateBuiltins.test(name, try eval(base), try args.map(eval))
            return .bool(negated ? !r : r)
        case .unary(let op, let x):
            let v = try eval(x)
            if op == "not" { return .bool(!v.isTruthy) }
            switch v {
            case .int(let i):
                guard i != .min else { throw fail("integer overflow in -(\(i))") }
                return .int(-i)
            case .double(let d): return .double(-d)
            default: throw fail("cannot negate a non-number")
            }
        case .binary("and", let a, let b):
            let x = try eval(a)
            return x.isTruthy ? try eval(b) : x
        case .binary("or", let a, let b):
            let x = try eval(a)
            return x.isTruthy ? x : try eval(b)
        case .binary(let op, let a, let b): return try TemplateBuiltins.binary(op, try eval(a), try eval(b))
        case .conditional(let then, let cond, let other):
            return try eval(cond).isTruthy ? try eval(then) : try other.map(eval) ?? .undefined
        }
    }

    func call(_ callee: Expr, _ args: [TemplateValue], _ kwargs: [(String, TemplateValue)]) throws -> TemplateValue {
        if case .attribute(let base, let method) = callee {
            return try TemplateBuiltins.method(method, on: try eval(base), args)
        }
        guard case .name(let fn) = callee else { throw fail("only functions and methods can be called") }
        switch fn {
        case "namespace":
            namespaces.append(Dictionary(kwargs, uniquingKeysWith: { _, b in b }))
            return .namespace(namespaces.count - 1)
        case "raise_exception":
            throw fail("template raised: \(args.first?.rendered ?? "")")
        case "range":
            let ints = args.compactMap { if case .int(let i) = $0 { return i } else { return nil } }
            guard ints.count == args.count, (1...2).contains(ints.count) else { throw fail("range() takes 1 or 2 integers") }
            let (lo, hi) = ints.count == 1 ? (0, ints[0]) : (ints[0], ints[1])
            let (span, overflow) = hi.subtractingReportingOverflow(lo)
            guard lo >= hi || (!overflow && span <= TemplateLimits.listElements) else {
                throw fail("range(\(ints.map(String.init).joined(separator: ", "))) has more than \(TemplateLimits.listElements) elements")
            }
            return .array(lo < hi ? (lo..<hi).map { .int($0) } : [])
        default: throw fail("unsupported function \(fn)()")
        }
    }

    func subscriptValue(_ base: TemplateValue, _ idx: TemplateValue) throws -> TemplateValue {
        switch (base, idx) {
        case (.dict, .string(let k)): return base[k]
        case (.array(let a), .int(let i)):
            let j = i < 0 ? a.count + i : i
            return j >= 0 && j < a.count ? a[j] : .undefined
        case (.string(let s), .int(let i)):
            let chars = Array(s)
            let j = i < 0 ? chars.count + i : i
            return j >= 0 && j < chars.count ? .string(String(chars[j])) : .undefined
        case (.namespace(let id), .string(let k)): return namespaces[id][k] ?? .undefined
        default: return .undefined
        }
    }

    func slice(_ base: TemplateValue, _ a: TemplateValue?, _ b: TemplateValue?, _ c: TemplateValue?) throws -> TemplateValue {
        func int(_ v: TemplateValue?) throws -> Int? {
            switch v { case nil, .none?: return nil; case .int(let i)?: return i; default: throw fail("slice bounds must be integers") }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw fail("slice step cannot be zero") }
        func pick<T>(_ items: [T]) throws -> [T] {
            let n = items.count
            func clamp(_ v: Int?, _ dflt: Int, lo: Int, hi: Int) -> Int {
                guard var x = v else { return dflt }
                if x < 0 { x += n }
                return min(max(x, lo), hi)
            }
            var out: [T] = []
            if step > 0 {
                var i = clamp(try int(a), 0, lo: 0, hi: n)
                let end = clamp(try int(b), n, lo: 0, hi: n)
                while i < end { out.append(items[i]); i += step }
            } else {
                var i = clamp(try int(a), n - 1, lo: -1, hi: n - 1)
                let end = clamp(try int(b), -1, lo: -1, hi: n - 1)
                while i > end { out.append(items[i]); i += step }
            }
            return out
        }
        switch base {
        case .array(let items): return .array(try pick(items))
        case .string(let s): return .string(String(try pick(Array(s))))
        default: throw fail("only lists and strings can be sliced")
        }
    }
}
