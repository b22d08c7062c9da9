import Foundation
import KilnDriver
import KilnIR
import SwiftBackend
import XCTest

/// The generated API as a user calls it, compiled with a hand-written `main.swift`: the typed `predict`
/// on an MLP shaped like MNIST's (784-128-10, Relu and Softmax) at batch 32, then 1 and 3 (reusing the
/// arena), the buffer and by-name entries, the static descriptions, and every error a caller can cause.
final class SwiftGeneratedAPITests: XCTestCase {
    static func mlp(_ widths: [Int], name: String = "mnist_mlp", seed: UInt64 = 11) throws -> Graph {
        var g = SwiftTestGraph(name: name, seed: seed)
        var value = g.input("input", [widths[0]])
        for layer in 0..<(widths.count - 1) {
            let w = g.constant("dense\(layer).kernel", [widths[layer], widths[layer + 1]], scale: 1 / Float(widths[layer]).squareRoot())
            let b = g.constant("dense\(layer).bias", [widths[layer + 1]], scale: 0.1)
            value = try g.node("dense\(layer)", .gemm(transB: false), [value, w, b])
            if layer < widths.count - 2 { value = try g.node("dense\(layer).relu", .activation(.relu), [value]) }
        }
        g.output(try g.node("probs", .softmax(axis: -1), [value]))
        return g.graph
    }

    /// The MLP's outputs computed with the reference loops.
    static func reference(_ graph: Graph, input: [Float], batch: Int) -> [Float] {
        let constants = graph.constantsByName
        var value = input
        var layer = 0
        while let w = constants["dense\(layer).kernel"], let b = constants["dense\(layer).bias"] {
            value = SwiftReference.dense(value, rows: batch, k: w.shape[0], w.floats, n: w.shape[1], bias: b.floats)
            layer += 1
            if constants["dense\(layer).kernel"] != nil { value = value.map { Swift.max($0, 0) } }
        }
        return SwiftReference.softmax(value, width: 10)
    }

    static let main = #"""
        import Foundation

        func floats(_ path: String) throws -> [Float] {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }

        func report(_ label: String, _ body: () throws -> Void) {
            do {
                try body()
                print("\(label): no error")
            } catch {
                print("\(label): \(error)")
            }
        }

