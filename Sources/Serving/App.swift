// The application: the front middleware (request id, keys, rate limit, errors, metrics, JSON log
// line), the routes, and the service group that stops it gracefully on SIGTERM — the listener
// closes, admitted requests finish (up to DRAIN_SECONDS), then the engine stops.
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

struct FrontMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let metrics: ServerMetrics
    let logger: Logger
    let keys: [String]
    let limiter: RateLimiter
    let maxBody: Int
    let protected: Set<String>

    /// A client's X-Request-ID when it is a sane token, else a new one.
    static func requestID(_ given: String?) -> String {
        if let g = given, (1...128).contains(g.count), g.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) { return g }
        return UUID().uuidString.lowercased()
    }

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        var c = context
        c.requestID = Self.requestID(request.headers[.xRequestID])
        c.maxBody = maxBody
        let start = DispatchTime.now().uptimeNanoseconds
        metrics.inFlight(1)
        defer { metrics.inFlight(-1) }
        var response: Response
        do {
            // The route the router matched (its template), not the raw path: "/predict/" reaches /predict too.
            let route = c.endpointPath ?? request.uri.path
            if protected.contains(route) || protected.contains(request.uri.path) {
                var client = c.remote ?? "local"
                if !keys.isEmpty {
                    let auth = request.headers[.authorization]
                    let bearer = auth.flatMap { $0.count > 7 && $0.prefix(7).lowercased() == "bearer " ? String($0.dropFirst(7)) : nil }
                    guard let presented = bearer ?? request.headers[.xAPIKey], let index = matchingKey(presented, keys) else {
                        throw APIError(401, "a valid API key is required (Authorization: Bearer KEY or X-API-Key)", rejection: "unauthorized")
                    }
                    client = "key-\(index)"   // one bucket per key, whatever else the request carries
                }
                if let wait = limiter.take(client) {
                    throw APIError(429, "rate limit exceeded", details: ["limit": "\(limiter.rate) requests/s, burst \(Int(limiter.burst))"],
                                   retryAfter: max(1, Int(min(wait, 3600).rounded(.up))), rejection: "rate_limited")
                }
            }
            response = try await next(request, c)
        } catch {
            let e = apiError(error, requestID: c.requestID)
            if let reason = e.rejection { metrics.rejected(reason) }
            response = try e.response(from: request, context: c)
        }
        response.headers[.xRequestID] = c.requestID
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        // The template, so that labels stay few whatever paths clients send.
        let route = c.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
        metrics.request(route: route, method: request.method.rawValue, status: Int(response.status.code), seconds: seconds)
        logger.info("request", metadata: [
            "request_id": .string(c.requestID), "route": .string(route), "method": .string(request.method.rawValue),
            "status": .stringConvertible(Int(response.status.code)), "latency_ms": .stringConvertible((seconds * 1000 * 10).rounded() / 10),
            "task_type": .string(Self.task(of: request.uri.path)),
        ])
        return response
    }

    /// Any error as the API's: what the framework throws gets its status and a JSON body; anything
    /// unforeseen is a 500 that names nothing internal (the log has it).
    func apiError(_ error: Error, requestID: String) -> APIError {
        switch error {
        case let e as APIError: return e
        case is CancellationError: return APIError(499, "the client closed the request")   // nobody reads this answer
        case let e as HTTPError:
            let code = Int(e.status.code)
            return APIError(code, code == 404 ? "no such route" : e.status.reasonPhrase)
        case let e as any HTTPResponseError:
            let code = Int(e.status.code)
            return code == 413 ? APIError(413, "the body is over \(maxBody) bytes", rejection: "too_large") : APIError(code, e.status.reasonPhrase)
        default:
            logger.error("unhandled error", metadata: ["request_id": .string(requestID), "error": .string("\(error)")])
            return APIError(500, "internal error")
        }
    }

    static func task(of path: String) -> String {
        if path.hasPrefix("/api/spelling/") { return "spelling" }
        if path.hasSuffix("/letter_count") { return "letter_count" }
        if path.hasSuffix("/letter_position") { return "letter_position" }
        if path == "/predict" { return "general" }
        return "none"
    }
}

