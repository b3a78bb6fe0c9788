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

/// The path made absolute with every symbolic link resolved, also in a path that does not exist
/// yet (`LINK/new/dir`: the longest part that exists is resolved by `realpath`, the rest appended,
/// `.` and `..` applied), so two spellings of one location compare equal.
public func resolvedPath(_ p: String) -> String {
    let absolute = p.hasPrefix("/") ? p : FileManager.default.currentDirectoryPath + "/" + p
    let parts = absolute.split(separator: "/").map(String.init)
    for keep in stride(from: parts.count, through: 0, by: -1) {
        let head = "/" + parts[..<keep].joined(separator: "/")
        guard let r = realpath(head, nil) else { continue }
        var out = String(cString: r).split(separator: "/").map(String.init)
        free(r)
        for part in parts[keep...] {
            if part == ".." { if !out.isEmpty { out.removeLast() } } else if part != "." { out.append(part) }
        }
        return "/" + out.joined(separator: "/")
    }
    return absolute
}

/// Whether `inner` is `outer` or lies below it, on resolved paths.
public func pathContains(_ outer: String, _ inner: String) -> Bool {
    let o = resolvedPath(outer), i = resolvedPath(inner)
    return o == "/" || i == o || i.hasPrefix(o + "/")
}

/// A regular file (a link to one counts): what may be opened and read to its end without waiting on
/// a writer (FIFO) or reading forever (a device).
public func isRegularFile(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
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

/// Strawberry's home: the store, the Hub cache and queued runs live under it. A flag wins, then
/// STRAWBERRY_HOME, then ~/.strawberry.
public enum StrawberryHome {
    public static func directory(_ flag: String? = nil) -> String {
        if let flag { return flag }
        if let home = ProcessInfo.processInfo.environment["STRAWBERRY_HOME"], !home.isEmpty { return home }
        return NSHomeDirectory() + "/.strawberry"
    }
}

/// What kind of output a directory holds, and how to recognise one written before outputs
/// recorded their own files.
public struct OutputKind: Sendable {
    public let name: String
    /// For an output without a `.strawberry` marker (written by an earlier version): the files it
    /// consists of (relative paths), given the directory; nil when there are no such outputs.
    public let legacyFiles: (@Sendable (String) -> Set<String>?)?
    /// Files a legacy output must have to be recognised as one.
    public let legacyRequired: Set<String>

    public init(name: String, legacyRequired: Set<String> = [], legacyFiles: (@Sendable (String) -> Set<String>?)?) {
        self.name = name
        self.legacyRequired = legacyRequired
        self.legacyFiles = legacyFiles
    }

    public static let evaluation = OutputKind(name: "evaluation", legacyRequired: ["items.jsonl", "metrics.json"]) { _ in ["items.jsonl", "metrics.json"] }
    public static let report = OutputKind(name: "report", legacyRequired: ["evaluation_results.json", "report.md"]) { _ in
        ["evaluation_results.json", "final_report.json", "comparison.json", "report.md", "report.html", "accuracy_by_task.svg",
         "accuracy_by_word_length.svg", "accuracy_by_position.svg", "training_loss.svg", "checkpoint_trajectory.svg"]
    }
    /// An earlier dataset is exactly its manifest, card and the files the manifest lists.
    public static let dataset = OutputKind(name: "dataset", legacyRequired: ["manifest.json"]) { dir in
        guard let data = FileManager.default.contents(atPath: dir + "/manifest.json"),
              let m = try? RecordFile.decode(ListedFiles.self, data, path: dir + "/manifest.json", line: nil) else { return nil }
        return Set(m.files.keys).union(["manifest.json", "README.md"])
    }
    public static let export = OutputKind(name: "export", legacyFiles: nil)
    /// `strawberry deploy`: the release gate's decision files.
    public static let deployment = OutputKind(name: "deployment", legacyFiles: nil)
    /// `strawberry gradcheck`: one batch's loss and LoRA gradients, for comparison with another engine.
    public static let gradientCheck = OutputKind(name: "gradient-check", legacyFiles: nil)
    /// `strawberry experiment report`: the dose–response charts, arm contrasts and conclusion.
    public static let experimentReport = OutputKind(name: "experiment-report", legacyFiles: nil)
    /// `strawberry aggregate`: a summary over several reports (one per training seed).
    public static let summary = OutputKind(name: "summary", legacyFiles: nil)

    struct ListedFiles: Decodable { let files: [String: String] }
}

/// An output directory written as a whole. Files go into a sibling temporary directory (created at
/// once, so an unwritable location fails before any long work) that `commit()` renames into place.
/// An existing directory is replaced only when it is empty, or when it is an earlier output of the
/// same kind — its `.strawberry` marker names the kind — holding nothing but that output's own
/// files (a file a person added makes it theirs, and it is refused). The old directory is removed
/// only after the new one is in place. `abandon()` removes only the temporary directory.
public struct OutputDirectory: Sendable {
    /// Where the command asked to write.
    public let path: String
    /// Where its files go until `commit()`.
    public let staging: String
    /// The kind named in the marker.
    let kind: String

    /// The marker file every output directory carries: it names the kind of output.
    public static let markerName = ".strawberry"

    /// - Parameters:
    ///   - replace: whether an earlier output of the same kind may be replaced (else it is refused too).
    ///   - inputs: paths the command reads; an output that contains one of them is refused.
    public static func begin(_ path: String, kind: OutputKind, replace: Bool, inputs: [String] = []) throws(RecordError) -> OutputDirectory {
        let out = resolvedPath(path)
        let cwd = resolvedPath(".")
        let home = getenv("HOME").map { resolvedPath(String(cString: $0)) }
        guard !path.isEmpty, out != "/", out != home, !(cwd + "/").hasPrefix(out + "/") else {
            throw RecordError.refusedOutput(path: path, reason: "is the current directory, one above it, the home directory or /")
        }
        for input in inputs where pathContains(out, input) {
            throw RecordError.refusedOutput(path: path, reason: "contains \(input), which this command reads")
        }
        if isDirectory(out) {
            let files = entries(in: out)
            if !files.isEmpty {
                // Strawberry's output records the files it wrote; anything else in it is a person's.
                let marker = (try? String(contentsOfFile: out + "/" + markerName, encoding: .utf8)).map { $0.split(separator: "\n").map(String.init) }
                let owned: Set<String>
                if let marker, marker.first == kind.name, marker.count > 1 {
                    owned = Set(marker.dropFirst()).union([markerName])
                } else if marker == nil || marker == [kind.name], let legacy = kind.legacyFiles?(out), kind.legacyRequired.isSubset(of: files) {
                    // Outputs of earlier versions (no marker, or one naming only the kind): their exact file set.
                    owned = legacy.union([markerName])
                } else {
                    throw RecordError.refusedOutput(path: path, reason: "exists and is not an earlier \(kind.name) output of Strawberry; choose a new directory")
                }
                let foreign = files.subtracting(owned).sorted()
                guard foreign.isEmpty else {
                    throw RecordError.refusedOutput(path: path, reason: "holds files Strawberry did not write (\(foreign.prefix(3).joined(separator: ", "))); move them or choose a new directory")
                }
                guard replace else { throw RecordError.refusedOutput(path: path, reason: "already holds an output; pass --overwrite to replace it") }
            }
        } else if fileExists(out) {
            throw RecordError.refusedOutput(path: path, reason: "is a file")
        }
        removeAbandonedStaging(of: out)
        let staging = out + ".tmp-\(getpid())"
        guard !fileExists(staging) else { throw RecordError.refusedOutput(path: path, reason: "would be staged in \(staging), which exists; remove it") }
        do { try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true) } catch {
            throw RecordError.io(path: staging, reason: "cannot create (\(error.localizedDescription)); is the parent directory writable?")
        }
        try writeTextAtomically(kind.name + "\n", to: staging + "/" + markerName)
        return OutputDirectory(path: out, staging: staging, kind: kind.name)
    }

    /// Every entry below `dir` as a path relative to it, links not followed (`lstat`): whatever is not
    /// a directory (files, symbolic links, sockets, FIFOs), and each directory with nothing in it, as
    /// "name/". A directory counts as empty only when none of these exist: a link to a directory,
    /// an empty folder or an unreadable one is something a person may want kept.
    static func entries(in dir: String) -> Set<String> {
        var out = Set<String>()
        func walk(_ rel: String) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: rel.isEmpty ? dir : dir + "/" + rel)) ?? []
            if names.isEmpty, !rel.isEmpty { out.insert(rel + "/") }
            for name in names {
                let r = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                if lstat(dir + "/" + r, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { walk(r) } else { out.insert(r) }
            }
        }
        walk("")
        return out
    }

    /// Staging directories of this output left by a process that no longer runs (killed outright):
    /// named `OUT.tmp-PID` by this type, so they are ours to remove.
    static func removeAbandonedStaging(of out: String) {
        let url = URL(fileURLWithPath: out)
        let parent = url.deletingLastPathComponent().path, prefix = url.lastPathComponent + ".tmp-"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(prefix) {
            // Only a directory this type made (it carries the marker) of a process that is gone.
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH,
                  fileExists(parent + "/" + name + "/" + markerName) else { continue }
            try? FileManager.default.removeItem(atPath: parent + "/" + name)
        }
    }

    /// A path inside the staging directory.
    public func file(_ name: String) -> String { staging + "/" + name }

    /// Moves the finished output into place (setting a replaced output aside until then).
    public func commit() throws(RecordError) {
        let fm = FileManager.default
        // The marker records every file of this output, so a later run can tell them from a person's.
        let files = Self.entries(in: staging).subtracting([Self.markerName]).sorted()
        try writeTextAtomically(([kind] + files).joined(separator: "\n") + "\n", to: staging + "/" + Self.markerName)
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
        if setAside {
            do { try fm.removeItem(atPath: old) } catch {
                FileHandle.standardError.write(Data("warning: the previous output was kept in \(old) (it could not be removed: \(error.localizedDescription))\n".utf8))
            }
        }
    }

    /// Removes the staging directory (this command's own) after a failure.
    public func abandon() { try? FileManager.default.removeItem(atPath: staging) }

    /// The shape every output takes: `body` writes the files (through `file(_:)`), then the output is
    /// committed; any error removes the staging directory and is rethrown, so nothing half-written
    /// is ever left in place.
    public func fill<T>(_ body: () throws -> T) throws -> T {
        do {
            let result = try body()
            try commit()
            return result
        } catch {
            abandon()
            throw error
        }
    }

}
