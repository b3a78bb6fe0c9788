// Reading and writing records. Writing: Codable → JSONValue → deterministic text, renamed into
// place. Reading: Foundation's JSONDecoder, with every failure turned into a RecordError that
// names the file, the line (JSONL) and the field, so a hand-edited or truncated artifact says
// exactly what is wrong instead of crashing the command that reads it.
import Foundation

public enum RecordError: Error, Equatable, CustomStringConvertible {
    /// The file is missing, unreadable or not UTF-8.
    case unreadable(path: String, reason: String)
    /// The file is readable but a record in it does not match its schema.
    case malformed(path: String, line: Int?, field: String?, reason: String)
    /// A value cannot be written as JSON (NaN, infinity).
    case unrepresentable(reason: String)
    case io(path: String, reason: String)
    /// An output location a command will not write to (it would destroy something it did not make).
    case refusedOutput(path: String, reason: String)

    /// What is wrong, without the file's name or the advice (for answers read from a server).
    public var detail: String {
        if case .malformed(_, _, let field, let r) = self { return (field.map { "field '\($0)': " } ?? "") + r }
        return description
    }

    public var description: String {
        switch self {
        case .unreadable(let p, let r): return "\(p): \(r)"
        case .malformed(let p, let line, let field, let r):
            let at = p + (line.map { ":\($0)" } ?? "")
            return "\(at): \(field.map { "field '\($0)': " } ?? "")\(r). Was the file edited by hand or cut short? Re-create it with the command that wrote it."
        case .unrepresentable(let r): return "cannot write \(r) as JSON"
        case .io(let p, let r): return "\(p): \(r)"
        case .refusedOutput(let p, let r): return "refusing to write to \(p.isEmpty ? "\"\"" : p): it \(r)"
        }
    }
}

/// How Swift property names become JSON keys. `snakeCase` is for wire formats whose keys are all
/// snake_case (MLflow's REST API, the server's bodies), so their types need no `CodingKeys`; the keys
/// of dictionaries and `DynamicKey`s are data and stay as they are (Foundation's decoder agrees).
public enum JSONKeys: Sendable {
    case asDeclared
    case snakeCase

    /// "promptTokens" → "prompt_tokens", "modelSHA256" → "model_sha256" (Foundation's rule).
    public static func snakeCased(_ key: String) -> String {
        let chars = Array(key)
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase, i > 0 {
                let prev = chars[i - 1], next = i + 1 < chars.count ? chars[i + 1] : nil
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && next?.isLowercase == true) { out.append("_") }
            }
            out += c.lowercased()
        }
        return out
    }

    /// A decoder that reads keys written this way.
    public var decoder: JSONDecoder {
        let d = JSONDecoder()
        if self == .snakeCase { d.keyDecodingStrategy = .convertFromSnakeCase }
        return d
    }
}

public enum RecordFile {
    /// The record as one deterministic JSON text (pretty: two-space indent).
    public static func text<T: Encodable>(_ value: T, pretty: Bool = false, keys: JSONKeys = .asDeclared) throws(RecordError) -> String {
        try JSONText.string(try RecordEncoder(keys: keys).encode(value), pretty: pretty)
    }

    /// Writes `value` as a JSON document ending in a newline, atomically.
    public static func write<T: Encodable>(_ value: T, to path: String, pretty: Bool = true) throws(RecordError) {
        try writeTextAtomically(try text(value, pretty: pretty) + "\n", to: path)
    }

    /// One record per line.
    public static func lines<T: Encodable>(_ values: [T]) throws(RecordError) -> String {
        var out = ""
        for v in values { out += try text(v) + "\n" }
        return out
    }

    public static func writeLines<T: Encodable>(_ values: [T], to path: String) throws(RecordError) {
        try writeTextAtomically(try lines(values), to: path)
    }

    static func contents(_ path: String) throws(RecordError) -> String {
        if fileExists(path), !isRegularFile(path) {
            throw RecordError.unreadable(path: path, reason: "is not a regular file (a directory, FIFO, socket or device)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RecordError.unreadable(path: path, reason: fileExists(path) ? "cannot be read" : "no such file")
        }
        guard var text = String(data: data, encoding: .utf8) else { throw RecordError.unreadable(path: path, reason: "not valid UTF-8 text") }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }   // a UTF-8 byte-order mark, as some editors write
        return text
    }

