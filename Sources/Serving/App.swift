// The application, built in one place (`buildApplication`) for `serve` and for every test: the front
// middleware, the routes of the table in Routes.swift, and the service group that stops it gracefully
// on SIGTERM — the listener closes, admitted requests finish (up to DRAIN_SECONDS), then the engine stops.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
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
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: context.maxBody) } catch is NIOTooManyBytesError {
            throw APIError(413, "the body is over \(context.maxBody) bytes", rejection: "too_large")
        }
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

    /// Runs `work` so that the client closing its connection cancels it (and frees its batch slot).
    static func cancellable<T: Sendable>(_ request: Request, _ work: @Sendable @escaping () async throws -> T) async throws -> T {
        try await request.body.consumeWithCancellationOnInboundClose { _ in try await work() }
    }

    /// The router: the front middleware, then every route of the table the configured TASK_TYPE serves.
    public static func router(service: SpellingService, metrics: ServerMetrics, logger: Logger, tracing: Bool = false) throws -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        let served = Routes.served(service.config.taskType)
        metrics.describe(service.info)
        // A span per request (route template, method, status), when a tracer is bootstrapped (the OTel trait).
        if tracing { router.add(middleware: TracingMiddleware()) }
        router.add(middleware: FrontMiddleware(metrics: metrics, logger: logger, keys: service.config.apiKeys,
                                               limiter: RateLimiter(rate: service.config.rateLimit, burst: service.config.rateBurst),
                                               maxBody: service.config.maxBodyBytes, protected: Set(served.filter(\.authenticated).map(\.path))))
        let context = RouteContext(service: service, metrics: metrics,
                                   openapi: try OpenAPI.json(for: service.config.taskType, maxTokens: service.config.maxTokensLimit))
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
        Application(router: try router(service: service, metrics: metrics, logger: logger, tracing: tracing),
                    configuration: .init(address: .hostname(service.config.host, port: service.config.port), serverName: "strawberry"),
                    onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                    logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then drains: no new connections, admitted requests finish (up to
    /// DRAIN_SECONDS), the engine stops.
    public static func run(service: SpellingService, metrics: ServerMetrics, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
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
        // Stopped in reverse order: the HTTP server first (it drains), then the engine, then the exporters.
        var cfg = ServiceGroupConfiguration(services: services + [engine, app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        cfg.maximumGracefulShutdownDuration = .seconds(service.config.drainSeconds + 5)
        try await ServiceGroup(configuration: cfg).run()
    }
}

/// Keeps the engine for the life of the server; on graceful shutdown (after the HTTP server has
/// drained, since the group stops services in reverse order) it finishes what is left and stops.
struct EngineService: Service {
    let engine: InferenceEngine
    let seconds: Double
    let logger: Logger
    func run() async throws {
        try? await gracefulShutdown()
        // drain() blocks (it waits on the worker); keep it off the concurrency pool's few threads.
        let engine = self.engine, seconds = self.seconds
        let done = await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
            DispatchQueue.global().async { c.resume(returning: engine.drain(timeout: seconds)) }
        }
        logger.info("engine stopped", metadata: ["completed_while_draining": .stringConvertible(done)])
    }
}
