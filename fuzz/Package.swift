// swift-tools-version:6.0
// libFuzzer targets for every reader of untrusted input. `make fuzz-build` compiles this target and
// everything it depends on with -sanitize=fuzzer,address (so the whole tree is instrumented), then
// scripts/fuzz-link.sh links the objects with libFuzzer's main: one binary, the target chosen by
// FUZZ_TARGET.
import Foundation
import PackageDescription

// The main package is the parent directory; its identity is that directory's name.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent.lowercased()

let package = Package(
    name: "StrawberryFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(path: "..")],
    targets: [
        // A library: libFuzzer supplies main, and scripts/fuzz-link.sh links the instrumented objects.
        .target(name: "StrawberryFuzz", dependencies: [.product(name: "StrawberryInputs", package: root)]),
    ]
)
