// `strawberry serve` as a process on loopback (its own process group, stopped with it): the curl
// examples of docs/api.md, overload (every admitted request succeeds, the rest get 429), SIGTERM under
// load (no admitted request is lost, exit 0), and — when installed — promtool and schemathesis.
import Foundation
import TestSupport
import XCTest

final class ServingProcessTests: XCTestCase {
    static let key = "docs-key-123456"

    final class Server: @unchecked Sendable {
        let process: Process
        let url: String
        let log: String
        init(env: [String: String]) throws {
            // STRAWBERRY_BIN: a binary built elsewhere (e.g. `--traits OTel --build-path .build-otel`).
            let bin = ProcessInfo.processInfo.environment["STRAWBERRY_BIN"] ?? TestPaths.root + "/.build/debug/strawberry"
            guard FileManager.default.isExecutableFile(atPath: bin) else { throw XCTSkip("build the binary first (swift build)") }
            let port = freeLoopbackPort()
            url = "http://127.0.0.1:\(port)"
            log = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(getpid())-\(port).log").path
            FileManager.default.createFile(atPath: log, contents: nil)
            process = Process()
            process.executableURL = URL(fileURLWithPath: bin)
            process.arguments = ["serve", "--port", String(port)]
            var e = ProcessInfo.processInfo.environment
            e["MODEL_PATH"] = ServingTests.model
            e["STRAWBERRY_HOME"] = FileManager.default.temporaryDirectory.appendingPathComponent("serve-store-\(getpid())").path
            for (k, v) in env { e[k] = v }
            process.environment = e
            process.standardError = FileHandle(forWritingAtPath: log)
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            for _ in 0..<240 {
                if (try? shell("curl -sf \(url)/health/ready"))?.status == 0 { return }
                if !process.isRunning { break }
                usleep(250_000)
            }
            stop()
            throw XCTSkip("the server did not start: \((try? String(contentsOfFile: log, encoding: .utf8))?.suffix(500) ?? "")")
        }
        /// SIGTERM, then (bounded) SIGKILL; returns the exit status.
        @discardableResult
        func stop(timeout: Double = 40) -> Int32 {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            for _ in 0..<Int(timeout * 10) where process.isRunning { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
            return process.terminationStatus
        }
        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        /// N concurrent POSTs (C at a time): [(status, Retry-After)].
        func load(_ path: String, _ body: String, n: Int, c: Int, headers: [String] = []) throws -> [(Int, String?)] {
            let quoted = ([url + path, body, String(n), String(c)] + headers).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
            let r = try shell("python3 \(TestPaths.fixtures)/serve/load.py \(quoted)")
            XCTAssertEqual(r.status, 0, r.output)
            let rows = (try JSONSerialization.jsonObject(with: Data(r.output.utf8))) as? [[Any]] ?? []
            return rows.map { ($0[0] as? Int ?? -1, $0[1] as? String) }
        }
    }

