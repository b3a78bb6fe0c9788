// Deterministic JSON text for records built from Swift values: keys sorted by code point (as
// Python's `sort_keys`), no insignificant whitespace unless pretty, integers exact, shortest
// round-trip doubles. Faster than JSONSerialization's sorted output, whose key sort goes through
// ICU collation, and byte-stable across platforms.

public enum JSONWriter {
    public struct UnsupportedValue: Error, CustomStringConvertible {
        public let type: String
        public var description: String { "cannot write a value of type \(type) as JSON" }
    }

    public static func string(_ value: Any, pretty: Bool = false) throws -> String {
        var out = ""
        try write(value, into: &out, pretty: pretty, indent: 0)
        return out
    }

    static func write(_ value: Any, into out: inout String, pretty: Bool, indent: Int) throws {
        let nl = pretty ? "\n" + String(repeating: "  ", count: indent + 1) : ""
        let close = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        switch value {
        case let s as String: out += jsonQuote(s)
        case let b as Bool: out += b ? "true" : "false"
        case let i as Int: out += String(i)
        case let i as UInt64: out += String(i)
        case let i as Int64: out += String(i)
        case let d as Double:
            guard d.isFinite else { throw UnsupportedValue(type: "non-finite Double") }
            out += d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) + ".0" : "\(d)"
        case let f as Float: try write(Double(f), into: &out, pretty: pretty, indent: indent)
        case let a as [Any]:
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, x) in a.enumerated() {
                out += (i == 0 ? "" : ",") + nl
                try write(x, into: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "]"
        case let d as [String: Any]:
            if d.isEmpty { out += "{}"; return }
            out += "{"
            for (i, k) in d.keys.sorted(by: { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }).enumerated() {
                out += (i == 0 ? "" : ",") + nl + jsonQuote(k) + (pretty ? ": " : ":")
                try write(d[k]!, into: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "}"
        case is (): out += "null"
        case Optional<Any>.none: out += "null"
        default: throw UnsupportedValue(type: "\(Swift.type(of: value))")
        }
    }
}
