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
    static let xForwardedFor = Self("X-Forwarded-For")!
}

public struct ServerContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var requestID = ""
    public var maxBody = 64 << 10
    /// The peer's address (nil in the test client): the rate limit's key with RATE_LIMIT_BY=address.
    public var remote: String?
    /// The connection, to find its `ConnectionState` (client gone?) and to send `100 Continue` on it.
    public var channel: (any Channel)?
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remote = source.channel.remoteAddress?.ipAddress
        channel = source.channel
    }
    public var connectionID: ObjectIdentifier? { channel.map { ObjectIdentifier($0) } }
    public var maxUploadSize: Int { maxBody }
}

struct FrontMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let metrics: ServerMetrics
    let logger: Logger
    let keys: [String]
    /// nil: no rate limit (RATE_LIMIT 0, the default).
    let limiter: RateLimiter?
    let rateLimit: RateLimitPolicy
    let maxBody: Int
    let protected: Set<String>

    /// A client's X-Request-ID when it is a sane token, else a new one.
    static func requestID(_ given: String?) -> String {
        if let g = given, (1...128).contains(g.count), g.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) { return g }
        return UUID().uuidString.lowercased()
    }

    func handle(_ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response) async throws -> Response {
        if context.channel != nil { HTTPThreads.yieldToCompute() }   // a real server (Connection.swift)
        var c = context
        c.requestID = Self.requestID(request.headers[.xRequestID])
        c.maxBody = maxBody
        let start = DispatchTime.now().uptimeNanoseconds
        metrics.inFlight(1)
        defer { metrics.inFlight(-1) }
        var response: Response
        do {
            // The route the router matched (its template), not the raw path: "/predict/" reaches /predict too.
            // The one expectation HTTP/1.1 defines is 100-continue (answered when the body is read).
            if let expect = request.headers[.expect], expect.lowercased() != "100-continue" {
                throw APIError(417, "the only expectation this server meets is 100-continue")
            }
            let route = c.endpointPath ?? request.uri.path
            if protected.contains(route) || protected.contains(request.uri.path) {
                var keyIndex: Int?
                if !keys.isEmpty {
                    let auth = request.headers[.authorization]
                    let bearer = auth.flatMap { $0.count > 7 && $0.prefix(7).lowercased() == "bearer " ? String($0.dropFirst(7)) : nil }
                    guard let presented = bearer ?? request.headers[.xAPIKey], let index = matchingKey(presented, keys) else {
                        throw APIError(401, "a valid API key is required (Authorization: Bearer KEY or X-API-Key)", rejection: "unauthorized")
                    }
                    keyIndex = index
                }
                if let limiter, let wait = limiter.take(rateLimit.client(key: keyIndex, remote: c.remote, forwardedFor: request.headers[values: .xForwardedFor])) {
                    throw APIError(429, "rate limit exceeded", details: ["limit": "\(limiter.rate) requests/s, burst \(Int(limiter.burst)) per \(rateLimit.by.rawValue)"],
                                   retryAfter: APIError.retrySeconds(wait), rejection: "rate_limited")
                }
            }
            response = try await next(request, c)
        } catch {
            let e = apiError(error, requestID: c.requestID)
            if let reason = e.rejection { metrics.rejected(reason) }
            response = try e.response(from: request, context: c)
            // Refused before its body was asked for: the client need not send it, and must not reuse the connection.
            if request.headers[.expect] != nil { response.headers[.connection] = "close" }
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

/// Whose requests share a rate-limit bucket.
public struct RateLimitPolicy: Sendable, Equatable {
    public enum By: String, Sendable, CaseIterable { case key, address }
    public var by = By.key
    /// Proxies whose X-Forwarded-For is believed (RATE_LIMIT_BY=address behind an ingress).
    public var trustedProxies: [AddressRange] = []
    public init(by: By = .key, trustedProxies: [AddressRange] = []) { self.by = by; self.trustedProxies = trustedProxies }

    /// The bucket of a request. Per key: the API key it presented (one bucket for all requests when the
    /// server has no keys: a global cap). Per address: the peer, or — when the peer is a trusted proxy —
    /// the client that X-Forwarded-For names, read from the right past every trusted hop (the left part
    /// of the header is whatever the client wrote, and cannot be believed).
    func client(key: Int?, remote: String?, forwardedFor: [String]) -> String {
        switch by {
        case .key:
            return key.map { "key-\($0)" } ?? "anonymous"
        case .address:
            guard let peer = remote else { return "local" }
            guard trusted(peer) else { return peer }
            let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for hop in hops.reversed() where !trusted(hop) {
                return AddressRange.address(hop) != nil ? hop : peer   // not an address: the proxy cannot vouch for it
            }
            return hops.first ?? peer
        }
    }

    /// Whether `address` is one of the trusted proxies (parsed once, checked against every range).
    func trusted(_ address: String) -> Bool {
        guard !trustedProxies.isEmpty, let bytes = AddressRange.address(address) else { return false }
        return trustedProxies.contains { $0.contains(bytes) }
    }
}

/// An IPv4 or IPv6 address or CIDR range ("10.0.0.0/8", "::1", "fd00::/8"). IPv4-mapped IPv6 addresses
/// match their IPv4 form.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    let bytes: [UInt8]
    let prefix: Int
    public var description: String { text }
    let text: String

    public static func parse(_ s: String) -> AddressRange? {
        let parts = s.trimmingCharacters(in: .whitespaces).split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let bytes = address(String(parts[0])) else { return nil }
        var prefix = bytes.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...bytes.count * 8).contains(p) else { return nil }
            prefix = p
        }
        return AddressRange(bytes: bytes, prefix: prefix, text: s.trimmingCharacters(in: .whitespaces))
    }

    /// 4 or 16 bytes; an IPv4-mapped IPv6 address becomes its 4.
    static func address(_ s: String) -> [UInt8]? {
        var v4 = in_addr(), v6 = in6_addr()
        if s.withCString({ inet_pton(AF_INET, $0, &v4) }) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        if s.withCString({ inet_pton(AF_INET6, $0, &v6) }) == 1 {
            let b = withUnsafeBytes(of: &v6) { Array($0) }
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return Array(b[12..<16]) }
            return b
        }
        return nil
    }

    public func contains(_ address: String) -> Bool { Self.address(address).map(contains) ?? false }

    /// `a` from `address(_:)`.
    func contains(_ a: [UInt8]) -> Bool {
        guard a.count == bytes.count else { return false }
        var left = prefix
        for i in 0..<bytes.count where left > 0 {
            let bits = min(8, left)
            let mask = UInt8(truncatingIfNeeded: 0xff << (8 - bits))
            if a[i] & mask != bytes[i] & mask { return false }
            left -= bits
        }
        return true
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

extension APIError {
    /// A wait as a Retry-After value: whole seconds, at least 1, at most an hour.
    static func retrySeconds(_ wait: Double) -> Int { max(1, Int(min(wait, 3600).rounded(.up))) }
}

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
