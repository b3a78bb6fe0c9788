// safetensors (github.com/huggingface/safetensors).
//
// Byte layout:
//   [0, 8)        N: u64 little-endian, the header length (≤ 100,000,000)
//   [8, 8+N)      UTF-8 JSON: {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [b, e]}, ...}
//   [8+N, end)    the data buffer; offsets are relative to its start, `e` exclusive
// Rules enforced here (as the reference implementation does): no duplicate names, known dtype,
// byte size = prod(shape)·sizeof(dtype), tensors sorted by offset tile the buffer exactly from 0
// with no gap or overlap. Row-major, little-endian.
import CKernels
import Records
#if canImport(Glibc)
import Glibc
#endif

public enum SafetensorsDType: String, Sendable, CaseIterable {
    case F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, U16, U32, U64
    public var size: Int {
        switch self {
        case .F64, .I64, .U64: return 8
        case .F32, .I32, .U32: return 4
        case .F16, .BF16, .I16, .U16: return 2
        case .I8, .U8, .BOOL: return 1
        }
    }
}

public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    public let shape: [Int]
    /// Absolute byte range in the file.
    public let range: Range<Int>
}

/// One memory-mapped .safetensors file.
public struct SafetensorsFile: Sendable {
    public static let maxHeaderBytes = 100_000_000
    public let path: String
    public let metadata: [String: String]
    /// Tensors in file order of their data.
    public let tensors: [SafetensorsTensorInfo]
    let index: [String: Int]
    let file: MappedFile

    public init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    init(mapped: MappedFile) throws {
        file = mapped
        path = mapped.path
        var r = ByteReader(mapped.bytes, path: path, format: "safetensors")
        let n = try r.readCount("header length", limit: Self.maxHeaderBytes)
        let headerBytes = try r.readBytes(n, "header")
        let dataStart = 8 + n
        let dataSize = mapped.count - dataStart
        let header: JSONValue
        do { header = try JSONParser.parse(headerBytes) } catch { throw r.fail("header: \(error)") }
        guard let entries = header.object else { throw r.fail("header is not a JSON object") }

        var meta: [String: String] = [:]
        var infos: [SafetensorsTensorInfo] = []
        for (name, value) in entries {
            if name == "__metadata__" {
                guard let kv = value.object else { throw r.fail("__metadata__ is not an object") }
                for (k, v) in kv {
                    guard let s = v.string else { throw r.fail("__metadata__[\(k)] is not a string") }
                    meta[k] = s
                }
                continue
            }
            guard let d = value["dtype"]?.string else { throw r.fail("tensor '\(name)' has no dtype") }
            guard let dtype = SafetensorsDType(rawValue: d) else {
                throw ModelFormatError.unsupported(path: path, format: "safetensors", reason: "tensor '\(name)' has dtype \(d)")
            }
            guard let dims = value["shape"]?.array?.map({ $0.int }), !dims.contains(where: { $0 == nil || $0! < 0 }) else {
                throw r.fail("tensor '\(name)' has a bad shape")
            }
            let shape = dims.map { $0! }
            guard let offs = value["data_offsets"]?.array, offs.count == 2, let b = offs[0].int, let e = offs[1].int,
                  b >= 0, e >= b else { throw r.fail("tensor '\(name)' has bad data_offsets") }
            guard let elements = checkedProduct(shape), case let (bytes, o) = elements.multipliedReportingOverflow(by: dtype.size), !o else {
                throw r.fail("tensor '\(name)': shape \(shape) overflows")
            }
            guard e - b == bytes else {
                throw r.fail("tensor '\(name)': data_offsets span \(e - b) bytes but \(dtype.rawValue)\(shape) needs \(bytes)")
            }
            guard e <= dataSize else {
                throw r.fail("tensor '\(name)' ends at \(e), beyond the \(dataSize)-byte data buffer (truncated file?)")
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, range: (dataStart + b)..<(dataStart + e)))
        }
        infos.sort { ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound) }
        var cursor = dataStart
        for t in infos {
            guard t.range.lowerBound == cursor else {
                throw r.fail(t.range.lowerBound < cursor ? "tensor '\(t.name)' overlaps the previous one"
                                                         : "gap before tensor '\(t.name)' at data offset \(cursor - dataStart)")
            }
            cursor = t.range.upperBound
        }
        guard cursor == mapped.count else {
            throw r.fail("tensors cover \(cursor - dataStart) bytes but the data buffer has \(dataSize)")
        }
        metadata = meta
        tensors = infos
        index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    public func info(_ name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// The tensor converted to float32 (F32, F16, BF16; integer dtypes are not weights).
    public func float32(_ name: String) throws -> [Float] {
        guard let t = info(name) else { throw ModelFormatError.tensorNotFound(path: path, name: name) }
        let n = t.range.count / t.dtype.size
        let raw = UnsafeRawBufferPointer(rebasing: file.bytes[t.range])
        var out = [Float](repeating: 0, count: n)
        switch t.dtype {
        case .F32:
            out.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
        case .F16, .BF16:
            // Copy first: offsets need not be 2-aligned in a hostile file.
            var halves = [UInt16](repeating: 0, count: n)
            halves.withUnsafeMutableBytes { $0.copyMemory(from: raw) }
            out.withUnsafeMutableBufferPointer { o in
                halves.withUnsafeBufferPointer { h in
                    if t.dtype == .F16 { sb_f16_to_f32(o.baseAddress!, h.baseAddress!, Int64(n)) }
                    else { sb_bf16_to_f32(o.baseAddress!, h.baseAddress!, Int64(n)) }
                }
            }
        default:
            throw ModelFormatError.unsupported(path: path, format: "safetensors",
                                               reason: "tensor '\(name)' is \(t.dtype.rawValue); weights must be F32, F16 or BF16")
        }
        return out
    }
}

