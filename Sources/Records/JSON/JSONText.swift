// Deterministic JSON text: keys sorted by code point (as Python's `sort_keys`), no insignificant
// whitespace unless pretty (two-space indent, `"key": value`), integers exact, shortest
// round-trip doubles with a ".0" on integral values (so a float stays a float when Python reads
// it back). The same record always gives the same bytes, on every platform — which Foundation's
// JSONEncoder does not promise (its key order and number spelling differ between releases).

public enum JSONText {
    /// The text of `value`; throws for NaN or infinity, which JSON cannot represent.
    public static func string(_ value: JSONValue, pretty: Bool = false) throws(RecordError) -> String {
        var out = ""
        try write(value, into: &out, pretty: pretty, indent: 0)
        return out
    }

    static func write(_ value: JSONValue, into out: inout String, pretty: Bool, indent: Int) throws(RecordError) {
        let nl = pretty ? "\n" + String(repeating: "  ", count: indent + 1) : ""
        let close = pretty ? "\n" + String(repeating: "  ", count: indent) : ""
        switch value {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .uint(let u): out += String(u)
        case .string(let s): out += jsonQuote(s)
        case .double(let d):
            guard d.isFinite else { throw RecordError.unrepresentable(reason: "a non-finite number (\(d))") }
            out += d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) + ".0" : "\(d)"
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, x) in a.enumerated() {
                out += (i == 0 ? "" : ",") + nl
                try write(x, into: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "]"
        case .object(let kv):
            if kv.isEmpty { out += "{}"; return }
            out += "{"
            let sorted = kv.sorted { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) }
            for (i, (k, v)) in sorted.enumerated() {
                out += (i == 0 ? "" : ",") + nl + jsonQuote(k) + (pretty ? ": " : ":")
                try write(v, into: &out, pretty: pretty, indent: indent + 1)
            }
            out += close + "}"
        }
    }
}

/// A JSON string literal for `s` (quotes, backslash and control characters escaped; UTF-8 kept).
public func jsonQuote(_ s: String) -> String {
    var r = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": r += "\\\""
        case "\\": r += "\\\\"
        case "\n": r += "\\n"
        case "\r": r += "\\r"
        case "\t": r += "\\t"
        case "\u{08}": r += "\\b"
        case "\u{0C}": r += "\\f"
        default:
            if u.value < 0x20 {
                let hex = String(u.value, radix: 16)
                r += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else { r.unicodeScalars.append(u) }
        }
    }
    return r + "\""
}
