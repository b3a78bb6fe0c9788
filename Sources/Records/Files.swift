// Small file helpers with typed errors. Writes go to a temporary name in the same directory and
// are renamed into place, so a crash or a full disk never leaves a half-written file.
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
