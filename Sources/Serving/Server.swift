// The HTTP layer (Hummingbird 2): routes, the request id, JSON logs, API keys, per-key rate limits,
// body limits, errors as {"error", "details"} and the metrics of every request. The routes table is
// also what the OpenAPI document is built from, so the two cannot drift apart.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Records
import ServiceLifecycle

extension HTTPField.Name {
    static let xRequestID = Self("X-Request-ID")!
    static let xAPIKey = Self("X-API-Key")!
}

public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID = ""
    public var maxBody = 64 << 10
    /// The peer's address (nil in the test client): the rate limit's key when no API keys are configured.
    public var remote: String?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remote = source.channel.remoteAddress?.ipAddress
    }
    public var maxUploadSize: Int { maxBody }
}

/// One route of the API (method, path, the task it serves, its OpenAPI summary).
public struct Route: Sendable {
    public var method: String
    public var path: String
    public var summary: String
    /// nil = always served; else only when TASK_TYPE allows it.
    public var task: String?
    public var authenticated: Bool
}

public enum Routes {
    public static let all: [Route] = [
        Route(method: "GET", path: "/health", summary: "Liveness: the process answers.", task: nil, authenticated: false),
        Route(method: "GET", path: "/health/ready", summary: "Readiness: the model is loaded and the queue is not saturated.", task: nil, authenticated: false),
        Route(method: "GET", path: "/metrics", summary: "Prometheus metrics (text exposition format).", task: nil, authenticated: false),
        Route(method: "GET", path: "/openapi.json", summary: "This document.", task: nil, authenticated: false),
        Route(method: "GET", path: "/api/model", summary: "Model and adapter identity (SHA-256) and their evaluation metrics.", task: nil, authenticated: true),
        Route(method: "POST", path: "/predict", summary: "Generate from a prompt or messages with sampling parameters.", task: nil, authenticated: true),
        Route(method: "POST", path: "/api/spelling/predict", summary: "The model's spelling of a word, its letters and confidence.", task: "spelling", authenticated: true),
        Route(method: "POST", path: "/api/spelling/check", summary: "Whether a spelling of a word is correct, with the model's own spelling.", task: "spelling", authenticated: true),
        Route(method: "POST", path: "/api/position_count/letter_count", summary: "How many times a letter occurs in a word: the model's answer and the truth.", task: "position_count", authenticated: true),
        Route(method: "POST", path: "/api/position_count/letter_position", summary: "The letter at a position of a word: the model's answer and the truth.", task: "position_count", authenticated: true),
    ]

    public static func served(_ t: TaskSet) -> [Route] {
        all.filter { r in r.task == nil || (r.task == "spelling" && t.spelling) || (r.task == "position_count" && t.positionCount) }
    }
}

