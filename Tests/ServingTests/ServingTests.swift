// The HTTP API on the tiny Llama fixture: every route, status code and validation error through
// Hummingbird's test client (no socket), one real-socket test, the OpenAPI document against the
// routes and the committed file, and the engine's admission, deadline and cancellation.
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Models
import NIOCore
@testable import Serving
import TestSupport
import XCTest

final class ServingTests: XCTestCase {
    static let key = "test-key-123456"

    /// The tiny Llama with room for a chat-templated question: its weights do not depend on the context
    /// length (RoPE), so a copy with a longer one is the same model.
    static let model: String = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("serving-llama-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.copyItem(atPath: TestPaths.fixtures + "/models/llama", toPath: dir)
        try? FileManager.default.removeItem(atPath: dir + "/model.gguf")
        if let text = try? String(contentsOfFile: dir + "/config.json", encoding: .utf8) {
            try? text.replacingOccurrences(of: "\"max_position_embeddings\": 64", with: "\"max_position_embeddings\": 1024")
                .write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        }
        return dir
    }()

    func service(_ edit: (inout ServeConfig) -> Void = { _ in }) throws -> (SpellingService, ServerMetrics) { try Self.service(edit) }

    static func service(_ edit: (inout ServeConfig) -> Void = { _ in }) throws -> (SpellingService, ServerMetrics) {
        var c = ServeConfig()
        c.modelPath = Self.model
        c.apiKeys = [Self.key]
        c.maxBatchSize = 4
        c.maxQueue = 16
        c.requestTimeout = 60
        c.maxBodyBytes = 1024
        c.maxTokensLimit = 64
        edit(&c)
        let s = try SpellingService.load(config: c, store: FileManager.default.temporaryDirectory.appendingPathComponent("serving-store-\(getpid())").path)
        let m = ServerMetrics()
        s.engine.setObserver(m)
        return (s, m)
    }

    /// The application `serve` runs, built by the same function.
    func app(_ s: SpellingService, _ m: ServerMetrics) throws -> some ApplicationProtocol {
        try ServerApp.buildApplication(service: s, metrics: m, logger: Logger(label: "test"))
    }

