// HTTP with the retry policy every remote service here needs (the Hugging Face Hub, MLflow):
// connection errors, 429 and 5xx are retried with exponential backoff, honouring Retry-After; any
// other answer is returned to the caller, who knows what it means. Async end to end (AsyncHTTPClient's
// async API, backoff with Task.sleep); a synchronous command crosses into it once, at its own
// boundary, with `Transport.blocking`.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: Data
    public func header(_ name: String) -> String? { headers.first(name: name) }
}

public enum TransportError: Error, CustomStringConvertible {
    /// The server was not reached, or kept failing (5xx, 429) through every attempt.
    case unreachable(url: String, attempts: Int, last: String)
    /// A URL this client cannot send to (not http/https, no host, a port outside 1...65535).
    case badURL(url: String, reason: String)
    /// A body larger than one request can carry, or an answer larger than announced.
    case tooLarge(url: String, bytes: Int, limit: Int)
    /// The operation, retries included, ran out of its time.
    case deadline(url: String, seconds: Double, attempts: Int, last: String)
    public var description: String {
        switch self {
        case .unreachable(let u, let n, let last): return "\(Redact.url(u)) is unreachable (\(n) attempts, last: \(Redact.text(last)))"
        case .badURL(let u, let r): return "\(Redact.url(u)) cannot be used: \(r) (check HF_ENDPOINT / MLFLOW_TRACKING_URI)"
        case .tooLarge(let u, let b, let l): return "\(Redact.url(u)): \(b) bytes is more than the \(l) one request may carry here"
        case .deadline(let u, let s, let n, let last):
            return "\(Redact.url(u)) did not answer within \(Int(s)) s (\(n) attempts\(last.isEmpty ? "" : ", last: " + Redact.text(last))); "
                + "set STRAWBERRY_HTTP_DEADLINE (seconds) to allow more"
        }
    }
}

public final class Transport: Sendable {
    let http: HTTPClient
    public let attempts: Int
    public let firstDelay: Double
    /// The longest wait a Retry-After may impose (a server asking for an hour is not waited for).
    public let maxDelay: Double

    /// Seconds one operation may take, every attempt and wait included: a server that accepts the
    /// connection and never answers costs this, not attempts × read timeout.
    public let deadline: Double
    let followRedirects: Bool
    static let maxRedirects = 5

    /// STRAWBERRY_HTTP_DEADLINE (seconds, 1…86400), else 10 minutes.
    public static var defaultDeadline: Double {
        guard let s = ProcessInfo.processInfo.environment["STRAWBERRY_HTTP_DEADLINE"], let d = Double(s), (1...86_400).contains(d) else { return 600 }
        return d
    }

    /// The largest answer `send` holds in memory (JSON answers; files go through `download`).
    public static let maxAnswer = 64 << 20

