// MLflow, when MLFLOW_TRACKING_URI is set: every run the store records is also sent to the tracking
// server (experiment "strawberry": params, metrics with their steps, tags for kind and lineage, the
// run's small artifacts uploaded), and the registry's operations are mirrored in MLflow's model
// registry (registered model, version, alias `champion`, stage transitions that archive the previous
// version). Requests are retried with exponential backoff on connection errors, 429 and 5xx (honouring
// Retry-After); when the server stays unreachable the run is queued in STORE/mlflow-queue/ and
// `strawberry runs sync` sends it later. REST API: ../shared/REFERENCE.md §3.7, MLflow's protos.
import Foundation
import HTTPTransport
import NIOHTTP1
import Records

public enum MLflowError: Error, CustomStringConvertible {
    case unreachable(url: String, reason: String)
    case rejected(path: String, status: Int, code: String, message: String)
    case badResponse(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let u, let r): return "MLflow at \(u) is unreachable (\(r))"
        case .rejected(let p, let s, let c, let m): return "MLflow refused \(p): HTTP \(s) \(c) \(m)"
        case .badResponse(let p, let r): return "MLflow's answer to \(p) is not what its API documents: \(r)"
        }
    }

    /// Worth queueing and retrying later (the server was not reached or failed), as opposed to a request
    /// the server understood and refused.
    public var isTransient: Bool { if case .unreachable = self { return true }; return false }
}

public final class MLflowClient: @unchecked Sendable {
    public let base: String
    let transport: Transport

    /// The tracking URI from the environment (MLFLOW_TRACKING_URI), when it names an HTTP server.
    public static var configured: String? {
        guard let u = ProcessInfo.processInfo.environment["MLFLOW_TRACKING_URI"], u.lowercased().hasPrefix("http://") || u.lowercased().hasPrefix("https://") else { return nil }
        // One trailing slash goes, and only when a host is left: "http://" must stay hostless (and be
        // refused as such), not become "http:/" + "/api/…", a request to a host named "api".
        let trimmed = u.hasSuffix("/") ? String(u.dropLast()) : u
        return (try? Transport.check(trimmed)) != nil ? trimmed : u
    }

    public init(base: String, attempts: Int = 4, firstDelay: Double = 0.5) {
        self.base = base
        transport = Transport(attempts: attempts, firstDelay: firstDelay, readTimeout: 60)
    }

