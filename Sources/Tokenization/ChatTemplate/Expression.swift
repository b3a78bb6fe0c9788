// Expressions inside `{{ }}` and `{% %}`: tokens, then a recursive-descent parser with
// Jinja2's precedence: ternary < or < and < not < comparison/in < ~ + - < * / // % < unary
// < postfix (attribute, subscript, slice, call) with filters `|f` and tests `is t` binding tightest.

indirect enum Expr {
    case literal(TemplateValue)
    case name(String)
    case list([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case index(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case conditional(Expr, Expr, Expr?)   // then, condition, else
}

enum Token: Equatable {
    case name(String), string(String), int(Int), double(Double), op(String), end
}

struct ExprParser {
    var tokens: [Token]
    var pos = 0
    let line: Int
    /// Current recursion depth of the descent (bounded: hostile templates nest without end).
    var depth = 0

    init(_ source: String, line: Int) throws {
        self.line = line
        tokens = try Self.tokenize(source, line: line)
        // Bounded before parsing: the tree an expression builds (and later frees, recursively) has
        // at most about as many nodes as it has tokens.
        guard tokens.count <= TemplateLimits.expressionTokens else {
            throw ChatTemplateError(line: line, reason: "an expression of more than \(TemplateLimits.expressionTokens) tokens")
        }
    }

    func fail(_ r: String) -> ChatTemplateError { ChatTemplateError(line: line, reason: r) }
    var peek: Token { tokens[pos] }
    mutating func next() -> Token { defer { pos += 1 }; return tokens[pos] }
    mutating func accept(_ op: String) -> Bool {
        if peek == .op(op) || peek == .name(op) { pos += 1; return true }
        return false
    }
    mutating func expect(_ op: String) throws {
        guard accept(op) else { throw fail("expected '\(op)'") }
    }
    mutating func identifier() throws -> String {
        guard case .name(let n) = next() else { throw fail("expected a name") }
        return n
    }
    var atEnd: Bool { peek == .end }

    static func tokenize(_ src: String, line: Int) throws -> [Token] {
        let s = Array(src.unicodeScalars)
        var out: [Token] = []
        var i = 0
        let ops3 = ["//"], ops2 = ["==", "!=", "<=", ">=", "//", "**"]
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace { i += 1; continue }
            if c == "'" || c == "\"" {
                var j = i + 1, str = String.UnicodeScalarView()
                while j < s.count, s[j] != c {
                    if s[j] == "\\", j + 1 < s.count {
                        j += 1
                        switch s[j] {
                        case "n": str.append("\n")
                        case "t": str.append("\t")
                        case "r": str.append("\r")
                        default: str.append(s[j])
                        }
                    } else { str.append(s[j]) }
                    j += 1
                }
                guard j < s.count else { throw ChatTemplateError(line: line, reason: "unterminated string") }
                out.append(.string(String(str)))
                i = j + 1
                continue
            }
            if c.properties.numericType != nil, c.isASCII {
                var j = i
                while j < s.count, s[j].isASCII, s[j].properties.numericType != nil || s[j] == "." { j += 1 }
                let t = String(String.UnicodeScalarView(s[i..<j]))
                if let v = Int(t) { out.append(.int(v)) } else if let d = Double(t) { out.append(.double(d)) }
                else { throw ChatTemplateError(line: line, reason: "bad number \(t)") }
                i = j
                continue
            }
            if c == "_" || c.properties.isAlphabetic {
                var j = i
                while j < s.count, s[j] == "_" || s[j].properties.isAlphabetic || s[j].properties.numericType != nil { j += 1 }
                out.append(.name(String(String.UnicodeScalarView(s[i..<j]))))
                i = j
                continue
            }
            if i + 1 < s.count {
                let two = String(String.UnicodeScalarView(s[i...(i + 1)]))
                if ops2.contains(two) || ops3.contains(two) { out.append(.op(two)); i += 2; continue }
            }
            guard "+-*/%~<>=()[]{}.,:|!?".unicodeScalars.contains(c) else {
                throw ChatTemplateError(line: line, reason: "unexpected character '\(c)'")
            }
            out.append(.op(String(c)))
            i += 1
        }
        out.append(.end)
        return out
    }

    // MARK: grammar

    /// Enters one level of recursion, refusing to go deeper than the nesting limit.
    mutating func descend() throws {
        depth += 1
        guard depth <= TemplateLimits.nesting else { throw fail("expression nested deeper than \(TemplateLimits.nesting) levels") }
    }

    /// A whole expression, checked for size (what the parser's callers use).
    mutating func parse() throws -> Expr {
        let e = try expression()
        try e.checkSize(line: line)
        return e
    }

    mutating func expression() throws -> Expr {
        try descend()
        defer { depth -= 1 }
        let e = try orExpr()
        if accept("if") {
            let cond = try orExpr()
            let other = accept("else") ? try expression() : nil
            return .conditional(e, cond, other)
        }
        return e
    }

    mutating func orExpr() throws -> Expr {
        var e = try andExpr()
        while accept("or") { e = .binary("or", e, try andExpr()) }
        return e
    }

    mutating func andExpr() throws -> Expr {
        var e = try notExpr()
        while accept("and") { e = .binary("and", e, try notExpr()) }
        return e
    }

    mutating func notExpr() throws -> Expr {
        try descend()
        defer { depth -= 1 }
        if accept("not") { return .unary("not", try notExpr()) }
        return try comparison()
    }

    mutating func comparison() throws -> Expr {
        var e = try concat()
        while true {
            if case .op(let o) = peek, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                pos += 1
                e = .binary(o, e, try concat())
            } else if accept("in") {
                e = .binary("in", e, try concat())
            } else if peek == .name("not"), tokens[pos + 1] == .name("in") {
                pos += 2
                e = .unary("not", .binary("in", e, try concat()))
            } else { return e }
        }
    }

    mutating func concat() throws -> Expr {
        var e = try additive()
        while accept("~") { e = .binary("~", e, try additive()) }
        return e
    }

    mutating func additive() throws -> Expr {
        var e = try multiplicative()
        while true {
            if accept("+") { e = .binary("+", e, try multiplicative()) }
            else if accept("-") { e = .binary("-", e, try multiplicative()) }
            else { return e }
        }
    }

    mutating func multiplicative() throws -> Expr {
        var e = try unary()
        while true {
            if case .op(let o) = peek, ["*", "/", "//", "%"].contains(o) { pos += 1; e = .binary(o, e, try unary()) }
            else { return e }
        }
    }

    mutating func unary() throws -> Expr {
        try descend()
        defer { depth -= 1 }
        if accept("-") { return .unary("-", try unary()) }
        if accept("+") { return try unary() }
        return try filtersAndTests(try postfix(try primary()))
    }

    mutating func filtersAndTests(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept("|") {
                let name = try identifier()
                var args: [Expr] = [], kwargs: [(String, Expr)] = []
                if accept("(") { (args, kwargs) = try arguments() }
                e = .filter(e, name, args, kwargs)
            } else if accept("is") {
                let negated = accept("not")
                let name = try identifier()
                var args: [Expr] = []
                if accept("(") { args = try arguments().0 }
                else if case .string = peek { args = [try primary()] }
                else if case .int = peek { args = [try primary()] }
                e = .test(e, name, args, negated: negated)
            } else { return e }
        }
    }

    mutating func postfix(_ base: Expr) throws -> Expr {
        var e = base
        while true {
            if accept(".") {
                e = .attribute(e, try identifier())
            } else if accept("[") {
                var parts: [Expr?] = [nil]
                var isSlice = false
                while !accept("]") {
                    if accept(":") { isSlice = true; parts.append(nil); continue }
                    parts[parts.count - 1] = try expression()
                }
                if isSlice {
                    e = .slice(e, parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil)
                } else {
                    guard let idx = parts[0] else { throw fail("empty subscript") }
                    e = .index(e, idx)
                }
            } else if accept("(") {
                let (args, kwargs) = try arguments()
                e = .call(e, args, kwargs)
            } else { return e }
        }
    }

    /// Arguments after "(" up to and including ")".
    mutating func arguments() throws -> ([Expr], [(String, Expr)]) {
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        while !accept(")") {
            if case .name(let n) = peek, tokens[pos + 1] == .op("=") {
                pos += 2
                kwargs.append((n, try expression()))
            } else {
                args.append(try expression())
            }
            if !accept(",") { try expect(")"); break }
        }
        return (args, kwargs)
    }

    mutating func primary() throws -> Expr {
        switch next() {
        case .string(var s):
            while case .string(let more) = peek { s += more; pos += 1 }  // adjacent literals concatenate
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try expression()
            try expect(")")
            return e
        case .op("["):
            var items: [Expr] = []
            while !accept("]") {
                items.append(try expression())
                if !accept(",") { try expect("]"); break }
            }
            return .list(items)
        case .op("{"):
            var items: [(Expr, Expr)] = []
            while !accept("}") {
                let k = try expression()
                try expect(":")
                items.append((k, try expression()))
                if !accept(",") { try expect("}"); break }
            }
            return .dict(items)
        case let t: throw fail("unexpected \(t)")
        }
    }
}
