// Read-only memory map of a whole file. On Linux, Foundation's `.mappedIfSafe` reads the file
// into memory; mmap lets a 500 MB checkpoint cost only the pages actually touched.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        // Non-blocking, so that a FIFO is refused below instead of waiting forever for a writer.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        if fd < 0 {
            if errno == ENOENT { throw ModelFormatError.fileNotFound(path: path) }
            throw ModelFormatError.io(path: path, reason: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ModelFormatError.io(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ModelFormatError.io(path: path, reason: "not a regular file (a directory, FIFO, socket or device)")
        }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw ModelFormatError.io(path: path, reason: "cannot map: \(String(cString: strerror(errno)))")
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }

    public var count: Int { bytes.count }
}

/// The whole file as UTF-8 text (memory-mapped, so large tokenizer files cost no copy until decoded).
public func readText(_ path: String) throws -> String {
    let f = try MappedFile(path: path)
    guard let s = String(validating: f.bytes, as: UTF8.self) else {
        throw ModelFormatError.malformed(path: path, format: "text", reason: "not valid UTF-8")
    }
    return s
}