    /// One API call: a typed body in, a typed answer out, retried on connection failures, 429 and 5xx.
    /// Answers are read leniently (MLflow adds fields between releases); a missing field the client
    /// needs is a `badResponse` naming it, raised where it is read.
    @discardableResult
    func call<Answer: Decodable>(_ method: HTTPMethod, _ path: String, _ body: (some Encodable)? = Optional<MLflowAPI.Empty>.none,
                                 query: [(String, String)] = [], as: Answer.Type = MLflowAPI.Empty.self) throws -> Answer {
        var url = base + "/api/2.0/mlflow/" + path
        if !query.isEmpty {
            url += "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? $0.1)" }.joined(separator: "&")
        }
        let data = try body.map { Data(try RecordFile.text($0, keys: .snakeCase).utf8) }
        let (status, bytes) = try send(method, url, data, contentType: "application/json")
        guard (200..<300).contains(status) else {
            let e = try? JSONKeys.snakeCase.decoder.decode(MLflowAPI.ErrorBody.self, from: bytes)
            throw MLflowError.rejected(path: path, status: status, code: e?.errorCode ?? "", message: e?.message ?? "")
        }
        // A raw answer (JSONValue) keeps the server's own keys; typed ones are read from snake_case.
        let decoder = Answer.self == JSONValue.self ? JSONDecoder() : JSONKeys.snakeCase.decoder
        do { return try RecordFile.decode(Answer.self, bytes.isEmpty ? Data("{}".utf8) : bytes, path: path, line: nil, decoder: decoder) } catch {
            throw MLflowError.badResponse(path: path, reason: error.detail)
        }
    }

    func send(_ method: HTTPMethod, _ url: String, _ body: Data?, contentType: String) throws -> (Int, Data) {
        var headers = [("Content-Type", contentType)]
        if let token = ProcessInfo.processInfo.environment["MLFLOW_TRACKING_TOKEN"] { headers.append(("Authorization", "Bearer \(token)")) }
        do {
            // The tracking client is synchronous (runs are recorded at the end of synchronous commands).
            let transport = transport, headers = headers
            let a = try Transport.blocking { try await transport.send(method, url, headers: headers, body: body) }
            return (a.status, a.body)
        } catch let TransportError.unreachable(_, attempts, last) {
            throw MLflowError.unreachable(url: base, reason: "\(attempts) attempts, last: \(last)")
        }
    }

    // MARK: tracking

    public func experimentId(_ name: String) throws -> String {
        typealias Got = MLflowAPI.GetExperiment
        do {
            if let id = try call(.GET, "experiments/get-by-name", query: [("experiment_name", name)], as: Got.self).experiment?.experimentId { return id }
        } catch MLflowError.rejected(_, _, "RESOURCE_DOES_NOT_EXIST", _) {}
        do {
            let r = try call(.POST, "experiments/create", MLflowAPI.Named(name: name), as: MLflowAPI.CreatedExperiment.self)
            guard let id = r.experimentId else { throw MLflowError.badResponse(path: "experiments/create", reason: "no experiment_id") }
            return id
        } catch MLflowError.rejected(_, _, "RESOURCE_ALREADY_EXISTS", _) {
            // Created by a concurrent process in between.
            guard let id = try call(.GET, "experiments/get-by-name", query: [("experiment_name", name)], as: Got.self).experiment?.experimentId else {
                throw MLflowError.badResponse(path: "experiments/get-by-name", reason: "no experiment")
            }
            return id
        }
    }

    /// Sends one recorded run: creates it (named by its id), logs params, metrics with steps and tags
    /// in batches within MLflow's limits, uploads its artifacts that exist and are small, finishes it.
    /// Returns MLflow's run id.
    @discardableResult
    public func send(_ run: RunRecord, experiment: String = "strawberry") throws -> String {
        let exp = try experimentId(experiment)
        let startMs = Int64(run.created * 1000)
        // A run sent before (a sync after a partial send, or twice): finished → done; unfinished → continue it.
        let found = try call(.POST, "runs/search", MLflowAPI.SearchRuns(experimentIds: [exp], filter: "tags.`strawberry.run_id` = '\(run.id)'", maxResults: 1),
                             as: MLflowAPI.Runs.self)
        let existing = found.runs?.first?.info
        if let e = existing, e.status == "FINISHED", let id = e.runId { return id }
        let info: MLflowAPI.RunInfo
        if let e = existing { info = e } else {
            let created = try call(.POST, "runs/create", MLflowAPI.CreateRun(experimentId: exp, runName: run.id, startTime: startMs,
                                                                            tags: [.init("strawberry.run_id", run.id), .init("strawberry.kind", run.kind)]),
                                   as: MLflowAPI.OneRun.self)
            guard let i = created.run?.info else { throw MLflowError.badResponse(path: "runs/create", reason: "no run.info") }
            info = i
        }
        guard let runId = info.runId else { throw MLflowError.badResponse(path: "runs/create", reason: "no run.info.run_id") }
        func clip(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n)) }
        func key(_ k: String) -> String { clip(String(k.map { $0.isLetter || $0.isNumber || "_-./ ".contains($0) ? $0 : "_" }), 250) }
        let params = run.params.sorted { $0.key < $1.key }.map { MLflowAPI.KeyValue(key($0.key), clip($0.value, 6000)) }
        var tags = run.lineage.sorted { $0.key < $1.key }.map { MLflowAPI.KeyValue(key("lineage." + $0.key), clip($0.value, 5000)) }
        tags += run.artifacts.sorted { $0.key < $1.key }.map { MLflowAPI.KeyValue(key("artifact_sha256." + URL(fileURLWithPath: $0.key).lastPathComponent), $0.value) }
        if !run.parents.isEmpty { tags.append(.init("strawberry.parents", clip(run.parents.joined(separator: ","), 5000))) }
        var metrics: [MLflowAPI.Metric] = []
        for (k, points) in run.metrics.sorted(by: { $0.key < $1.key }) {
            for p in points where p.value.isFinite { metrics.append(.init(key: key(k), value: p.value, timestamp: startMs, step: p.step)) }
        }
        // log-batch limits: 1,000 metrics, 100 params, 100 tags, 1,000 entities in all.
        var pi = 0, ti = 0, mi = 0
        while pi < params.count || ti < tags.count || mi < metrics.count {
            let p = Array(params[pi..<min(params.count, pi + 100)]), t = Array(tags[ti..<min(tags.count, ti + 100)])
            let m = Array(metrics[mi..<min(metrics.count, mi + 1000 - p.count - t.count)])
            try call(.POST, "runs/log-batch", MLflowAPI.LogBatch(runId: runId, params: p, tags: t, metrics: m))
            pi += p.count; ti += t.count; mi += m.count
        }
        if let uri = info.artifactUri, uri.hasPrefix("mlflow-artifacts:/") {
            let prefix = String(uri.dropFirst("mlflow-artifacts:/".count))
            for path in run.artifacts.keys.sorted() {
                guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size <= 64 << 20,
                      let bytes = FileManager.default.contents(atPath: path) else { continue }
                let name = URL(fileURLWithPath: path).lastPathComponent
                let (status, _) = try self.send(.PUT, base + "/api/2.0/mlflow-artifacts/artifacts/" + prefix + "/" + name, bytes, contentType: "application/octet-stream")
                guard (200..<300).contains(status) else { throw MLflowError.rejected(path: "mlflow-artifacts " + name, status: status, code: "", message: "") }
            }
        }
        try call(.POST, "runs/update", MLflowAPI.UpdateRun(runId: runId, status: "FINISHED", endTime: startMs))
        return runId
    }

    // MARK: model registry

    /// Uploads files as artifacts of an MLflow run under `folder`; returns the folder's artifact URI.
    func upload(_ files: [String], to folder: String, run mlflowRunId: String) throws -> String {
        let got = try call(.GET, "runs/get", query: [("run_id", mlflowRunId)], as: MLflowAPI.OneRun.self)
        guard let uri = got.run?.info?.artifactUri, uri.hasPrefix("mlflow-artifacts:/") else {
            throw MLflowError.badResponse(path: "runs/get", reason: "the run's artifact_uri is not served by this server (start it with artifact serving)")
        }
        let prefix = String(uri.dropFirst("mlflow-artifacts:/".count))
        for path in files {
            guard let bytes = FileManager.default.contents(atPath: path) else { throw MLflowError.badResponse(path: path, reason: "cannot read") }
            let name = URL(fileURLWithPath: path).lastPathComponent
            let (status, _) = try send(.PUT, base + "/api/2.0/mlflow-artifacts/artifacts/\(prefix)/\(folder)/\(name)", bytes, contentType: "application/octet-stream")
            guard (200..<300).contains(status) else { throw MLflowError.rejected(path: "mlflow-artifacts \(folder)/\(name)", status: status, code: "", message: "") }
        }
        return uri + "/" + folder
    }

    /// What a mirror of the store's registry did in MLflow's.
    public struct MirrorReport: Sendable {
        /// Store version → the MLflow version created for it now.
        public var created: [(store: Int, mlflow: String)] = []
        /// "vN: A → B" per stage transition made (store numbering).
        public var transitions: [String] = []
        /// "alias → vN", "alias removed".
        public var aliases: [String] = []
        /// Store versions that could not be mirrored, and why.
        public var skipped: [(store: Int, reason: String)] = []
        public var lines: [String] {
            created.map { "created MLflow version \($0.mlflow) for v\($0.store)" } + transitions.map { "stage " + $0 } + aliases.map { "alias " + $0 }
                + skipped.map { "v\($0.store) not mirrored: \($0.reason)" }
        }
    }

    /// The tag that ties an MLflow model version to the store version it mirrors.
    static let versionTag = "strawberry.version"

    /// Makes MLflow's registered model `name` show the store's versions, stages and aliases. The store
    /// is the source of truth; this is idempotent, so a mirror that failed half-way is completed by
    /// the next one (`strawberry registry sync`). Each store version is found in MLflow by its tag;
    /// one not there yet is created, its files uploaded as artifacts of the MLflow run `runFor` gives
    /// (MLflow accepts no other local source; nil skips the version). Stages are set one by one
    /// without MLflow's archiving, because the store already says where every version is. Aliases on
    /// mirrored versions are made equal to the store's; aliases MLflow holds on versions of its own
    /// are left alone.
    public func mirror(name: String, versions: [ModelVersion], runFor: (ModelVersion) throws -> String?) throws -> MirrorReport {
        var report = MirrorReport()
        guard !versions.isEmpty else { return report }
        do { try call(.POST, "registered-models/create", MLflowAPI.Named(name: name)) } catch MLflowError.rejected(_, _, "RESOURCE_ALREADY_EXISTS", _) {}
        let tagged = try taggedVersions(name)
        // A store version's counterpart carries its number and its files' hash; a tagged version that
        // matches no store version came from another store (one reset, or another machine's).
        var remote: [Int: (mlflow: String, stage: String)] = [:]
        let byVersion = Dictionary(versions.map { ($0.version, $0) }, uniquingKeysWith: { a, _ in a })
        var foreign: [(mlflow: String, stage: String, store: Int)] = []
        for t in tagged {
            if let v = byVersion[t.store], t.sha256 == nil || t.sha256 == v.sha256 {
                if remote[t.store] == nil { remote[t.store] = (t.mlflow, t.stage) }   // the oldest, when a retried create made two
            } else {
                foreign.append((t.mlflow, t.stage, t.store))
            }
        }
        for v in versions.sorted(by: { $0.version < $1.version }) where remote[v.version] == nil {
            do {
                guard let run = try runFor(v) else { report.skipped.append((v.version, "its deployment run is not in the store")); continue }
                let files = ((try? FileManager.default.contentsOfDirectory(atPath: v.path)) ?? []).sorted().map { v.path + "/" + $0 }.filter { !isDirectory($0) }
                guard !files.isEmpty else { report.skipped.append((v.version, "no files at \(v.path)")); continue }
                let source = try upload(files, to: "model-v\(v.version)", run: run)
                let r = try call(.POST, "model-versions/create",
                                 MLflowAPI.CreateVersion(name: name, source: source, runId: run,
                                                         tags: [.init(Self.versionTag, String(v.version)), .init(Self.sha256Tag, v.sha256)],
                                                         description: "strawberry store version \(v.version), sha256 \(v.sha256)"),
                                 as: MLflowAPI.OneVersion.self)
                guard let mv = r.modelVersion?.version else {
                    throw MLflowError.badResponse(path: "model-versions/create", reason: "no model_version.version")
                }
                remote[v.version] = (mv, "None")
                report.created.append((v.version, mv))
            } catch let e as MLflowError where e.isTransient {
                throw e
            } catch {
                // One version that cannot be mirrored does not keep the others' stages and aliases from MLflow.
                report.skipped.append((v.version, "\(error)"))
            }
        }
        for v in versions.sorted(by: { $0.version < $1.version }) {
            guard let r = remote[v.version], r.stage != v.stage.rawValue else { continue }
            try call(.POST, "model-versions/transition-stage", MLflowAPI.TransitionStage(name: name, version: r.mlflow, stage: v.stage.rawValue))
            report.transitions.append("v\(v.version): \(r.stage) → \(v.stage)")
        }
        for f in foreign where f.stage == "Production" || f.stage == "Staging" {
            try call(.POST, "model-versions/transition-stage", MLflowAPI.TransitionStage(name: name, version: f.mlflow, stage: "Archived"))
            report.transitions.append("MLflow version \(f.mlflow) (another store's v\(f.store), not this store's): \(f.stage) → Archived")
        }
        // Aliases: wanted (from the store) against what MLflow has on the versions Strawberry created.
        var wanted: [String: String] = [:]
        for v in versions { if let r = remote[v.version] { for a in v.aliases { wanted[a] = r.mlflow } } }
        let ours = Set(tagged.map(\.mlflow))
        let got = try call(.GET, "registered-models/get", query: [("name", name)], as: MLflowAPI.OneRegisteredModel.self)
        var have: [String: String] = [:]
        for a in got.registeredModel?.aliases ?? [] {
            if let alias = a.alias, let version = a.version { have[alias] = version }
        }
        let storeNumber = Dictionary(remote.map { ($0.value.mlflow, $0.key) }, uniquingKeysWith: min)
        for (alias, version) in have.sorted(by: { $0.key < $1.key }) where ours.contains(version) && wanted[alias] == nil {
            try call(.DELETE, "registered-models/alias", MLflowAPI.Alias(name: name, alias: alias, version: nil))
            report.aliases.append("\(alias) removed")
        }
        for (alias, version) in wanted.sorted(by: { $0.key < $1.key }) where have[alias] != version {
            try call(.POST, "registered-models/alias", MLflowAPI.Alias(name: name, alias: alias, version: version))
            report.aliases.append("\(alias) → v\(storeNumber[version] ?? 0)")
        }
        return report
    }

    /// The tag with the store version's files' hash (so a version of another store is not taken for it).
    static let sha256Tag = "strawberry.sha256"

    /// The MLflow versions of `name` that Strawberry created (tagged with a store version), oldest
    /// first. Two for one store version happen when a create the server had committed is retried.
    func taggedVersions(_ name: String) throws -> [(mlflow: String, stage: String, store: Int, sha256: String?)] {
        var out: [(mlflow: String, stage: String, store: Int, sha256: String?)] = []
        var token: String?
        repeat {
            // Ordered by version number: pages are offsets, and the default order (last update) moves.
            var query = [("filter", "name='\(name)'"), ("max_results", "200"), ("order_by", "version_number ASC")]
            if let token { query.append(("page_token", token)) }
            let page = try call(.GET, "model-versions/search", query: query, as: MLflowAPI.VersionPage.self)
            for mv in page.modelVersions ?? [] {
                guard let version = mv.version, let stage = mv.currentStage else { continue }
                var tags: [String: String] = [:]
                for t in mv.tags ?? [] { tags[t.key] = t.value }
                guard let n = tags[Self.versionTag].flatMap(Int.init) else { continue }
                out.append((version, stage, n, tags[Self.sha256Tag]))
            }
            token = page.nextPageToken
            if token?.isEmpty == true { token = nil }
        } while token != nil
        return out.sorted { (Int($0.mlflow) ?? 0) < (Int($1.mlflow) ?? 0) }
    }

    /// Store version → (MLflow version, stage) for the versions that mirror one (the oldest when two do).
    func mirroredVersions(_ name: String) throws -> [Int: (mlflow: String, stage: String)] {
        var out: [Int: (mlflow: String, stage: String)] = [:]
        for t in try taggedVersions(name) where out[t.store] == nil { out[t.store] = (t.mlflow, t.stage) }
        return out
    }
}