    public init(attempts: Int = 4, firstDelay: Double = 0.5, maxDelay: Double = 30, readTimeout: Int64 = 300, followRedirects: Bool = true,
                deadline: Double = Transport.defaultDeadline) {
        self.deadline = deadline
        self.attempts = max(1, attempts)
        self.firstDelay = max(0, firstDelay)
        self.maxDelay = max(0, maxDelay)
        var config = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: .seconds(readTimeout)))
        // Redirects are followed here (`execute`), not by the client, so each target is checked first.
        self.followRedirects = followRedirects
        config.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    // Shut down without blocking: the last reference may go away on a task's thread, where a
    // synchronous shutdown would wait on the very pool it needs.
    deinit {
        let http = http
        Task { try? await http.shutdown() }
    }

    /// Seconds to wait before attempt `attempt + 1`: Retry-After (seconds or an HTTP date) when the server
    /// sent one, else `firstDelay · 2^(attempt-1)`; never more than `maxDelay`.
    func delay(after attempt: Int, retryAfter: String?) -> Double {
        var d = firstDelay * pow(2, Double(attempt - 1))
        if let r = retryAfter?.trimmingCharacters(in: .whitespaces) {
            if let s = Double(r), s.isFinite { d = s } else {
                let f = DateFormatter()
                f.locale = Locale(identifier: "en_US_POSIX")
                f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
                if let date = f.date(from: r) { d = date.timeIntervalSinceNow }
            }
        }
        return min(max(d, 0), maxDelay)
    }

    /// The largest body one request sends (NIO's buffers hold at most 4 GiB - 1).
    public static let maxBody = Int(UInt32.max)

    /// The retry policy, once for every kind of request: `once` runs up to `attempts` times — again
    /// after a connection error, 429 or 5xx, waiting as `delay` says. A request that must not be
    /// repeated once the server may have acted on it (`idempotent: false`, e.g. a commit) is retried
    /// only when the server said it did not act: 429 and 503. A `TransportError` from `once` (too
    /// large, a local file) is not worth repeating and is thrown at once.
    func retrying<T: Sendable>(_ url: String, idempotent: Bool,
                     _ once: @escaping @Sendable () async throws -> (status: Int, headers: HTTPHeaders, value: T)) async throws -> (status: Int, headers: HTTPHeaders, value: T) {
        var last = ""
        let end = Date().addingTimeInterval(deadline)
        for attempt in 1...attempts {
            var retryAfter: String?
            let left = end.timeIntervalSinceNow
            guard left > 0 else { throw TransportError.deadline(url: Self.withoutQuery(url), seconds: deadline, attempts: attempt - 1, last: last) }
            do {
                let r = try await Self.within(left, once)
                let retry = idempotent ? (r.status == 429 || r.status >= 500) : (r.status == 429 || r.status == 503)
                guard retry else { return r }
                last = "HTTP \(r.status)"
                retryAfter = r.headers.first(name: "Retry-After")
            } catch let e as TransportError {
                throw e
            } catch is TimedOut {
                throw TransportError.deadline(url: Self.withoutQuery(url), seconds: deadline, attempts: attempt, last: last.isEmpty ? "the answer did not finish" : last)
            } catch {
                last = "\(error)"
                if end.timeIntervalSinceNow <= 0 { throw TransportError.deadline(url: Self.withoutQuery(url), seconds: deadline, attempts: attempt, last: last) }
                if !idempotent { throw TransportError.unreachable(url: Self.withoutQuery(url), attempts: attempt, last: last + " (not repeated: the server may have acted on it)") }
            }
            if attempt < attempts {
                let wait = min(delay(after: attempt, retryAfter: retryAfter), max(end.timeIntervalSinceNow, 0))
                try await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            }
        }
        throw TransportError.unreachable(url: Self.withoutQuery(url), attempts: attempts, last: last)
    }

    /// Checks a URL before any request: an http(s) scheme, a host, a port in 1...65535. (The HTTP
    /// client traps on a port it cannot represent; a configuration typo must be an error instead.)
    public static func check(_ url: String) throws {
        guard let c = URLComponents(string: url) else { throw TransportError.badURL(url: url, reason: "not a URL") }
        guard let scheme = c.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw TransportError.badURL(url: url, reason: "the scheme must be http or https")
        }
        guard let host = c.host, !host.isEmpty else { throw TransportError.badURL(url: url, reason: "no host") }
        // The port as written (URLComponents drops digits it cannot read rather than failing).
        let authority = url.dropFirst(scheme.count + 3).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostPort = authority.split(separator: "@").last.map(String.init) ?? ""
        if !hostPort.hasSuffix("]"), let colon = hostPort.lastIndex(of: ":") {
            let digits = hostPort[hostPort.index(after: colon)...]
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let p = Int(digits), (1...65535).contains(p) else {
                throw TransportError.badURL(url: url, reason: "port '\(digits)' is not in 1...65535")
            }
        }
    }

    /// Runs `work`, cancelling it after `seconds`: the whole request — connection, head, a body that
    /// trickles in forever — is bounded by one clock (the client's requests end on cancellation).
    static func within<T: Sendable>(_ seconds: Double, _ work: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await work() }
            group.addTask { try await Task.sleep(nanoseconds: UInt64(max(seconds, 0) * 1e9)); return nil }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else { throw TimedOut() }
            return value
        }
    }

    func request(_ method: HTTPMethod, _ url: String, headers: [(String, String)]) -> HTTPClientRequest {
        var req = HTTPClientRequest(url: url)
        req.method = method
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        return req
    }

    /// One request, its redirects followed (at most `maxRedirects`), each target checked by `check`
    /// before it is contacted: the HTTP client traps on a port it cannot represent, so a server must
    /// not be able to hand it one. As browsers and huggingface_hub do: 303 (and 301/302 after a POST)
    /// continue as a GET without the body; the Authorization header goes only to the first host.
    func execute(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: Data?) async throws -> HTTPClientResponse {
        var method = method, url = url, body = body, headers = headers
        let firstHost = URLComponents(string: url)?.host?.lowercased()
        for hop in 0...Self.maxRedirects {
            var req = request(method, url, headers: headers)
            if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
            let res = try await http.execute(req, deadline: .distantFuture)   // bounded by `within`
            let status = Int(res.status.code)
            guard followRedirects, [301, 302, 303, 307, 308].contains(status), let location = res.headers.first(name: "Location") else { return res }
            guard hop < Self.maxRedirects else { throw TransportError.unreachable(url: Self.withoutQuery(url), attempts: 1, last: "more than \(Self.maxRedirects) redirects") }
            guard let next = URL(string: location, relativeTo: URL(string: url))?.absoluteURL.absoluteString else {
                throw TransportError.badURL(url: location, reason: "a redirect to something that is not a URL")
            }
            try Self.check(next)
            _ = try? await res.body.collect(upTo: Self.maxAnswer)   // the redirect's own body, if any
            if status == 303 || ((status == 301 || status == 302) && method == .POST) { method = .GET; body = nil }
            if URLComponents(string: next)?.host?.lowercased() != firstHost { headers.removeAll { $0.0.lowercased() == "authorization" } }
            url = next
        }
        throw TransportError.unreachable(url: Self.withoutQuery(url), attempts: 1, last: "too many redirects")
    }

    /// One request with the retry policy; `body` is re-sent whole on each attempt.
    public func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil,
                     idempotent: Bool = true) async throws -> HTTPAnswer {
        try Self.check(url)
        if let body, body.count > Self.maxBody { throw TransportError.tooLarge(url: Self.withoutQuery(url), bytes: body.count, limit: Self.maxBody) }
        let r = try await retrying(url, idempotent: idempotent) {
            let res = try await self.execute(method, url, headers: headers, body: body)
            // An answer is held in memory only up to `maxAnswer`: a server that sends gigabytes is refused.
            var bytes = ByteBuffer()
            for try await piece in res.body {
                guard bytes.readableBytes + piece.readableBytes <= Self.maxAnswer else {
                    throw TransportError.tooLarge(url: Self.withoutQuery(url), bytes: bytes.readableBytes + piece.readableBytes, limit: Self.maxAnswer)
                }
                bytes.writeImmutableBuffer(piece)
            }
            return (Int(res.status.code), res.headers, Data(bytes.readableBytesView))
        }
        return HTTPAnswer(status: r.status, headers: r.headers, body: r.value)
    }

    /// A GET streamed into a file (created, or truncated on a retry, at `path`) with the retry policy;
    /// stopped once it exceeds `maxBytes`. Returns the final answer's status and headers (redirects
    /// followed); the body is in the file.
    public func download(_ url: String, headers: [(String, String)] = [], to path: String, maxBytes: Int) async throws -> (status: Int, headers: HTTPHeaders) {
        try Self.check(url)
        let r = try await retrying(url, idempotent: true) { () async throws -> (status: Int, headers: HTTPHeaders, value: Void) in
            // The file exists once the request is made, even when the body is empty.
            guard FileManager.default.createFile(atPath: path, contents: nil), let out = FileHandle(forWritingAtPath: path) else {
                throw TransportError.unreachable(url: path, attempts: 1, last: "cannot create the file")
            }
            defer { try? out.close() }
            let res = try await self.execute(.GET, url, headers: headers, body: nil)
            var got = 0
            for try await piece in res.body {
                got += piece.readableBytes
                if got > maxBytes { throw TransportError.tooLarge(url: Self.withoutQuery(url), bytes: got, limit: maxBytes) }
                try out.write(contentsOf: Data(piece.readableBytesView))
            }
            return (Int(res.status.code), res.headers, ())
        }
        return (r.status, r.headers)
    }

    /// Runs async work to its end from synchronous code (a command's own thread, never a task's): the
    /// one place a synchronous caller waits on this stack.
    public static func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Outcome<T>(), done = DispatchSemaphore(value: 0)
        Task.detached {
            do { outcome.value = .success(try await work()) } catch { outcome.value = .failure(error) }
            done.signal()
        }
        done.wait()
        guard let value = outcome.value else { throw TransportError.unreachable(url: "", attempts: 0, last: "the request ended without an answer") }
        return try value.get()
    }

    /// A URL as it may appear in messages (query strings can carry signatures).
    static func withoutQuery(_ url: String) -> String { url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url }
}

/// The deadline of `Transport.within` passed.
struct TimedOut: Error {}

/// The result a blocked caller waits for (written once by the task, read after the semaphore).
final class Outcome<T>: @unchecked Sendable {
    var value: Result<T, Error>?
}
