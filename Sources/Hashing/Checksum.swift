// SHA-256 (FIPS 180-4) of bytes and files, for manifests, file identities and lineage: a module of
// its own so that records, the release store, the Hub client and publishing can hash without
// linking the engine. Computed by swift-crypto (BoringSSL, with the CPU's SHA extensions where
// present); files are read in 16 MiB pieces, so memory stays flat whatever their size.
import Crypto
import Foundation

public struct ChecksumError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
}

public enum Checksum {
    /// Lower-case hex SHA-256 of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// Lower-case hex SHA-256 of a file's bytes.
    /// Only a regular file (a link to one is followed): opening a FIFO would wait for a writer
    /// forever, and a device never ends.
    public static func sha256(file path: String) throws -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { throw ChecksumError(path: path, reason: "cannot be read (\(String(cString: strerror(errno))))") }
        guard st.st_mode & S_IFMT == S_IFREG else { throw ChecksumError(path: path, reason: "is not a regular file (a FIFO, socket or device); only files are hashed") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var h = SHA256()
        while let piece = try handle.read(upToCount: 16 << 20), !piece.isEmpty { h.update(data: piece) }
        return hex(h.finalize())
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
