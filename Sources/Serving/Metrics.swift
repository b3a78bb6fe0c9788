// The server's Prometheus metrics: requests, rejections, queue and batch, tokens, time to first token,
// live accuracy, and the served model's identity.
import Foundation
import Prometheus
import Records

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
    static var deadlineMisses: MetricNameDescriptor {
        d("strawberry_deadline_misses_total", "Admitted requests answered 504, by where the deadline caught them: queued, dropped at the slot, running")
    }
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
        for reason in ["queue_full", "would_miss_deadline", "rate_limited", "unauthorized", "deadline", "too_large", "invalid", "shutting_down"] {
            registry.makeCounter(descriptor: Self.rejections, labels: [("reason", reason)]).increment(by: Int64(0))
        }
        for stage in DeadlineStage.allCases { registry.makeCounter(descriptor: Self.deadlineMisses, labels: [("stage", stage.rawValue)]).increment(by: Int64(0)) }
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
    public func deadlineMissed(_ stage: DeadlineStage) {
        registry.makeCounter(descriptor: Self.deadlineMisses, labels: [("stage", stage.rawValue)]).increment()
    }
    public func queueChanged(waiting: Int, running: Int) {
        queueDepth.set(to: Double(waiting))
        self.running.set(to: Double(running))
    }
    func inFlight(_ delta: Int) { inFlight.increment(by: Double(delta)) }
}
