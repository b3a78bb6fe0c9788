// The server's configuration: environment variables (the container and Kubernetes way), overridden
// by command-line flags. Every value is checked here, so a bad one stops the server before it binds
// with a message naming the variable.
import Foundation
import Models

public struct ServeConfig: Sendable, Equatable {
    public var modelPath = "assets/SmolLM2-135M-Instruct.Q4_1.gguf"
    public var adapterPath: String?
    /// How the weights sit in memory: a GGUF file's blocks by default (2–3× faster decoding than
    /// float32; the layers an adapter touches become float32).
    public var weights = WeightPrecision.native
    /// Compute threads; nil: the CPUs the process may use (affinity, cgroup quota).
    public var threads: Int?
    /// Keys a request must present (Authorization: Bearer KEY, or X-API-Key); none = open.
    public var apiKeys: [String] = []
    public var logLevel = "info"
    public var maxBatchSize = 8
    public var enableGPU = false
    public var taskType = TaskSet.all
    public var host = "127.0.0.1"
    public var port = 8000
    /// Requests waiting beyond the batch's slots; more are answered 429.
    public var maxQueue = 64
    /// Seconds a request may take, queue included; then 504.
    public var requestTimeout = 30.0
    /// Sustained requests per second per bucket (0: no rate limit, the default — the queue bound and
    /// deadline-aware admission already refuse what the server cannot serve), and the burst (nil: twice
    /// the rate, at least 1). Buckets are per API key unless `rateLimitPolicy` says per address.
    public var rateLimit = 0.0
    public var rateBurst: Int?
    public var rateLimitPolicy = RateLimitPolicy()
    /// Seconds a keep-alive connection may stay idle, and a request's head and body may take to arrive.
    public var idleTimeout = 15.0
    public var headerTimeout = 10.0
    public var maxBodyBytes = 64 << 10
    /// The largest max_tokens a request may ask for.
    public var maxTokensLimit = 512
    /// evaluation_results.json whose metrics /api/model reports (else the registry's, when the adapter is registered).
    public var evaluationResults: String?
    /// Seconds SIGTERM waits for admitted requests.
    public var drainSeconds = 30.0

    public init() {}

    /// The token bucket's size.
    public var burst: Int { rateBurst ?? max(1, Int((2 * rateLimit).rounded(.up))) }

    public enum ConfigError: Error, CustomStringConvertible {
        case bad(String, String)
        public var description: String { if case .bad(let k, let why) = self { return "\(k): \(why)" }; return "" }
    }

