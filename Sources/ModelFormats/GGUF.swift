// GGUF v2/v3 reader (spec: ggml-org/ggml docs/gguf.md).
//
// Byte layout (little-endian):
//   magic "GGUF" | u32 version (2 or 3) | u64 tensor_count | u64 metadata_kv_count
//   metadata_kv_count × { string key | u32 value_type | value }
//   tensor_count × { string name | u32 n_dims (≤ 4) | u64 dims[n_dims] (innermost first) | u32 ggml_type | u64 offset }
//   zero padding to ALIGNMENT (general.alignment, default 32)
//   tensor data; each tensor at data_start + offset, offset a multiple of ALIGNMENT
// string = u64 length + UTF-8 bytes. value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32,
// 7 bool, 8 string, 9 array (u32 type, u64 count, values), 10 u64, 11 i64, 12 f64.
// Every count, size and offset is checked against the file before use.

public enum GGUFValue: Sendable, Equatable {
    case uint(UInt64)
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .uint(let v): return v <= UInt64(Int.max) ? Int(v) : nil
        case .int(let v): return Int(v)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case .float(let v): return v
        case .uint(let v): return Double(v)
        case .int(let v): return Double(v)
        default: return nil
        }
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
}

public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions innermost first (ggml "ne" order): the reverse of the PyTorch shape.
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute byte range in the file.
    public let range: Range<Int>
    /// The PyTorch-order shape.
    public var shape: [Int] { dims.reversed() }
    public var elements: Int { dims.reduce(1, *) }
}

public struct GGUFFile: Sendable {
    public static let maxTensors = 1 << 20
    public static let maxKeys = 1 << 20
    public static let maxStringBytes = 1 << 26
    public static let maxArrayDepth = 4

    public let path: String
    public let version: UInt32
    /// Metadata keys in file order, and their values.
    public let keys: [String]
    public let metadata: [String: GGUFValue]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    let index: [String: Int]
    let file: MappedFile

    public init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    init(mapped: MappedFile) throws {
        file = mapped
        path = mapped.path
        var r = ByteReader(mapped.bytes, path: path, format: "GGUF")
        let magic = try r.read(UInt32.self, "magic")
        guard magic == 0x4655_4747 else { throw r.fail("bad magic (expected 'GGUF'); is this a GGUF model file?") }
        version = try r.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw ModelFormatError.unsupported(path: path, format: "GGUF", reason: "version \(version) (Strawberry reads 2 and 3)")
        }
        let nTensors = try r.readCount("tensor_count", limit: Self.maxTensors)
        let nKeys = try r.readCount("metadata_kv_count", limit: Self.maxKeys)

        var keys: [String] = [], meta: [String: GGUFValue] = [:]
        for i in 0..<nKeys {
            let key = try Self.readString(&r, "key of metadata entry \(i)")
            guard meta[key] == nil else { throw r.fail("duplicate metadata key '\(key)'") }
            let type = try r.read(UInt32.self, "type of '\(key)'")
            meta[key] = try Self.readValue(&r, type: type, key: key, depth: 0)
            keys.append(key)
        }

