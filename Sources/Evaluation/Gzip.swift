// Reading gzip-compressed records (committed per-item files are `items.jsonl.gz`), through zlib.
// The output is bounded: a small file that inflates without end (a gzip bomb) is refused, not followed.
import CZlib
import Foundation

public enum Gzip {
    /// The most bytes one file may inflate to.
    public static let maxOutput = 1 << 31

    /// The decompressed bytes of a gzip file (concatenated members too).
    public static func decompress(file path: String, limit: Int = maxOutput) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size, size <= limit, size < Int(UInt32.max) else {
            throw EvaluationError.io(path: path, reason: size == nil ? "cannot read the file" : "\(size ?? 0) bytes compressed is past the \(limit)-byte limit; refused")
        }
        guard let input = FileManager.default.contents(atPath: path) else { throw EvaluationError.io(path: path, reason: "cannot read the file") }
        return try decompress(input, path: path, limit: limit)
    }

    public static func decompress(_ input: Data, path: String, limit: Int = maxOutput) throws -> Data {
        guard input.count < Int(UInt32.max) else { throw EvaluationError.io(path: path, reason: "\(input.count) bytes compressed: too large to inflate at once") }
        var stream = z_stream()
        // 15 + 32: a zlib or gzip header, detected.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw EvaluationError.io(path: path, reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var out = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        try input.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.bindMemory(to: Bytef.self).baseAddress else { return }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(raw.count)
            repeat {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(buf.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return buf.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw EvaluationError.io(path: path, reason: "not a valid gzip file (zlib status \(status)); was it cut short?")
                }
                guard out.count + produced <= limit else { throw EvaluationError.io(path: path, reason: "inflates past \(limit) bytes; refused") }
                out.append(contentsOf: chunk[0..<produced])
                // Another gzip member after this one (`cat a.gz b.gz`): start it.
                if status == Z_STREAM_END && stream.avail_in > 0 { guard inflateReset(&stream) == Z_OK else { break }; status = Z_OK }
            } while status != Z_STREAM_END && (stream.avail_in > 0 || stream.avail_out == 0)
        }
        guard status == Z_STREAM_END else { throw EvaluationError.io(path: path, reason: "the gzip stream ends early; was the file cut short?") }
        return out
    }
}
