// The embedded store: one SQLite database (through GRDB) and the model files it registered, in a
// store directory (`--store DIR`, else $STRAWBERRY_HOME, else ~/.strawberry):
//   DIR/registry.sqlite          runs, their params, metrics (with steps), artifacts and lineage;
//                                registered models, versions, aliases and stages
//   DIR/models/NAME/vN/          the immutable files of version N of model NAME
// Writers from several processes serialise on SQLite's write lock (IMMEDIATE transactions, a busy
// timeout), so two registrations at once both land, one after the other.
import Foundation
import GRDB
import Hashing
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

/// Where a model version stands (MLflow's stages).
public enum Stage: String, Codable, CaseIterable, Sendable, DatabaseValueConvertible, ExpressibleByStringLiteral, CustomStringConvertible {
    case none = "None", staging = "Staging", production = "Production", archived = "Archived"

    /// For literals in code only; what a user types goes through `Stage(rawValue:)` and is refused clearly.
    public init(stringLiteral value: String) {
        guard let s = Stage(rawValue: value) else { preconditionFailure("'\(value)' is not a stage") }
        self = s
    }
    public var description: String { rawValue }
    /// The alias that follows the stage: the version entering it takes it, one leaving loses it.
    public var alias: String? { self == .production ? "champion" : self == .staging ? "challenger" : nil }
}

/// A registered model version.
public struct ModelVersion: Codable, Equatable, Sendable {
    public var name: String
    public var version: Int
    public var stage: Stage
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

    public static let stages = Stage.allCases.map(\.rawValue)

    /// The store directory: the flag, else $STRAWBERRY_HOME, else ~/.strawberry.
    public static func location(_ flag: String?) -> String { StrawberryHome.directory(flag) }

    /// How long opening waits for another process that holds the store's lock (as SQLite's busy timeout).
    public static let lockTimeout: Double = 30

