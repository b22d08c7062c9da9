import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import SwiftBackend
import XCTest

/// The generated Swift against the reference interpreter, op by op (testdata/ops/*.kir), at batch sizes
/// that do and do not fill the 4-row register tile.
final class SwiftBackendTests: XCTestCase {
    static let ops = TestPaths.testdata.appendingPathComponent("ops")

    func testEveryOpMatchesTheInterpreter() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.ops.path).filter { $0.hasSuffix(".kir") }.sorted()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        let graphs = try files.map { try ModelLoader.load(Self.ops.appendingPathComponent($0)) }
        // One swiftc compiles every op's executor into one program.
        let executors = try CompiledSwiftModels(graphs: graphs)
        defer { executors.remove() }
        let results = ConcurrentResults<String>(count: files.count)
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            do {
                let graph = graphs[index]
                let compiled = try executors.models[index].get()
                var failures = ""
                for batch in [1, 3, 32] {
                    let inputs = try Inputs.random(for: graph, batchSize: batch, seed: UInt64(batch))
                    let expected = try Interpreter().run(graph, inputs: inputs)
                    for comparison in Tolerance.standard.compare(actual: try compiled.run(inputs), expected: expected)
                    where !comparison.withinTolerance {
                        failures +=
                            "batch \(batch) \(comparison.name): max abs \(comparison.maxAbsoluteError) \(comparison.mismatch ?? "")\n"
                    }
                }
                results[index] = failures
            } catch {
                results[index] = "\(error)"
            }
        }
        for (file, failures) in zip(files, results.values) {
            XCTAssertEqual(failures, "", "\(file)")
        }
    }

    func testEmissionIsDeterministicAndKeepsWeightsOutOfTheSource() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras2_h5").model)
        let first = try SwiftEmitter().emit(graph), second = try SwiftEmitter().emit(graph)
        XCTAssertEqual(first.source, second.source)
        XCTAssertEqual(first.weights, second.weights)
        XCTAssertEqual(first.typeName, "MnistMlp")
        // 101,770 parameters; the source must not carry them as literals.
        XCTAssertLessThan(first.source.utf8.count, 40_000)
        XCTAssertGreaterThanOrEqual(first.weights.count, 101_770 * 4)
    }

    func testGeneratedCodeRejectsAWeightsFileOfAnotherModel() throws {
        let mlp = try ModelLoader.load(try Fixture.named("mnist_mlp_keras2_h5").model)
        let other = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model)
        let compiled = try CompiledSwiftModel(graph: mlp)
        defer { compiled.remove() }
        try Data(try SwiftEmitter().emit(other, typeName: "Model").weights).write(to: compiled.weights)
        XCTAssertThrowsError(try compiled.run(try Inputs.random(for: mlp, batchSize: 1))) { error in
            XCTAssertTrue("\(error)".contains("generated for another model"), "\(error)")
        }
    }
}
