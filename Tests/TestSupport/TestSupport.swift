// Locations of committed fixtures and fetched assets for the test targets.
import Records
import Foundation
import SpellingData
import XCTest

public enum TestPaths {
    /// Repository root, found from this source file's path.
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static var fixtures: String { root + "/Tests/Fixtures" }

    /// Assets fetched by scripts/fetch-assets.sh (STRAWBERRY_ASSETS overrides the default `assets/`).
    public static var assets: String { ProcessInfo.processInfo.environment["STRAWBERRY_ASSETS"] ?? root + "/assets" }

    public static var smolLM2: String { assets + "/SmolLM2-135M-Instruct.Q4_1.gguf" }

    /// Path of an asset, or an XCTSkip explaining how to get it.
    public static func requireAsset(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("asset \(path) is absent; run scripts/fetch-assets.sh to fetch it (CI does)")
        }
        return path
    }

    public static func loadJSON(_ path: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

/// A small spelling dataset built from the tiny Llama fixture's tokenizer (once per name and process).
public func tinyDataset(_ name: String, validation: Int, test: Int) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(getpid())").path
    if FileManager.default.fileExists(atPath: dir + "/manifest.json") { return dir }
    let words = dir + "-words.txt"
    try! ["strawberry", "committee", "banana", "queue", "necessary", "rhythm", "mississippi", "bookkeeper", "zebra", "quiz"]
        .joined(separator: "\n").write(toFile: words, atomically: true, encoding: .utf8)
    var r = BuildRequest(tokenizerPath: TestPaths.fixtures + "/models/llama", outDir: dir)
    r.wordsPath = words
    r.overwrite = true
    r.config.validationSize = validation
    r.config.testSize = test
    _ = try! DatasetBuilder.build(r)
    return dir
}

/// max |a - b| / max(max |b|, tiny): the "max-abs normalised" relative error used in every parity test.
public func maxRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "compared arrays differ in length: \(a.count) vs \(b.count)")
    var maxDiff: Float = 0, maxRef: Float = 0
    for i in 0..<a.count {
        maxDiff = max(maxDiff, abs(a[i] - b[i]))
        maxRef = max(maxRef, abs(b[i]))
    }
    return maxDiff / max(maxRef, 1e-30)
}

/// Runs a shell command line to the end and returns its exit status and combined output (the one
/// helper the tests use for external tools: python3, dvc, mlflow, gzip, actionlint).
@discardableResult
public func shell(_ command: String, in dir: String = TestPaths.root, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", command]
    p.currentDirectoryURL = URL(fileURLWithPath: dir)
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try withDefaultSignalMask { try p.run() }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs `body` (which starts a process) with no signal blocked on this thread. A child inherits the
/// signal mask of the thread that spawns it, and the threads async tests run on block most signals:
/// a server started from there could not be stopped with SIGTERM, and its shell would never see
/// SIGCHLD, outliving the tests and holding their output open.
public func withDefaultSignalMask<T>(_ body: () throws -> T) rethrows -> T {
    var none = sigset_t(), saved = sigset_t()
    sigemptyset(&none)
    pthread_sigmask(SIG_SETMASK, &none, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    return try body()
}

/// A free TCP port on loopback.
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A server a test starts (a shell command line) in a session and process group of its own, so that
/// stopping it stops its workers too, and waits for: `url` answering within `timeout` seconds. The
/// command runs in the background of a shell, where setsid does not fork (the job is not a group
/// leader), so the pid the shell records is the server's and its group's. Returns nil when it does not
/// come up (the caller skips or fails); `stop()` is bounded in time.
public final class BackgroundServer {
    let shell: Process
    let pidFile: String

    public init?(command: String, dir: String, url: String, timeout: Double = 60, environment: [String: String] = [:]) {
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        pidFile = dir + "/server.pid"
        shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "setsid \(command) > \(dir)/server.log 2>&1 & echo $! > \(pidFile); wait"]
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        shell.environment = env
        do { try withDefaultSignalMask { try shell.run() } } catch { return nil }
        let probe = "python3 -c \"import urllib.request, sys; urllib.request.urlopen('\(url)', timeout=1)\""
        for _ in 0..<Int(timeout * 4) {
            if let r = try? TestSupport.shell(probe), r.status == 0 { return }
            usleep(250_000)
        }
        stop()
        return nil
    }

    public func stop() {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(-pid, SIGTERM)
            for _ in 0..<20 where kill(pid, 0) == 0 { usleep(100_000) }
            kill(-pid, SIGKILL)
        }
        for _ in 0..<50 where shell.isRunning { usleep(100_000) }
        if shell.isRunning { kill(shell.processIdentifier, SIGKILL) }
    }
}

/// The local stand-in for the Hugging Face Hub (Fixtures/hub/fake_hub.py): token "secret", a request log.
public final class FakeHub {
    public let url: String
    public let log: String
    let server: BackgroundServer
    public init(_ name: String, dir: String) throws {
        guard (try? shell("command -v python3"))?.status == 0 else { throw XCTSkip("python3 is needed for the local Hub") }
        let port = freeLoopbackPort()
        log = dir + "/requests.jsonl"
        url = "http://127.0.0.1:\(port)"
        guard let s = BackgroundServer(command: "python3 \(TestPaths.fixtures)/hub/fake_hub.py --port \(port) --token secret --log \(log) --lifetime 600",
                                       dir: dir, url: url + "/health", timeout: 20) else {
            throw XCTSkip("the local Hub did not start")
        }
        server = s
    }
    deinit { server.stop() }

    /// The requests so far: (method, route, oid for LFS PUTs).
    public func requests() -> [(method: String, route: String, oid: String?)] {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let m = o["method"] as? String, let r = o["route"] as? String else { return nil }
            return (m, r, o["oid"] as? String)
        }
    }
    public func faults(_ f: [String: Any]) throws {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: f), as: UTF8.self)
        let r = try shell("python3 -c \"import urllib.request,sys; urllib.request.urlopen(urllib.request.Request('\(url)/_fake/faults', data=sys.argv[1].encode(), method='POST'))\" '\(body)'")
        XCTAssertEqual(r.status, 0, r.output)
    }
}
