// The files of a registered version: copied into a staging directory first (no symbolic links), hashed
// as a tree, moved into place by the registration's transaction; staging left by a killed process is
// removed by the next registration.
import Foundation
import Hashing
import Records

extension Store {
    /// The first entry below `dir` (relative path, sorted walk) that is neither a regular file nor a
    /// directory — a symbolic link, FIFO, socket or device — and what it is. Reading a FIFO would
    /// block forever; a link would let the "immutable" version change with its target.
    static func firstNonRegular(in dir: String) -> (path: String, what: String)? {
        for rel in ((try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? []).sorted() {
            var st = stat()
            guard lstat(dir + "/" + rel, &st) == 0 else { return (rel, "unreadable") }
            switch st.st_mode & S_IFMT {
            case S_IFREG, S_IFDIR: continue
            case S_IFLNK: return (rel, "a symbolic link")
            case S_IFIFO: return (rel, "a FIFO")
            case S_IFSOCK: return (rel, "a socket")
            default: return (rel, "a device")
            }
        }
        return nil
    }

    /// SHA-256 over the files of a directory: the listing of each file's digest and relative path,
    /// sorted by path, hashed (the same files give the same digest wherever they are).
    public static func treeHash(_ dir: String, hash: (String) throws -> String = { try Checksum.sha256(file: $0) }) throws -> String {
        let all: [String]
        do { all = try FileManager.default.subpathsOfDirectory(atPath: dir) } catch {
            throw StoreError.io(path: dir, reason: "cannot list (\(error.localizedDescription))")
        }
        let files = all.filter { !isDirectory(dir + "/" + $0) }.sorted()
        var listing = ""
        for f in files { listing += "\(try hash(dir + "/" + f))  \(f)\n" }
        return Checksum.sha256(Array(listing.utf8))
    }

    /// Staging directories whose process is gone (killed mid-registration).
    static func removeAbandonedStaging(in dir: String) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".staging-") {
            let pid = name.dropFirst(".staging-".count).prefix { $0 != "-" }
            // Only a process that does not exist (ESRCH); EPERM is a live process of another user.
            if let p = Int32(pid), p != getpid(), kill(p, 0) != 0, errno == ESRCH { try? FileManager.default.removeItem(atPath: dir + "/" + name) }
        }
    }
}