public enum ServerApp {
    static let json: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func encode<T: Encodable>(_ v: T, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try json.encode(v))))
    }

    /// The body as `T`: over the limit → 413, not a JSON object → 400, a field of the wrong type or
    /// missing where required → 422 naming it.
    static func decode<T: Decodable>(_ type: T.Type, _ request: inout Request, _ context: ServerContext) async throws -> T {
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: context.maxBody) } catch is NIOTooManyBytesError {
            throw APIError(413, "the body is over \(context.maxBody) bytes", rejection: "too_large")
        }
        let data = Data(buffer.readableBytesView)
        guard case .object? = try? JSONParser.parse(String(decoding: data, as: UTF8.self)) else { throw APIError(400, "the body is not a JSON object", rejection: "invalid") }
        do { return try JSONDecoder().decode(T.self, from: data) } catch let DecodingError.typeMismatch(t, ctx) {
            throw APIError.invalid(ctx.codingPath.map(\.stringValue).joined(separator: "."), "must be \(t)")
        } catch let DecodingError.valueNotFound(t, ctx) {
            throw APIError.invalid(ctx.codingPath.map(\.stringValue).joined(separator: "."), "must be \(t), not null")
        } catch let DecodingError.keyNotFound(k, _) {
            throw APIError.invalid(k.stringValue, "required")
        } catch let DecodingError.dataCorrupted(ctx) where !ctx.codingPath.isEmpty {
            throw APIError.invalid(ctx.codingPath.map(\.stringValue).joined(separator: "."), "out of range")
        } catch {
            throw APIError(400, "the body cannot be read as this request", rejection: "invalid")
        }
    }

    /// Runs `work` so that the client closing its connection cancels it (and frees its batch slot).
    static func cancellable<T: Sendable>(_ request: Request, _ work: @Sendable @escaping () async throws -> T) async throws -> T {
        try await request.body.consumeWithCancellationOnInboundClose { _ in try await work() }
    }

    public static func router(service: SpellingService, metrics: ServerMetrics, logger: Logger, tracing: Bool = false) -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        let served = Routes.served(service.config.taskType)
        metrics.describe(service.info)
        // A span per request (route template, method, status), when a tracer is bootstrapped (the OTel trait).
        if tracing { router.add(middleware: TracingMiddleware()) }
        router.add(middleware: FrontMiddleware(metrics: metrics, logger: logger, keys: service.config.apiKeys,
                                               limiter: RateLimiter(rate: service.config.rateLimit, burst: service.config.rateBurst),
                                               maxBody: service.config.maxBodyBytes, protected: Set(served.filter(\.authenticated).map(\.path))))
        let openapi = try? OpenAPI.json(for: service.config.taskType, maxTokens: service.config.maxTokensLimit)
        // Every answer the server can check is counted, whichever route asked the question.
        service.onAnswer = { task, correct, accuracy in metrics.answered(task, correct: correct, accuracy: accuracy) }
        /// A JSON route: the body decoded (413/400/422 as `decode` says), the work cancelled if the client goes.
        func post<Body: Decodable & Sendable, Out: Encodable & Sendable>(_ path: String, _: Body.Type,
                                                                         _ work: @Sendable @escaping (Body) async throws(APIError) -> Out) {
            router.post(RouterPath(path)) { request, context in
                var request = request
                let body = try await decode(Body.self, &request, context)
                return try encode(try await cancellable(request) { try await work(body) })
            }
        }
        for route in served {
            switch (route.method, route.path) {
            case ("GET", "/health"):
                router.get("/health") { _, _ in try encode(["status": "ok"]) }
            case ("GET", "/health/ready"):
                router.get("/health/ready") { _, _ in
                    let (waiting, running) = service.engine.load
                    let ready = !service.engine.saturated
                    return try encode(["status": ready ? "ready" : "saturated", "waiting": "\(waiting)", "running": "\(running)"],
                                      status: ready ? .ok : .serviceUnavailable)
                }
            case ("GET", "/metrics"):
                router.get("/metrics") { _, _ in
                    Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                             body: .init(byteBuffer: ByteBuffer(string: metrics.registry.emitToString())))
                }
            case ("GET", "/openapi.json"):
                router.get("/openapi.json") { _, _ in
                    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: openapi ?? "{}")))
                }
            case ("GET", "/api/model"):
                router.get("/api/model") { _, _ in try encode(service.info) }
            case ("POST", "/predict"): post(route.path, PredictRequest.self, service.predict)
            case ("POST", "/api/spelling/predict"): post(route.path, WordRequest.self, service.spell)
            case ("POST", "/api/spelling/check"): post(route.path, CheckRequest.self, service.check)
            case ("POST", "/api/position_count/letter_count"): post(route.path, CountRequest.self, service.count)
            case ("POST", "/api/position_count/letter_position"): post(route.path, PositionRequest.self, service.position)
            default:
                logger.error("route without a handler", metadata: ["path": .string(route.path)])
            }
        }
        return router
    }

    /// The application, bound to the configured host and port.
    public static func application(service: SpellingService, metrics: ServerMetrics, logger: Logger,
                                   onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: router(service: service, metrics: metrics, logger: logger),
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
        let app = Application(router: router(service: service, metrics: metrics, logger: logger, tracing: tracing),
                              configuration: .init(address: .hostname(service.config.host, port: service.config.port), serverName: "strawberry"),
                              onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
                              logger: logger)
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
