// A Hugging Face Hub client: the requests `huggingface_hub` sends to create a repository, upload a
// folder in one commit (README validation, pre-upload, LFS batch and transfer, NDJSON commit) and
// download a revision (repository info with blobs, resolve URLs pinned to the commit). The sequence
// and its sources are in docs/publishing.md; the wire formats in ../shared/REFERENCE.md §3.6.
//
// Resuming is the protocol's own: the pre-upload answer carries the object id of files the repository
// already has (skipped), and the LFS batch answer has no upload action for objects the server already
// stores — so a publish interrupted after some uploads sends only what is missing when re-run.
import Crypto
import Foundation
import HTTPTransport
import Hashing
import NIOHTTP1
import Records

public enum HubError: Error, CustomStringConvertible {
    case noToken
    case badRepoId(String)
    case refused(what: String, status: Int, message: String)
    case badAnswer(what: String, reason: String)
    case invalidCard([String])
    case verification(path: String, reason: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .noToken:
            return "no Hugging Face token: set HF_TOKEN (or HUGGINGFACE_HUB_TOKEN), or log in with `hf auth login` (it writes ~/.cache/huggingface/token)"
        case .badRepoId(let r): return "'\(r)' is not a repository id: OWNER/NAME, letters, digits, '-', '_', '.' (at most 96 characters each)"
        case .refused(let w, let s, let m):
            let hint = s == 401 ? " (is the token valid?)" : s == 403 ? " (does the token have write access to it?)" : s == 404 ? " (does the repository exist, and can the token see it?)" : ""
            return "the Hub refused \(w): HTTP \(s)\(m.isEmpty ? "" : " — " + m)\(hint)"
        case .badAnswer(let w, let r): return "the Hub's answer to \(w) is not what its API returns: \(r)"
        case .invalidCard(let errors): return "the Hub rejects README.md's metadata: " + errors.joined(separator: "; ")
        case .verification(let p, let r): return "\(p) failed verification: \(r); nothing was kept"
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}

/// A repository on the Hub.
public struct HubRepo: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case model, dataset }
    public var id: String
    public var kind: Kind

    public init(_ id: String, kind: Kind = .model) throws(HubError) {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        let ok = parts.count == 2 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 96 && p != "." && p != ".." && p.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        }
        guard ok else { throw .badRepoId(id) }
        self.id = id
        self.kind = kind
    }

    /// `models` / `datasets`, as in /api/{…}/REPO.
    var api: String { kind == .model ? "models" : "datasets" }
    /// "" / "datasets/", as in /{…}REPO/resolve and /{…}REPO.git.
    var urlPrefix: String { kind == .model ? "" : "datasets/" }
    public var description: String { urlPrefix + id }
}

/// One file of a repository revision (`/api/models/REPO/revision/REV?blobs=true` → siblings).
public struct HubFile: Codable, Equatable, Sendable {
    public struct LFS: Codable, Equatable, Sendable {
        public var sha256: String
        public var size: Int
    }
    public var rfilename: String
    public var size: Int?
    /// The git blob id (SHA-1 of "blob SIZE\0" + bytes).
    public var blobId: String?
    public var lfs: LFS?
}

public struct HubRevision: Codable, Equatable, Sendable {
    public var sha: String
    public var siblings: [HubFile]
}

/// What an upload did.
public struct HubCommit: Codable, Equatable, Sendable {
    /// The new commit, or nil when every file was already there (no commit is made).
    public var commitOid: String?
    public var commitUrl: String?
    public var uploadedLFS: [String]
    public var alreadyStoredLFS: [String]
    public var regular: [String]
    public var unchanged: [String]
    public var warnings: [String]
    enum CodingKeys: String, CodingKey {
        case commitOid = "commit_oid", commitUrl = "commit_url", uploadedLFS = "uploaded_lfs", alreadyStoredLFS = "already_stored_lfs"
        case regular, unchanged, warnings
    }
}