/// The server's metrics, in one Prometheus registry, each with its help text (promtool's lint wants
/// it, and the factory that adapts swift-metrics cannot give one). `serve` also bootstraps swift-metrics
/// with this registry, so the libraries' own metrics appear beside these.
public final class ServerMetrics: @unchecked Sendable, EngineObserver {
    public let registry: PrometheusCollectorRegistry
    static let latency: [Duration] = [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                      .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30)]

    static func d(_ name: String, _ help: String) -> MetricNameDescriptor { MetricNameDescriptor(metricName: name, unitName: "", helpText: help) }
    static var requests: MetricNameDescriptor { d("strawberry_http_requests_total", "HTTP requests by route template, method and status") }
    static var duration: MetricNameDescriptor { d("strawberry_http_request_duration_seconds", "HTTP request latency by route template, method and status") }
    static var rejections: MetricNameDescriptor { d("strawberry_rejections_total", "Requests refused, by reason") }
    static var liveAnswers: MetricNameDescriptor { d("strawberry_live_answers_total", "Answers checked against the truth the server computes, by task and correctness") }
    static var liveAccuracy: MetricNameDescriptor { d("strawberry_live_accuracy", "Running accuracy of the checked answers, by task") }

    let queueDepth: Prometheus.Gauge
    let inFlight: Prometheus.Gauge
    let running: Prometheus.Gauge
    let batchSize: ValueHistogram
    let generatedTokens: Prometheus.Counter
    let ttft: DurationHistogram

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        queueDepth = registry.makeGauge(descriptor: Self.d("strawberry_queue_depth", "Requests waiting for a batch slot"))
        inFlight = registry.makeGauge(descriptor: Self.d("strawberry_in_flight_requests", "HTTP requests being handled"))
        running = registry.makeGauge(descriptor: Self.d("strawberry_running_sequences", "Sequences in the current batch"))
        batchSize = registry.makeValueHistogram(descriptor: Self.d("strawberry_batch_size", "Sequences per forward pass"), buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
        generatedTokens = registry.makeCounter(descriptor: Self.d("strawberry_generated_tokens_total", "Tokens generated"))
        ttft = registry.makeDurationHistogram(descriptor: Self.d("strawberry_time_to_first_token_seconds", "Time from arrival to the first generated token (queue and prefill)"),
                                              buckets: Self.latency)
        // Counters exist at zero from the start, so that rate() and increase() see their first increments.
        for reason in ["queue_full", "rate_limited", "unauthorized", "deadline", "too_large", "invalid", "shutting_down"] {
            registry.makeCounter(descriptor: Self.rejections, labels: [("reason", reason)]).increment(by: Int64(0))
        }
        for task in ["spelling", "letter_count", "letter_position"] {
            for correct in ["true", "false"] { registry.makeCounter(descriptor: Self.liveAnswers, labels: [("task", task), ("correct", correct)]).increment(by: Int64(0)) }
        }
    }

    public func request(route: String, method: String, status: Int, seconds: Double) {
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route), ("method", method), ("status", String(status))], buckets: Self.latency)
            .record(.nanoseconds(Int64((seconds * 1e9).rounded())))
    }

    /// The served model's identity and its measured accuracy per task (from the evaluation it was
    /// deployed on), so dashboards and alerts can set live accuracy beside what was measured.
    public func describe(_ info: ModelInfo) {
        var labels = [("model_sha256", String(info.modelSHA256.prefix(16))), ("adapter_sha256", String((info.adapterSHA256 ?? "none").prefix(16)))]
        if let r = info.registered { labels += [("registered_model", r.name), ("version", String(r.version)), ("stage", r.stage)] }
        registry.makeGauge(descriptor: Self.d("strawberry_model_info", "The served model and adapter (value 1): hashes, registered version and stage"), labels: labels).set(to: 1)
        for (task, p) in info.evaluation?.finetunedModel.metrics.accuracy ?? [:] {
            registry.makeGauge(descriptor: Self.d("strawberry_model_evaluated_accuracy", "Accuracy per task measured when the model was evaluated"),
                               labels: [("task", task)]).set(to: p.accuracy)
        }
    }

    /// Every metric the server exports — name, type, help, labels — read back from a registry that has
    /// seen one of each kind of event (docs/monitoring.md's reference is this, checked by a test).
    public static func reference() -> [(name: String, type: String, help: String, labels: [String])] {
        let m = ServerMetrics()
        m.describe(ModelInfo(model: "m", modelSHA256: "0", architecture: "llama", adapter: nil, adapterSHA256: nil, registered: .init(name: "n", version: 1, stage: "Production", aliases: [], score: nil),
                             evaluation: EvaluationResults(baseModel: .init(metrics: HeadlineMetrics(), source: nil),
                                                           finetunedModel: .init(metrics: { var h = HeadlineMetrics(); h.accuracy["letter_count"] = Proportion(n: 1, correct: 1, accuracy: 1, ci95: [0, 1]); return h }(), source: nil)),
                             evaluationSource: nil, maxBatchSize: 1, taskType: "all", device: "cpu"))
        m.request(route: "/r", method: "GET", status: 200, seconds: 0.1)
        m.answered("letter_count", correct: true, accuracy: 1)
        m.finished(tokens: 1, timeToFirstToken: 0.1)
        m.batchStep(size: 1)
        m.queueChanged(waiting: 0, running: 0)
        m.inFlight(0)
        var help: [String: String] = [:], type: [String: String] = [:], labels: [String: Set<String>] = [:]
        for line in m.registry.emitToString().split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# HELP "), parts.count >= 3 { help[parts[2]] = parts.count > 3 ? parts[3] : "" }
            else if line.hasPrefix("# TYPE "), parts.count >= 4 { type[parts[2]] = parts[3] }
            else if !line.hasPrefix("#"), let brace = line.firstIndex(of: "{"), let close = line.firstIndex(of: "}") {
                var name = String(line[..<brace])
                for suffix in ["_bucket", "_sum", "_count"] where type[name] == nil && name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)) }
                let inner = line[line.index(after: brace)..<close]
                for pair in inner.split(separator: ",") { if let k = pair.split(separator: "=").first, k != "le" { labels[name, default: []].insert(String(k)) } }
            }
        }
        return type.keys.sorted().map { ($0, type[$0] ?? "", help[$0] ?? "", (labels[$0] ?? []).sorted()) }
    }

    public func rejected(_ reason: String) { registry.makeCounter(descriptor: Self.rejections, labels: [("reason", reason)]).increment() }

    public func answered(_ task: String, correct: Bool, accuracy: Double) {
        registry.makeCounter(descriptor: Self.liveAnswers, labels: [("task", task), ("correct", correct ? "true" : "false")]).increment()
        registry.makeGauge(descriptor: Self.liveAccuracy, labels: [("task", task)]).set(to: accuracy)
    }

    public func finished(tokens: Int, timeToFirstToken: Double) {
        generatedTokens.increment(by: Int64(tokens))
        ttft.record(.nanoseconds(Int64((timeToFirstToken * 1e9).rounded())))
    }

    public func batchStep(size: Int) { batchSize.record(Double(size)) }
    public func queueChanged(waiting: Int, running: Int) {
        queueDepth.set(to: Double(waiting))
        self.running.set(to: Double(running))
    }
    func inFlight(_ delta: Int) { inFlight.increment(by: Double(delta)) }
}

