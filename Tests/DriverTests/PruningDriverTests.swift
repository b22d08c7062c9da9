import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

/// Pruning on the digits MLP: accuracy on the held-out split against sparsity (reported), structured
/// pruning's accuracy (asserted), and pruned models in the generated Swift against the interpreter.
final class PruningDriverTests: XCTestCase {
    /// The held-out digits as the MLP's 28x28 inputs (each 8x8 pixel repeated 3x3, padded by 2) and labels.
    static func heldOut() throws -> (images: Tensor, labels: [Int64]) {
        let digits = TestPaths.testdata.appendingPathComponent("digits")
        let small = try NPY.read(contentsOf: digits.appendingPathComponent("heldout_images_x16.npy"))
        let labels = try NPY.read(contentsOf: digits.appendingPathComponent("heldout_labels.npy")).int64s
        let count = small.shape[0], pixels = small.floats
        var images = [Float](repeating: 0, count: count * 784)
        for n in 0..<count {
            for y in 0..<24 {
                for x in 0..<24 { images[n * 784 + (y + 2) * 28 + x + 2] = pixels[n * 64 + (y / 3) * 8 + x / 3] / 16 }
            }
        }
        return (Tensor(shape: [count, 28, 28], floats: images), labels)
    }

    static func accuracy(_ graph: Graph, _ images: Tensor, _ labels: [Int64]) throws -> Double {
        let scores = try Interpreter().run(graph, inputs: [graph.inputs[0].name: images])[graph.outputs[0]]!.floats
        var correct = 0
        for (row, label) in labels.enumerated() {
            let slice = scores[(row * 10)..<((row + 1) * 10)]
            if slice.indices.max(by: { slice[$0] < slice[$1] })! - row * 10 == Int(label) { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }

    func testAccuracyAgainstSparsityOnTheDigitsMLP() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model)
        let (images, labels) = try Self.heldOut()
        let base = try Self.accuracy(graph, images, labels)
        XCTAssertGreaterThan(base, 0.9, "the float MLP's held-out accuracy")
        // Reported, not asserted: how accuracy falls with unstructured and N:M sparsity.
        var report = "digits MLP held-out top-1: float \(base)\n"
        for spec in ["magnitude:0.5", "magnitude:0.8", "magnitude:0.9", "nm:2:4", "nm:1:4", "channels:0.5"] {
            let pruned = try Pruner(spec: spec, includeEnds: true).prune(graph)
            report += "  \(spec): \(try Self.accuracy(pruned, images, labels)), \(pruned.parameterCount) parameters\n"
        }
        print(report)
        // Asserted: removing a quarter of the hidden units keeps top-1 within 5 points.
        let quarter = try Pruner(spec: "channels:0.25", includeEnds: true).prune(graph)
        XCTAssertEqual(quarter.constantsByName["dense.kernel"]?.shape, [784, 96])
        XCTAssertGreaterThanOrEqual(try Self.accuracy(quarter, images, labels), base - 0.05)
    }

    func testPrunedModelsRunInTheGeneratedSwiftAsInTheInterpreter() throws {
        let fixture = try Fixture.named("cnn_bn_keras3_h5")
        let specs = ["magnitude:0.8", "nm:2:4", "channels:0.5"]
        let cases = try specs.map { spec in
            let pruned = try Pruner(spec: spec, includeEnds: true).prune(try ModelLoader.load(fixture.model))
            return EngineCheck.Case(try Optimizer.pipeline(level: "O2").run(pruned), inputs: try fixture.inputs())
        }
        for (spec, result) in zip(specs, try EngineCheck.verify(cases)) {
            let report = try result.get()
            XCTAssertTrue(report.passed, "\(spec):\n\(report.render())")
        }
    }

    func testBadSpecificationsAreClearErrors() {
        for (spec, message) in [
            ("magnitude:1.5", "must be a fraction in [0, 1)"), ("nm:4:2", "0 < N <= M"), ("random:0.5", "unknown --prune 'random:0.5'"),
            ("magnitude", "unknown --prune"),
        ] {
            XCTAssertThrowsError(try Pruner(spec: spec)) { error in XCTAssertTrue("\(error)".contains(message), "\(spec): \(error)") }
        }
        XCTAssertThrowsError(try Pruner(spec: "magnitude:0.5", scope: "everywhere")) { error in
            XCTAssertTrue("\(error)".contains("layer or global"), "\(error)")
        }
    }
}