    static func json(_ b: ByteBuffer) -> [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(b.readableBytesView))) as? [String: Any]) ?? [:] }
    static var auth: HTTPFields { [.authorization: "Bearer \(key)", .contentType: "application/json"] }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String, headers: HTTPFields = ServingTests.auth) async throws -> (Int, [String: Any], HTTPFields) {
        try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body)) { r in
            (Int(r.status.code), Self.json(r.body), r.headers)
        }
    }

    func testEveryRouteAndError() async throws {
        let (s, m) = try service()
        try await app(s, m).test(.router) { client in
            // Open routes.
            for uri in ["/health", "/health/ready", "/openapi.json", "/metrics"] {
                try await client.execute(uri: uri, method: .get) { r in XCTAssertEqual(r.status, .ok, uri) }
            }
            // Keys: none, wrong, right (Bearer and X-API-Key).
            var (code, body, _) = try await Self.post(client, "/api/position_count/letter_count", #"{"word":"strawberry","letter":"r"}"#, headers: [.contentType: "application/json"])
            XCTAssertEqual(code, 401)
            XCTAssertNotNil(body["error"] as? String)
            (code, _, _) = try await Self.post(client, "/api/position_count/letter_count", #"{"word":"strawberry","letter":"r"}"#, headers: [.authorization: "Bearer wrong-key-123456"])
            XCTAssertEqual(code, 401)
            // Paths the router normalises reach the same handlers, and need the same key.
            for uri in ["/predict/", "/api/position_count//letter_count", "/api/position_count/letter_count/"] {
                (code, _, _) = try await Self.post(client, uri, #"{"word":"strawberry","letter":"r","prompt":"x"}"#, headers: [.contentType: "application/json"])
                XCTAssertEqual(code, 401, uri)
            }
            var headers: HTTPFields = [.contentType: "application/json"]
            headers[HTTPField.Name("X-API-Key")!] = Self.key
            headers[HTTPField.Name("X-Request-ID")!] = "client-id-42"
            var h: HTTPFields
            (code, body, h) = try await Self.post(client, "/api/position_count/letter_count", #"{"word":"Strawberry","letter":"R"}"#, headers: headers)
            XCTAssertEqual(code, 200, "\(body)")
            XCTAssertEqual(h[HTTPField.Name("X-Request-ID")!], "client-id-42")
            XCTAssertEqual(body["word"] as? String, "strawberry")
            XCTAssertEqual(body["truth"] as? Int, 3)
            XCTAssertEqual(body["correct"] as? Bool, (body["count"] as? Int) == 3)
            let confidence = try XCTUnwrap(body["confidence"] as? Double)
            XCTAssertTrue((0...1).contains(confidence))
            (code, body, h) = try await Self.post(client, "/api/position_count/letter_position", #"{"word":"strawberry","position":3}"#)
            XCTAssertEqual(code, 200, "\(body)")
            XCTAssertEqual(body["truth"] as? String, "r")
            XCTAssertNotNil(h[HTTPField.Name("X-Request-ID")!])   // generated when not given
            (code, body, _) = try await Self.post(client, "/api/spelling/predict", #"{"word":"queue"}"#)
            XCTAssertEqual(code, 200, "\(body)")
            XCTAssertNotNil(body["letters"] as? [String])
            (code, body, _) = try await Self.post(client, "/api/spelling/check", #"{"word":"queue","spelling":"Q-U-E-U-E"}"#)
            XCTAssertEqual(code, 200, "\(body)")
            XCTAssertEqual(body["is_correct"] as? Bool, true)
            (code, body, _) = try await Self.post(client, "/api/spelling/check", #"{"word":"queue","spelling":"q-u-e-u"}"#)
            XCTAssertEqual(body["is_correct"] as? Bool, false)
            XCTAssertEqual(body["suggestion"] as? String, "q-u-e-u-e")
            (code, body, _) = try await Self.post(client, "/predict", #"{"prompt":"Spell 'cat'.","max_tokens":4,"temperature":0}"#)
            XCTAssertEqual(code, 200, "\(body)")
            XCTAssertLessThanOrEqual(body["completion_tokens"] as? Int ?? 99, 4)
            (code, body, _) = try await Self.post(client, "/predict", #"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"temperature":0.7,"top_p":0.9,"seed":3,"stop":["\n"]}"#)
            XCTAssertEqual(code, 200, "\(body)")
            try await client.execute(uri: "/api/model", method: .get, headers: Self.auth) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual((Self.json(r.body)["model_sha256"] as? String)?.count, 64)
            }
            // Validation: 422 with the field named; malformed JSON 400; too large 413; unknown route 404.
            let invalid: [(String, String, String)] = [
                ("/api/position_count/letter_count", #"{"word":"str4wberry","letter":"r"}"#, "word"),
                ("/api/position_count/letter_count", #"{"word":"strawberry","letter":"rr"}"#, "letter"),
                ("/api/position_count/letter_count", #"{"letter":"r"}"#, "word"),
                ("/api/position_count/letter_count", #"{"word":"\#(String(repeating: "a", count: 65))","letter":"r"}"#, "word"),
                ("/api/position_count/letter_position", #"{"word":"strawberry","position":11}"#, "position"),
                ("/api/position_count/letter_position", #"{"word":"strawberry","position":0}"#, "position"),
                ("/api/position_count/letter_position", #"{"word":"strawberry","position":"3"}"#, "position"),
                ("/api/spelling/predict", #"{"word":""}"#, "word"),
                ("/api/spelling/check", #"{"word":"cat"}"#, "spelling"),
                ("/predict", #"{"prompt":"x","max_tokens":0}"#, "max_tokens"),
                ("/predict", #"{"prompt":"x","max_tokens":100000}"#, "max_tokens"),
                ("/predict", #"{"prompt":"x","temperature":-1}"#, "temperature"),
                ("/predict", #"{"prompt":"x","messages":[{"role":"user","content":"y"}]}"#, "prompt"),
                ("/predict", #"{"messages":[{"role":"robot","content":"y"}]}"#, "messages"),
                ("/predict", #"{}"#, "prompt"),
            ]
            for (uri, b, field) in invalid {
                (code, body, _) = try await Self.post(client, uri, b)
                XCTAssertEqual(code, 422, "\(uri) \(b) → \(body)")
                XCTAssertNotNil((body["details"] as? [String: String])?[field], "\(uri) \(b) → \(body)")
            }
            for b in ["{not json", "[1,2]", "", "\"word\""] {
                (code, body, _) = try await Self.post(client, "/api/spelling/predict", b)
                XCTAssertEqual(code, 400, "\(b) → \(body)")
            }
            (code, body, _) = try await Self.post(client, "/predict", #"{"prompt":"\#(String(repeating: "x", count: 2000))"}"#)
            XCTAssertEqual(code, 413, "\(body)")
            try await client.execute(uri: "/no/such/route", method: .get) { r in
                XCTAssertEqual(r.status, .notFound)
                XCTAssertNotNil(Self.json(r.body)["error"])
            }
            // No response carries a path or a stack trace.
            (_, body, _) = try await Self.post(client, "/api/spelling/predict", "{")
            XCTAssertFalse("\(body)".contains("/work") || "\(body)".contains(".swift"))
            // Metrics: requests by route template and status, live accuracy per task, rejections.
            try await client.execute(uri: "/metrics", method: .get) { r in
                let text = String(buffer: r.body)
                XCTAssertTrue(text.contains(#"strawberry_http_requests_total{route="/api/position_count/letter_count",method="POST",status="200"}"#), text)
                XCTAssertTrue(text.contains(#"strawberry_live_accuracy{task="letter_count"}"#))
                XCTAssertTrue(text.contains(#"strawberry_rejections_total{reason="unauthorized"} 5"#), text)
                XCTAssertTrue(text.contains("strawberry_time_to_first_token_seconds_bucket"))
                XCTAssertTrue(text.contains("strawberry_batch_size_bucket"))
            }
        }
    }

    func testTaskTypeRateLimitAndOpenRoutes() async throws {
        let (s, m) = try service { c in
            c.taskType = .spelling
            c.apiKeys = []
            c.rateLimit = 0.01
            c.rateBurst = 2
        }
        try await app(s, m).test(.router) { client in
            var (code, _, _) = try await Self.post(client, "/api/position_count/letter_count", #"{"word":"cat","letter":"c"}"#, headers: [:])
            XCTAssertEqual(code, 404)   // not served with TASK_TYPE=spelling
            (code, _, _) = try await Self.post(client, "/api/spelling/check", #"{"word":"cat","spelling":"c-a-t"}"#, headers: [:])
            XCTAssertEqual(code, 200)   // no keys configured: open
            (code, _, _) = try await Self.post(client, "/api/spelling/check", #"{"word":"cat","spelling":"c-a-t"}"#, headers: [:])
            XCTAssertEqual(code, 200)
            let (third, body, headers) = try await Self.post(client, "/api/spelling/check", #"{"word":"cat","spelling":"c-a-t"}"#, headers: [:])
            XCTAssertEqual(third, 429, "\(body)")
            XCTAssertNotNil(headers[.retryAfter])
        }
    }

    /// One bucket per key, whatever other headers a request carries; a prompt the context cannot hold is 422.
    func testRateLimitPerKeyAndLongPrompts() async throws {
        let (s, m) = try service { c in
            c.rateLimit = 0.01
            c.rateBurst = 2
            c.maxBodyBytes = 64 << 10
        }
        try await app(s, m).test(.router) { client in
            var codes: [Int] = []
            for i in 0..<3 {
                var h: HTTPFields = [.contentType: "application/json", .authorization: "Junk-\(i)"]
                h[HTTPField.Name("X-API-Key")!] = Self.key
                codes.append(try await Self.post(client, "/api/spelling/predict", #"{"word":"cat"}"#, headers: h).0)
            }
            XCTAssertEqual(codes, [200, 200, 429])
            let long = String(repeating: "a ", count: 1500)
            let (code, body, _) = try await Self.post(client, "/predict", #"{"prompt":"\#(long)","max_tokens":8}"#, headers: [.authorization: "bearer \(Self.key)", .contentType: "application/json"])
            XCTAssertTrue(code == 422 || code == 429, "\(body)")
            if code == 422 { XCTAssertNotNil((body["details"] as? [String: String])?["prompt"]) }
        }
    }

    /// Words and letters are normalised (NFKC) before they are checked, so the word validated is the
    /// word answered: compatibility forms read as their letters, anything else is refused.
    func testTextIsNormalisedBeforeItIsValidated() throws {
        XCTAssertEqual(try Validate.word("\u{212A}elvin"), "kelvin")          // KELVIN SIGN is K
        XCTAssertEqual(try Validate.word("ｓｔｒａｗ"), "straw")                // fullwidth
        XCTAssertEqual(try Validate.word("Straw"), "straw")
        for bad in ["stråw", "e\u{301}t", "straße", "strawberry\u{200B}", "ı", "ǆ"] {
            XCTAssertThrowsError(try Validate.word(bad), bad)
        }
        XCTAssertEqual(try Validate.letter("Ｒ"), "r")
        XCTAssertThrowsError(try Validate.letter("ǆ"))   // one character, two letters after NFKC
        XCTAssertThrowsError(try Validate.letter("ß"))
        XCTAssertEqual(try Validate.spelling("K-i-t-e"), "K-i-t-e")
        for bad in ["k\u{200B}-i-t-e", "k-i-t-\u{E9}", "k-i\u{200F}-t-e", "k-i-t-e\u{0}"] { XCTAssertThrowsError(try Validate.spelling(bad), bad) }
    }

    func testOpenAPIDocumentMatchesRoutesAndCommittedFile() throws {
        let doc = OpenAPI.document(for: .all)
        let paths = doc.paths
        XCTAssertEqual(Set(paths.keys), Set(Routes.all.map(\.path)))
        for r in Routes.all { XCTAssertNotNil(paths[r.path]?[r.method.lowercased()], r.path) }
        let committed = try String(contentsOfFile: TestPaths.root + "/docs/openapi.json", encoding: .utf8)
        XCTAssertEqual(committed, try OpenAPI.json(for: .all), "docs/openapi.json is stale: regenerate it with `strawberry serve --print-openapi > docs/openapi.json`")
        XCTAssertEqual(Set(OpenAPI.document(for: .positionCount).paths.keys).contains("/api/spelling/predict"), false)
    }

    func testConfigurationFromEnvironment() throws {
        let keys = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(getpid())").path
        try "# keys\nfirst-key-0001\n\nsecond-key-002\n".write(toFile: keys, atomically: true, encoding: .utf8)
        let c = try ServeConfig.from(environment: ["MODEL_PATH": "m.gguf", "API_KEY": "solo-key-0001", "API_KEYS_FILE": keys, "MAX_BATCH_SIZE": "16",
                                                    "TASK_TYPE": "position_count", "PORT": "9000", "REQUEST_TIMEOUT": "2.5", "ENABLE_GPU": "true", "LOG_LEVEL": "DEBUG",
                                                    "WEIGHTS": "Q8_0", "THREADS": "3"])
        XCTAssertEqual(c.weights, .q8_0)
        XCTAssertEqual(c.threads, 3)
        XCTAssertEqual(try ServeConfig.from(environment: [:]).weights, .native, "a GGUF file's blocks by default")
        XCTAssertEqual(c.apiKeys, ["solo-key-0001", "first-key-0001", "second-key-002"])
        XCTAssertEqual(c.maxBatchSize, 16)
        XCTAssertEqual(c.taskType, .positionCount)
        XCTAssertEqual(c.port, 9000)
        XCTAssertEqual(c.requestTimeout, 2.5)
        XCTAssertTrue(c.enableGPU)
        XCTAssertEqual(c.logLevel, "debug")
        for (k, v) in [("MAX_BATCH_SIZE", "0"), ("MAX_BATCH_SIZE", "x"), ("PORT", "70000"), ("TASK_TYPE", "everything"), ("REQUEST_TIMEOUT", "nan"),
                       ("ENABLE_GPU", "maybe"), ("LOG_LEVEL", "loud"), ("API_KEYS_FILE", "/nonexistent"), ("WEIGHTS", "fp8"), ("THREADS", "0")] {
            XCTAssertThrowsError(try ServeConfig.from(environment: [k: v]), "\(k)=\(v)") { XCTAssertTrue("\($0)".hasPrefix(k), "\($0)") }
        }
        let d = try ServeConfig.from(environment: [:])
        XCTAssertEqual(d.rateLimit, 0, "no rate limit unless asked: the queue and deadline-aware admission bound the load")
        XCTAssertEqual(d.rateLimitPolicy.by, .key)
        XCTAssertEqual(d.idleTimeout, 15)
        XCTAssertEqual(d.headerTimeout, 10)
        let r = try ServeConfig.from(environment: ["RATE_LIMIT": "50", "RATE_LIMIT_BY": "Address", "TRUSTED_PROXIES": "10.0.0.0/8, ::1",
                                                   "IDLE_TIMEOUT": "2", "HEADER_TIMEOUT": "0.5"])
        XCTAssertEqual(r.burst, 100, "burst defaults to twice the rate")
        XCTAssertEqual(r.rateLimitPolicy.by, .address)
        XCTAssertEqual(r.rateLimitPolicy.trustedProxies.map(\.description), ["10.0.0.0/8", "::1"])
        XCTAssertEqual(r.idleTimeout, 2)
        XCTAssertEqual(r.headerTimeout, 0.5)
        for (k, v) in [("RATE_LIMIT_BY", "ip"), ("TRUSTED_PROXIES", "10.0.0.0/40"), ("TRUSTED_PROXIES", "proxy.local"), ("IDLE_TIMEOUT", "0"),
                       ("HEADER_TIMEOUT", "-1"), ("RATE_LIMIT", "-1")] {
            XCTAssertThrowsError(try ServeConfig.from(environment: [k: v]), "\(k)=\(v)") { XCTAssertTrue("\($0)".hasPrefix(k), "\($0)") }
        }
        XCTAssertTrue(keyMatches("first-key-0001", c.apiKeys))
        XCTAssertFalse(keyMatches("first-key-000", c.apiKeys))
        XCTAssertFalse(keyMatches("", c.apiKeys))
    }

    /// Admission, deadline and cancellation in the engine itself.
    func testEngineQueueDeadlineAndCancellation() async throws {
        let (s, m) = try service { c in c.maxBatchSize = 1; c.maxQueue = 1 }
        let engine = s.engine
        let ids = Array(1...20)
        let long = GenerationRequestFactory.make(ids, maxTokens: 60)
        // The worker held: one request fills the slot's place in the queue, a second the queue; a third is refused at once.
        engine.hold(true)
        async let a = try? engine.generate(long, timeout: 60)
        async let b = try? engine.generate(long, timeout: 60)
        for _ in 0..<200 where engine.load.waiting < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertEqual(engine.load.waiting, 2)
        XCTAssertTrue(engine.saturated)
        do { _ = try await engine.generate(long, timeout: 60); XCTFail("a third request should be refused") } catch let e as EngineError {
            if case .queueFull = e {} else { XCTFail("\(e)") }
        }
        engine.hold(false)
        let (ra, rb) = await (a, b)
        XCTAssertEqual(ra?.result.outputIds.count, 60)
        XCTAssertEqual(rb?.result.outputIds, ra?.result.outputIds)   // greedy: the same answer batched or not
        // A deadline that passes.
        do { _ = try await engine.generate(long, timeout: 0.000_001); XCTFail("expected a deadline") } catch let e as EngineError { XCTAssertEqual(e, .deadlineExceeded) }
        // ... counted where it happened: it never left the queue.
        let counted = m.registry.emitToString()
        XCTAssertTrue(counted.contains(#"strawberry_deadline_misses_total{stage="queued"} 1"#), counted)
        XCTAssertTrue(counted.contains(#"strawberry_deadline_misses_total{stage="running"} 0"#), counted)
        // Cancelling the caller (the client went away) drops the request and frees its place.
        engine.hold(true)
        let t = Task { try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 500), timeout: 60) }
        for _ in 0..<200 where engine.load.waiting < 1 { try await Task.sleep(nanoseconds: 5_000_000) }
        t.cancel()
        engine.hold(false)
        do { _ = try await t.value; XCTFail("expected cancellation") } catch let e as EngineError { XCTAssertEqual(e, .cancelled) }
        let after = try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 2), timeout: 60)
        XCTAssertEqual(after.result.outputIds.count, after.tokenLogprobs.count)
        XCTAssertTrue(after.tokenLogprobs.allSatisfy { $0 <= 0 })
    }

    /// Deadline-aware admission: once service times are measured, a request that would wait and run past
    /// its deadline is refused at once (with how long it would take), one that fits is queued; nothing is
    /// refused before there is a measurement. The running gauge follows the batch back to zero.
    func testDeadlineAwareAdmissionAndGauges() async throws {
        let (s, m) = try service { c in c.maxBatchSize = 1; c.maxQueue = 8 }
        let engine = s.engine
        let ids = Array(1...20)
        // Measured for real first: three short requests, then the gauges are back at zero.
        for _ in 0..<3 { _ = try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 4), timeout: 60) }
        XCTAssertEqual(engine.lock.withLock { engine.estimate.samples }, 3)
        let text = m.registry.emitToString()
        XCTAssertTrue(text.contains("strawberry_running_sequences 0"), text)
        XCTAssertTrue(text.contains("strawberry_queue_depth 0"), text)
        // 10 steps a request at 1 s a step, as if measured under load.
        engine.lock.withLock { engine.estimate = ServiceEstimate.measured(seconds: 10, steps: 10) }
        engine.hold(true)
        let first = Task { try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 10), timeout: 60) }   // 0 + 10 ≤ 60
        for _ in 0..<200 where engine.load.waiting < 1 { try await Task.sleep(nanoseconds: 5_000_000) }
        do { _ = try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 10), timeout: 5); XCTFail("10 s of work cannot meet 5 s") } catch let e as EngineError {
            guard case .wouldMissDeadline(let expected, let retry) = e else { return XCTFail("\(e)") }
            XCTAssertEqual(expected, 20, accuracy: 1e-9)   // 10 s waiting behind the first + 10 s of its own
            XCTAssertEqual(retry, 10, accuracy: 1e-9)
        }
        // Asking for 2 tokens where the measured requests took 10 steps: at most 2 steps.
        let short = Task { try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 2), timeout: 12.5) }   // 10 + 2 ≤ 12.5
        for _ in 0..<200 where engine.load.waiting < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
        XCTAssertEqual(engine.load.waiting, 2, "a request that fits its deadline is queued")
        first.cancel(); short.cancel()
        engine.hold(false)
        _ = await (first.result, short.result)
        // A stale estimate (120 s a request, twice the deadline) never locks an idle server: it takes the
        // request, and the measurement that follows corrects the estimate.
        engine.lock.withLock { engine.estimate = ServiceEstimate.measured(seconds: 120, steps: 10) }
        _ = try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 4), timeout: 60)
        XCTAssertLessThan(engine.lock.withLock { engine.estimate.stepSeconds(batch: 1) }, 12)
        // Through the API, behind a request that holds the one slot: 429 with Retry-After, counted as would_miss_deadline.
        engine.lock.withLock { engine.estimate = ServiceEstimate.measured(seconds: 120, steps: 10) }
        engine.hold(true)
        let blocker = Task { try await engine.generate(GenerationRequestFactory.make(ids, maxTokens: 10), timeout: 600) }
        for _ in 0..<200 where engine.load.waiting < 1 { try await Task.sleep(nanoseconds: 5_000_000) }
        try await app(s, m).test(.router) { client in
            let (code, body, headers) = try await Self.post(client, "/api/position_count/letter_count", #"{"word":"banana","letter":"a"}"#)
            XCTAssertEqual(code, 429, "\(body)")
            XCTAssertEqual(headers[.retryAfter], "120")
            // Refused before the body is read, on the least any request could take: 120 s of waiting + 12 s
            // (a one-token answer's one step at 12 s a step).
            XCTAssertEqual((body["details"] as? [String: String])?["expected_seconds"], "132.0")
        }
        blocker.cancel()
        engine.hold(false)
        _ = await blocker.result
        XCTAssertTrue(m.registry.emitToString().contains(#"strawberry_rejections_total{reason="would_miss_deadline"} 1"#))
    }

    /// Rate-limit buckets: per key by default (one shared bucket without keys); per address only when
    /// asked, and X-Forwarded-For believed only from a trusted proxy, read from the right.
    func testRateLimitBuckets() throws {
        let key = RateLimitPolicy()
        XCTAssertEqual(key.client(key: 2, remote: "10.0.0.1", forwardedFor: ["1.2.3.4"]), "key-2")
        XCTAssertEqual(key.client(key: nil, remote: "10.0.0.1", forwardedFor: []), "anonymous")
        let proxies = ["10.0.0.0/8", "fd00::/8", "192.168.1.7"].compactMap(AddressRange.parse)
        XCTAssertEqual(proxies.count, 3)
        let byAddress = RateLimitPolicy(by: .address, trustedProxies: proxies)
        XCTAssertEqual(byAddress.client(key: 1, remote: "203.0.113.5", forwardedFor: ["1.2.3.4"]), "203.0.113.5", "an untrusted peer's header is ignored")
        XCTAssertEqual(byAddress.client(key: nil, remote: "10.1.2.3", forwardedFor: ["6.6.6.6, 198.51.100.9, 10.9.9.9"]), "198.51.100.9",
                       "the right-most hop that is not a trusted proxy; the left part is the client's to forge")
        XCTAssertEqual(byAddress.client(key: nil, remote: "::ffff:10.1.2.3", forwardedFor: ["198.51.100.9"]), "198.51.100.9", "IPv4-mapped peers match")
        XCTAssertEqual(byAddress.client(key: nil, remote: "fd00::1", forwardedFor: ["2001:db8::1"]), "2001:db8::1")
        XCTAssertEqual(byAddress.client(key: nil, remote: "10.1.2.3", forwardedFor: []), "10.1.2.3")
        XCTAssertEqual(byAddress.client(key: nil, remote: "10.1.2.3", forwardedFor: ["not-an-address"]), "10.1.2.3")
        XCTAssertFalse(AddressRange.parse("10.0.0.0/8")!.contains("11.0.0.1"))
        XCTAssertTrue(AddressRange.parse("0.0.0.0/0")!.contains("8.8.8.8"))
        for bad in ["10.0.0.0/33", "300.1.1.1", "fd00::/129", "host.example", "", "1.2.3.4/x"] { XCTAssertNil(AddressRange.parse(bad), bad) }
    }

    /// With the template's shared prefix precomputed and several requests batched, greedy answers equal
    /// one-at-a-time generation from the whole prompt.
    func testEngineMatchesTheGenerator() async throws {
        let (s, _) = try service()
        XCTAssertFalse(s.engine.sharedPrefix.isEmpty, "the fixture has a chat template, so a shared prefix")
        let m = try LoadedModel.load(path: Self.model)
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        let questions = ["How many r's are in the word 'strawberry'?", "Spell 'queue'.", "What is the 3rd letter in 'banana'?", "hi"]
        let prompts = try questions.map { try s.promptIds([ChatMessageIn(role: "user", content: $0)], thinking: nil) }
        let expected = try prompts.map { try gen.generate(GenerationRequest(promptIds: $0, maxTokens: 12, stopTokenIds: m.stopTokenIds)).outputIds }
        let got = try await withThrowingTaskGroup(of: (Int, [Int]).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask { (i, try await s.engine.generate(GenerationRequest(promptIds: p, maxTokens: 12, stopTokenIds: m.stopTokenIds), timeout: 60).result.outputIds) }
            }
            var out = [[Int]](repeating: [], count: prompts.count)
            for try await (i, ids) in group { out[i] = ids }
            return out
        }
        XCTAssertEqual(got, expected)
    }

    /// `confidence` is the probability of the answer's tokens and of the token that ended it, recomputed
    /// here from the model's own logits: an answer that is empty because the model stopped at once is as
    /// certain as the model was of stopping, not 1.
    func testServedConfidenceIncludesTheEndOfAnswer() async throws {
        let m = try LoadedModel.load(path: Self.model)
        let engine = InferenceEngine(model: m.model, tokenizer: m.tokenizer, maxBatch: 2, maxQueue: 2)
        let prompt = Array(1...10)
        func logSoftmax(_ ids: [Int], _ token: Int) throws -> Double {
            let row = try m.model.forward(ForwardBatch(tokens: ids), cache: m.model.makeCache(), logits: .last).storage
            let top = Double(row.max() ?? 0)
            return Double(row[token]) - top - log(row.reduce(0.0) { $0 + exp(Double($1) - top) })
        }
        let free = try await engine.generate(GenerationRequest(promptIds: prompt, maxTokens: 4), timeout: 60)
        XCTAssertEqual(free.result.finishReason, .length)
        let stopAt = try XCTUnwrap(free.result.outputIds.last)
        var expected = 0.0
        for (k, t) in free.result.outputIds.enumerated() { expected += try logSoftmax(prompt + free.result.outputIds.prefix(k), t) }
        XCTAssertEqual(free.confidence, exp(expected), accuracy: 1e-4 * exp(expected))

        // Stopping on the first generated token: an empty answer, priced at p(stop).
        let first = try XCTUnwrap(free.result.outputIds.first)
        let empty = try await engine.generate(GenerationRequest(promptIds: prompt, maxTokens: 4, stopTokenIds: [first]), timeout: 60)
        XCTAssertEqual(empty.result.outputIds, [])
        XCTAssertEqual(empty.result.finishReason, .stopToken)
        let pStop = exp(try logSoftmax(prompt, first))
        XCTAssertLessThan(pStop, 0.99, "the fixture model must not be certain of its first token for this check")
        XCTAssertEqual(empty.confidence, pStop, accuracy: 1e-4 * pStop)

        // Stopping after some tokens: the stop token's probability is part of the answer's.
        let ended = try await engine.generate(GenerationRequest(promptIds: prompt, maxTokens: 8, stopTokenIds: [stopAt]), timeout: 60)
        XCTAssertEqual(ended.result.finishReason, .stopToken)
        let kept = ended.result.outputIds
        var withStop = try logSoftmax(prompt + kept, stopAt)
        for (k, t) in kept.enumerated() { withStop += try logSoftmax(prompt + kept.prefix(k), t) }
        XCTAssertEqual(ended.confidence, exp(withStop), accuracy: 1e-4 * exp(withStop))
    }

    /// An engine nobody holds is freed (its worker lets go of it between passes) and its worker stops.
    func testEngineIsFreed() async throws {
        let m = try LoadedModel.load(path: Self.model)
        weak var weakEngine: InferenceEngine?
        do {
            let e = InferenceEngine(model: m.model, tokenizer: m.tokenizer, maxBatch: 2, maxQueue: 2)
            weakEngine = e
            let out = try await e.generate(GenerationRequestFactory.make(Array(1...10), maxTokens: 3), timeout: 60)
            XCTAssertGreaterThan(out.confidence, 0)
            XCTAssertLessThanOrEqual(out.confidence, 1)
        }
        for _ in 0..<40 where weakEngine != nil { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertNil(weakEngine)
    }

    /// `serve` (ServerApp.run) serves the application the tests build: the same routes, middleware and
    /// document, reached through a real socket, and it stops when its task is cancelled.
    func testRunServesTheApplicationTheTestsBuild() async throws {
        let (s, m) = try service { c in c.host = "127.0.0.1"; c.port = 0 }
        let built = try await app(s, m).test(.router) { client in
            try await client.execute(uri: "/openapi.json", method: .get) { String(buffer: $0.body) }
        }
        let (ports, port) = AsyncStream.makeStream(of: Int.self)
        let server = Task { try await ServerApp.run(service: s, metrics: m, logger: Logger(label: "test")) { port.yield($0) } }
        var it = ports.makeAsyncIterator()
        let next = await it.next()
        let bound = try XCTUnwrap(next)
        func get(_ path: String) async throws -> (Int, String) {
            let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(bound)\(path)")!)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        let (status, served) = try await get("/openapi.json")
        XCTAssertEqual(status, 200)
        XCTAssertEqual(served, built)
        // The front middleware is there too: a protected route without a key is refused.
        let refused = try await get("/api/model")
        XCTAssertEqual(refused.0, 401)
        server.cancel()
        _ = await server.result
    }

    /// A real socket: the server bound on loopback answers a request through HTTP.
    func testRealSocket() async throws {
        let (s, m) = try service()
        try await app(s, m).test(.live) { client in
            XCTAssertNotNil(client.port)
            try await client.execute(uri: "/api/position_count/letter_count", method: .post, headers: Self.auth,
                                     body: ByteBuffer(string: #"{"word":"banana","letter":"a"}"#)) { r in
                XCTAssertEqual(r.status, .ok)
                XCTAssertEqual(Self.json(r.body)["truth"] as? Int, 3)
            }
        }
    }
}

import Generation
import Models
enum GenerationRequestFactory {
    static func make(_ ids: [Int], maxTokens: Int) -> GenerationRequest { GenerationRequest(promptIds: ids, maxTokens: maxTokens) }
}
