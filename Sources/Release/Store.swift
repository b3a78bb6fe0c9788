// The embedded store: one SQLite database (through GRDB) and the model files it registered, in a
// store directory (`--store DIR`, else $STRAWBERRY_HOME, else ~/.strawberry):
//   DIR/registry.sqlite          runs, their params, metrics (with steps), artifacts and lineage;
//                                registered models, versions, aliases and stages
//   DIR/models/NAME/vN/          the immutable files of version N of model NAME
// Writers from several processes serialise on SQLite's write lock (IMMEDIATE transactions, a busy
// timeout), so two registrations at once both land, one after the other.
import Foundation
import GRDB
import ModelFormats
import Records

public enum StoreError: Error, CustomStringConvertible {
    case unusable(path: String, reason: String)
    case noSuchRun(String)
    case noSuchModel(String)
    case noSuchVersion(model: String, version: Int)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .unusable(let p, let r):
            return "store \(p) cannot be used: \(r). If the file is damaged, move it away (a new store starts empty) or give another with --store."
        case .noSuchRun(let id): return "no run '\(id)' in the store; `strawberry runs list` shows them"
        case .noSuchModel(let n): return "no registered model '\(n)'; `strawberry registry list` shows them"
        case .noSuchVersion(let n, let v): return "model '\(n)' has no version \(v); `strawberry registry show \(n)` lists its versions"
        case .io(let p, let r): return "\(p): \(r)"
        }
    }
}

/// A run as the store keeps it.
public struct RunRecord: Codable, Equatable, Sendable {
    public var id: String
    /// train | eval | compare | deploy
    public var kind: String
    /// Seconds since 1970.
    public var created: Double
    public var params: [String: String]
    /// metric → [(step, value)] (step 0 for one-off metrics).
    public var metrics: [String: [MetricPoint]]
    /// path → SHA-256 of each artifact.
    public var artifacts: [String: String]
    /// dataset_manifest, base_model, adapter, … → SHA-256; parent_runs → ids.
    public var lineage: [String: String]
    public var parents: [String]

    public init(id: String, kind: String, created: Double, params: [String: String] = [:], metrics: [String: [MetricPoint]] = [:],
                artifacts: [String: String] = [:], lineage: [String: String] = [:], parents: [String] = []) {
        self.id = id
        self.kind = kind
        self.created = created
        self.params = params
        self.metrics = metrics
        self.artifacts = artifacts
        self.lineage = lineage
        self.parents = parents
    }
}

public struct MetricPoint: Codable, Equatable, Sendable {
    public var step: Int
    public var value: Double
    public init(step: Int, value: Double) { self.step = step; self.value = value }
}

/// A registered model version.
public struct ModelVersion: Codable, Equatable, Sendable {
    public var name: String
    public var version: Int
    /// None | Staging | Production | Archived
    public var stage: String
    public var aliases: [String]
    public var score: Double?
    public var runId: String?
    /// Where the files came from, and where the store keeps them.
    public var source: String
    public var path: String
    public var sha256: String
    public var created: Double
    enum CodingKeys: String, CodingKey { case name, version, stage, aliases, score, runId = "run_id", source, path, sha256, created }
}

public final class Store: @unchecked Sendable {
    public let directory: String
    let db: DatabaseQueue

    public static let stages = ["None", "Staging", "Production", "Archived"]

    /// The store directory: the flag, else $STRAWBERRY_HOME, else ~/.strawberry.
    public static func location(_ flag: String?) -> String {
        if let flag, !flag.isEmpty { return flag }
        if let home = ProcessInfo.processInfo.environment["STRAWBERRY_HOME"], !home.isEmpty { return home }
        return NSHomeDirectory() + "/.strawberry"
    }