/// Mirrors the store's registry in MLflow's, when MLFLOW_TRACKING_URI is set.
public enum RegistryMirror {
    /// Mirrors model `name` (every version, stage and alias). A version's files hang on the MLflow run of
    /// the deployment that registered it (sent now if it is not there yet, found by its tag if it is).
    public static func sync(store: Store, name: String, client: MLflowClient) throws -> MLflowClient.MirrorReport {
        try client.mirror(name: name, versions: try store.versions(of: name)) { v in
            guard let id = v.runId, let run = try? store.run(id) else { return nil }
            return try client.send(run)
        }
    }

    /// After a registry change: mirrors it when MLflow is configured and returns lines for the user
    /// (a failure is a warning: the store has the change, and `registry sync` completes the mirror).
    public static func afterChange(store: Store, name: String) -> [String] {
        guard let uri = MLflowClient.configured else { return [] }
        do {
            let report = try sync(store: store, name: name, client: MLflowClient(base: uri))
            return report.lines.map { "MLflow: " + $0 }
        } catch {
            return ["warning: MLflow's registry at \(Redact.url(uri)) was not updated: \(error); the store's was — `strawberry registry sync \(name)` mirrors it later"]
        }
    }
}

/// Runs that could not reach MLflow wait in STORE/mlflow-queue/RUN_ID.json until `runs sync`.
public enum MLflowQueue {
    static func dir(_ store: Store) -> String { store.directory + "/mlflow-queue" }

