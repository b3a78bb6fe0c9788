// `strawberry serve`: the HTTP API (Sources/Serving) on a model and optional adapter. Environment
// variables configure it (the container way); flags override them.
import ArgumentParser
import Foundation
import Hub
import Logging
import Metrics
import Prometheus
import Serving

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve spelling, letter-count and letter-position answers over HTTP, with Prometheus metrics.",
        discussion: """
        Environment: MODEL_PATH, ADAPTER_PATH, WEIGHTS, THREADS, API_KEY or API_KEYS_FILE, LOG_LEVEL, MAX_BATCH_SIZE, ENABLE_GPU, \
        TASK_TYPE (all, spelling, position_count), HOST, PORT, MAX_QUEUE, REQUEST_TIMEOUT, RATE_LIMIT (0: off, the default), \
        RATE_BURST, RATE_LIMIT_BY (key, address), TRUSTED_PROXIES, IDLE_TIMEOUT, HEADER_TIMEOUT, MAX_BODY_BYTES, MAX_TOKENS, \
        EVALUATION_RESULTS, DRAIN_SECONDS; flags override them. SIGTERM stops admitting (new requests get 503), lets admitted \
        requests finish for up to DRAIN_SECONDS (default 30), answers the rest 503 and exits: 0 when every admitted request \
        was completed, 3 when some had to be answered 503. docs/api.md documents every endpoint.
        """)
    @Option(name: .long, help: "Model: a .gguf file, a Hugging Face directory or hf://… (MODEL_PATH).")
    var model: String?
    @Option(name: .long, help: "PEFT adapter directory or hf://… (ADAPTER_PATH).")
    var adapter: String?
    @Option(name: .long, help: ArgumentHelp("Weights in memory (WEIGHTS, default native: a GGUF file's blocks computed directly; f32; q8_0; bf16).", valueName: "f32|native|q8_0|bf16"))
    var weights: String?
    @Option(name: .long, help: "Compute threads (THREADS, 1...1024; default: the CPUs this process may use).")
    var threads: Int?
    @Option(name: .long, help: "Address to bind (HOST, default 127.0.0.1).")
    var host: String?
    @Option(name: .long, help: "Port (PORT, default 8000; 0 picks a free one).")
    var port: Int?
    @Option(name: .long, help: "Sequences generated together (MAX_BATCH_SIZE, 1...256, default 8).")
    var maxBatchSize: Int?
    @Option(name: .long, help: "Requests waiting beyond the batch (MAX_QUEUE, default 64); more get 429.")
    var maxQueue: Int?
    @Option(name: .long, help: "all, spelling or position_count (TASK_TYPE): which routes are served.")
    var taskType: String?
    @Option(name: .long, help: "evaluation_results.json (or a compare directory) reported by /api/model (EVALUATION_RESULTS).")
    var evaluationResults: String?
    @Flag(name: .long, help: "Print the OpenAPI document of the routes TASK_TYPE serves, and exit (docs/openapi.json is this for all).")
    var printOpenapi = false
    @Flag(name: .long, help: "Print the metrics reference (name, type, labels, help) as a Markdown table, and exit.")
    var printMetrics = false
    @OptionGroup var store: StoreOption

    /// The server is async; the command line is not (its other commands are plain loops), so the main
    /// thread waits here while the server runs on the concurrency pool.
    func run() throws {
        final class Outcome: @unchecked Sendable { var error: Error? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let command = self
        Task {
            do { try await command.serve() } catch { outcome.error = error }
            done.signal()
        }
        done.wait()
        if let e = outcome.error { throw e }
    }

    func serve() async throws {
        if printMetrics {
            print("| metric | type | labels | meaning |\n|---|---|---|---|")
            for m in ServerMetrics.reference() {
                print("| `\(m.name)` | \(m.type) | \(m.labels.map { "`\($0)`" }.joined(separator: ", ")) | \(m.help) |")
            }
            return
        }
        if printOpenapi {
            let t = try ServeConfig.from(environment: taskType.map { ["TASK_TYPE": $0] } ?? [:]).taskType
            print(try OpenAPI.json(for: t), terminator: "")
            return
        }
        var env = ProcessInfo.processInfo.environment
        if let model { env["MODEL_PATH"] = model }
        if let adapter { env["ADAPTER_PATH"] = adapter }
        if let weights { env["WEIGHTS"] = weights }
        if let threads { env["THREADS"] = String(threads) }
        if let host { env["HOST"] = host }
        if let port { env["PORT"] = String(port) }
        if let maxBatchSize { env["MAX_BATCH_SIZE"] = String(maxBatchSize) }
        if let maxQueue { env["MAX_QUEUE"] = String(maxQueue) }
        if let taskType { env["TASK_TYPE"] = taskType }
        if let evaluationResults { env["EVALUATION_RESULTS"] = evaluationResults }
        var settings: ServeConfig
        do { settings = try ServeConfig.from(environment: env) } catch { throw ValidationError("\(error)") }
        settings.modelPath = try await HubPaths.local(settings.modelPath)
        if let a = settings.adapterPath { settings.adapterPath = try await HubPaths.local(a) }
        let level = Logger.Level(rawValue: settings.logLevel) ?? .info
        LoggingSystem.bootstrap { JSONLogHandler(label: $0, level: level) }
        let logger = Logger(label: "strawberry.serve")
        if settings.enableGPU { logger.notice("ENABLE_GPU is set, but this build has no GPU backend: serving on the CPU") }
        logger.info("loading", metadata: ["model": .string(settings.modelPath), "adapter": .string(settings.adapterPath ?? "none")])
        let service = try SpellingService.load(config: settings, store: store.store) { logger.warning("\($0)") }
        let metrics = ServerMetrics()
        // Libraries that report through swift-metrics (Hummingbird, NIO) land in the same registry.
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics.registry))
        service.engine.setObserver(metrics)
        let config = service.config
        let drained = try await ServerApp.run(service: service, metrics: metrics, logger: logger) { port in
            logger.info("serving", metadata: ["host": .string(config.host), "port": .stringConvertible(port), "task_type": .string(config.taskType.rawValue),
                                              "max_batch_size": .stringConvertible(config.maxBatchSize)])
        }
        // An admitted request that could not be completed within DRAIN_SECONDS was answered 503: say so in the exit status.
        if drained.unfinished > 0 { throw ExitCode(3) }
    }
}