    public init(directory: String) throws {
        let directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        self.directory = directory
        do { try FileManager.default.createDirectory(atPath: directory + "/models", withIntermediateDirectories: true) } catch {
            throw StoreError.io(path: directory, reason: "cannot create (\(error.localizedDescription))")
        }
        // Two processes opening a new store at once would both create its tables: opening and
        // migrating happen under an exclusive lock on DIR/registry.lock.
        let lockFD = open(directory + "/registry.lock", O_CREAT | O_RDWR, 0o644)
        guard lockFD >= 0 else { throw StoreError.io(path: directory + "/registry.lock", reason: "cannot open (errno \(errno))") }
        defer { close(lockFD) }
        guard flock(lockFD, LOCK_EX) == 0 else { throw StoreError.io(path: directory + "/registry.lock", reason: "cannot lock (errno \(errno))") }
        defer { flock(lockFD, LOCK_UN) }
        var config = Configuration()
        config.busyMode = .timeout(30)
        let path = directory + "/registry.sqlite"
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw StoreError.unusable(path: path, reason: "\(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, created REAL NOT NULL, params TEXT NOT NULL,
                                   lineage TEXT NOT NULL, parents TEXT NOT NULL);
                CREATE TABLE metrics (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL,
                                      step INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (run_id, key, step));
                CREATE TABLE artifacts (run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE, path TEXT NOT NULL,
                                        sha256 TEXT NOT NULL, PRIMARY KEY (run_id, path));
                CREATE TABLE registered_models (name TEXT PRIMARY KEY, created REAL NOT NULL);
                CREATE TABLE model_versions (name TEXT NOT NULL REFERENCES registered_models(name), version INTEGER NOT NULL,
                                             stage TEXT NOT NULL, score REAL, run_id TEXT, source TEXT NOT NULL, path TEXT NOT NULL,
                                             sha256 TEXT NOT NULL, created REAL NOT NULL, PRIMARY KEY (name, version));
                CREATE TABLE aliases (name TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (name, alias));
                """)
        }
        m.registerMigration("v2: stage history") { db in
            try db.execute(sql: """
                CREATE TABLE stage_history (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, version INTEGER NOT NULL,
                                            from_stage TEXT NOT NULL, to_stage TEXT NOT NULL, at REAL NOT NULL);
                """)
        }
        return m
    }

    /// A write transaction that takes SQLite's write lock at its start (BEGIN IMMEDIATE), so a
    /// read-then-write (the next version number, the gate's decision) cannot interleave with another
    /// process's; a busy lock is waited for (30 s) rather than failed.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try db.writeWithoutTransaction { db in
            var result: Result<T, Error>? = nil
            try db.inTransaction(.immediate) {
                do { result = .success(try body(db)); return .commit } catch { result = .failure(error); return .rollback }
            }
            guard let result else { throw StoreError.unusable(path: directory, reason: "a transaction ended without a result") }
            return try result.get()
        }
    }

    // MARK: runs

    /// "train-20261130T095000Z-1a2b3c4d": kind, UTC time, and a random part (two runs can start in
    /// the same second, even in one process).
    public static func newRunId(_ kind: String) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(kind)-\(f.string(from: Date()))-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    static func json<T: Encodable>(_ v: T) throws -> String { try RecordFile.text(v) }
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T { try JSONDecoder().decode(t, from: Data(s.utf8)) }

    /// Records a run and everything about it in one transaction.
    public func record(_ run: RunRecord) throws {
        try write { db in
            try db.execute(sql: "INSERT INTO runs (id, kind, created, params, lineage, parents) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [run.id, run.kind, run.created, try Self.json(run.params), try Self.json(run.lineage), try Self.json(run.parents)])
            for (key, points) in run.metrics {
                for p in points {
                    try db.execute(sql: "INSERT OR REPLACE INTO metrics (run_id, key, step, value) VALUES (?, ?, ?, ?)", arguments: [run.id, key, p.step, p.value])
                }
            }
            for (path, sha) in run.artifacts {
                try db.execute(sql: "INSERT INTO artifacts (run_id, path, sha256) VALUES (?, ?, ?)", arguments: [run.id, path, sha])
            }
        }
    }

    public func runs(kind: String? = nil) throws -> [RunRecord] {
        try db.read { db in
            let ids = try String.fetchAll(db, sql: "SELECT id FROM runs" + (kind == nil ? "" : " WHERE kind = ?") + " ORDER BY created, id",
                                          arguments: kind.map { [$0] } ?? [])
            return try ids.map { try Self.run($0, db) }
        }
    }

    public func run(_ id: String) throws -> RunRecord {
        try db.read { db in try Self.run(id, db) }
    }

    static func run(_ id: String, _ db: Database) throws -> RunRecord {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]) else { throw StoreError.noSuchRun(id) }
        var r = RunRecord(id: row["id"], kind: row["kind"], created: row["created"], params: try decode([String: String].self, row["params"]),
                          lineage: try decode([String: String].self, row["lineage"]), parents: try decode([String].self, row["parents"]))
        for m in try Row.fetchAll(db, sql: "SELECT key, step, value FROM metrics WHERE run_id = ? ORDER BY key, step", arguments: [id]) {
            r.metrics[m["key"], default: []].append(MetricPoint(step: m["step"], value: m["value"]))
        }
        for a in try Row.fetchAll(db, sql: "SELECT path, sha256 FROM artifacts WHERE run_id = ?", arguments: [id]) { r.artifacts[a["path"]] = a["sha256"] }
        return r
    }

    // MARK: model registry

    public func models() throws -> [String] {
        try db.read { db in try String.fetchAll(db, sql: "SELECT name FROM registered_models ORDER BY name") }
    }

    public func versions(of name: String) throws -> [ModelVersion] {
        try db.read { db in try Self.versions(name, db) }
    }

    static func versions(_ name: String, _ db: Database) throws -> [ModelVersion] {
        var aliases: [Int: [String]] = [:]
        for a in try Row.fetchAll(db, sql: "SELECT alias, version FROM aliases WHERE name = ? ORDER BY alias", arguments: [name]) {
            aliases[a["version"], default: []].append(a["alias"])
        }
        return try Row.fetchAll(db, sql: "SELECT * FROM model_versions WHERE name = ? ORDER BY version", arguments: [name]).map { r in
            ModelVersion(name: r["name"], version: r["version"], stage: r["stage"], aliases: aliases[r["version"]] ?? [], score: r["score"],
                         runId: r["run_id"], source: r["source"], path: r["path"], sha256: r["sha256"], created: r["created"])
        }
    }

    /// What a registration changes, applied in the same transaction as the new version.
    public struct Promotion: Sendable {
        public var stage: String
        public var alias: String?
        /// Move the versions now in `stage` to Archived.
        public var archiveExisting: Bool
        public init(stage: String, alias: String?, archiveExisting: Bool) { self.stage = stage; self.alias = alias; self.archiveExisting = archiveExisting }
    }

    /// Registers the files of `sourceDir` as the next version of `name`: they are copied into the
    /// store and hashed first (in a staging directory), then one transaction gives the version its
    /// number, moves the files into place and applies the promotion. A kill before the commit leaves
    /// no version (the staging directory is removed on the next registration); one after it leaves a
    /// complete one.
    ///
    /// `decide` sees the model's versions inside that transaction (so two concurrent deployments
    /// decide one after the other, each seeing the other's version) and returns nil to register
    /// nothing, or the promotion to apply.
    public func register(name: String, sourceDir: String, score: Double?, runId: String?,
                         decide: ([ModelVersion]) throws -> Promotion??,
                         hash: (String) throws -> String) throws -> (version: ModelVersion, changes: [StageChange])? {
        guard Self.validName(name) else { throw StoreError.io(path: name, reason: "a model name is letters, digits, '.', '_' or '-' (at most 128)") }
        let modelDir = directory + "/models/" + name
        let fm = FileManager.default
        if let link = Self.firstSymlink(in: sourceDir) {
            throw StoreError.io(path: sourceDir + "/" + link, reason: "is a symbolic link; a registered version holds its own files (copy the target in)")
        }
        try? fm.createDirectory(atPath: modelDir, withIntermediateDirectories: true)
        Self.removeAbandonedStaging(in: modelDir)
        let staging = modelDir + "/.staging-\(getpid())-\(UInt64(Date().timeIntervalSince1970 * 1e6))"
        do { try fm.copyItem(atPath: sourceDir, toPath: staging) } catch {
            throw StoreError.io(path: sourceDir, reason: "cannot copy into the store (\(error.localizedDescription))")
        }
        defer { try? fm.removeItem(atPath: staging) }
        let digest = try Self.treeHash(staging, hash: hash)
        return try write { db -> (version: ModelVersion, changes: [StageChange])? in
            let now = Date().timeIntervalSince1970
            // Names that differ only in case share a directory on case-insensitive file systems.
            if let clash = try String.fetchOne(db, sql: "SELECT name FROM registered_models WHERE lower(name) = lower(?) AND name != ?", arguments: [name, name]) {
                throw StoreError.io(path: name, reason: "differs only in case from the registered model '\(clash)'")
            }
            guard let promotion = try decide(try Self.versions(name, db)) else { return nil }
            try db.execute(sql: "INSERT OR IGNORE INTO registered_models (name, created) VALUES (?, ?)", arguments: [name, now])
            // Numbers are never reused, and no directory is ever deleted: a vN directory without a row (a
            // registration killed after the move, or files from a store whose database was moved away)
            // keeps its number.
            let inDB = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM model_versions WHERE name = ?", arguments: [name]) ?? 0
            let onDisk = ((try? fm.contentsOfDirectory(atPath: modelDir)) ?? []).compactMap { $0.hasPrefix("v") ? Int($0.dropFirst()) : nil }.max() ?? 0
            let next = max(inDB, onDisk) + 1
            let path = modelDir + "/v\(next)"
            do { try fm.moveItem(atPath: staging, toPath: path) } catch {
                throw StoreError.io(path: path, reason: "cannot move the registered files into place (\(error.localizedDescription))")
            }
            var changes: [StageChange] = []
            let stage = promotion?.stage ?? "None"
            if let p = promotion, p.archiveExisting {
                for v in try Int.fetchAll(db, sql: "SELECT version FROM model_versions WHERE name = ? AND stage = ?", arguments: [name, p.stage]) {
                    try db.execute(sql: "UPDATE model_versions SET stage = 'Archived' WHERE name = ? AND version = ?", arguments: [name, v])
                    changes.append(StageChange(version: v, from: p.stage, to: "Archived"))
                }
            }
            if let alias = promotion?.alias { try db.execute(sql: "DELETE FROM aliases WHERE name = ? AND alias = ?", arguments: [name, alias]) }
            try db.execute(sql: """
                INSERT INTO model_versions (name, version, stage, score, run_id, source, path, sha256, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [name, next, stage, score, runId, sourceDir, path, digest, now])
            if stage != "None" { changes.append(StageChange(version: next, from: "None", to: stage)) }
            try Self.log(changes, name: name, db)
            if let alias = promotion?.alias {
                try db.execute(sql: "INSERT OR REPLACE INTO aliases (name, alias, version) VALUES (?, ?, ?)", arguments: [name, alias, next])
            }
            guard let v = try Self.versions(name, db).first(where: { $0.version == next }) else { throw StoreError.noSuchVersion(model: name, version: next) }
            return (v, changes)
        }
    }

    /// The aliases that follow a stage: the version entering the stage takes it, one leaving loses it.
    public static let stageAliases = ["Production": "champion", "Staging": "challenger"]

    /// Moves `version` to `stage` (archiving the versions in it when asked). Production carries the
    /// alias `champion` and Staging the alias `challenger`: each moves with the version that enters
    /// the stage, and is removed from one that leaves it.
    public func promote(name: String, version: Int, stage: String, archiveExisting: Bool = true) throws -> [StageChange] {
        try write { db in try Self.promote(name: name, version: version, stage: stage, archiveExisting: archiveExisting, db) }
    }

    static func promote(name: String, version: Int, stage: String, archiveExisting: Bool, _ db: Database) throws -> [StageChange] {
        guard stages.contains(stage) else { throw StoreError.io(path: name, reason: "'\(stage)' is not a stage (\(stages.joined(separator: ", ")))") }
        let all = try versions(name, db)
        guard !all.isEmpty else { throw StoreError.noSuchModel(name) }
        guard let v = all.first(where: { $0.version == version }) else { throw StoreError.noSuchVersion(model: name, version: version) }
        var changes: [StageChange] = []
        if archiveExisting && stage != "Archived" && stage != "None" {
            for o in all where o.stage == stage && o.version != version {
                try db.execute(sql: "UPDATE model_versions SET stage = 'Archived' WHERE name = ? AND version = ?", arguments: [name, o.version])
                changes.append(StageChange(version: o.version, from: stage, to: "Archived"))
            }
        }
        if v.stage != stage {
            try db.execute(sql: "UPDATE model_versions SET stage = ? WHERE name = ? AND version = ?", arguments: [stage, name, version])
            changes.append(StageChange(version: version, from: v.stage, to: stage))
        }
        if let leaving = stageAliases[v.stage], v.stage != stage {
            // The alias stays with the stage: on the newest version still in it (kept there by
            // archiveExisting: false), else nowhere.
            if let remaining = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM model_versions WHERE name = ? AND stage = ?", arguments: [name, v.stage]) {
                try db.execute(sql: "INSERT OR REPLACE INTO aliases (name, alias, version) VALUES (?, ?, ?)", arguments: [name, leaving, remaining])
            } else {
                try db.execute(sql: "DELETE FROM aliases WHERE name = ? AND alias = ? AND version = ?", arguments: [name, leaving, version])
            }
        }
        if let entering = stageAliases[stage] {
            try db.execute(sql: "INSERT OR REPLACE INTO aliases (name, alias, version) VALUES (?, ?, ?)", arguments: [name, entering, version])
        }
        try log(changes, name: name, db)
        return changes
    }

    /// Points a free alias (any name but the stage aliases, which follow their stages) at a version,
    /// moving it from the version it was on; `version` nil removes it. Returns the version it was on.
    @discardableResult
    public func setAlias(name: String, alias: String, version: Int?) throws -> Int? {
        guard Self.validAlias(alias) else {
            throw StoreError.io(path: alias, reason: "an alias is an ASCII letter then letters, digits, '_' or '-' (at most 128), not 'latest' nor 'v' + digits (MLflow's rule)")
        }
        if let stage = Self.stageAliases.first(where: { $0.value == alias.lowercased() })?.key {
            throw StoreError.io(path: alias, reason: "follows the \(stage) stage; use `strawberry registry promote NAME VERSION --stage \(stage)`")
        }
        return try write { db in
            let all = try Self.versions(name, db)
            guard !all.isEmpty else { throw StoreError.noSuchModel(name) }
            let was = try Int.fetchOne(db, sql: "SELECT version FROM aliases WHERE name = ? AND alias = ?", arguments: [name, alias])
            if let version {
                guard all.contains(where: { $0.version == version }) else { throw StoreError.noSuchVersion(model: name, version: version) }
                try db.execute(sql: "INSERT OR REPLACE INTO aliases (name, alias, version) VALUES (?, ?, ?)", arguments: [name, alias, version])
            } else {
                guard was != nil else { throw StoreError.io(path: name, reason: "has no alias '\(alias)'") }
                try db.execute(sql: "DELETE FROM aliases WHERE name = ? AND alias = ?", arguments: [name, alias])
            }
            return was
        }
    }

    static func log(_ changes: [StageChange], name: String, _ db: Database) throws {
        let now = Date().timeIntervalSince1970
        for c in changes {
            try db.execute(sql: "INSERT INTO stage_history (name, version, from_stage, to_stage, at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [name, c.version, c.from, c.to, now])
        }
    }

    /// Production goes back to the version that was in Production before the current one entered it
    /// (from the stage history), in one transaction; the current one is archived.
    public func rollback(name: String) throws -> [StageChange] {
        try write { db in
            let all = try Self.versions(name, db)
            guard !all.isEmpty else { throw StoreError.noSuchModel(name) }
            guard let current = all.last(where: { $0.stage == "Production" }) else {
                throw StoreError.io(path: name, reason: "has no Production version to roll back")
            }
            // The latest time a version other than the current one left Production.
            let previous = try Int.fetchOne(db, sql: """
                SELECT version FROM stage_history WHERE name = ? AND from_stage = 'Production' AND version != ? ORDER BY id DESC LIMIT 1
                """, arguments: [name, current.version])
            guard let previous, all.contains(where: { $0.version == previous }) else {
                throw StoreError.io(path: name, reason: "has no earlier Production version to roll back to")
            }
            return try Self.promote(name: name, version: previous, stage: "Production", archiveExisting: true, db)
        }
    }

    /// The path (relative to `dir`) of the first symbolic link below it, if any.
    static func firstSymlink(in dir: String) -> String? {
        for rel in (try? FileManager.default.subpathsOfDirectory(atPath: dir)) ?? [] {
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + rel)) != nil { return rel }
        }
        return nil
    }

    /// MLflow's rule for aliases, so that every alias can be mirrored: `[A-Za-z][A-Za-z0-9_-]*`, not
    /// `latest` and not a version reference such as `v3` (both reserved there).
    public static func validAlias(_ a: String) -> Bool {
        let ascii = a.unicodeScalars
        guard let first = ascii.first, first.isASCII, first.properties.isAlphabetic, a.count <= 128,
              ascii.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-") }) else { return false }
        if a.lowercased() == "latest" { return false }
        if (first == "v" || first == "V"), a.count > 1, a.dropFirst().allSatisfy(\.isASCII), a.dropFirst().allSatisfy(\.isNumber) { return false }
        return true
    }

    public static func validName(_ n: String) -> Bool {
        !n.isEmpty && n.count <= 128 && n != "." && n != ".." && n.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    /// SHA-256 over the files of a directory: the listing of each file's digest and relative path,
    /// sorted by path, hashed (the same files give the same digest wherever they are).
    public static func treeHash(_ dir: String, hash: (String) throws -> String) throws -> String {
        let all: [String]
        do { all = try FileManager.default.subpathsOfDirectory(atPath: dir) } catch {
            throw StoreError.io(path: dir, reason: "cannot list (\(error.localizedDescription))")
        }
        let files = all.filter { !isDirectory(dir + "/" + $0) }.sorted()
        var listing = ""
        for f in files { listing += "\(try hash(dir + "/" + f))  \(f)\n" }
        return SHA256.hex(Array(listing.utf8))
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
