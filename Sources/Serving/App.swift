// The application, built in one place (`buildApplication`) for `serve` and for every test: the front
// middleware, the routes of the table in Routes.swift, the guarded HTTP/1.1 channel (Connection.swift),
// and the service group that stops it gracefully on SIGTERM — the engine drains (admitted requests finish
// up to DRAIN_SECONDS, the rest are answered 503), then the HTTP server closes.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTPTypes
import Records
import ServiceLifecycle
#if OTel
import OTel
#endif

public enum ServerApp {
    /// A JSON answer, in the project's deterministic JSON (sorted keys, snake_case like every body of the API).
    static func encode<T: Encodable>(_ v: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: try RecordFile.text(v, keys: .snakeCase))))
    }

    /// A field's name as the client wrote it.
    static func field(_ path: [CodingKey]) -> String { path.map { JSONKeys.snakeCased($0.stringValue) }.joined(separator: ".") }

    /// The body as `T`: over the limit → 413, not a JSON object → 400, a field of the wrong type or
    /// missing where required → 422 naming it.
    static func decode<T: Decodable>(_ type: T.Type, _ request: inout Request, _ context: ServerContext) async throws -> T {
        let tooLarge = APIError(413, "the body is over \(context.maxBody) bytes", rejection: "too_large")
        // A body announced over the limit is refused before the client sends it.
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > context.maxBody { throw tooLarge }
        // A client that sent `Expect: 100-continue` waits for this before sending the body (curl: 1 s).
        if request.headers[.expect]?.lowercased() == "100-continue", let channel = context.channel {
            try? await channel.writeAndFlush(HTTPResponsePart.head(HTTPResponse(status: .continue))).get()
        }
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: context.maxBody) } catch is NIOTooManyBytesError { throw tooLarge }
        let data = Data(buffer.readableBytesView)
        guard case .object? = try? JSONParser.parse(String(decoding: data, as: UTF8.self)) else { throw APIError(400, "the body is not a JSON object", rejection: "invalid") }
        do { return try JSONKeys.snakeCase.decoder.decode(T.self, from: data) } catch let DecodingError.typeMismatch(t, ctx) {
            throw APIError.invalid(field(ctx.codingPath), "must be \(t)")
        } catch let DecodingError.valueNotFound(t, ctx) {
            throw APIError.invalid(field(ctx.codingPath), "must be \(t), not null")
        } catch let DecodingError.keyNotFound(k, _) {
            throw APIError.invalid(field([k]), "required")
        } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
            throw APIError.invalid(field(ctx.codingPath), "out of range")
        } catch {
            throw APIError(400, "the body cannot be read as this request", rejection: "invalid")
        }
    }

    /// Runs `work` so that the client leaving (`state`: its connection) cancels it and frees its batch
    /// slot. Without a state (the in-process test client) the work just runs.
    static func cancellable<T: Sendable>(_ state: ConnectionState?, _ work: @Sendable @escaping () async throws -> T) async throws -> T {
        guard let state else { return try await work() }
        let task = Task { try await work() }
        let token = state.onClose { task.cancel() }
        defer { state.cancel(token) }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    /// The router: the front middleware, then every route of the table the configured TASK_TYPE serves.
    public static func router(service: SpellingService, metrics: ServerMetrics, logger: Logger, tracing: Bool = false,
                              connections: Connections = Connections()) throws -> Router<ServerContext> {
        // HEAD is answered on every GET route (the GET's headers, no body).
        let router = Router(context: ServerContext.self, options: .autoGenerateHeadEndpoints)
        let served = Routes.served(service.config.taskType)
        metrics.describe(service.info)
        // A span per request (route template, method, status), when a tracer is bootstrapped (the OTel trait).
        if tracing { router.add(middleware: TracingMiddleware()) }
        let c = service.config
        router.add(middleware: FrontMiddleware(metrics: metrics, logger: logger, keys: c.apiKeys,
                                               limiter: c.rateLimit > 0 ? RateLimiter(rate: c.rateLimit, burst: c.burst) : nil, rateLimit: c.rateLimitPolicy,
                                               maxBody: c.maxBodyBytes, protected: Set(served.filter(\.authenticated).map(\.path))))
        let context = RouteContext(service: service, metrics: metrics,
                                   openapi: try OpenAPI.json(for: c.taskType, maxTokens: c.maxTokensLimit), connections: connections)
        // Every answer the server can check is counted, whichever route asked the question.
        service.onAnswer = { task, correct, accuracy in metrics.answered(task, correct: correct, accuracy: accuracy) }
        for route in served {
            let handler = route.handler
            router.on(RouterPath(route.path), method: HTTPRequest.Method(rawValue: route.method) ?? .get) { request, c in
                try await handler(request, c, context)
            }
        }
        return router
    }

    /// The application, bound to the configured host and port: what `run()` serves and what every
    /// test drives (through HummingbirdTesting's router or live clients).
    public static func buildApplication(service: SpellingService, metrics: ServerMetrics, logger: Logger, tracing: Bool = false,
                                        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        let connections = Connections(), c = service.config
        return Application(router: try router(service: service, metrics: metrics, logger: logger, tracing: tracing, connections: connections),
                           server: .guardedHTTP1(connections: connections, idleTimeout: c.idleTimeout, readTimeout: c.headerTimeout),
                           configuration: .init(address: .hostname(c.host, port: c.port), serverName: "strawberry"),
                           onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                           logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then drains: the engine takes no new request (those get 503 while
    /// the listener is still open, and readiness fails), admitted requests finish until DRAIN_SECONDS, and
    /// what is still waiting or running then is answered 503 with Retry-After; then the HTTP server
    /// closes. Returns what the drain did: the command exits non-zero when it could not finish everything.
    @discardableResult
    public static func run(service: SpellingService, metrics: ServerMetrics, logger: Logger,
                           onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws -> DrainReport {
        var services: [any Service] = []
        var tracing = false
        #if OTel
        // Traces only (logs and metrics have their own backends here), when an OTLP endpoint is configured.
        if let endpoint = ProcessInfo.processInfo.environment["OTEL_EXPORTER_OTLP_ENDPOINT"], !endpoint.isEmpty {
            var otel = OTel.Configuration.default
            otel.serviceName = "strawberry"
            otel.logs.enabled = false
            otel.metrics.enabled = false
            otel.traces.otlpExporter.`protocol` = .httpProtobuf
            services.append(try OTel.bootstrap(configuration: otel))
            tracing = true
            logger.info("tracing", metadata: ["otlp_endpoint": .string(endpoint)])
        }
        #endif
        let app = try buildApplication(service: service, metrics: metrics, logger: logger, tracing: tracing, onRunning: onRunning)
        let engine = EngineService(engine: service.engine, seconds: service.config.drainSeconds, logger: logger)
        // Stopped in reverse order: the engine first (it drains, answering what it cannot finish), then the
        // HTTP server (whose requests are all answered by then: it only closes connections), then exporters.
        var cfg = ServiceGroupConfiguration(services: services + [app, engine], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // The engine keeps to DRAIN_SECONDS itself; the second after it is for writing the last answers.
        cfg.maximumGracefulShutdownDuration = .seconds(service.config.drainSeconds + 1)
        try await ServiceGroup(configuration: cfg).run()
        return engine.report.value ?? DrainReport(completed: 0, unfinished: 0)
    }
}

/// Keeps the engine for the life of the server; on graceful shutdown (first of the services) it drains
/// for up to DRAIN_SECONDS and stops, recording what it could not finish.
struct EngineService: Service {
    let engine: InferenceEngine
    let seconds: Double
    let logger: Logger
    final class Report: @unchecked Sendable {
        let lock = NSLock()
        var stored: DrainReport?
        var value: DrainReport? { lock.lock(); defer { lock.unlock() }; return stored }
        func set(_ r: DrainReport) { lock.lock(); stored = r; lock.unlock() }
    }
    let report = Report()

    func run() async throws {
        try? await gracefulShutdown()
        // drain() blocks (it waits on the worker); keep it off the concurrency pool's few threads.
        let engine = self.engine, seconds = self.seconds
        let r = await withCheckedContinuation { (c: CheckedContinuation<DrainReport, Never>) in
            DispatchQueue.global().async { c.resume(returning: engine.drain(timeout: seconds)) }
        }
        report.set(r)
        let metadata: Logger.Metadata = ["completed_while_draining": .stringConvertible(r.completed), "unfinished": .stringConvertible(r.unfinished)]
        if r.unfinished > 0 { logger.error("engine stopped with admitted requests unfinished (answered 503)", metadata: metadata) }
        else { logger.info("engine stopped", metadata: metadata) }
    }
}