        var alignment = 32
        if let a = meta["general.alignment"] {
            guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw r.fail("general.alignment \(a) is not a power of two")
            }
            alignment = v
        }

        var infos: [(String, [Int], GGMLType, Int)] = []
        var seen = Set<String>()
        for i in 0..<nTensors {
            let name = try Self.readString(&r, "name of tensor \(i)")
            guard seen.insert(name).inserted else { throw r.fail("duplicate tensor name '\(name)'") }
            let nDims = try r.read(UInt32.self, "n_dims of '\(name)'")
            guard nDims >= 1, nDims <= 4 else { throw r.fail("tensor '\(name)' has \(nDims) dimensions (1 to 4 allowed)") }
            var dims: [Int] = []
            for d in 0..<Int(nDims) { dims.append(try r.readCount("dim \(d) of '\(name)'", limit: Int(Int32.max))) }
            let rawType = try r.read(UInt32.self, "type of '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw ModelFormatError.unsupported(path: path, format: "GGUF", reason: "tensor '\(name)' has unknown ggml type \(rawType)")
            }
            let offset = try r.readCount("offset of '\(name)'", limit: Int.max / 2)
            guard offset % alignment == 0 else { throw r.fail("tensor '\(name)' offset \(offset) is not a multiple of the alignment \(alignment)") }
            infos.append((name, dims, type, offset))
        }

        let dataStart = (r.offset + alignment - 1) / alignment * alignment
        guard dataStart <= mapped.count else { throw r.fail("tensor data would start at \(dataStart), past the end of the file") }
        var tensors: [GGUFTensorInfo] = []
        for (name, dims, type, offset) in infos {
            guard let n = checkedProduct(dims) else { throw r.fail("tensor '\(name)' dims \(dims) overflow") }
            guard let size = type.byteCount(elements: n) else {
                throw r.fail("tensor '\(name)': \(n) values is not a whole number of \(type.name) blocks of \(type.block.values)")
            }
            let (start, o) = dataStart.addingReportingOverflow(offset)
            guard !o, start <= mapped.count, size <= mapped.count - start else {
                throw r.fail("tensor '\(name)' (\(size) bytes at data offset \(offset)) runs past the end of the file (\(mapped.count) bytes); truncated download?")
            }
            tensors.append(GGUFTensorInfo(name: name, dims: dims, type: type, range: start..<(start + size)))
        }
        // Tensors must not overlap one another.
        let sorted = tensors.sorted { $0.range.lowerBound < $1.range.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.range.upperBound > b.range.lowerBound && !a.range.isEmpty {
            throw r.fail("tensors '\(a.name)' and '\(b.name)' overlap")
        }
        self.keys = keys
        self.metadata = meta
        self.alignment = alignment
        self.tensors = tensors
        self.index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    public func info(_ name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor dequantised to float32, in PyTorch order (shape = reversed dims).
    public func float32(_ name: String) throws -> [Float] {
        guard let t = info(name) else { throw ModelFormatError.tensorNotFound(path: path, name: name) }
        guard let values = dequantize(t.type, UnsafeRawBufferPointer(rebasing: file.bytes[t.range]), elements: t.elements) else {
            throw ModelFormatError.unsupported(path: path, format: "GGUF",
                                               reason: "tensor '\(name)' is \(t.type.name); Strawberry dequantises F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K")
        }
        return values
    }

    /// The tensor's bytes as stored (its blocks, for a quantised type).
    public func rawBytes(_ name: String) throws -> [UInt8] {
        guard let t = info(name) else { throw ModelFormatError.tensorNotFound(path: path, name: name) }
        return [UInt8](UnsafeRawBufferPointer(rebasing: file.bytes[t.range]))
    }

    // MARK: metadata accessors

    public func string(_ key: String) -> String? { metadata[key]?.string }
    public func int(_ key: String) -> Int? { metadata[key]?.int }
    public func double(_ key: String) -> Double? { metadata[key]?.double }

    public var architecture: String? { string("general.architecture") }

    // MARK: parsing

    static func readString(_ r: inout ByteReader, _ what: @autoclosure () -> String) throws -> String {
        let n = try r.readCount("length of \(what())", limit: maxStringBytes)
        return try r.readUTF8(n, what())
    }

    static func readValue(_ r: inout ByteReader, type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint(UInt64(try r.read(UInt8.self, key)))
        case 1: return .int(Int64(try r.read(Int8.self, key)))
        case 2: return .uint(UInt64(try r.read(UInt16.self, key)))
        case 3: return .int(Int64(try r.read(Int16.self, key)))
        case 4: return .uint(UInt64(try r.read(UInt32.self, key)))
        case 5: return .int(Int64(try r.read(Int32.self, key)))
        case 6: return .float(Double(try r.readF32(key)))
        case 7:
            let b = try r.read(UInt8.self, key)
            guard b <= 1 else { throw r.fail("bool '\(key)' has value \(b)") }
            return .bool(b == 1)
        case 8: return .string(try readString(&r, "value of '\(key)'"))
        case 9:
            guard depth < maxArrayDepth else { throw r.fail("arrays nested deeper than \(maxArrayDepth) in '\(key)'") }
            let elemType = try r.read(UInt32.self, "array type of '\(key)'")
            // Every element takes at least one byte, so a count above the bytes left is a lie.
            let count = try r.readCount("array length of '\(key)'", limit: r.remaining)
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try readValue(&r, type: elemType, key: key, depth: depth + 1)) }
            return .array(values)
        case 10: return .uint(try r.read(UInt64.self, key))
        case 11: return .int(try r.read(Int64.self, key))
        case 12: return .float(try r.readF64(key))
        default: throw r.fail("metadata '\(key)' has unknown value type \(type)")
        }
    }
}
