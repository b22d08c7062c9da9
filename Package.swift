// swift-tools-version:6.0
import PackageDescription

/// `KILN_FMA=1 swift build` compiles the runtime kernels and their tests as executors built with
/// `-target-cpu haswell -D KILN_FMA` run them (fused multiply-adds, the 6x16 tile, the int8 one-row
/// products); it needs a CPU with AVX2 and FMA.
let runtimeFMA = Context.environment["KILN_FMA"] == "1"

/// `KILN_FUZZ=1` adds the libFuzzer targets of Fuzz/ (one executable per reader); `scripts/fuzz.sh` builds
/// them with `--sanitize=fuzzer --sanitize=address` in a scratch directory of their own and runs them.
/// They import the readers' internal API with `@testable`, which debug builds allow (docs/fuzzing.md).
let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] =
    Context.environment["KILN_FUZZ"] == "1"
    ? [
        ("KerasConfigFuzzer", ["KerasFrontend", "KilnIR"]),
        ("HDF5Fuzzer", ["KerasFrontend", "KilnIR"]),
        ("KerasArchiveFuzzer", ["KerasFrontend", "KilnIR"]),
        ("NPYFuzzer", ["KilnDriver", "KilnIR"]),
        ("KIRFuzzer", ["KilnIR"]),
    ] : []

/// `KILN_OPTIMIZE_ORACLE=1` compiles the IR and the reference interpreter with `-O` even in debug builds:
/// `scripts/test.sh` sets it, because the tests spend most of their time running the interpreter (the
/// oracle every engine is checked against), which is ten times slower unoptimized.
let optimizedOracle: [SwiftSetting] = Context.environment["KILN_OPTIMIZE_ORACLE"] == "1" ? [.unsafeFlags(["-O"])] : []

let package = Package(
    name: "Kiln",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .library(name: "KilnIR", targets: ["KilnIR"]),
        .library(name: "KilnDriver", targets: ["KilnDriver"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    ],
    targets: [
        // System libraries.
        .systemLibrary(
            name: "CHDF5", path: "Sources/CHDF5", pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]),

        // The graph IR: imports nothing of ours.
        .target(name: "KilnIR", path: "Sources/KilnIR", swiftSettings: optimizedOracle),

        // Frontends.
        .target(
            name: "KerasFrontend",
            dependencies: ["KilnIR", "CHDF5", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            path: "Sources/Frontends/Keras"),

        .target(
            name: "SavedModelFrontend",
            dependencies: ["KilnIR", "KerasFrontend", "TFProto", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/Frontends/SavedModel"),
        // Swift generated from proto/tensorflow/*.proto by scripts/generate-protos.sh: SavedModel, checkpoint
        // and Keras-metadata messages.
        .target(
            name: "TFProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/TFProto"),

        // The pass library.
        .target(name: "KilnPasses", dependencies: ["KilnIR"], path: "Passes"),

        // The reference interpreter.
        .target(name: "KilnInterpreter", dependencies: ["KilnIR", "CBLAS"], path: "Sources/Interpreter", swiftSettings: optimizedOracle),

        // Backends.
        .target(
            name: "ONNXProto", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Sources/ONNXProto"),
        .target(name: "ONNXBackend", dependencies: ["KilnIR", "ONNXProto"], path: "Sources/Backends/ONNX"),
        .target(name: "SwiftBackend", dependencies: ["KilnIR"], path: "Sources/Backends/Swift"),

        // The kernels generated Swift executors run, compiled and tested here; the Swift backend embeds their
        // source (scripts/embed-runtime.sh writes Sources/Backends/Swift/EmbeddedRuntime.swift).
        .target(
            name: "KilnRuntime", path: "Sources/KilnRuntime",
            swiftSettings: runtimeFMA ? [.define("KILN_FMA"), .unsafeFlags(["-target-cpu", "haswell"])] : []),

        // Glue shared by the CLI and the tests: loading models by format, .npy files, verification.
        .target(
            name: "KilnDriver",
            dependencies: [
                "KilnIR", "KerasFrontend", "SavedModelFrontend", "KilnPasses", "KilnInterpreter", "ONNXBackend", "SwiftBackend",
            ],
            path: "Sources/KilnDriver"),

        .executableTarget(
            name: "kiln",
            dependencies: [
                "KilnDriver", "KilnIR", "KilnInterpreter", "KilnPasses", "ONNXBackend", "SavedModelFrontend", "SwiftBackend",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/kiln"),

        // Tests.
        .target(name: "KilnTestSupport", dependencies: ["KilnDriver"], path: "Tests/KilnTestSupport"),
        .testTarget(name: "KilnIRTests", dependencies: ["KilnIR"]),
        .testTarget(name: "KerasFrontendTests", dependencies: ["KerasFrontend", "KilnTestSupport"]),
        .testTarget(
            name: "SavedModelFrontendTests",
            dependencies: ["SavedModelFrontend", "TFProto", "KerasFrontend", "KilnInterpreter", "KilnTestSupport", "KilnDriver"]),
        .testTarget(name: "InterpreterTests", dependencies: ["KilnInterpreter", "KilnIR"]),
        .testTarget(
            name: "KilnRuntimeTests", dependencies: ["KilnRuntime", "KilnInterpreter", "KilnIR"],
            swiftSettings: runtimeFMA ? [.define("KILN_FMA")] : []),
        .testTarget(name: "PassesTests", dependencies: ["KilnPasses", "KilnTestSupport"]),
        .testTarget(
            name: "BackendTests",
            dependencies: ["ONNXBackend", "ONNXProto", "SwiftBackend", "KilnDriver", "KilnInterpreter", "KilnTestSupport"]),
        .testTarget(name: "DriverTests", dependencies: ["KilnDriver", "KilnPasses", "KilnTestSupport"]),
    ] + fuzzTargets.map { .executableTarget(name: $0.name, dependencies: $0.dependencies, path: "Fuzz/\($0.name)") }
)
