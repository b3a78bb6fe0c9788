import ModelFormats
import Records

// Values of the template language: Python-like semantics (truthiness, negative indexing,
// `in`), as Jinja2 evaluates them inside transformers' `apply_chat_template`.

public indirect enum TemplateValue: Sendable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([TemplateValue])
    /// Keys in insertion order (tojson and iteration follow it).
    case dict([(String, TemplateValue)])
    /// A `namespace(...)` object: a reference into the interpreter's namespace table.
    case namespace(Int)

    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .dict(let d): return !d.isEmpty
        case .namespace: return true
        }
    }

    public subscript(key: String) -> TemplateValue {
        if case .dict(let kv) = self { return kv.first { $0.0 == key }?.1 ?? .undefined }
        return .undefined
    }

    /// Text as Jinja prints it (`{{ x }}`): undefined prints nothing, none prints "None".
    var rendered: String {
        switch self {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return s
        case .array, .dict, .namespace: return json(separators: (", ", ": "))
        }
    }

    /// JSON text like Python's json.dumps(ensure_ascii=False) with the given separators.
    func json(separators: (String, String)) -> String {
        switch self {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .string(let s): return jsonQuote(s)
        case .array(let a): return "[" + a.map { $0.json(separators: separators) }.joined(separator: separators.0) + "]"
        case .dict(let d):
            return "{" + d.map { TemplateValue.string($0.0).json(separators: separators) + separators.1 + $0.1.json(separators: separators) }
                .joined(separator: separators.0) + "}"
        case .namespace: return "{}"
        }
    }

    static func equal(_ a: TemplateValue, _ b: TemplateValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.int(let x), .int(let y)): return x == y
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.double(let x), .double(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && x.allSatisfy { kv in y.contains { $0.0 == kv.0 && equal($0.1, kv.1) } }
        default: return false
        }
    }
}

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
}
