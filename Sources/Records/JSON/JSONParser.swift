// A small strict JSON parser for untrusted input (safetensors headers, config.json,
// tokenizer.json, adapter configs). Unlike Foundation's parser it rejects duplicate keys
// (safetensors requires this), keeps integers exact, preserves key order, and bounds nesting
// depth so hostile input cannot blow the stack.

public struct JSONParseError: Error, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "JSON error at byte \(offset): \(reason)" }
}

public enum JSONParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int = 64) throws -> JSONValue {
        var p = Parser(b: bytes, i: 0, maxDepth: maxDepth)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw JSONParseError(offset: p.i, reason: "trailing characters") }
        return v
    }

    public static func parse(_ text: String) throws -> JSONValue {
        var copy = text
        return try copy.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }

    struct Parser {
        let b: UnsafeRawBufferPointer
        var i: Int
        let maxDepth: Int

        func err(_ r: String) -> JSONParseError { JSONParseError(offset: i, reason: r) }
        var peek: UInt8? { i < b.count ? b[i] : nil }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ c: UInt8) throws {
            guard peek == c else { throw err("expected '\(Character(Unicode.Scalar(c)))'") }
            i += 1
        }

        mutating func literal(_ word: String, _ v: JSONValue) throws -> JSONValue {
            for c in word.utf8 { try expect(c) }
            return v
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < maxDepth else { throw err("nesting deeper than \(maxDepth)") }
            guard let c = peek else { throw err("unexpected end of input") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default: return try number()
            }
        }

        mutating func object(depth: Int) throws -> JSONValue {
            try expect(UInt8(ascii: "{"))
            var out: [(String, JSONValue)] = []
            var seen = Set<String>()
            skipSpace()
            if peek == UInt8(ascii: "}") { i += 1; return .object(out) }
            while true {
                skipSpace()
                let keyAt = i
                let k = try string()
                guard seen.insert(k).inserted else { throw JSONParseError(offset: keyAt, reason: "duplicate key \"\(k)\"") }
                skipSpace()
                try expect(UInt8(ascii: ":"))
                skipSpace()
                out.append((k, try value(depth: depth + 1)))
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "}"))
                return .object(out)
            }
        }

        mutating func array(depth: Int) throws -> JSONValue {
            try expect(UInt8(ascii: "["))
            var out: [JSONValue] = []
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return .array(out) }
            while true {
                skipSpace()
                out.append(try value(depth: depth + 1))
                skipSpace()
                if peek == UInt8(ascii: ",") { i += 1; continue }
                try expect(UInt8(ascii: "]"))
                return .array(out)
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw err("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw err("bad hex digit in \\u escape")
                }
                v = v * 16 + d
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            var bytes: [UInt8] = []
            while true {
                guard let c = peek else { throw err("unterminated string") }
                i += 1
                if c == UInt8(ascii: "\"") { break }
                if c < 0x20 { throw err("control character in string") }
                if c != UInt8(ascii: "\\") { bytes.append(c); continue }
                guard let e = peek else { throw err("unterminated escape") }
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var cp = try hex4()
                    if (0xD800..<0xDC00).contains(cp) {
                        guard peek == UInt8(ascii: "\\"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "u") else {
                            throw err("unpaired surrogate")
                        }
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00..<0xE000).contains(lo) else { throw err("bad low surrogate") }
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(cp) {
                        throw err("unpaired surrogate")
                    }
                    guard let scalar = Unicode.Scalar(cp) else { throw err("bad code point") }
                    bytes.append(contentsOf: Array(String(scalar).utf8))
                default: throw err("bad escape")
                }
            }
            guard let s = String(validating: bytes, as: UTF8.self) else { throw err("invalid UTF-8 in string") }
            return s
        }

        mutating func number() throws -> JSONValue {
            let start = i
            var isInt = true
            if peek == UInt8(ascii: "-") { i += 1 }
            var digits = 0
            while let c = peek, c >= 0x30, c <= 0x39 { i += 1; digits += 1 }
            guard digits > 0 else { throw err("unexpected character") }
            if peek == UInt8(ascii: ".") {
                isInt = false
                i += 1
                var frac = 0
                while let c = peek, c >= 0x30, c <= 0x39 { i += 1; frac += 1 }
                guard frac > 0 else { throw err("digits expected after '.'") }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                isInt = false
                i += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
                var ed = 0
                while let c = peek, c >= 0x30, c <= 0x39 { i += 1; ed += 1 }
                guard ed > 0 else { throw err("digits expected in exponent") }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            if isInt, let v = Int(text) { return .int(v) }
            guard let d = Double(text) else { throw err("bad number") }
            return .double(d)
        }
    }
}