        let directory = CommandLine.arguments[1]
        let model = try MnistMlp(weightsAt: URL(fileURLWithPath: directory + "/MnistMlp.weights"))
        print("names: \(MnistMlp.inputNames) \(MnistMlp.outputNames) \(MnistMlp.inputShapes) \(MnistMlp.outputShapes)")
        for batch in [32, 1, 3] {
            let input = try floats(directory + "/input\(batch).bin")
            let output: MnistMlp.Output = try model.predict(input: input, batchSize: batch)
            try output.probs.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: directory + "/probs\(batch).bin")) }
            let byName = try model.predict(inputs: ["input": input], batchSize: batch)
            var buffer = [Float](repeating: .nan, count: batch * 10)
            try input.withUnsafeBufferPointer { source in
                try buffer.withUnsafeMutableBufferPointer { try model.predict(input: source, batchSize: batch, probs: $0) }
            }
            print("batch \(batch) agrees: \(byName["probs"] == output.probs && buffer == output.probs)")
        }
        report("too few", { _ = try model.predict(input: [1, 2, 3], batchSize: 1) })
        report("batch 0", { _ = try model.predict(input: [], batchSize: 0) })
        report("missing", { _ = try model.predict(inputs: [:], batchSize: 1) })
        report("unknown", { _ = try model.predict(inputs: ["input": [Float](repeating: 0, count: 784), "pixels": []], batchSize: 1) })
        report("small output", {
            let input = [Float](repeating: 0, count: 784)
            var probs = [Float](repeating: 0, count: 9)
            try input.withUnsafeBufferPointer { source in
                try probs.withUnsafeMutableBufferPointer { try model.predict(input: source, batchSize: 1, probs: $0) }
            }
        })
        for name in ["missing", "magic", "version", "truncated"] {
            report("weights \(name)", { _ = try MnistMlp(weightsAt: URL(fileURLWithPath: directory + "/\(name).weights")) })
        }
        """#

    func testTypedAPIAtSeveralBatchSizesAndItsErrors() throws {
        let graph = try Optimizer.pipeline(level: "O2").run(try Self.mlp([784, 128, 10]))
        let emission = try SwiftEmitter().emit(graph)
        XCTAssertEqual(emission.typeName, "MnistMlp")
        for declaration in [
            "public final class MnistMlp {", "public struct Output {", "public var probs: [Float]",
            "public init(weightsAt url: URL) throws", "public func predict(input: [Float], batchSize: Int) throws -> Output",
            "public func predict(inputs: [String: [Float]], batchSize: Int) throws -> [String: [Float]]",
            "public static let inputShapes: [String: [Int]] = [\"input\": [784]]", "public enum MnistMlpError: Error",
            "/// - input `input`: [batchSize, 784]", "/// - output `probs`: [batchSize, 10]",
        ] {
            XCTAssertTrue(emission.source.contains(declaration), "no \(declaration)")
        }
        // The hidden layer's Relu is fused; the source holds no weights and no kernels the MLP does not use.
        XCTAssertTrue(emission.source.contains("with Relu fused"))
        XCTAssertFalse(emission.source.contains("KilnWindow"))
        XCTAssertLessThan(emission.source.utf8.count, 40_000)

        let (directory, remove) = try swiftTemporaryDirectory()
        defer { remove() }
        func write(_ bytes: [UInt8], _ name: String) throws { try Data(bytes).write(to: directory.appendingPathComponent(name)) }
        try write(emission.weights, "MnistMlp.weights")
        try write(Array(emission.weights.prefix(64)) + [0], "truncated.weights")
        var badMagic = emission.weights
        badMagic[0] = UInt8(ascii: "X")
        try write(badMagic, "magic.weights")
        var badVersion = emission.weights
        badVersion[8] = 9
        try write(badVersion, "version.weights")
        var inputs: [Int: [Float]] = [:]
        for batch in [32, 1, 3] {
            inputs[batch] = try Inputs.random(for: graph, batchSize: batch, seed: UInt64(batch))["input"]!.floats
            try write(inputs[batch]!.withUnsafeBytes { Array($0) }, "input\(batch).bin")
        }
        let sources = [directory.appendingPathComponent("main.swift"), directory.appendingPathComponent("MnistMlp.swift")]
        try Data(Self.main.utf8).write(to: sources[0])
        try Data(emission.source.utf8).write(to: sources[1])
        let toolchain = try SwiftToolchain()
        let executable = directory.appendingPathComponent("api")
        try toolchain.compile(sources, into: executable)
        let lines = try toolchain.run(executable, arguments: [directory.path]).stdout.split(separator: "\n").map(String.init)

        XCTAssertEqual(lines.first, "names: [\"input\"] [\"probs\"] [\"input\": [784]] [\"probs\": [10]]")
        for batch in [32, 1, 3] {
            XCTAssertTrue(lines.contains("batch \(batch) agrees: true"), "\(lines)")
            let data = try Data(contentsOf: directory.appendingPathComponent("probs\(batch).bin"))
            let actual = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let expected = Self.reference(graph, input: inputs[batch]!, batch: batch)
            XCTAssertEqual(
                swiftOutputFailures(
                    actual: ["probs": Tensor(shape: [batch, 10], floats: actual)],
                    expected: ["probs": Tensor(shape: [batch, 10], floats: expected)],
                    context: "batch \(batch)"), [])
        }
        let expectedErrors = [
            "too few: 'input' needs 784 floats (batchSize 1 x [784]), got 3",
            "batch 0: batchSize must be at least 1, got 0",
            "missing: missing input 'input'; MnistMlp takes [\"input\"]",
            "unknown: 'pixels' is not an input of MnistMlp; it takes [\"input\"]",
            "small output: 'probs' needs 10 floats (batchSize 1 x [10]), got 9",
            "weights magic: \(directory.path)/magic.weights is not a Kiln weights file; pass the MnistMlp.weights file generated with this source",
            "weights version: \(directory.path)/version.weights has weights format 9, but this source reads format 1; generate both files with the same Kiln",
            "weights truncated: \(directory.path)/truncated.weights has 65 bytes where MnistMlp needs \(emission.weights.count); it is truncated or belongs to another model",
        ]
        for line in expectedErrors { XCTAssertTrue(lines.contains(line), "no line '\(line)' in:\n\(lines.joined(separator: "\n"))") }
        XCTAssertTrue(
            lines.contains { $0.hasPrefix("weights missing: cannot read the weights file \(directory.path)/missing.weights") }, "\(lines)")
    }

    /// A 784-512-512-256-10 MLP (about 800k parameters) compiles in seconds, since its weights are not in the
    /// source, and computes what the reference loops do. The compile time is printed, not asserted.
    func testLargeMLPCompilesQuicklyAndMatches() throws {
        let graph = try Self.mlp([784, 512, 512, 256, 10], name: "wide_mlp")
        let emission = try SwiftEmitter().emit(graph)
        XCTAssertLessThan(emission.source.utf8.count, 40_000)
        XCTAssertGreaterThanOrEqual(emission.weights.count, 64 + graph.parameterCount * 4)
        let start = Date()
        let compiled = try CompiledSwiftModel(graph: graph, typeName: emission.typeName)
        defer { compiled.remove() }
        print(
            "SwiftGeneratedAPITests: swiftc -O compiled the 784-512-512-256-10 MLP and harness in \(String(format: "%.1f", Date().timeIntervalSince(start))) s"
        )
        let inputs = try Inputs.random(for: graph, batchSize: 5, seed: 3)
        let expected = Self.reference(graph, input: inputs["input"]!.floats, batch: 5)
        XCTAssertEqual(
            swiftOutputFailures(
                actual: try compiled.run(inputs), expected: ["probs": Tensor(shape: [5, 10], floats: expected)], context: "batch 5"),
            [])
        let timings = try compiled.bench(batches: [1, 4], runs: 5)
        XCTAssertEqual(timings.map(\.batch), [1, 4])
        XCTAssertTrue(timings.allSatisfy { $0.medianMicroseconds > 0 })
    }
}