    /// Sends a run when MLflow is configured; queues it when the server stays unreachable. Returns a
    /// line for the user, and the client and MLflow's run id when it was sent (nil when MLflow is not
    /// configured).
    public static func deliver(_ run: RunRecord, store: Store) -> (line: String, client: MLflowClient?, mlflowRunId: String?)? {
        guard let uri = MLflowClient.configured else { return nil }
        let client = MLflowClient(base: uri)
        do {
            let id = try client.send(run)
            return ("sent run \(run.id) to MLflow at \(Redact.url(uri)) (run \(id))", client, id)
        } catch {
            do {
                try FileManager.default.createDirectory(atPath: dir(store), withIntermediateDirectories: true)
                try RecordFile.write(run, to: dir(store) + "/\(run.id).json")
                return ("warning: \(error); run \(run.id) queued in \(dir(store)) — `strawberry runs sync` sends it later", nil, nil)
            } catch let queueError {
                return ("warning: \(error); and the run could not be queued either: \(queueError)", nil, nil)
            }
        }
    }

    /// Sends every queued run, oldest first; a run stays queued until the server has it.
    public static func sync(store: Store, uri: String) -> (sent: [String], failed: [(String, String)]) {
        let files = ((try? FileManager.default.contentsOfDirectory(atPath: dir(store))) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        var sent: [String] = [], failed: [(String, String)] = []
        let client = MLflowClient(base: uri)
        for f in files {
            let path = dir(store) + "/" + f
            do {
                let run = try RecordFile.read(RunRecord.self, from: path)
                try client.send(run)
                try FileManager.default.removeItem(atPath: path)
                sent.append(run.id)
            } catch { failed.append((f, "\(error)")) }
        }
        return (sent, failed)
    }
}

/// MLflow's REST bodies (REFERENCE.md §3.7), the fields Strawberry sends and reads. Answers decode
/// leniently: every field is optional and checked where it is used.
public enum MLflowAPI {
    public struct Empty: Codable, Sendable {}
    struct ErrorBody: Decodable { var errorCode: String?; var message: String? }
    struct Named: Encodable { var name: String }
    public struct KeyValue: Codable, Sendable {
        public var key: String
        public var value: String
        init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }
    struct Metric: Encodable { var key: String; var value: Double; var timestamp: Int64; var step: Int }

