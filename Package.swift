// swift-tools-version:6.0
// Strawberry: LoRA spelling fine-tuning and letter-level evaluation, in pure Swift.
//
// Module layout follows the pipeline, bottom-up, with no cycles:
//   CBLAS, CKernels (C)  →  TensorCore  →  ModelFormats  →  Tokenization  →  Models  →  Generation
//                                                                       ↘  SpellingData (datasets)  →  StrawberryCLI  →  strawberry
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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CKernels", path: "Sources/CKernels", cSettings: kernelFlags),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "ModelFormats", dependencies: ["TensorCore", "CKernels"]),
        .target(name: "Tokenization", dependencies: ["ModelFormats"]),
        .target(name: "Models", dependencies: ["TensorCore", "ModelFormats", "Tokenization"]),
        .target(name: "Generation", dependencies: ["Models", "Tokenization", "TensorCore"]),
        .target(name: "SpellingData", dependencies: ["Tokenization", "ModelFormats", "TensorCore", "Yams"]),
        .target(name: "Training", dependencies: ["Models", "Generation", "TensorCore", "ModelFormats", "Tokenization", "CKernels", "Yams"]),
        .target(name: "Evaluation", dependencies: ["Generation", "Models", "Tokenization", "TensorCore", "ModelFormats", "Training"]),
        .target(name: "StrawberryCLI", dependencies: [
            "Training", "Evaluation",
            "Generation", "Models", "ModelFormats", "Tokenization", "TensorCore", "SpellingData",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "strawberry", dependencies: ["StrawberryCLI"]),
        .target(name: "TestSupport", dependencies: ["SpellingData"], path: "Tests/TestSupport"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "CKernels", "TestSupport"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["ModelFormats", "TensorCore", "TestSupport"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "ModelFormats", "TestSupport"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Generation", "ModelFormats", "Tokenization", "TensorCore", "TestSupport"]),
        .testTarget(name: "SpellingDataTests", dependencies: ["SpellingData", "Tokenization", "ModelFormats", "TestSupport", "Yams"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Models", "ModelFormats", "TensorCore", "SpellingData", "TestSupport"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "SpellingData", "Training", "Models", "ModelFormats", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["StrawberryCLI", "TestSupport",
                                                     .product(name: "ArgumentParser", package: "swift-argument-parser")]),
    ]
)
