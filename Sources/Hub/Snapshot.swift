// Pulling a repository (or one folder of it) back: the revision is resolved to its commit first and
// every file is fetched from that commit, so a branch that moves during the download cannot mix two
// versions; each file is verified (size, SHA-256 or git blob id) and the folder appears only complete.
//
// `hf://OWNER/NAME[@REVISION][/SUBFOLDER]` (datasets: `hf://datasets/OWNER/NAME…`) names a model or
// adapter wherever a path is accepted; it is cached under STORE/hub/{models|datasets}/OWNER/NAME/SHA/,
// with STORE/hub/…/refs/REVISION → SHA, so a cached revision loads without the network (STORE is
// $STRAWBERRY_HOME, else ~/.strawberry).
import Foundation
import HTTPTransport
import Records

public struct HubReference: Equatable, Sendable {
    public var repo: HubRepo
    public var revision: String
    public var subfolder: String

    public static let scheme = "hf://"

    /// Parses `hf://[datasets/]OWNER/NAME[@REVISION][/SUBFOLDER]`; nil for anything not starting with hf://.
    public static func parse(_ s: String) throws(HubError) -> HubReference? {
        guard s.hasPrefix(scheme) else { return nil }
        var rest = Substring(s.dropFirst(scheme.count))
        var kind = HubRepo.Kind.model
        if rest.hasPrefix("datasets/") { kind = .dataset; rest = rest.dropFirst("datasets/".count) }
        let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { throw .badRepoId(String(rest)) }
        var name = parts[1], revision = "main"
        if let at = name.firstIndex(of: "@") {
            revision = String(name[name.index(after: at)...])
            name = String(name[..<at])
            guard !revision.isEmpty, revision != ".", revision != "..", revision.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                throw .badRepoId("\(s): the revision after @ is a branch, tag or commit (letters, digits, '-', '_', '.')")
            }
        }
        let sub = parts.count > 2 ? parts[2].trimmingCharacters(in: CharacterSet(charactersIn: "/")) : ""
        guard sub.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) || sub.isEmpty else {
            throw .badRepoId("\(s): the folder must not contain '.', '..' or empty parts")
        }
        return HubReference(repo: try HubRepo(parts[0] + "/" + name, kind: kind), revision: revision, subfolder: sub)
    }
}

public enum HubSnapshot {
    static func bytes(_ n: Int) -> String {
        n >= 1 << 30 ? String(format: "%.2f GiB", Double(n) / Double(1 << 30)) : n >= 1 << 20 ? String(format: "%.1f MiB", Double(n) / Double(1 << 20))
            : n >= 1 << 10 ? String(format: "%.1f KiB", Double(n) / 1024) : "\(n) B"
    }

    /// The files of `revision` under `subfolder` ("" = all).
    public static func files(_ rev: HubRevision, subfolder: String) -> [HubFile] {
        let prefix = subfolder.isEmpty ? "" : subfolder + "/"
        return rev.siblings.filter { $0.rfilename.hasPrefix(prefix) }.sorted { $0.rfilename < $1.rfilename }
    }