    public init(directory: String) throws {
        guard !directory.isEmpty else { throw StoreError.io(path: "\"\"", reason: "a store is a directory; the path is empty") }
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
        try Self.lock(lockFD, path: directory + "/registry.lock", timeout: Self.lockTimeout)
        defer { flock(lockFD, LOCK_UN) }
        var config = Configuration()
        config.busyMode = .timeout(30)
        let path = directory + "/registry.sqlite"
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(db)
            try db.read { try Self.checkColumns($0, path: path) }
        } catch let e as StoreError {
            throw e
        } catch {
            throw StoreError.unusable(path: path, reason: "\(error)")
        }
    }

    /// Takes the exclusive lock, waiting at most `timeout` seconds: a process stopped while holding it
    /// (Ctrl-Z, a debugger) must not hang every other user of the store. The refusal names the holder
    /// as the kernel knows it (/proc/locks), never a pid a file remembers.
    static func lock(_ fd: Int32, path: String, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw StoreError.io(path: path, reason: "cannot lock (errno \(errno))") }
            guard Date() < deadline else {
                let holder = lockHolder(fd).map(String.init) ?? ""
                throw StoreError.io(path: path, reason: "another process\(holder.isEmpty ? "" : " (pid \(holder))") has held the store's lock for \(Int(timeout.rounded(.up))) s; "
                                    + "if it is stopped, resume or end it")
            }
            usleep(50_000)
        }
    }

    /// The pid holding a flock on the file open at `fd`, from /proc/locks ("1: FLOCK ADVISORY WRITE
    /// PID MAJ:MIN:INODE 0 EOF"); nil where the system does not say.
    static func lockHolder(_ fd: Int32) -> Int32? {
        var st = stat()
        guard fstat(fd, &st) == 0, let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[1] == "FLOCK", f[5].split(separator: ":").last == Substring("\(st.st_ino)") else { continue }
            return Int32(f[4])
        }
        return nil
    }

    /// The storage class each column must hold. SQLite stores whatever it is given, and reading text
    /// as a number yields 0: a hand-edited `score = 'high'` would silently become a score of 0 (and
    /// be written back so), a version 'abc' version 0. Checked once when the store opens.
    static let columnTypes: [(table: String, column: String, types: [String])] = {
        let text = ["text"], number = ["real", "integer"], integer = ["integer"]
        return [("runs", "id", text), ("runs", "kind", text), ("runs", "created", number), ("runs", "params", text),
                ("runs", "lineage", text), ("runs", "parents", text),
                ("metrics", "run_id", text), ("metrics", "key", text), ("metrics", "step", integer), ("metrics", "value", number),
                ("artifacts", "run_id", text), ("artifacts", "path", text), ("artifacts", "sha256", text),
                ("registered_models", "name", text), ("registered_models", "created", number),
                ("model_versions", "name", text), ("model_versions", "version", integer), ("model_versions", "stage", text),
                ("model_versions", "score", number + ["null"]), ("model_versions", "run_id", text + ["null"]), ("model_versions", "source", text),
                ("model_versions", "path", text), ("model_versions", "sha256", text), ("model_versions", "created", number),
                ("aliases", "name", text), ("aliases", "alias", text), ("aliases", "version", integer),
                ("stage_history", "name", text), ("stage_history", "version", integer), ("stage_history", "from_stage", text),
                ("stage_history", "to_stage", text), ("stage_history", "at", number)]
    }()

    static func checkColumns(_ db: Database, path: String) throws {
        // Each of the store's tables must be a table: a view or a trigger standing in for one would be
        // read as if it were the registry.
        for name in Set(columnTypes.map(\.table)).sorted() {
            let kind = try String.fetchOne(db, sql: "SELECT type FROM sqlite_master WHERE name = ?", arguments: [name])
            guard kind == "table" else { throw StoreError.unusable(path: path, reason: "\(name) is \(kind.map { "a \($0)" } ?? "missing"), not the store's table") }
        }
        if let trigger = try String.fetchOne(db, sql: "SELECT name FROM sqlite_master WHERE type = 'trigger' LIMIT 1") {
            throw StoreError.unusable(path: path, reason: "it holds a trigger (\(trigger)) that the store never makes")
        }
        // One scan per table: the first offending cell, described by SQLite itself. Version numbers
        // also stay exact in JSON (≤ 2^53) and leave room for the next one.
        for table in Set(columnTypes.map(\.table)).sorted() {
            var cases: [(bad: String, says: String)] = columnTypes.filter { $0.table == table }.map { _, column, types in
                ("typeof(\(column)) NOT IN (\(types.map { "'\($0)'" }.joined(separator: ", ")))",
                 "'column \(table).\(column): row ' || rowid || ' holds ' || typeof(\(column)) || ', where \(types.joined(separator: " or ")) belongs'")
            }
            if columnTypes.contains(where: { $0.table == table && $0.column == "version" }) {
                cases.append(("version < 1 OR version > \(maxRecordCount)", "'column \(table).version holds ' || version || ', outside 1...2^53'"))
            }
            let sql = "SELECT CASE " + cases.map { "WHEN \($0.bad) THEN \($0.says)" }.joined(separator: " ") + " END FROM \(table) WHERE "
                + cases.map { "(\($0.bad))" }.joined(separator: " OR ") + " LIMIT 1"
            if let found = try String.fetchOne(db, sql: sql) { throw StoreError.unusable(path: path, reason: found) }
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
    /// A read. A row that does not decode (a hand-edited file: NULL where a value belongs, a stage
    /// that is not one, a column gone) is a clean error naming the file and the column, not a trap.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try db.read(body) } catch let e as StoreError { throw e } catch {
            throw StoreError.unusable(path: directory + "/registry.sqlite", reason: "\(error)")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try writeTransaction(body) } catch let e as StoreError { throw e } catch let e as DatabaseError where e.resultCode == .SQLITE_BUSY {
            throw StoreError.unusable(path: directory + "/registry.sqlite", reason: "another process held the store's write lock for 30 s (\(e.message ?? "busy"))")
        } catch let e as DatabaseError {
            throw StoreError.unusable(path: directory + "/registry.sqlite", reason: "\(e)")
        } catch let e as RowDecodingError {
            throw StoreError.unusable(path: directory + "/registry.sqlite", reason: "\(e)")
        }
    }

    func writeTransaction<T>(_ body: (Database) throws -> T) throws -> T {
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
    static func decode<T: Decodable>(_ t: T.Type, _ s: String) throws -> T { try RecordFile.decode(t, Data(s.utf8), path: "registry.sqlite", line: nil) }

    /// Records a run and everything about it in one transaction.
    public func record(_ run: RunRecord) throws {
        try write { db in
            try RunRow(id: run.id, kind: run.kind, created: run.created, params: try Self.json(run.params), lineage: try Self.json(run.lineage),
                       parents: try Self.json(run.parents)).insert(db)
            for (key, points) in run.metrics {
                for p in points { try MetricRow(runId: run.id, key: key, step: p.step, value: p.value).insert(db) }
            }
            for (path, sha) in run.artifacts { try ArtifactRow(runId: run.id, path: path, sha256: sha).insert(db) }
        }
    }

    public func runs(kind: String? = nil) throws -> [RunRecord] {
        try read { db in
            var request = RunRow.order(Column("created"), Column("id"))
            if let kind { request = request.filter(Column("kind") == kind) }
            return try request.fetchAll(db).map { try Self.run($0, db) }
        }
    }

    public func run(_ id: String) throws -> RunRecord {
        try read { db in
            guard let row = try RunRow.fetchOne(db, key: id) else { throw StoreError.noSuchRun(id) }
            return try Self.run(row, db)
        }
    }

    static func run(_ row: RunRow, _ db: Database) throws -> RunRecord {
        var r = RunRecord(id: row.id, kind: row.kind, created: row.created, params: try decode([String: String].self, row.params),
                          lineage: try decode([String: String].self, row.lineage), parents: try decode([String].self, row.parents))
        for m in try MetricRow.filter(Column("run_id") == row.id).order(Column("key"), Column("step")).fetchAll(db) {
            r.metrics[m.key, default: []].append(MetricPoint(step: m.step, value: m.value))
        }
        for a in try ArtifactRow.filter(Column("run_id") == row.id).fetchAll(db) { r.artifacts[a.path] = a.sha256 }
        return r
    }

    // MARK: model registry

    public func models() throws -> [String] {
        try read { db in try RegisteredModelRow.select(Column("name"), as: String.self).order(Column("name")).fetchAll(db) }
    }

    public func versions(of name: String) throws -> [ModelVersion] {
        try read { db in try Self.versions(name, db) }
    }

    static func versions(_ name: String, _ db: Database) throws -> [ModelVersion] {
        var aliases: [Int: [String]] = [:]
        for a in try AliasRow.filter(Column("name") == name).order(Column("alias")).fetchAll(db) { aliases[a.version, default: []].append(a.alias) }
        return try VersionRow.filter(Column("name") == name).order(Column("version")).fetchAll(db).map { r in
            ModelVersion(name: r.name, version: r.version, stage: r.stage, aliases: aliases[r.version] ?? [], score: r.score,
                         runId: r.runId, source: r.source, path: r.path, sha256: r.sha256, created: r.created)
        }
    }

    /// What a registration changes, applied in the same transaction as the new version.
    public struct Promotion: Sendable {
        public var stage: Stage
        public var alias: String?
        /// Move the versions now in `stage` to Archived.
        public var archiveExisting: Bool
        public init(stage: Stage, alias: String?, archiveExisting: Bool) { self.stage = stage; self.alias = alias; self.archiveExisting = archiveExisting }
        /// Registered, in no stage and without an alias.
        public static let registerOnly = Promotion(stage: .none, alias: nil, archiveExisting: false)
    }

    /// Registers the files of `sourceDir` as the next version of `name`: they are copied into the
    /// store and hashed first (in a staging directory), then one transaction gives the version its
    /// number, moves the files into place and applies the promotion. A kill before the commit leaves
    /// no version (the staging directory is removed on the next registration); one after it leaves a
    /// complete one.
    ///
    /// `decide` sees the model's versions inside that transaction (so two concurrent deployments
    /// decide one after the other, each seeing the other's version) and returns nil to register
    /// nothing, or the promotion to apply (`.registerOnly`: none).
    public func register(name: String, sourceDir: String, score: Double?, runId: String?,
                         decide: ([ModelVersion]) throws -> Promotion?,
                         hash: (String) throws -> String = { try Checksum.sha256(file: $0) }) throws -> (version: ModelVersion, changes: [StageChange])? {
        guard Self.validName(name) else { throw StoreError.io(path: name, reason: "a model name is letters, digits, '.', '_' or '-' (at most 128)") }
        let modelDir = directory + "/models/" + name
        let fm = FileManager.default
        // The directory itself may be a link (the version then holds the bytes it points to, not the
        // link); what is inside must be plain files and folders.
        let sourceDir = resolvedPath(sourceDir)
        guard isDirectory(sourceDir) else { throw StoreError.io(path: sourceDir, reason: "is not a directory") }
        if let bad = Self.firstNonRegular(in: sourceDir) {
            throw StoreError.io(path: sourceDir + "/" + bad.path, reason: "is \(bad.what); a registered version holds plain files only (copy the target in)")
        }
        guard !pathContains(sourceDir, directory) else {
            throw StoreError.io(path: sourceDir, reason: "contains the store \(directory); keep the store outside the adapter")
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
            if let clash = try RegisteredModelRow.select(Column("name"), as: String.self).filter(Column("name").lowercased == name.lowercased() && Column("name") != name).fetchOne(db) {
                throw StoreError.io(path: name, reason: "differs only in case from the registered model '\(clash)'")
            }
            guard let promotion = try decide(try Self.versions(name, db)) else { return nil }
            try RegisteredModelRow(name: name, created: now).insert(db, onConflict: .ignore)
            // Numbers are never reused, and no directory is ever deleted: a vN directory without a row (a
            // registration killed after the move, or files from a store whose database was moved away)
            // keeps its number.
            let inDB = try VersionRow.filter(Column("name") == name).select(max(Column("version")), as: Int.self).fetchOne(db) ?? 0
            let onDisk = ((try? fm.contentsOfDirectory(atPath: modelDir)) ?? []).compactMap { $0.hasPrefix("v") ? Int($0.dropFirst()) : nil }.max() ?? 0
            let (next, overflow) = max(inDB, onDisk).addingReportingOverflow(1)
            guard !overflow, next > 0 else { throw StoreError.unusable(path: modelDir, reason: "the highest version number (\(max(inDB, onDisk))) leaves no next one") }
            let path = modelDir + "/v\(next)"
            do { try fm.moveItem(atPath: staging, toPath: path) } catch {
                throw StoreError.io(path: path, reason: "cannot move the registered files into place (\(error.localizedDescription))")
            }
            var changes: [StageChange] = []
            let stage = promotion.stage
            if promotion.archiveExisting {
                for v in try VersionRow.filter(Column("name") == name && Column("stage") == stage).fetchAll(db) {
                    try Self.setStage(.archived, of: v, db)
                    changes.append(StageChange(version: v.version, from: stage.rawValue, to: Stage.archived.rawValue))
                }
            }
            if let alias = promotion.alias { _ = try AliasRow.deleteOne(db, key: ["name": name, "alias": alias]) }
            try VersionRow(name: name, version: next, stage: stage, score: score, runId: runId, source: sourceDir, path: path, sha256: digest,
                           created: now).insert(db)
            if stage != .none { changes.append(StageChange(version: next, from: Stage.none.rawValue, to: stage.rawValue)) }
            try Self.log(changes, name: name, db)
            if let alias = promotion.alias { try AliasRow(name: name, alias: alias, version: next).insert(db) }
            guard let v = try Self.versions(name, db).first(where: { $0.version == next }) else { throw StoreError.noSuchVersion(model: name, version: next) }
            return (v, changes)
        }
    }

    /// The aliases that follow a stage: the version entering the stage takes it, one leaving loses it.
    public static let stageAliases = Dictionary(uniqueKeysWithValues: Stage.allCases.compactMap { s in s.alias.map { (s.rawValue, $0) } })

    /// Moves `version` to `stage` (a user's word: refused clearly when it is not a stage).
    public func promote(name: String, version: Int, stage: String, archiveExisting: Bool = true) throws -> [StageChange] {
        guard let s = Stage(rawValue: stage) else { throw StoreError.io(path: name, reason: "'\(stage)' is not a stage (\(Self.stages.joined(separator: ", ")))") }
        return try promote(name: name, version: version, to: s, archiveExisting: archiveExisting)
    }

    /// Moves `version` to `stage` (archiving the versions in it when asked). Production carries the
    /// alias `champion` and Staging the alias `challenger`: each moves with the version that enters
    /// the stage, and is removed from one that leaves it.
    public func promote(name: String, version: Int, to stage: Stage, archiveExisting: Bool = true) throws -> [StageChange] {
        try write { db in try Self.promote(name: name, version: version, stage: stage, archiveExisting: archiveExisting, db) }
    }

    static func setStage(_ stage: Stage, of v: VersionRow, _ db: Database) throws {
        var row = v
        row.stage = stage
        try row.update(db)
    }

    static func promote(name: String, version: Int, stage: Stage, archiveExisting: Bool, _ db: Database) throws -> [StageChange] {
        let all = try VersionRow.filter(Column("name") == name).order(Column("version")).fetchAll(db)
        guard !all.isEmpty else { throw StoreError.noSuchModel(name) }
        guard let v = all.first(where: { $0.version == version }) else { throw StoreError.noSuchVersion(model: name, version: version) }
        var changes: [StageChange] = []
        if archiveExisting && stage != .archived && stage != .none {
            for o in all where o.stage == stage && o.version != version {
                try setStage(.archived, of: o, db)
                changes.append(StageChange(version: o.version, from: stage.rawValue, to: Stage.archived.rawValue))
            }
        }
        if v.stage != stage {
            try setStage(stage, of: v, db)
            changes.append(StageChange(version: version, from: v.stage.rawValue, to: stage.rawValue))
        }
        if let leaving = v.stage.alias, v.stage != stage {
            // The alias stays with the stage: on the newest version still in it (kept there by
            // archiveExisting: false), else nowhere.
            let remaining = try VersionRow.filter(Column("name") == name && Column("stage") == v.stage).select(max(Column("version")), as: Int.self).fetchOne(db)
            if let remaining {
                try AliasRow(name: name, alias: leaving, version: remaining).insert(db)
            } else {
                try AliasRow.filter(Column("name") == name && Column("alias") == leaving && Column("version") == version).deleteAll(db)
            }
        }
        if let entering = stage.alias { try AliasRow(name: name, alias: entering, version: version).insert(db) }
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
        if let stage = Stage.allCases.first(where: { $0.alias == alias.lowercased() }) {
            throw StoreError.io(path: alias, reason: "follows the \(stage) stage; use `strawberry registry promote NAME VERSION --stage \(stage)`")
        }
        return try write { db in
            guard try VersionRow.filter(Column("name") == name).fetchCount(db) > 0 else { throw StoreError.noSuchModel(name) }
            let was = try AliasRow.fetchOne(db, key: ["name": name, "alias": alias])?.version
            if let version {
                guard try VersionRow.fetchOne(db, key: ["name": name, "version": version]) != nil else {
                    throw StoreError.noSuchVersion(model: name, version: version)
                }
                try AliasRow(name: name, alias: alias, version: version).insert(db)
            } else {
                guard was != nil else { throw StoreError.io(path: name, reason: "has no alias '\(alias)'") }
                _ = try AliasRow.deleteOne(db, key: ["name": name, "alias": alias])
            }
            return was
        }
    }

    static func log(_ changes: [StageChange], name: String, _ db: Database) throws {
        let now = Date().timeIntervalSince1970
        for c in changes { try StageHistoryRow(name: name, version: c.version, fromStage: c.from, toStage: c.to, at: now).insert(db) }
    }

    /// Production goes back to the version that was in Production before the current one entered it
    /// (from the stage history), in one transaction; the current one is archived.
    public func rollback(name: String) throws -> [StageChange] {
        try write { db in
            let all = try Self.versions(name, db)
            guard !all.isEmpty else { throw StoreError.noSuchModel(name) }
            guard let current = all.last(where: { $0.stage == .production }) else {
                throw StoreError.io(path: name, reason: "has no Production version to roll back")
            }
            // The latest time a version other than the current one left Production.
            let previous = try Int.fetchOne(db, sql: """
                SELECT version FROM stage_history WHERE name = ? AND from_stage = 'Production' AND version != ? ORDER BY id DESC LIMIT 1
                """, arguments: [name, current.version])
            guard let previous, all.contains(where: { $0.version == previous }) else {
                throw StoreError.io(path: name, reason: "has no earlier Production version to roll back to")
            }
            return try Self.promote(name: name, version: previous, stage: .production, archiveExisting: true, db)
        }
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
}

// The store's tables as GRDB records, read and written through the query interface with the column
// names the migrations created. A run's params, lineage and parents are JSON text columns.
struct RunRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "runs"
    var id: String, kind: String, created: Double, params: String, lineage: String, parents: String
}

struct MetricRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "metrics"
    static let persistenceConflictPolicy = PersistenceConflictPolicy(insert: .replace, update: .replace)
    var runId: String, key: String, step: Int, value: Double
    enum CodingKeys: String, CodingKey { case runId = "run_id", key, step, value }
}

struct ArtifactRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "artifacts"
    var runId: String, path: String, sha256: String
    enum CodingKeys: String, CodingKey { case runId = "run_id", path, sha256 }
}

struct RegisteredModelRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "registered_models"
    var name: String, created: Double
}

struct VersionRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "model_versions"
    var name: String, version: Int, stage: Stage, score: Double?, runId: String?, source: String, path: String, sha256: String, created: Double
    enum CodingKeys: String, CodingKey { case name, version, stage, score, runId = "run_id", source, path, sha256, created }
}

struct AliasRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "aliases"
    static let persistenceConflictPolicy = PersistenceConflictPolicy(insert: .replace, update: .replace)
    var name: String, alias: String, version: Int
}

struct StageHistoryRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "stage_history"
    var name: String, version: Int, fromStage: String, toStage: String, at: Double
    enum CodingKeys: String, CodingKey { case name, version, fromStage = "from_stage", toStage = "to_stage", at }
}
