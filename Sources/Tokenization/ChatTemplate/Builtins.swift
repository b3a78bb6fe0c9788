// Operators, filters, tests and methods the Hugging Face chat templates use.

enum TemplateBuiltins {
    static func fail(_ r: String) -> ChatTemplateError { ChatTemplateError(line: 0, reason: r) }

    static func binary(_ op: String, _ a: TemplateValue, _ b: TemplateValue) throws -> TemplateValue {
        switch op {
        case "==": return .bool(TemplateValue.equal(a, b))
        case "!=": return .bool(!TemplateValue.equal(a, b))
        case "~":
            guard a.renderedSize(cappedAt: TemplateLimits.stringBytes) + b.renderedSize(cappedAt: TemplateLimits.stringBytes) <= TemplateLimits.stringBytes else {
                throw fail("'~' would make a string longer than \(TemplateLimits.stringBytes) bytes")
            }
            return .string(a.rendered + b.rendered)
        case "in":
            switch b {
            case .string(let s):
                guard case .string(let sub) = a else { throw fail("'in <string>' needs a string on the left") }
                return .bool(sub.isEmpty || s.contains(sub))
            case .array(let items): return .bool(items.contains { TemplateValue.equal($0, a) })
            case .dict(let kv): if case .string(let k) = a { return .bool(kv.contains { $0.0 == k }) }; return .bool(false)
            case .undefined, .none: throw fail("'in' on an undefined value")
            default: return .bool(false)
            }
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.array(let x), .array(let y)): return .array(x + y)
            default: break
            }
        default: break
        }
        if case .string = a, ["<", ">", "<=", ">="].contains(op), case .string = b {
            let (x, y) = (a.rendered, b.rendered)
            switch op { case "<": return .bool(x < y); case ">": return .bool(x > y); case "<=": return .bool(x <= y); default: return .bool(x >= y) }
        }
        guard let x = number(a), let y = number(b) else {
            throw fail("operator \(op) is not defined for \(kind(a)) and \(kind(b))")
        }
        if let i = integer(a), let j = integer(b), ["+", "-", "*", "//", "%"].contains(op) { return .int(try integerArithmetic(op, i, j)) }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/": guard y != 0 else { throw fail("division by zero") }; return .double(x / y)
        case "//": guard y != 0 else { throw fail("division by zero") }; return .double((x / y).rounded(.down))
        case "%": guard y != 0 else { throw fail("division by zero") }; return .double(x - y * (x / y).rounded(.down))
        case "<": return .bool(x < y)
        case ">": return .bool(x > y)
        case "<=": return .bool(x <= y)
        case ">=": return .bool(x >= y)
        default: throw fail("unsupported operator \(op)")
        }
    }

    /// Integers and booleans as Python treats them in arithmetic.
    static func integer(_ v: TemplateValue) -> Int? {
        switch v { case .int(let i): return i; case .bool(let b): return b ? 1 : 0; default: return nil }
    }

    /// Python integer arithmetic (floor division and a remainder with the divisor's sign), checked:
    /// a result outside 64 bits is a template error, never a trap.
    static func integerArithmetic(_ op: String, _ x: Int, _ y: Int) throws -> Int {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> Int {
            guard !r.overflow else { throw fail("integer overflow in \(x) \(op) \(y)") }
            return r.partialValue
        }
        switch op {
        case "+": return try checked(x.addingReportingOverflow(y))
        case "-": return try checked(x.subtractingReportingOverflow(y))
        case "*": return try checked(x.multipliedReportingOverflow(by: y))
        case "//", "%":
            guard y != 0 else { throw fail("division by zero") }
            let q = try checked(x.dividedReportingOverflow(by: y)), r = try checked(x.remainderReportingOverflow(dividingBy: y))
            let adjust = r != 0 && (r < 0) != (y < 0)
            return op == "//" ? (adjust ? q - 1 : q) : (adjust ? r + y : r)
        default: throw fail("unsupported operator \(op)")
        }
    }

    static func number(_ v: TemplateValue) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    static func kind(_ v: TemplateValue) -> String {
        switch v {
        case .undefined: return "undefined"; case .none: return "none"; case .bool: return "bool"; case .int: return "int"
        case .double: return "float"; case .string: return "string"; case .array: return "list"; case .dict: return "dict"
        case .namespace: return "namespace"
        }
    }

    static func test(_ name: String, _ v: TemplateValue, _ args: [TemplateValue]) throws -> Bool {
        switch name {
        case "defined": if case .undefined = v { return false }; return true
        case "undefined": if case .undefined = v { return true }; return false
        case "none": if case .none = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "number": if case .int = v { return true }; if case .double = v { return true }; return false
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping": if case .dict = v { return true }; return false
        case "sequence", "iterable":
            switch v { case .array, .string, .dict: return true; default: return false }
        case "odd", "even":
            guard case .int(let i) = v else { throw fail("'\(name)' needs an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "eq", "equalto", "==": return TemplateValue.equal(v, args.first ?? .undefined)
        case "ne", "!=": return !TemplateValue.equal(v, args.first ?? .undefined)
        default: throw fail("unsupported test 'is \(name)'")
        }
    }

    static func filter(_ name: String, _ v: TemplateValue, _ args: [TemplateValue], _ kwargs: [(String, TemplateValue)]) throws -> TemplateValue {
        // Filters that turn their input into text: refuse one whose text would be huge before building it.
        if ["tojson", "string", "trim", "upper", "lower", "capitalize"].contains(name),
           v.renderedSize(cappedAt: TemplateLimits.stringBytes) > TemplateLimits.stringBytes {
            throw fail("'\(name)' would make a string longer than \(TemplateLimits.stringBytes) bytes")
        }
        switch name {
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .dict(let d): return .int(d.count)
            default: throw fail("length of \(kind(v))")
            }
        case "tojson":
            // transformers' tojson: json.dumps(ensure_ascii=False) with optional indent (unsupported here).
            if args.first != nil || kwargs.contains(where: { $0.0 == "indent" }) { throw fail("tojson(indent=…) is not supported") }
            return .string(v.json(separators: (", ", ": ")))
        case "trim": return .string(v.rendered.trimmingWhitespace)
        case "upper": return .string(v.rendered.uppercased())
        case "lower": return .string(v.rendered.lowercased())
        case "capitalize": let s = v.rendered; return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "string": return .string(v.rendered)
        case "safe": return v
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return .int(d.isFinite && abs(d) < 9.2e18 ? Int(d) : 0)
            case .string(let s): return .int(Int(s) ?? 0)
            default: return .int(0)
            }
        case "first": if case .array(let a) = v { return a.first ?? .undefined }; if case .string(let s) = v { return s.first.map { .string(String($0)) } ?? .undefined }
        case "last": if case .array(let a) = v { return a.last ?? .undefined }; if case .string(let s) = v { return s.last.map { .string(String($0)) } ?? .undefined }
        case "join":
            guard case .array(let a) = v else { throw fail("join of \(kind(v))") }
            let sep = args.first?.renderedSize(cappedAt: TemplateLimits.stringBytes) ?? 0
            var size = 0
            for x in a where size <= TemplateLimits.stringBytes { size += x.renderedSize(cappedAt: TemplateLimits.stringBytes) + sep }
            guard size <= TemplateLimits.stringBytes else { throw fail("join would make a string longer than \(TemplateLimits.stringBytes) bytes") }
            return .string(a.map(\.rendered).joined(separator: args.first?.rendered ?? ""))
        case "default", "d":
            if case .undefined = v { return args.first ?? .string("") }
            if args.count > 1, args[1].isTruthy, !v.isTruthy { return args[0] }
            return v
        case "list":
            switch v { case .array: return v; case .string(let s): return .array(s.map { .string(String($0)) }); case .dict(let d): return .array(d.map { .string($0.0) }); default: throw fail("list of \(kind(v))") }
        case "reverse":
            switch v { case .array(let a): return .array(a.reversed()); case .string(let s): return .string(String(s.reversed())); default: throw fail("reverse of \(kind(v))") }
        case "items":
            guard case .dict(let d) = v else { throw fail("items of \(kind(v))") }
            return .array(d.map { .array([.string($0.0), $0.1]) })
        default: break
        }
        throw fail("unsupported filter '|\(name)'")
    }

    static func method(_ name: String, on v: TemplateValue, _ args: [TemplateValue]) throws -> TemplateValue {
        if case .string(let s) = v {
            let arg = args.first.map(\.rendered)
            switch name {
            case "startswith": return .bool(s.hasPrefix(arg ?? ""))
            case "endswith": return .bool(s.hasSuffix(arg ?? ""))
            case "strip": return .string(strip(s, arg, left: true, right: true))
            case "lstrip": return .string(strip(s, arg, left: true, right: false))
            case "rstrip": return .string(strip(s, arg, left: false, right: true))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(s.capitalized)
            case "replace":
                guard args.count == 2 else { throw fail("replace() takes two arguments") }
                let old = args[0].rendered, new = args[1].rendered
                let hits = old.isEmpty ? s.count + 1 : s.components(separatedBy: old).count - 1
                guard s.utf8.count + hits * max(0, new.utf8.count - old.utf8.count) <= TemplateLimits.stringBytes else {
                    throw fail("replace() would make a string longer than \(TemplateLimits.stringBytes) bytes")
                }
                return .string(s.replacingOccurrences(of: args[0].rendered, with: args[1].rendered))
            case "split":
                if let sep = arg, !sep.isEmpty {
                    return .array(s.components(separatedBy: sep).map { .string($0) })
                }
                return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
            default: break
            }
        }
        if case .dict(let d) = v {
            switch name {
            case "get":
                guard case .string(let k)? = args.first else { throw fail("get() needs a string key") }
                return d.first { $0.0 == k }?.1 ?? (args.count > 1 ? args[1] : .none)
            case "items": return .array(d.map { .array([.string($0.0), $0.1]) })
            case "keys": return .array(d.map { .string($0.0) })
            case "values": return .array(d.map(\.1))
            default: break
            }
        }
        throw fail("unsupported method .\(name)() on \(kind(v))")
    }

    /// Python's str.strip/lstrip/rstrip: whitespace by default, else any of the given characters.
    static func strip(_ s: String, _ chars: String?, left: Bool, right: Bool) -> String {
        let set: (Unicode.Scalar) -> Bool = chars.map { c in { c.unicodeScalars.contains($0) } } ?? { $0.properties.isWhitespace }
        var u = Array(s.unicodeScalars)[...]
        if left { while let f = u.first, set(f) { u = u.dropFirst() } }
        if right { while let l = u.last, set(l) { u = u.dropLast() } }
        return String(String.UnicodeScalarView(u))
    }
}