    /// From the environment (MODEL_PATH, ADAPTER_PATH, WEIGHTS, THREADS, API_KEY, API_KEYS_FILE, LOG_LEVEL, MAX_BATCH_SIZE,
    /// ENABLE_GPU, TASK_TYPE, HOST, PORT, MAX_QUEUE, REQUEST_TIMEOUT, RATE_LIMIT, RATE_BURST, RATE_LIMIT_BY,
    /// TRUSTED_PROXIES, IDLE_TIMEOUT, HEADER_TIMEOUT, MAX_BODY_BYTES, MAX_TOKENS, EVALUATION_RESULTS, DRAIN_SECONDS).
    public static func from(environment env: [String: String]) throws -> ServeConfig {
        var c = ServeConfig()
        func int(_ k: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let v = env[k], !v.isEmpty else { return nil }
            guard let n = Int(v.trimmingCharacters(in: .whitespaces)), range.contains(n) else { throw ConfigError.bad(k, "'\(v.prefix(40))' is not a whole number in \(range.lowerBound)...\(range.upperBound)") }
            return n
        }
        func double(_ k: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let v = env[k], !v.isEmpty else { return nil }
            guard let x = Double(v.trimmingCharacters(in: .whitespaces)), x.isFinite, range.contains(x) else { throw ConfigError.bad(k, "'\(v.prefix(40))' is not a number in \(range.lowerBound)...\(range.upperBound)") }
            return x
        }
        if let v = env["MODEL_PATH"], !v.isEmpty { c.modelPath = v }
        if let v = env["ADAPTER_PATH"], !v.isEmpty { c.adapterPath = v }
        if let v = env["WEIGHTS"], !v.isEmpty {
            guard let w = WeightPrecision(rawValue: v.lowercased()) else { throw ConfigError.bad("WEIGHTS", "'\(v.prefix(40))' is not f32, native, q8_0 or bf16") }
            c.weights = w
        }
        if let n = try int("THREADS", 1...1024) { c.threads = n }
        if let v = env["API_KEY"], !v.isEmpty { c.apiKeys = [v] }
        if let f = env["API_KEYS_FILE"], !f.isEmpty { c.apiKeys += try keys(file: f) }
        if let v = env["LOG_LEVEL"], !v.isEmpty {
            let l = v.lowercased()
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(l) else { throw ConfigError.bad("LOG_LEVEL", "'\(v.prefix(40))' is not trace, debug, info, notice, warning, error or critical") }
            c.logLevel = l
        }
        if let n = try int("MAX_BATCH_SIZE", 1...256) { c.maxBatchSize = n }
        if let v = env["ENABLE_GPU"], !v.isEmpty {
            switch v.lowercased() {
            case "1", "true", "yes", "on": c.enableGPU = true
            case "0", "false", "no", "off": c.enableGPU = false
            default: throw ConfigError.bad("ENABLE_GPU", "'\(v.prefix(40))' is not true or false")
            }
        }
        if let v = env["TASK_TYPE"], !v.isEmpty {
            guard let t = TaskSet(rawValue: v.lowercased()) else { throw ConfigError.bad("TASK_TYPE", "'\(v.prefix(40))' is not all, spelling or position_count") }
            c.taskType = t
        }
        if let v = env["HOST"], !v.isEmpty { c.host = v }
        if let n = try int("PORT", 0...65535) { c.port = n }
        if let n = try int("MAX_QUEUE", 0...100_000) { c.maxQueue = n }
        if let x = try double("REQUEST_TIMEOUT", 0.1...3600) { c.requestTimeout = x }
        if let x = try double("RATE_LIMIT", 0...1_000_000) { c.rateLimit = x }
        if let n = try int("RATE_BURST", 1...1_000_000) { c.rateBurst = n }
        if let v = env["RATE_LIMIT_BY"], !v.isEmpty {
            guard let by = RateLimitPolicy.By(rawValue: v.lowercased()) else { throw ConfigError.bad("RATE_LIMIT_BY", "'\(v.prefix(40))' is not key or address") }
            c.rateLimitPolicy.by = by
        }
        if let v = env["TRUSTED_PROXIES"], !v.isEmpty {
            let items = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard items.count <= 1024 else { throw ConfigError.bad("TRUSTED_PROXIES", "more than 1024 entries") }
            c.rateLimitPolicy.trustedProxies = try items.map { item in
                guard let r = AddressRange.parse(item) else { throw ConfigError.bad("TRUSTED_PROXIES", "'\(item.prefix(60))' is not an IP address or CIDR range (10.0.0.0/8, fd00::/8)") }
                return r
            }
        }
        if let x = try double("IDLE_TIMEOUT", 0.1...3600) { c.idleTimeout = x }
        if let x = try double("HEADER_TIMEOUT", 0.1...3600) { c.headerTimeout = x }
        if let n = try int("MAX_BODY_BYTES", 256...(16 << 20)) { c.maxBodyBytes = n }
        if let n = try int("MAX_TOKENS", 1...32768) { c.maxTokensLimit = n }
        if let v = env["EVALUATION_RESULTS"], !v.isEmpty { c.evaluationResults = v }
        if let x = try double("DRAIN_SECONDS", 0...600) { c.drainSeconds = x }
        return c
    }

    /// One key per line; blank lines and lines starting with # are skipped. The file is small or refused.
    public static func keys(file: String) throws -> [String] {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int else { throw ConfigError.bad("API_KEYS_FILE", "\(file) cannot be read") }
        guard size <= 1 << 20 else { throw ConfigError.bad("API_KEYS_FILE", "\(file) is over 1 MiB; it holds one key per line") }
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ConfigError.bad("API_KEYS_FILE", "\(file) is not UTF-8 text") }
        let keys = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw ConfigError.bad("API_KEYS_FILE", "\(file) holds no key") }
        for k in keys where k.count < 8 { throw ConfigError.bad("API_KEYS_FILE", "a key is shorter than 8 characters") }
        return keys
    }
}