/// Per-client token buckets (sustained rate, burst), on a monotonic clock. At most `capacity` clients
/// are tracked; when full, the buckets that have refilled (idle clients) are dropped first.
final class RateLimiter: @unchecked Sendable {
    let rate: Double, burst: Double
    let capacity: Int
    let lock = NSLock()
    var buckets: [String: (tokens: Double, at: Double)] = [:]
    init(rate: Double, burst: Int, capacity: Int = 10_000) { self.rate = rate; self.burst = Double(burst); self.capacity = capacity }
    /// nil when allowed; else seconds until a token is available.
    func take(_ key: String) -> Double? {
        lock.lock(); defer { lock.unlock() }
        let t = ProcessInfo.processInfo.systemUptime
        if buckets[key] == nil && buckets.count >= capacity {
            buckets = buckets.filter { min(burst, $0.value.tokens + (t - $0.value.at) * rate) < burst }
            if buckets.count >= capacity { buckets.removeAll() }
        }
        var b = buckets[key] ?? (burst, t)
        b.tokens = min(burst, b.tokens + max(0, t - b.at) * rate)
        b.at = t
        if b.tokens >= 1 { b.tokens -= 1; buckets[key] = b; return nil }
        buckets[key] = b
        return (1 - b.tokens) / rate
    }
}

/// Constant-time comparison of a presented key with the configured ones (over at most 4 KiB of it);
/// returns the index of the matching key (the rate limit's bucket), or nil.
func matchingKey(_ presented: String, _ keys: [String]) -> Int? {
    let p = Array(presented.utf8.prefix(4096))
    var found: Int?
    for (i, k) in keys.enumerated() {
        let kb = Array(k.utf8)
        var diff = UInt8(p.count == kb.count ? 0 : 1)
        for j in 0..<max(p.count, kb.count) { diff |= (j < p.count ? p[j] : 0) ^ (j < kb.count ? kb[j] : 0) }
        if diff == 0 && found == nil { found = i }
    }
    return found
}

func keyMatches(_ presented: String, _ keys: [String]) -> Bool { matchingKey(presented, keys) != nil }

extension APIError: HTTPResponseError {
    public var status: HTTPResponse.Status { HTTPResponse.Status(code: (100...599).contains(code) ? code : 500) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let r = retryAfter { headers[.retryAfter] = String(r) }
        if code == 401 { headers[.wwwAuthenticate] = "Bearer" }
        let body = try JSONEncoder().encode(ErrorBody(error: error, details: details.isEmpty ? nil : details))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