    struct Experiment: Decodable { var experimentId: String? }
    struct GetExperiment: Decodable { var experiment: Experiment? }
    typealias CreatedExperiment = Experiment

    struct SearchRuns: Encodable { var experimentIds: [String]; var filter: String; var maxResults: Int }
    struct RunInfo: Decodable { var runId: String?; var status: String?; var artifactUri: String? }
    struct Run: Decodable { var info: RunInfo? }
    struct Runs: Decodable { var runs: [Run]? }
    struct OneRun: Decodable { var run: Run? }
    struct CreateRun: Encodable { var experimentId: String; var runName: String; var startTime: Int64; var tags: [KeyValue] }
    struct LogBatch: Encodable { var runId: String; var params: [KeyValue]; var tags: [KeyValue]; var metrics: [Metric] }
    struct UpdateRun: Encodable { var runId: String; var status: String; var endTime: Int64 }

    struct CreateVersion: Encodable { var name: String; var source: String; var runId: String; var tags: [KeyValue]; var description: String }
    struct Version: Decodable { var version: String?; var currentStage: String?; var tags: [KeyValue]? }
    struct OneVersion: Decodable { var modelVersion: Version? }
    struct VersionPage: Decodable { var modelVersions: [Version]?; var nextPageToken: String? }
    /// Stages are set one by one, never archiving others (the store says where every version is).
    struct TransitionStage: Encodable { var name: String; var version: String; var stage: String; var archiveExistingVersions = false }
    struct Alias: Codable { var name: String?; var alias: String?; var version: String? }
    struct RegisteredModel: Decodable { var aliases: [Alias]? }
    struct OneRegisteredModel: Decodable { var registeredModel: RegisteredModel? }
}
