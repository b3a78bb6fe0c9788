// A cursor over untrusted little-endian bytes. Every read is bounds-checked and fails with a
// `malformed` error naming the file and the byte offset, so a hostile file cannot crash us.

public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int
    let path: String
    let format: String

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, path: String, format: String) {
        self.bytes = bytes
        self.offset = offset
        self.path = path
        self.format = format
    }

    public var remaining: Int { bytes.count - offset }

    public func fail(_ reason: String) -> ModelFormatError {
        .malformed(path: path, format: format, reason: reason)
    }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw fail("\(what()) needs \(n) bytes at offset \(offset), but only \(remaining) remain")
        }
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    public mutating func readF32(_ what: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what()))
    }

    public mutating func readF64(_ what: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what()))
    }

    /// A count stored as u64, checked to fit in Int and be at most `limit`.
    public mutating func readCount(_ what: @autoclosure () -> String, limit: Int) throws -> Int {
        let v = try read(UInt64.self, what())
        guard v <= UInt64(limit) else { throw fail("\(what()) is \(v), more than the limit \(limit)") }
        return Int(v)
    }

    public mutating func readBytes(_ n: Int, _ what: @autoclosure () -> String) throws -> UnsafeRawBufferPointer {
        try need(n, what())
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)])
        offset += n
        return slice
    }

    /// UTF-8 text of exactly n bytes; invalid UTF-8 is an error rather than silently repaired.
    public mutating func readUTF8(_ n: Int, _ what: @autoclosure () -> String) throws -> String {
        let raw = try readBytes(n, what())
        guard let s = String(validating: raw, as: UTF8.self) else { throw fail("\(what()) is not valid UTF-8") }
        return s
    }

    public mutating func seek(to newOffset: Int) throws {
        guard newOffset >= 0, newOffset <= bytes.count else { throw fail("offset \(newOffset) beyond the end (\(bytes.count) bytes)") }
        offset = newOffset
    }
}

/// Product of dimensions with overflow detection; nil on overflow or a negative dimension.
public func checkedProduct(_ dims: [Int]) -> Int? {
    var p = 1
    for d in dims {
        guard d >= 0 else { return nil }
        let (r, o) = p.multipliedReportingOverflow(by: d)
        if o { return nil }
        p = r
    }
    return p
}
