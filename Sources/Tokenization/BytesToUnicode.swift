// GPT-2's byte ↔ unicode alphabet (`bytes_to_unicode` in openai/gpt-2 encoder.py): byte-level
// BPE works on strings whose characters stand for bytes. Printable bytes 33–126, 161–172 and
// 174–255 stand for themselves; the other 68 bytes map, in order, to U+0100 onward — so a space
// is 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).

public enum ByteLevel {
    /// byte → the scalar that stands for it.
    public static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// scalar value → byte, for scalars in the alphabet.
    public static let byteForScalar: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, s) in scalarForByte.enumerated() { m[s.value] = UInt8(b) }
        return m
    }()

    /// The byte-level string for UTF-8 bytes.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(scalarForByte[Int(b)]) }
        return String(s)
    }

    /// The bytes a byte-level string stands for, or nil if it has a scalar outside the alphabet.
    public static func decode(_ token: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for u in token.unicodeScalars {
            guard let b = byteForScalar[u.value] else { return nil }
            out.append(b)
        }
        return out
    }
}