/// What the client sends: the Hub's request bodies, typed (field names as the Hub spells them).
enum Wire {
    struct CreateRepo: Encodable { var name, organization, type, visibility: String }
    struct ValidateYAML: Encodable { var content, repoType: String }
    struct PreuploadFile: Encodable { var path: String; var size: Int; var sample: String }
    struct Preupload: Encodable { var files: [PreuploadFile] }
    struct LFSObject: Encodable { var oid: String; var size: Int }
    struct Ref: Encodable { var name: String }
    struct Batch: Encodable {
        var operation = "upload"
        var transfers = ["basic", "multipart"]
        var hashAlgo = "sha256"
        var ref: Ref
        var objects: [LFSObject]
        enum CodingKeys: String, CodingKey { case operation, transfers, hashAlgo = "hash_algo", ref, objects }
    }
    struct Part: Encodable { var partNumber: Int; var etag: String }
    struct Complete: Encodable { var oid: String; var parts: [Part] }
    /// One line of the NDJSON commit.
    struct Line<Value: Encodable>: Encodable { var key: String; var value: Value }
    struct Header: Encodable { var summary, description: String }
    struct InlineFile: Encodable { var path: String; var encoding = "base64"; var content: String }
    struct LFSFile: Encodable { var path: String; var algo = "sha256"; var oid: String; var size: Int }

    static func data<T: Encodable>(_ value: T) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(value)
    }
}

public final class HubClient: @unchecked Sendable {
    public let endpoint: String
    let token: String?
    let transport: Transport

    public static let defaultEndpoint = "https://huggingface.co"

    /// HF_ENDPOINT, else huggingface.co.
    public static func endpoint(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var e = env["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? defaultEndpoint
        while e.hasSuffix("/") { e.removeLast() }
        return e
    }

    /// The token, as huggingface_hub finds it: HF_TOKEN, else HUGGINGFACE_HUB_TOKEN, else the token
    /// file (HF_TOKEN_PATH, else $HF_HOME/token, else ~/.cache/huggingface/token).
    public static func token(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for k in ["HF_TOKEN", "HUGGINGFACE_HUB_TOKEN"] {
            if let t = env[k]?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty { return t }
        }
        let home = env["HOME"] ?? NSHomeDirectory()
        let hfHome = env["HF_HOME"] ?? ((env["XDG_CACHE_HOME"] ?? home + "/.cache") + "/huggingface")
        let path = env["HF_TOKEN_PATH"] ?? hfHome + "/token"
        // A token file is a short line; anything large is not one.
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path), let size = attrs[.size] as? Int, size < 4096,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return t.isEmpty ? nil : t
    }

    public init(endpoint: String = HubClient.endpoint(), token: String? = HubClient.token(), attempts: Int = 5, firstDelay: Double = 1) {
        self.endpoint = endpoint
        self.token = token
        transport = Transport(attempts: attempts, firstDelay: firstDelay)
    }

    var authorization: [(String, String)] { token.map { [("Authorization", "Bearer \($0)")] } ?? [] }
    /// The Git LFS API's media type, both ways.
    static let lfsJSON = [("Content-Type", "application/vnd.git-lfs+json"), ("Accept", "application/vnd.git-lfs+json")]

    static func quote(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? s
    }
    /// A path in the repository, each segment percent-encoded.
    static func quotePath(_ p: String) -> String { p.split(separator: "/", omittingEmptySubsequences: false).map { quote(String($0)) }.joined(separator: "/") }

    /// A JSON request; the answer decoded as `T`. Non-2xx answers are `HubError.refused`.
    func json<B: Encodable, T: Decodable>(_ what: String, _ method: HTTPMethod, _ url: String, body: B, lfs: Bool = false,
                                          as: T.Type, accept: Set<Int> = []) async throws -> (status: Int, value: T?) {
        let headers = authorization + (lfs ? Self.lfsJSON : [("Content-Type", "application/json")])
        let answer = try await transport.send(method, url, headers: headers, body: try Wire.data(body))
        return try decode(what, answer, as: T.self, accept: accept)
    }

    func decode<T: Decodable>(_ what: String, _ answer: HTTPAnswer, as: T.Type, accept: Set<Int> = []) throws -> (status: Int, value: T?) {
        guard (200..<300).contains(answer.status) || accept.contains(answer.status) else {
            throw HubError.refused(what: what, status: answer.status, message: Self.message(answer.body))
        }
        if accept.contains(answer.status) && !(200..<300).contains(answer.status) { return (answer.status, nil) }
        do { return (answer.status, try RecordFile.decode(T.self, answer.body, path: what, line: nil)) } catch {
            throw HubError.badAnswer(what: what, reason: error.detail)
        }
    }

