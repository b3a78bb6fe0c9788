// The HTTP layer in front of every route (Hummingbird 2): the request id, API keys, per-key rate
// limits, body limits, errors as {"error", "details"}, the metrics and the JSON log line of every request.
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Records

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
            let closing = error as? ClosingConnection
            let e = apiError(closing?.error ?? error, requestID: c.requestID)
            if let reason = e.rejection { metrics.rejected(reason) }
            response = try e.response(from: request, context: c)
            if closing != nil { response.headers[.connection] = "close" }
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
        let body = try RecordFile.text(ErrorBody(error: error, details: details.isEmpty ? nil : details), keys: .snakeCase)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
