// Small file helpers with typed errors. Writes go to a temporary name in the same directory and
// are renamed into place, so a crash or a full disk never leaves a half-written file.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public func fileExists(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0
}

public func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}

public func writeAtomically(_ bytes: [UInt8], to path: String) throws(RecordError) {
    let tmp = path + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else {
        throw RecordError.io(path: path, reason: "cannot create \(tmp): \(String(cString: strerror(errno))). Is the directory writable?")
    }
    var written = 0
    let ok: Bool = bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            if n <= 0 { return false }
            written += n
        }
        return fsync(fd) == 0
    }
    let err = errno
    close(fd)
    guard ok else {
        unlink(tmp)
        throw RecordError.io(path: path, reason: "write failed after \(written) bytes: \(String(cString: strerror(err))) (disk full?); nothing was replaced")
    }
    guard rename(tmp, path) == 0 else {
        let e = errno
        unlink(tmp)
        throw RecordError.io(path: path, reason: "cannot rename into place: \(String(cString: strerror(e)))")
    }
}

public func writeTextAtomically(_ text: String, to path: String) throws(RecordError) {
    try writeAtomically(Array(text.utf8), to: path)
}

/// An output directory written as a whole. Files go into a sibling temporary directory (created at
/// once, so an unwritable location fails before any long work) that `commit()` renames into place.
/// An existing directory is replaced only when it is empty or holds `marker` — Strawberry's own
/// output of the same kind — and the old one is removed only after the new one is in place.
/// Nothing a user made is ever deleted; `abandon()` removes only the temporary directory.
public struct OutputDirectory: Sendable {
    /// Where the command asked to write.
    public let path: String
    /// Where its files go until `commit()`.
    public let staging: String

    /// - Parameters:
    ///   - marker: a file name only this kind of output has (`metrics.json` for an evaluation).
    ///   - replace: whether an existing output of the same kind may be replaced (else it is refused too).
    ///   - inputs: paths the command reads; an output that contains one of them is refused.
    public static func begin(_ path: String, marker: String, replace: Bool, inputs: [String] = []) throws(RecordError) -> OutputDirectory {
        let out = absolute(path)
        let cwd = absolute(".")
        let home = getenv("HOME").map { absolute(String(cString: $0)) }
        guard !path.isEmpty, out != "/", out != home, !(cwd + "/").hasPrefix(out + "/") else {
            throw RecordError.refusedOutput(path: path, reason: "is the current directory, one above it, the home directory or /")
        }
        for input in inputs where (absolute(input) + "/").hasPrefix(out + "/") {
            throw RecordError.refusedOutput(path: path, reason: "contains \(input), which this command reads")
        }
        if isDirectory(out) {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
            if !entries.isEmpty {
                guard entries.contains(marker) else {
                    throw RecordError.refusedOutput(path: path, reason: "exists and is not an output of this command (no \(marker)); choose a new directory")
                }
                guard replace else { throw RecordError.refusedOutput(path: path, reason: "already holds an output; pass --overwrite to replace it") }
            }
        } else if fileExists(out) {
            throw RecordError.refusedOutput(path: path, reason: "is a file")
        }
        let staging = out + ".tmp-\(getpid())"
        guard !fileExists(staging) else { throw RecordError.refusedOutput(path: path, reason: "would be staged in \(staging), which exists; remove it") }
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw RecordError.io(path: staging, reason: "cannot create: \(error.localizedDescription). Is the parent directory writable?")
        }
        return OutputDirectory(path: out, staging: staging)
    }

    /// A path inside the staging directory.
    public func file(_ name: String) -> String { staging + "/" + name }

    /// Moves the finished output into place (setting a replaced output aside until then).
    public func commit() throws(RecordError) {
        let fm = FileManager.default
        let old = path + ".old-\(getpid())"
        var setAside = false
        if isDirectory(path) {
            do { try fm.moveItem(atPath: path, toPath: old); setAside = true } catch {
                throw RecordError.io(path: path, reason: "cannot set the previous output aside: \(error.localizedDescription)")
            }
        }
        do { try fm.moveItem(atPath: staging, toPath: path) } catch {
            if setAside { try? fm.moveItem(atPath: old, toPath: path) }
            throw RecordError.io(path: path, reason: "cannot move the finished output into place: \(error.localizedDescription)")
        }
        if setAside { try? fm.removeItem(atPath: old) }
    }

    /// Removes the staging directory (this command's own) after a failure.
    public func abandon() { try? FileManager.default.removeItem(atPath: staging) }

    static func absolute(_ p: String) -> String {
        let url = p.hasPrefix("/") ? URL(fileURLWithPath: p) : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(p)
        let s = url.standardizedFileURL.resolvingSymlinksInPath().path
        return s.count > 1 && s.hasSuffix("/") ? String(s.dropLast()) : s
    }
}