    /// The Hub's error message ({"error": "..."}), else the start of the body.
    static func message(_ body: Data) -> String {
        struct E: Decodable { var error: String? }
        if let e = try? JSONDecoder().decode(E.self, from: body), let m = e.error { return String(m.prefix(300)) }
        return String(decoding: body.prefix(200), as: UTF8.self).filter { !$0.isNewline }
    }

    // MARK: repositories

    struct Created: Decodable { var url: String? }

    /// Creates the repository; an existing one is fine. Returns whether it was created now. As
    /// huggingface_hub does: a 409 "conflicting operation in progress" is retried, and a token that may
    /// not create repositories (401/402/403) is fine when the repository exists and it can see it.
    @discardableResult
    public func createRepo(_ repo: HubRepo, private isPrivate: Bool) async throws -> Bool {
        guard token != nil else { throw HubError.noToken }
        let parts = repo.id.split(separator: "/").map(String.init)
        let data = try Wire.data(Wire.CreateRepo(name: parts[1], organization: parts[0], type: repo.kind.rawValue, visibility: isPrivate ? "private" : "public"))
        var answer = try await transport.send(.POST, endpoint + "/api/repos/create", headers: authorization + [("Content-Type", "application/json")], body: data)
        for _ in 0..<10 where answer.status == 409 && Self.message(answer.body).contains("conflicting operation") {
            try await Task.sleep(nanoseconds: 1_000_000_000)
            answer = try await transport.send(.POST, endpoint + "/api/repos/create", headers: authorization + [("Content-Type", "application/json")], body: data)
        }
        if (200..<300).contains(answer.status) { return true }
        if answer.status == 409 { return false }
        if [401, 402, 403].contains(answer.status),
           let seen = try? await transport.send(.GET, "\(endpoint)/api/\(repo.api)/\(repo.id)", headers: authorization), (200..<300).contains(seen.status) {
            return false
        }
        throw HubError.refused(what: "creating \(repo)", status: answer.status, message: Self.message(answer.body))
    }

    struct YAMLCheck: Decodable {
        struct Item: Decodable { var message: String? }
        var errors: [Item]?
        var warnings: [Item]?
    }

    /// The Hub's check of a card's metadata (what huggingface_hub does before committing a README.md).
    public func validateCard(_ text: String, kind: HubRepo.Kind) async throws -> [String] {
        let answer = try await transport.send(.POST, endpoint + "/api/validate-yaml", headers: authorization + [("Content-Type", "application/json")],
                                        body: try Wire.data(Wire.ValidateYAML(content: text, repoType: kind.rawValue)))
        let check = try? JSONDecoder().decode(YAMLCheck.self, from: answer.body)
        let errors = (check?.errors ?? []).compactMap(\.message)
        if answer.status == 400 || !errors.isEmpty { throw HubError.invalidCard(errors.isEmpty ? [Self.message(answer.body)] : errors) }
        guard (200..<300).contains(answer.status) else { throw HubError.refused(what: "validating README.md", status: answer.status, message: Self.message(answer.body)) }
        return (check?.warnings ?? []).compactMap(\.message)
    }

    // MARK: upload

    struct Preupload: Decodable {
        struct File: Decodable { var path: String; var uploadMode: String; var shouldIgnore: Bool?; var oid: String? }
        var files: [File]
    }
    struct Batch: Decodable {
        struct Action: Decodable { var href: String; var header: [String: String]? }
        struct Object: Decodable {
            struct Failure: Decodable { var code: Int?; var message: String? }
            var oid: String
            var size: Int
            var actions: [String: Action]?
            var error: Failure?
        }
        var objects: [Object]
        var transfer: String?
    }
    struct CommitAnswer: Decodable { var commitOid: String?; var commitUrl: String? }

    /// A local file to upload.
    struct Local {
        var path: String        // in the repository
        var file: String        // on disk
        var size: Int
    }

