// HTTP with the retry policy every remote service here needs (the Hugging Face Hub, MLflow):
// connection errors, 429 and 5xx are retried with exponential backoff, honouring Retry-After; any
// other answer is returned to the caller, who knows what it means. Synchronous on purpose: the
// commands that talk to these services do one thing at a time and have nothing else to do meanwhile.
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
    /// A body larger than one request can carry, or an answer larger than announced.
    case tooLarge(url: String, bytes: Int, limit: Int)
    public var description: String {
        switch self {
        case .unreachable(let u, let n, let last): return "\(u) is unreachable (\(n) attempts, last: \(last))"
        case .tooLarge(let u, let b, let l): return "\(u): \(b) bytes is more than the \(l) one request may carry here"
        }
    }
}

public final class Transport: @unchecked Sendable {
    let http: HTTPClient
    public let attempts: Int
    public let firstDelay: Double
    /// The longest wait a Retry-After may impose (a server asking for an hour is not waited for).
    public let maxDelay: Double

    public init(attempts: Int = 4, firstDelay: Double = 0.5, maxDelay: Double = 30, readTimeout: Int64 = 300, followRedirects: Bool = true) {
        self.attempts = max(1, attempts)
        self.firstDelay = max(0, firstDelay)
        self.maxDelay = max(0, maxDelay)
        var config = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: .seconds(readTimeout)))
        config.redirectConfiguration = followRedirects ? .follow(max: 5, allowCycles: false) : .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    deinit { try? http.syncShutdown() }

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
    func retrying<T>(_ url: String, idempotent: Bool, _ once: () throws -> (status: Int, headers: HTTPHeaders, value: T)) throws -> (status: Int, headers: HTTPHeaders, value: T) {
        var last = ""
        for attempt in 1...attempts {
            var retryAfter: String?
            do {
                let r = try once()
                let retry = idempotent ? (r.status == 429 || r.status >= 500) : (r.status == 429 || r.status == 503)
                guard retry else { return r }
                last = "HTTP \(r.status)"
                retryAfter = r.headers.first(name: "Retry-After")
            } catch let e as TransportError {
                throw e
            } catch {
                last = "\(error)"
                if !idempotent { throw TransportError.unreachable(url: Self.withoutQuery(url), attempts: attempt, last: last + " (not repeated: the server may have acted on it)") }
            }
            if attempt < attempts { Thread.sleep(forTimeInterval: delay(after: attempt, retryAfter: retryAfter)) }
        }
        throw TransportError.unreachable(url: Self.withoutQuery(url), attempts: attempts, last: last)
    }

    /// One request with the retry policy; `body` is re-sent whole on each attempt.
    public func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil, idempotent: Bool = true) throws -> HTTPAnswer {
        if let body, body.count > Self.maxBody { throw TransportError.tooLarge(url: Self.withoutQuery(url), bytes: body.count, limit: Self.maxBody) }
        let r = try retrying(url, idempotent: idempotent) {
            var req = try HTTPClient.Request(url: url, method: method)
            for (k, v) in headers { req.headers.add(name: k, value: v) }
            if let body { req.body = .byteBuffer(ByteBuffer(bytes: body)) }
            let res = try http.execute(request: req).wait()
            return (Int(res.status.code), res.headers, res.body.map { Data($0.readableBytesView) } ?? Data())
        }
        return HTTPAnswer(status: r.status, headers: r.headers, body: r.value)
    }

    /// A GET streamed into a file (created, or truncated on a retry, at `path`) with the retry policy;
    /// stopped once it exceeds `maxBytes`. Returns the final answer's status and headers (redirects
    /// followed); the body is in the file.
    public func download(_ url: String, headers: [(String, String)] = [], to path: String, maxBytes: Int) throws -> (status: Int, headers: HTTPHeaders) {
        let r = try retrying(url, idempotent: true) { () throws -> (status: Int, headers: HTTPHeaders, value: Void) in
            var req = try HTTPClient.Request(url: url, method: .GET)
            for (k, v) in headers { req.headers.add(name: k, value: v) }
            // The delegate creates the file only when bytes arrive: an empty file must exist too.
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw TransportError.unreachable(url: path, attempts: 1, last: "cannot create the file")
            }
            let delegate = try FileDownloadDelegate(path: path, reportProgress: { task, progress in
                if progress.receivedBytes > maxBytes { task.cancel() }
            })
            let progress: FileDownloadDelegate.Progress
            do { progress = try http.execute(request: req, delegate: delegate).wait() } catch {
                let got = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int ?? 0
                if got > maxBytes { throw TransportError.tooLarge(url: Self.withoutQuery(url), bytes: got, limit: maxBytes) }
                throw error
            }
            let head = progress.history.last?.responseHead ?? progress.head
            return (Int(head.status.code), head.headers, ())
        }
        return (r.status, r.headers)
    }

    /// A URL as it may appear in messages (query strings can carry signatures).
    static func withoutQuery(_ url: String) -> String { url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url }
}
