// swift-tools-version:6.1
// Strawberry: LoRA spelling fine-tuning and letter-level evaluation, in pure Swift.
//
// Module layout follows the pipeline, bottom-up, with no cycles (docs/architecture.md draws it):
//   Records, Charts, Hashing, Signals, HTTPTransport (leaves: typed artifacts, JSON, SVG, SHA-256, signals, HTTP)
//   CBLAS, CKernels (C) → TensorCore → ModelFormats → Tokenization → Models → Generation, Adapters
//   SpellingData · Training · Evaluation · Benchmarks → StrawberryCLI → strawberry
import PackageDescription

// C kernels are compiled optimised even in debug builds: they are the hot loops, and the
// AVX2/FMA variants are selected per function with target attributes at run time.
let kernelFlags: [CSetting] = [.unsafeFlags(["-O3", "-fno-math-errno"])]

let package = Package(
    name: "Strawberry",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "strawberry", targets: ["strawberry"]),
        .library(name: "StrawberryEngine", targets: ["TensorCore", "ModelFormats", "Tokenization", "Models", "Generation"]),
        // Artifacts alone (release, publishing and serving code read them without the engine).
        .library(name: "StrawberryRecords", targets: ["Records"]),
        // What the fuzz targets (fuzz/) exercise.
        .library(name: "StrawberryInputs", targets: ["Records", "Hashing", "ModelFormats", "Tokenization", "Models", "Training", "Evaluation", "SpellingData",
                                                      "Release"]),
    ],
    // `swift build --traits OTel`: OpenTelemetry traces of the server's requests, exported over OTLP/HTTP
    // when OTEL_EXPORTER_OTLP_ENDPOINT is set. Off by default: swift-otel adds minutes to a first build.
    traits: [
        .trait(name: "OTel", description: "OpenTelemetry traces for `strawberry serve` (swift-otel, OTLP/HTTP)"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: kernelFlags),
        // zlib (Debian zlib1g-dev): committed per-item records are gzip-compressed.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Typed records of every artifact, JSON text, atomic files: Foundation only, so release and
        // serving code can read a run's outputs without linking the engine.
        .target(name: "Records"),
        .target(name: "Charts"),
        // SHA-256 of bytes and files, without the engine (records, store, Hub and publishing hash).
        .target(name: "Hashing", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // SIGINT/SIGTERM/SIGHUP for the long commands' work loops.
        .target(name: "Signals"),
        // HTTP with the retry policy every remote service needs (the Hub, MLflow).
        .target(name: "HTTPTransport", dependencies: [.product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .target(name: "ConfigFiles", dependencies: ["Yams"]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "ModelFormats", dependencies: ["CKernels", "Records"]),
        .target(name: "Tokenization", dependencies: ["ModelFormats", "Records"]),
        .target(name: "Models", dependencies: ["CKernels", "ModelFormats", "Records", "TensorCore", "Tokenization"]),
        .target(name: "Generation", dependencies: ["Models", "TensorCore", "Tokenization"]),
        .target(name: "Adapters", dependencies: ["ModelFormats", "Models", "Records", "TensorCore", "Tokenization"]),
        .target(name: "SpellingData", dependencies: ["ConfigFiles", "Hashing", "ModelFormats", "Records", "TensorCore", "Tokenization", "Yams"]),
        .target(name: "Training", dependencies: ["Adapters", "Charts", "CKernels", "ConfigFiles", "Generation", "Hashing", "ModelFormats", "Models", "Records",
                                                 "Signals", "TensorCore", "Tokenization", "Yams"]),
        .target(name: "Evaluation", dependencies: ["Adapters", "Charts", "CZlib", "Generation", "Hashing", "ModelFormats", "Models", "Records", "Signals",
                                                   "TensorCore", "Tokenization"]),
        .target(name: "Experiment", dependencies: ["Charts", "ConfigFiles", "Evaluation", "Records", "Signals", "SpellingData", "Training", "Yams"]),
        // The Hugging Face Hub client: upload, download, verification, hf:// references.
        .target(name: "Hub", dependencies: ["Hashing", "HTTPTransport", "Records", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                                            .product(name: "Crypto", package: "swift-crypto")]),
        // Model and dataset cards, and the repository folder a publication uploads (no network).
        .target(name: "Publishing", dependencies: ["ConfigFiles", "Hashing", "Hub", "Records", "Yams"]),
        // The release gate: run and model registry (SQLite through GRDB), the deployment decision, MLflow.
        .target(name: "Release", dependencies: ["ConfigFiles", "Hashing", "HTTPTransport", "Hub", "Publishing", "Records", "Yams",
                                                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        // The HTTP API: continuous-batching engine, routes, keys, limits, metrics, graceful shutdown.
        .target(name: "Serving", dependencies: [
            "Adapters", "Evaluation", "Generation", "Hashing", "ModelFormats", "Models", "Records", "Release", "SpellingData", "TensorCore", "Tokenization",
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTel"])),
        ]),
        .target(name: "Benchmarks", dependencies: ["Adapters", "Generation", "Models", "Records", "TensorCore", "Training"]),
        .target(name: "StrawberryCLI", dependencies: [
            "Adapters", "Benchmarks", "Evaluation", "Experiment", "Generation", "Hashing", "Hub", "Models", "Publishing", "Records", "Release", "Serving",
            "Signals", "SpellingData", "TensorCore", "Tokenization", "Training",
            .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"), .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .executableTarget(name: "strawberry", dependencies: ["StrawberryCLI"]),
        .target(name: "TestSupport", dependencies: ["Records", "SpellingData"], path: "Tests/TestSupport"),
        .testTarget(name: "RecordsTests", dependencies: ["Records"]),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "CKernels", "TestSupport"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["CKernels", "Hashing", "ModelFormats", "Records", "TestSupport", "Tokenization"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "ModelFormats", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["CKernels", "ModelFormats", "Models", "Generation", "Tokenization", "TensorCore", "TestSupport"]),
        .testTarget(name: "SpellingDataTests", dependencies: ["Hashing", "SpellingData", "Records", "Tokenization", "ModelFormats", "TestSupport", "Yams"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Adapters", "Models", "ModelFormats", "Publishing", "Records", "SpellingData", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "Experiment", "Hashing", "Adapters", "Records", "SpellingData", "Training", "Models", "ModelFormats", "TestSupport"]),
        .testTarget(name: "ReleaseTests", dependencies: ["Hashing", "Release", "Records", "ModelFormats", "TestSupport"]),
        .testTarget(name: "PublishingTests", dependencies: ["Hashing", "HTTPTransport", "Hub", "Publishing", "Records", "ModelFormats", "Release", "TestSupport"]),
        .testTarget(name: "ServingTests", dependencies: ["Serving", "Generation", "Models", "Records", "TestSupport", .product(name: "HummingbirdTesting", package: "hummingbird"),
                                                         .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "DeployTests", dependencies: ["Serving", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["StrawberryCLI", "Publishing", "Records", "Release", "TestSupport",
                                                     .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ]
)