    /// Uploads `files` (paths relative to `folder`, used as-is in the repository) in one commit on
    /// `revision`: README.md's metadata checked by the Hub first, then pre-upload, LFS transfers for what
    /// the server wants in LFS and does not have, then the NDJSON commit of what changed.
    public func upload(folder: String, files: [String], to repo: HubRepo, revision: String = "main", message: String,
                       description: String = "", progress: (String) -> Void = { _ in }) async throws -> HubCommit {
        guard token != nil else { throw HubError.noToken }
        var local: [Local] = []
        for rel in files.sorted() {
            let f = folder + "/" + rel
            guard let size = (try? FileManager.default.attributesOfItem(atPath: f))?[.size] as? Int else { throw HubError.io(path: f, reason: "cannot read") }
            local.append(Local(path: rel, file: f, size: size))
        }
        var warnings: [String] = []
        if let readme = local.first(where: { $0.path == "README.md" }) {
            guard let text = try? String(contentsOfFile: readme.file, encoding: .utf8) else { throw HubError.io(path: readme.file, reason: "is not UTF-8 text") }
            warnings += try await validateCard(text, kind: repo.kind)
        }
        let rev = Self.quote(revision)
        // Pre-upload, 256 files at a time: the server says which files go to LFS, and which it already has.
        var mode: [String: Preupload.File] = [:]
        for start in stride(from: 0, to: local.count, by: 256) {
            let chunk = local[start..<min(local.count, start + 256)]
            let body = Wire.Preupload(files: try chunk.map { Wire.PreuploadFile(path: $0.path, size: $0.size, sample: try Self.sample($0.file).base64EncodedString()) })
            let (_, answer) = try await json("pre-upload of \(repo)", .POST, "\(endpoint)/api/\(repo.api)/\(repo.id)/preupload/\(rev)", body: body, as: Preupload.self)
            for f in answer?.files ?? [] { mode[f.path] = f }
        }
        var lfs: [(Local, String)] = [], regular: [Local] = [], unchanged: [String] = []
        for l in local {
            guard let m = mode[l.path] else { throw HubError.badAnswer(what: "pre-upload", reason: "no upload mode for \(l.path)") }
            if m.shouldIgnore == true { unchanged.append(l.path); continue }
            if m.uploadMode == "lfs" {
                let oid = try Checksum.sha256(file: l.file)
                if m.oid == oid { unchanged.append(l.path) } else { lfs.append((l, oid)) }
            } else {
                if let oid = m.oid, oid == (try GitBlob.sha1(file: l.file)) { unchanged.append(l.path); continue }
                // Regular files travel base64 inside the commit request (the Hub allows 1 GB of them per commit).
                guard l.size <= Self.maxRegularFile else {
                    throw HubError.badAnswer(what: "pre-upload", reason: "the Hub asked for \(l.path) (\(l.size) bytes) as a regular file; above \(Self.maxRegularFile) bytes only LFS is used")
                }
                regular.append(l)
            }
        }
        // LFS: the batch answer has an upload action for each object the server does not have yet.
        var uploaded: [String] = [], stored: [String] = []
        for start in stride(from: 0, to: lfs.count, by: 256) {
            let chunk = Array(lfs[start..<min(lfs.count, start + 256)])
            let body = Wire.Batch(ref: Wire.Ref(name: revision), objects: chunk.map { Wire.LFSObject(oid: $0.1, size: $0.0.size) })
            let (_, answer) = try await json("the LFS batch for \(repo)", .POST, "\(endpoint)/\(repo.urlPrefix)\(repo.id).git/info/lfs/objects/batch",
                                       body: body, lfs: true, as: Batch.self)
            let byOid = Dictionary((answer?.objects ?? []).map { ($0.oid, $0) }, uniquingKeysWith: { a, _ in a })
            for (l, oid) in chunk {
                guard let object = byOid[oid] else { throw HubError.badAnswer(what: "the LFS batch", reason: "no entry for \(l.path)") }
                if let e = object.error { throw HubError.refused(what: "LFS object \(l.path)", status: e.code ?? 0, message: e.message ?? "") }
                guard let upload = object.actions?["upload"] else { stored.append(l.path); continue }
                progress("uploading \(l.path) (\(l.size) bytes)")
                try await transfer(l, oid: oid, upload: upload)
                if let verify = object.actions?["verify"] {
                    let headers = authorization + Self.lfsJSON
                        + (verify.header ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
                    let a = try await transport.send(.POST, verify.href, headers: headers,
                                               body: try Wire.data(Wire.LFSObject(oid: oid, size: l.size)))
                    guard (200..<300).contains(a.status) else { throw HubError.refused(what: "verifying \(l.path)", status: a.status, message: Self.message(a.body)) }
                }
                uploaded.append(l.path)
            }
        }
        if lfs.isEmpty && regular.isEmpty {
            return HubCommit(commitOid: nil, commitUrl: nil, uploadedLFS: [], alreadyStoredLFS: [], regular: [], unchanged: unchanged, warnings: warnings + ["every file is already in \(repo) at \(revision): no commit made"])
        }
        // The commit: one JSON object per line — the header, then each file.
        var lines: [Data] = []
        func line<V: Encodable>(_ key: String, _ value: V) throws { lines.append(try Wire.data(Wire.Line(key: key, value: value))) }
        try line("header", Wire.Header(summary: message, description: description))
        for l in regular {
            guard let bytes = FileManager.default.contents(atPath: l.file) else { throw HubError.io(path: l.file, reason: "cannot read") }
            try line("file", Wire.InlineFile(path: l.path, content: bytes.base64EncodedString()))
        }
        for (l, oid) in lfs { try line("lfsFile", Wire.LFSFile(path: l.path, oid: oid, size: l.size)) }
        let ndjson = Data(lines.map { $0 + Data("\n".utf8) }.joined())
        // Not repeated after a connection failure: the server may have made the commit (huggingface_hub does not retry it either).
        let answer = try await transport.send(.POST, "\(endpoint)/api/\(repo.api)/\(repo.id)/commit/\(rev)",
                                        headers: authorization + [("Content-Type", "application/x-ndjson")], body: ndjson, idempotent: false)
        let (_, c) = try decode("the commit to \(repo)", answer, as: CommitAnswer.self)
        guard let oid = c?.commitOid, !oid.isEmpty else { throw HubError.badAnswer(what: "the commit to \(repo)", reason: "no commitOid") }
        return HubCommit(commitOid: oid, commitUrl: c?.commitUrl, uploadedLFS: uploaded, alreadyStoredLFS: stored,
                         regular: regular.map(\.path), unchanged: unchanged, warnings: warnings)
    }

    /// The largest file sent inline in a commit.
    static let maxRegularFile = 1 << 30

    /// The first 512 bytes of a file (the pre-upload sample).
    static func sample(_ path: String) throws -> Data {
        guard let h = FileHandle(forReadingAtPath: path) else { throw HubError.io(path: path, reason: "cannot read") }
        defer { try? h.close() }
        return (try? h.read(upToCount: 512)) ?? Data()
    }

    /// Sends one LFS object: whole (basic), or — when the server gives a `chunk_size` — in the numbered
    /// parts it lists (multipart, decided per object as huggingface_hub does), completed by a POST
    /// listing each part's ETag. Part lists and sizes from the server are checked before any arithmetic.
    func transfer(_ l: Local, oid: String, upload: Batch.Action) async throws {
        let mapped: Data
        do { mapped = try Data(contentsOf: URL(fileURLWithPath: l.file), options: .alwaysMapped) } catch {
            throw HubError.io(path: l.file, reason: "cannot read (\(error.localizedDescription))")
        }
        guard mapped.count == l.size else { throw HubError.io(path: l.file, reason: "changed size while uploading") }
        let header = upload.header ?? [:]
        if let chunkText = header["chunk_size"] {
            let partKeys = header.keys.filter { !$0.isEmpty && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
            guard let chunk = Int(chunkText), chunk > 0, chunk <= Transport.maxBody else {
                throw HubError.badAnswer(what: "the LFS batch", reason: "chunk_size '\(chunkText.prefix(40))' for \(l.path) is not a size in 1...\(Transport.maxBody)")
            }
            let count = l.size / chunk + (l.size % chunk == 0 ? 0 : 1)
            let parts = partKeys.compactMap { Int($0) }.sorted()
            guard count > 0, parts == Array(1...count) else {
                throw HubError.badAnswer(what: "the LFS batch", reason: "\(parts.count) part URLs for \(l.path), which has \(count) parts of \(chunk) bytes")
            }
            var etags: [Wire.Part] = []
            for n in parts {
                guard let url = header[String(n)] else { continue }
                let lo = (n - 1) * chunk, hi = min(l.size, lo + min(chunk, l.size - lo))   // n ≤ count, so lo < size
                let a = try await transport.send(.PUT, url, body: mapped.subdata(in: lo..<hi))
                guard (200..<300).contains(a.status), let etag = a.header("ETag") else {
                    throw HubError.refused(what: "part \(n) of \(l.path)", status: a.status, message: Self.message(a.body))
                }
                etags.append(Wire.Part(partNumber: n, etag: etag))
            }
            let a = try await transport.send(.POST, upload.href, headers: Self.lfsJSON,
                                       body: try Wire.data(Wire.Complete(oid: oid, parts: etags)))
            guard (200..<300).contains(a.status) else { throw HubError.refused(what: "completing \(l.path)", status: a.status, message: Self.message(a.body)) }
        } else {
            guard l.size <= Transport.maxBody else {
                throw HubError.badAnswer(what: "the LFS batch", reason: "\(l.path) (\(l.size) bytes) was asked for in one request; the Hub sends a chunk_size for files this large")
            }
            let headers = header.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
            let a = try await transport.send(.PUT, upload.href, headers: headers, body: mapped)
            guard (200..<300).contains(a.status) else { throw HubError.refused(what: "uploading \(l.path)", status: a.status, message: Self.message(a.body)) }
        }
    }

    // MARK: download

    /// The commit a revision (branch, tag or sha) points at, and its files with sizes and hashes.
    public func revision(_ repo: HubRepo, _ revision: String) async throws -> HubRevision {
        let url = "\(endpoint)/api/\(repo.api)/\(repo.id)/revision/\(Self.quote(revision))?blobs=true"
        let answer = try await transport.send(.GET, url, headers: authorization)
        guard let r = try decode("the files of \(repo)@\(revision)", answer, as: HubRevision.self).value else {
            throw HubError.badAnswer(what: "revision", reason: "empty")
        }
        guard r.sha.count == 40, r.sha.allSatisfy(\.isHexDigit) else { throw HubError.badAnswer(what: "revision", reason: "'\(r.sha)' is not a commit sha") }
        return r
    }

    /// Downloads `file` of the commit `sha` into `path`, verified: its size, and its SHA-256 (LFS files)
    /// or git blob id (others), as the revision listed them. A file that fails is removed.
    public func download(_ repo: HubRepo, sha: String, file: HubFile, to path: String) async throws {
        let url = "\(endpoint)/\(repo.urlPrefix)\(repo.id)/resolve/\(sha)/\(Self.quotePath(file.rfilename))"
        // Only a new file is written (and removed again when it fails): nothing that was there is touched.
        guard !FileManager.default.fileExists(atPath: path) else { throw HubError.io(path: path, reason: "exists; a download writes a new file") }
        let expected = file.lfs?.size ?? file.size
        if let expected, expected < 0 { throw HubError.badAnswer(what: "the file list", reason: "\(file.rfilename) has a negative size") }
        let status: Int
        do { status = try await transport.download(url, headers: authorization, to: path, maxBytes: expected ?? Transport.maxBody).status } catch {
            try? FileManager.default.removeItem(atPath: path)
            if case TransportError.tooLarge = error { throw HubError.verification(path: file.rfilename, reason: "the server sent more bytes than the revision lists (\(expected ?? 0))") }
            throw error
        }
        do {
            guard (200..<300).contains(status) else {
                let h = FileHandle(forReadingAtPath: path)
                let body = (try? h?.read(upToCount: 4096)) ?? Data()
                try? h?.close()
                throw HubError.refused(what: "downloading \(file.rfilename)", status: status, message: Self.message(body ?? Data()))
            }
            let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int ?? -1
            if let expected, size != expected { throw HubError.verification(path: file.rfilename, reason: "\(size) bytes, the revision lists \(expected)") }
            if let lfs = file.lfs {
                let got = try Checksum.sha256(file: path)
                guard got == lfs.sha256.lowercased() else { throw HubError.verification(path: file.rfilename, reason: "SHA-256 \(got), the revision lists \(lfs.sha256)") }
            } else if let blob = file.blobId {
                let got = try GitBlob.sha1(file: path)
                guard got == blob.lowercased() else { throw HubError.verification(path: file.rfilename, reason: "git blob id \(got), the revision lists \(blob)") }
            } else {
                throw HubError.verification(path: file.rfilename, reason: "the revision lists no hash for it")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }
}

/// Git's object id of a file: SHA-1 of "blob SIZE\0" followed by the bytes (what the Hub lists as
/// `blobId`, and the pre-upload `oid` of regular files).
public enum GitBlob {
    public static func sha1(file path: String) throws -> String {
        let bytes: Data
        do { bytes = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw HubError.io(path: path, reason: "cannot read (\(error.localizedDescription))")
        }
        return sha1(bytes)
    }

    public static func sha1(_ bytes: Data) -> String {
        var h = Insecure.SHA1()
        h.update(data: Data("blob \(bytes.count)\0".utf8))
        h.update(data: bytes)
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