/// A checkpoint of one or more safetensors files (a directory with `model.safetensors`, or
/// `model.safetensors.index.json` naming shards).
public struct SafetensorsCheckpoint: Sendable {
    public let files: [SafetensorsFile]
    let owner: [String: Int]

    public init(directory: String) throws {
        let indexPath = directory + "/model.safetensors.index.json"
        if fileExists(indexPath) {
            let text = try readText(indexPath)
            let json: JSONValue
            do { json = try JSONParser.parse(text) } catch {
                throw ModelFormatError.malformed(path: indexPath, format: "safetensors index", reason: "\(error)")
            }
            guard let map = json["weight_map"]?.object else {
                throw ModelFormatError.malformed(path: indexPath, format: "safetensors index", reason: "no weight_map object")
            }
            var shardNames: [String] = []
            for (_, v) in map {
                guard let s = v.string, !s.contains("/") else {
                    throw ModelFormatError.malformed(path: indexPath, format: "safetensors index", reason: "bad shard name \(v)")
                }
                if !shardNames.contains(s) { shardNames.append(s) }
            }
            let files = try shardNames.sorted().map { try SafetensorsFile(path: directory + "/" + $0) }
            try self.init(files: files)
            for (name, v) in map where info(name)?.file != v.string {
                throw ModelFormatError.malformed(path: indexPath, format: "safetensors index",
                                                 reason: "weight_map puts '\(name)' in \(v.string ?? "?") but that shard does not hold it")
            }
        } else {
            try self.init(files: [SafetensorsFile(path: directory + "/model.safetensors")])
        }
    }

    public init(files: [SafetensorsFile]) throws {
        var owner: [String: Int] = [:]
        for (i, f) in files.enumerated() {
            for t in f.tensors {
                if owner[t.name] != nil {
                    throw ModelFormatError.malformed(path: f.path, format: "safetensors", reason: "tensor '\(t.name)' appears in two shards")
                }
                owner[t.name] = i
            }
        }
        self.files = files
        self.owner = owner
    }

    public var names: [String] { owner.keys.sorted() }

    public func info(_ name: String) -> (info: SafetensorsTensorInfo, file: String)? {
        guard let i = owner[name], let t = files[i].info(name) else { return nil }
        return (t, String(files[i].path.split(separator: "/").last ?? ""))
    }

    public func float32(_ name: String) throws -> [Float] {
        guard let i = owner[name] else { throw ModelFormatError.tensorNotFound(path: files.first?.path ?? "checkpoint", name: name) }
        return try files[i].float32(name)
    }
}

// MARK: - Writer

public enum SafetensorsWriter {
    /// Writes float32 tensors to `path` atomically (temp file + rename). Names are sorted so the
    /// same tensors always give the same bytes; the header is padded with spaces to 8 bytes.
    public static func write(_ tensors: [String: (shape: [Int], data: [Float])], metadata: [String: String] = ["format": "pt"],
                             to path: String) throws {
        let names = tensors.keys.sorted()
        var header = "{"
        if !metadata.isEmpty {
            header += "\"__metadata__\":{" + metadata.sorted { $0.key < $1.key }.map { "\(jsonQuote($0.key)):\(jsonQuote($0.value))" }.joined(separator: ",") + "},"
        }
        var offset = 0
        var parts: [String] = []
        for name in names {
            let t = tensors[name]!
            precondition(t.shape.reduce(1, *) == t.data.count, "tensor \(name): shape \(t.shape) vs \(t.data.count) values")
            let size = t.data.count * 4
            parts.append("\(jsonQuote(name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        header += parts.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
        var out: [UInt8] = []
        out.reserveCapacity(8 + headerBytes.count + offset)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: headerBytes)
        for name in names { tensors[name]?.data.withUnsafeBytes { out.append(contentsOf: $0) } }
        try writeAtomically(out, to: path)
    }
}