    /// Downloads and verifies `files` of commit `sha` into `dir`, at their paths relative to `subfolder`.
    public static func download(_ client: HubClient, _ repo: HubRepo, sha: String, files: [HubFile], subfolder: String, into dir: String,
                                progress: (String) -> Void = { _ in }) async throws {
        let prefix = subfolder.isEmpty ? "" : subfolder + "/"
        let total = files.reduce(0) { $0 + max(0, $1.lfs?.size ?? $1.size ?? 0) }
        var done = 0
        let start = Date()
        for (i, f) in files.enumerated() {
            let rel = String(f.rfilename.dropFirst(prefix.count))
            // The server names the files; none may leave the folder.
            guard !rel.isEmpty, !rel.hasPrefix("/"), !rel.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw HubError.badAnswer(what: "the file list", reason: "'\(f.rfilename)' is not a path inside the repository")
            }
            let dest = dir + "/" + rel
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: dest).deletingLastPathComponent().path, withIntermediateDirectories: true)
            let size = max(0, f.lfs?.size ?? f.size ?? 0)
            try await client.download(repo, sha: sha, file: f, to: dest)
            done += size
            let elapsed = Date().timeIntervalSince(start)
            let eta = done > 0 && total > done ? elapsed / Double(done) * Double(total - done) : 0
            progress(String(format: "[%d/%d] %@ (%@)  %@ of %@, ETA %.0f s", i + 1, files.count, f.rfilename, bytes(size), bytes(done), bytes(total), eta))
        }
    }

    /// A local directory for an hf:// reference: the cached snapshot, downloaded first when missing.
    /// Without the network, a revision resolved before is used from the cache.
    public static func resolve(_ ref: HubReference, cache: String, client: HubClient, log: (String) -> Void = { _ in }) async throws -> String {
        let repoDir = cache + "/" + (ref.repo.kind == .model ? "models" : "datasets") + "/" + ref.repo.id
        let refFile = repoDir + "/refs/" + ref.revision
        // One directory per (commit, folder), never nested in another: "root", or the folder with its
        // '/' (and '%') percent-encoded, so hf://R and hf://R/sub can both be cached.
        let key = ref.subfolder.isEmpty ? "root" : "folder-" + ref.subfolder.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
        func snapshot(_ sha: String) -> String { repoDir + "/" + sha + "/" + key }
        func complete(_ sha: String) -> Bool { fileExists(snapshot(sha) + "/.complete") }
        let isSha = ref.revision.count == 40 && ref.revision.allSatisfy(\.isHexDigit)
        if isSha, complete(ref.revision.lowercased()) { return snapshot(ref.revision.lowercased()) }
        let rev: HubRevision
        do { rev = try await client.revision(ref.repo, ref.revision) } catch let error as TransportError {
            // Only an unreachable Hub falls back to the cache; a refusal (a revoked token, a deleted branch) is an error.
            if let sha = try? String(contentsOfFile: refFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), complete(sha) {
                log("warning: \(error); using the cached \(ref.repo)@\(ref.revision) (commit \(sha.prefix(10)))")
                return snapshot(sha)
            }
            throw error
        }
        let sha = rev.sha.lowercased()
        try FileManager.default.createDirectory(atPath: repoDir + "/refs", withIntermediateDirectories: true)
        if !complete(sha) {
            let files = files(rev, subfolder: ref.subfolder)
            guard !files.isEmpty else { throw HubError.badAnswer(what: "\(ref.repo)@\(ref.revision)", reason: "no files under '\(ref.subfolder)'") }
            let staging = repoDir + "/.download-\(getpid())-\(UInt64(Date().timeIntervalSince1970 * 1e6))"
            defer { try? FileManager.default.removeItem(atPath: staging) }
            try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
            try await download(client, ref.repo, sha: sha, files: files, subfolder: ref.subfolder, into: staging, progress: log)
            try writeTextAtomically(files.map(\.rfilename).joined(separator: "\n") + "\n", to: staging + "/.complete")
            let dest = snapshot(sha)
            try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: dest).deletingLastPathComponent().path, withIntermediateDirectories: true)
            do { try FileManager.default.moveItem(atPath: staging, toPath: dest) } catch {
                // Another process finished the same snapshot first: theirs is as good as ours.
                guard complete(sha) else { throw HubError.io(path: dest, reason: "cannot move the download into place (\(error.localizedDescription))") }
            }
        }
        try writeTextAtomically(sha + "\n", to: refFile)
        return snapshot(sha)
    }
}

/// hf:// references, accepted wherever a model or adapter path is.
public enum HubPaths {
    /// A local path for `path`: itself, or the cached snapshot of an hf:// reference (downloaded into
    /// STRAWBERRY_HOME/hub when missing; progress on standard error).
    public static func local(_ path: String) async throws -> String {
        guard let ref = try HubReference.parse(path) else { return path }
        return try await HubSnapshot.resolve(ref, cache: StrawberryHome.directory() + "/hub", client: HubClient()) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// The same, for a synchronous command (it waits here, on its own thread).
    public static func localBlocking(_ path: String) throws -> String {
        guard try HubReference.parse(path) != nil else { return path }
        return try Transport.blocking { try await local(path) }
    }
}