    /// The lines of a text file: LF or CRLF endings (a file saved on Windows reads the same).
    public static func lines(of text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
    }

    public static func read<T: Decodable>(_ type: T.Type, from path: String) throws(RecordError) -> T {
        try decode(type, Data(try contents(path).utf8), path: path, line: nil)
    }

    /// The records of a JSONL file, in order; blank lines are skipped, `limit` stops early.
    public static func readLines<T: Decodable>(_ type: T.Type, from path: String, limit: Int? = nil) throws(RecordError) -> [T] {
        try decodeLines(type, text: try contents(path), path: path, limit: limit)
    }

    /// The records of JSONL text read from `path` (named in errors).
    public static func decodeLines<T: Decodable>(_ type: T.Type, text: String, path: String, limit: Int? = nil) throws(RecordError) -> [T] {
        var out: [T] = []
        for (i, line) in lines(of: text).enumerated() {
            if let limit, out.count >= limit { break }
            if line.allSatisfy(\.isWhitespace) { continue }
            out.append(try decode(type, Data(line.utf8), path: path, line: i + 1))
        }
        return out
    }

    /// Decodes one JSON document. The strict parser reads it first: Foundation's decoder takes the
    /// last of two equal keys without a word, and a record with a key twice is damaged or forged.
    public static func decode<T: Decodable>(_ type: T.Type, _ data: Data, path: String, line: Int?,
                                            decoder: JSONDecoder = JSONDecoder()) throws(RecordError) -> T {
        do {
            try data.withUnsafeBytes { _ = try JSONParser.parse($0) }
        } catch {
            throw RecordError.malformed(path: path, line: line, field: nil, reason: "not valid JSON (\(error))")
        }
        do {
            return try decoder.decode(type, from: data)
        } catch let e as DecodingError {
            throw explain(e, path: path, line: line)
        } catch {
            throw RecordError.malformed(path: path, line: line, field: nil, reason: "\(error)")
        }
    }

    /// A decoding failure as "field 'a.b': expected an integer" (for configs decoded by other decoders).
    public static func describe(_ e: DecodingError) -> String {
        if case .malformed(_, _, let field, let reason) = explain(e, path: "", line: nil) {
            return (field.map { "field '\($0)': " } ?? "") + reason
        }
        return "\(e)"
    }

    static func explain(_ e: DecodingError, path: String, line: Int?) -> RecordError {
        func name(_ p: [CodingKey]) -> String? {
            guard !p.isEmpty else { return nil }
            return p.map { k in k.intValue.map { "[\($0)]" } ?? k.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        func kind(_ t: Any.Type) -> String {
            let s = "\(t)"
            if s.hasPrefix("Dictionary") || s.hasPrefix("KeyedDecodingContainer") { return "an object" }
            if s.hasPrefix("Array") || s.contains("UnkeyedDecodingContainer") { return "a list" }
            switch s {
            case "String": return "a string"
            case "Bool": return "true or false"
            case "Double", "Float": return "a number"
            case "Int", "UInt64", "Int64", "UInt": return "an integer"
            default: return s
            }
        }
        switch e {
        case .keyNotFound(let key, let c):
            return .malformed(path: path, line: line, field: name(c.codingPath + [key]), reason: "missing")
        case .typeMismatch(let t, let c):
            return .malformed(path: path, line: line, field: name(c.codingPath), reason: "expected \(kind(t))")
        case .valueNotFound(let t, let c):
            return .malformed(path: path, line: line, field: name(c.codingPath), reason: "null where \(kind(t)) is required")
        case .dataCorrupted(let c):
            let underlying = c.underlyingError.map { " (\($0.localizedDescription))" } ?? ""
            // Foundation reports a number its field cannot hold (a negative count, 1e30 for an integer) the same
            // way, without naming the field, so the message says both.
            let reason = c.codingPath.isEmpty ? "not valid JSON, or a number out of range for its field\(underlying)" : c.debugDescription
            return .malformed(path: path, line: line, field: name(c.codingPath), reason: reason)
        @unknown default:
            return .malformed(path: path, line: line, field: nil, reason: "\(e)")
        }
    }
}