    func testDocumentedExamples() throws {
        let server = try Server(env: ["API_KEY": Self.key])
        defer { server.stop() }
        let doc = try String(contentsOfFile: TestPaths.root + "/docs/api.md", encoding: .utf8)
        // Every ```sh block that runs curl and states its status with "# → NNN".
        var examples: [(String, Int)] = []
        for block in doc.components(separatedBy: "```sh\n").dropFirst() {
            guard let end = block.range(of: "```") else { continue }
            let text = String(block[..<end.lowerBound])
            guard text.hasPrefix("curl"), let arrow = text.range(of: "# → ") else { continue }
            let command = String(text[..<arrow.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
            let status = Int(text[arrow.upperBound...].prefix(3)) ?? 0
            examples.append((command, status))
        }
        XCTAssertGreaterThanOrEqual(examples.count, 12)
        for (command, status) in examples {
            let r = try shell(command + " -o /dev/null -w '%{http_code}'", environment: ["STRAWBERRY_URL": server.url, "API_KEY": Self.key])
            XCTAssertEqual(r.status, 0, command)
            XCTAssertEqual(Int(r.output.trimmingCharacters(in: .whitespacesAndNewlines)), status, command)
        }
        // JSON log lines with the request id, route, status and latency.
        let logs = try String(contentsOfFile: server.log, encoding: .utf8).split(separator: "\n")
        let requests = logs.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }.filter { $0["message"] as? String == "request" }
        XCTAssertGreaterThanOrEqual(requests.count, examples.count)
        for r in requests { for k in ["request_id", "route", "status", "latency_ms", "task_type"] { XCTAssertNotNil(r[k], "\(k) in \(r)") } }
        // promtool accepts the metrics (optional: prometheus installed).
        if (try? shell("command -v promtool"))?.status == 0 {
            let p = try shell("curl -s \(server.url)/metrics | promtool check metrics")
            XCTAssertEqual(p.status, 0, p.output)
        }
    }

    /// Far more concurrent requests than the batch and queue hold: every answer is 200 or 429 (with
    /// Retry-After); none is lost or fails otherwise, and at least the capacity is served.
    func testOverloadAnswers429AndServesTheRest() throws {
        let server = try Server(env: ["MAX_BATCH_SIZE": "2", "MAX_QUEUE": "2", "RATE_LIMIT": "100000", "RATE_BURST": "100000"])
        defer { server.stop() }
        let results = try server.load("/predict", #"{"prompt":"Count to ten.","max_tokens":200,"temperature":0}"#, n: 24, c: 24)
        XCTAssertEqual(results.count, 24)
        let ok = results.filter { $0.0 == 200 }.count, busy = results.filter { $0.0 == 429 }
        XCTAssertEqual(ok + busy.count, 24, "\(results)")
        XCTAssertGreaterThanOrEqual(ok, 4)
        XCTAssertGreaterThan(busy.count, 0, "twice the capacity should be refused in part")
        XCTAssertTrue(busy.allSatisfy { $0.1 != nil }, "429 carries Retry-After")
    }

    /// SIGTERM while requests are in flight: the admitted ones all complete, then the server exits 0.
    func testSIGTERMDrainsAdmittedRequests() throws {
        let server = try Server(env: ["MAX_BATCH_SIZE": "4", "MAX_QUEUE": "16", "RATE_LIMIT": "100000", "RATE_BURST": "100000"])
        final class Box: @unchecked Sendable { var out: [(Int, String?)] = [] }
        let box = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            box.out = (try? server.load("/predict", #"{"prompt":"Count to ten.","max_tokens":300,"temperature":0}"#, n: 8, c: 8)) ?? []
            group.leave()
        }
        // Once the requests are admitted (the queue or the batch holds them), stop the server.
        for _ in 0..<100 {
            if let m = try? shell("curl -s \(server.url)/metrics").output,
               m.contains("strawberry_running_sequences 4") || m.contains("strawberry_queue_depth 4") { break }
            usleep(20_000)
        }
        let stillRunning = box.out.isEmpty   // the load returns only once every request has an answer
        kill(server.process.processIdentifier, SIGTERM)
        group.wait()
        XCTAssertTrue(stillRunning, "the requests must still be in flight when SIGTERM arrives, or this test shows nothing")
        let results = box.out
        let status = server.stop()
        XCTAssertEqual(status, 0)
        XCTAssertEqual(results.count, 8)
        XCTAssertEqual(results.filter { $0.0 == 200 }.count, 8, "every admitted request completes: \(results)")
    }

    /// A client that goes away mid-generation has its generation cancelled (its slot freed): the
    /// server logs the request as 499 instead of finishing it.
    func testClientDisconnectCancelsGeneration() throws {
        let server = try Server(env: ["MAX_TOKENS": "512", "RATE_LIMIT": "100000", "RATE_BURST": "100000"])
        defer { server.stop() }
        let port = server.url.split(separator: ":").last.map(String.init) ?? ""
        let script = """
        import socket, time, sys
        body = b'{"prompt":"Count to one thousand.","max_tokens":512,"temperature":0}'
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        s.sendall(b"POST /predict HTTP/1.1\\r\\nHost: x\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
        time.sleep(0.05)
        s.close()
        """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("disconnect-\(getpid()).py").path
        try script.write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(try shell("python3 \(file) \(port)").status, 0)
        var logged = false
        for _ in 0..<100 where !logged {
            usleep(50_000)
            logged = (try? String(contentsOfFile: server.log, encoding: .utf8))?.contains("\"status\":499") == true
        }
        XCTAssertTrue(logged, (try? String(contentsOfFile: server.log, encoding: .utf8)) ?? "")
    }

    /// Clients that pool connections (SDKs, requests.Session, urllib3) never write to a connection the
    /// server has closed: 100 sequential POSTs on one connection, then 32 pooled sessions, no failure.
    func testPooledClientsNeverHitAClosedConnection() throws {
        let server = try Server(env: ["RATE_LIMIT": "100000", "MAX_QUEUE": "1000"])
        defer { server.stop() }
        let url = server.url + "/api/position_count/letter_count", body = #"{"word":"banana","letter":"a"}"#
        func run(_ args: String) throws -> String {
            let r = try shell("python3 \(TestPaths.fixtures)/serve/pooled.py \(args)")
            XCTAssertEqual(r.status, 0, r.output)
            return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        XCTAssertEqual(try run("one \(url) '\(body)' 100"), #"{"fails": 0, "statuses": {"200": 100}}"#)
        guard (try? shell("python3 -c 'import requests'"))?.status == 0 else { throw XCTSkip("requests is not installed") }
        XCTAssertEqual(try run("sessions \(url) '\(body)' 320 32"), #"{"fails": 0, "statuses": {"200": 320}}"#)
    }

    /// One raw HTTP/1.1 conversation (Fixtures/serve/conn.py), its JSON summary.
    func conn(_ server: Server, _ args: String) throws -> [String: Any] {
        let port = server.url.split(separator: ":").last.map(String.init) ?? ""
        let r = try shell("python3 \(TestPaths.fixtures)/serve/conn.py \(args.replacingOccurrences(of: "PORT", with: port))")
        XCTAssertEqual(r.status, 0, r.output)
        return ((try? JSONSerialization.jsonObject(with: Data(r.output.utf8))) as? [String: Any]) ?? [:]
    }

    /// HTTP/1.1 on one connection: pipelined GET + POST + GET answered in order; 100 POSTs one after
    /// another without the connection closing; Expect: 100-continue answered before the body is sent;
    /// HEAD on the GET routes (headers, no body: the next answer on the connection is framed right).
    func testOneConnectionPipeliningKeepAliveContinueAndHEAD() throws {
        let server = try Server(env: ["RATE_LIMIT": "0", "MAX_QUEUE": "1000"])
        defer { server.stop() }
        let body = #"'{"word":"banana","letter":"a"}'"#
        let piped = try conn(server, "pipeline PORT /api/position_count/letter_count \(body)")
        XCTAssertEqual(piped["statuses"] as? [Int], [200, 200, 200], "\(piped)")
        let bodies = piped["bodies"] as? [String] ?? []
        XCTAssertTrue(bodies.count == 3 && bodies[0].contains("ok") && bodies[1].contains("\"truth\":3") && bodies[2].contains("ok"), "in order: \(bodies)")
        let kept = try conn(server, "keepalive PORT /api/position_count/letter_count \(body) 100")
        XCTAssertEqual(kept["statuses"] as? [String: Int], ["200": 100], "\(kept)")
        XCTAssertEqual(kept["connection_close"] as? Int, 0)
        let cont = try conn(server, "continue PORT /api/position_count/letter_count \(body)")
        XCTAssertEqual(cont["interim"] as? Int, 100, "\(cont)")
        XCTAssertLessThan(cont["interim_seconds"] as? Double ?? 9, 0.9, "curl waits 1 s for a 100 that does not come")
        XCTAssertEqual(cont["status"] as? Int, 200)
        // The threads that do HTTP work yield to the model's (nice +10); the inference worker keeps its priority.
        let threads = try shell("ps -L -o ni=,comm= -p \(server.process.processIdentifier)").output
        let rows = threads.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        XCTAssertTrue(rows.contains { $0.count >= 2 && $0[0] == "10" && $0[1].hasPrefix("NIO-") }, threads)
        // The main thread and the engine's worker (Foundation threads keep the process's name here) at most 0.
        XCTAssertGreaterThanOrEqual(rows.filter { $0.count >= 2 && Int($0[0]).map { $0 <= 0 } == true && $0[1] == "strawberry" }.count, 2, threads)
        for path in ["/health", "/health/ready", "/metrics", "/openapi.json"] {
            let head = try conn(server, "head PORT \(path)")
            XCTAssertEqual(head["status"] as? Int, 200, "\(path): \(head)")
            XCTAssertEqual(head["next_status"] as? Int, 200, "\(path): the GET after the HEAD is read right, so the HEAD had no body")
            if path != "/metrics" { XCTAssertEqual(head["content_length"] as? String, (head["get_length"] as? Int).map(String.init), path) }
        }
    }

    /// An idle keep-alive connection, a connection that never sends, and a request head dribbled a byte at
    /// a time (slowloris) are all closed after their timeouts (IDLE_TIMEOUT, HEADER_TIMEOUT).
    func testIdleAndSlowConnectionsAreClosed() throws {
        let server = try Server(env: ["IDLE_TIMEOUT": "1", "HEADER_TIMEOUT": "1.5"])
        defer { server.stop() }
        for mode in ["idle", "idle-after"] {
            let r = try conn(server, "\(mode) PORT 10")
            let t = try XCTUnwrap(r["closed_after"] as? Double, "\(mode): still open after 10 s: \(r)")
            XCTAssertGreaterThanOrEqual(t, 0.7, mode)
            XCTAssertLessThan(t, 4, mode)
        }
        let slow = try conn(server, "slowloris PORT 10")
        let t = try XCTUnwrap(slow["closed_after"] as? Double, "a dribbled head was waited for: \(slow)")
        XCTAssertGreaterThanOrEqual(t, 1.2)
        XCTAssertLessThan(t, 5)
    }

    /// SIGTERM with more admitted work than DRAIN_SECONDS allows: what cannot finish is answered 503 with
    /// Retry-After (no request goes unanswered), the rejections are counted, the server is gone within
    /// DRAIN_SECONDS (plus a second), and the exit status says the drain was incomplete (3).
    func testDrainAnswers503ToWhatItCannotFinish() throws {
        let server = try Server(env: ["MAX_BATCH_SIZE": "1", "MAX_QUEUE": "16", "DRAIN_SECONDS": "0", "MAX_TOKENS": "512", "REQUEST_TIMEOUT": "600"])
        final class Box: @unchecked Sendable { var out: [(Int, String?)] = [] }
        let box = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            box.out = (try? server.load("/predict", #"{"prompt":"Count to one thousand.","max_tokens":500,"temperature":0}"#, n: 8, c: 8)) ?? []
            group.leave()
        }
        for _ in 0..<200 {
            if let m = try? shell("curl -s \(server.url)/metrics").output, m.contains("strawberry_queue_depth 7") { break }
            usleep(20_000)
        }
        let stillRunning = box.out.isEmpty
        let sent = Date()
        kill(server.process.processIdentifier, SIGTERM)
        group.wait()
        let status = server.stop()
        let took = Date().timeIntervalSince(sent)
        XCTAssertTrue(stillRunning, "the requests must still be in flight when SIGTERM arrives, or this test shows nothing")
        let results = box.out
        XCTAssertEqual(results.count, 8)
        let refused = results.filter { $0.0 == 503 }
        XCTAssertEqual(refused.count + results.filter { $0.0 == 200 }.count, 8, "every admitted request is answered: \(results)")
        XCTAssertGreaterThan(refused.count, 0, "\(results)")
        XCTAssertTrue(refused.allSatisfy { $0.1 != nil }, "503 carries Retry-After")
        XCTAssertEqual(status, 3, "an incomplete drain is not a clean exit")
        XCTAssertLessThan(took, 5)
        let log = (try? String(contentsOfFile: server.log, encoding: .utf8)) ?? ""
        XCTAssertTrue(log.contains("unfinished"), log.suffix(800).description)
    }

    /// Built with the OTel trait: with OTEL_EXPORTER_OTLP_ENDPOINT set, each request becomes a span sent
    /// over OTLP/HTTP (protobuf) to the collector — here a stand-in that records what it receives.
    func testOTelTracesReachACollector() throws {
        #if OTel
        let port = freeLoopbackPort()
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(getpid()).txt").path
        try? FileManager.default.removeItem(atPath: out)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(getpid())").path
        guard let collector = BackgroundServer(command: "python3 \(TestPaths.fixtures)/serve/otlp_collector.py \(port) \(out)", dir: dir, url: "http://127.0.0.1:\(port)/", timeout: 20) else {
            throw XCTSkip("the collector did not start")
        }
        defer { collector.stop() }
        let server = try Server(env: ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(port)", "OTEL_BSP_SCHEDULE_DELAY": "100"])
        defer { server.stop() }
        XCTAssertEqual(try server.load("/api/position_count/letter_count", #"{"word":"banana","letter":"a"}"#, n: 1, c: 1).first?.0, 200)
        var received = ""
        for _ in 0..<100 where !received.contains(Data("/api/position_count/letter_count".utf8).map { String(format: "%02x", $0) }.joined()) {
            usleep(100_000)
            received = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
        XCTAssertTrue(received.hasPrefix("/v1/traces application/x-protobuf"), String(received.prefix(200)))
        XCTAssertTrue(received.contains(Data("/api/position_count/letter_count".utf8).map { String(format: "%02x", $0) }.joined()), "a span names the route")
        #else
        throw XCTSkip("built without the OTel trait (swift build --traits OTel)")
        #endif
    }

    /// schemathesis checks the live server against its OpenAPI document (optional: installed).
    func testSchemathesis() throws {
        guard (try? shell("command -v schemathesis"))?.status == 0 else { throw XCTSkip("schemathesis is not installed") }
        let server = try Server(env: ["API_KEY": Self.key, "MAX_TOKENS": "8", "RATE_LIMIT": "100000", "RATE_BURST": "100000"])
        defer { server.stop() }
        let r = try shell("schemathesis run \(server.url)/openapi.json --url \(server.url) -H 'Authorization: Bearer \(Self.key)' "
                          + "--checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance "
                          + "--max-examples 20 --seed 1 2>&1")
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertFalse(r.output.contains("FAILED") || r.output.lowercased().contains("failures:"), r.output)
    }
}
