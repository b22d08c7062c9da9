import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

/// Static int8 quantization of the digits classifiers: calibrated on 100 held-out digits, evaluated on the
/// other 197, top-1 within half a point of float in the interpreter, and the generated Swift computing
/// what the interpreter computes.
final class QuantizationDriverTests: XCTestCase {
    /// The held-out digits, 8x8 (for the CNN) and 28x28 (for the MLP), and their labels.
    static func digits() throws -> (small: Tensor, large: Tensor, labels: [Int64]) {
        let (large, labels) = try PruningDriverTests.heldOut()
        let directory = TestPaths.testdata.appendingPathComponent("digits")
        let raw = try NPY.read(contentsOf: directory.appendingPathComponent("heldout_images_x16.npy"))
        return (Tensor(shape: [raw.shape[0], 8, 8, 1], floats: raw.floats.map { $0 / 16 }), large, labels)
    }

    static func rows(_ tensor: Tensor, _ range: Range<Int>) -> Tensor {
        let width = tensor.count / tensor.shape[0]
        return Tensor(
            shape: [range.count] + tensor.shape.dropFirst(),
            floats: Array(tensor.floats[(range.lowerBound * width)..<(range.upperBound * width)]))
    }

    func testStaticInt8KeepsTopOneWithinHalfAPointInTheInterpreterAndSwift() throws {
        let (small, large, labels) = try Self.digits()
        var checks: [(fixture: String, quantized: Graph, evaluation: [String: Tensor], truth: [Int64])] = []
        for (fixture, images) in [("mnist_mlp_keras3_h5", large), ("digits_cnn_keras3_keras", small)] {
            let graph = try Optimizer.pipeline(level: "O2").run(try ModelLoader.load(try Fixture.named(fixture).model))
            let input = graph.inputs[0].name
            let calibration = [input: Self.rows(images, 0..<100)]
            let evaluation = [input: Self.rows(images, 100..<labels.count)]
            let truth = Array(labels[100...])
            let quantized = try Quantizer(mode: "static").quantize(graph, calibration: calibration)
            XCTAssertTrue(quantized.constants.contains { $0.tensor.dtype == .int8 }, fixture)
            func accuracy(_ g: Graph) throws -> Double {
                let scores = try Interpreter().run(g, inputs: evaluation)[g.outputs[0]]!.floats
                var correct = 0
                for (row, label) in truth.enumerated() {
                    let slice = scores[(row * 10)..<((row + 1) * 10)]
                    if slice.indices.max(by: { slice[$0] < slice[$1] })! - row * 10 == Int(label) { correct += 1 }
                }
                return Double(correct) / Double(truth.count)
            }
            let float = try accuracy(graph), int8 = try accuracy(quantized)
            print("\(fixture): top-1 float \(float), static int8 \(int8)")
            XCTAssertGreaterThan(float, 0.9, "\(fixture) must be a real classifier for the comparison to mean anything")
            XCTAssertGreaterThanOrEqual(int8, float - 0.005, fixture)
            checks.append((fixture, quantized, evaluation, truth))
        }
        // Both quantized executors compiled together, by one swiftc.
        let executors = try CompiledSwiftModels(graphs: checks.map(\.quantized))
        defer { executors.remove() }
        for ((fixture, quantized, evaluation, truth), compiled) in zip(checks, executors.models) {
            // The generated Swift runs the same QuantizeLinear arithmetic, but its float products sum in another
            // order, so an activation a hair from a rounding boundary can land one quantization step away; the
            // outputs then differ by about one step times a weight. So: the same class for every example and
            // outputs within 1e-2 (a step of these activations is about 1e-2 to 4e-2).
            let swift = try compiled.get().run(evaluation)[quantized.outputs[0]]!.floats
            let reference = try Interpreter().run(quantized, inputs: evaluation)[quantized.outputs[0]]!.floats
            let difference = zip(swift, reference).map { abs($0 - $1) }.max()!
            print("\(fixture): generated Swift against the interpreter, int8: max abs difference \(difference)")
            XCTAssertLessThan(difference, 1e-2, fixture)
            for row in 0..<truth.count {
                let a = swift[(row * 10)..<((row + 1) * 10)], b = reference[(row * 10)..<((row + 1) * 10)]
                XCTAssertEqual(a.indices.max { a[$0] < a[$1] }, b.indices.max { b[$0] < b[$1] }, "\(fixture) example \(row)")
            }
        }
    }

    func testDynamicQuantizesWeightsOnlyAndBadOptionsAreClearErrors() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model)
        let dynamic = try Quantizer(mode: "dynamic").quantize(graph, calibration: nil)
        XCTAssertFalse(dynamic.nodes.contains { if case .quantizeLinear = $0.op { true } else { false } })
        XCTAssertEqual(dynamic.nodes.filter { if case .dequantizeLinear = $0.op { true } else { false } }.count, 2)
        XCTAssertThrowsError(try Quantizer(mode: "static").quantize(graph, calibration: nil)) { error in
            XCTAssertTrue("\(error)".contains("--calibration"), "\(error)")
        }
        XCTAssertThrowsError(try Quantizer(mode: "int4"))
        XCTAssertThrowsError(try Quantizer(mode: "static", calibration: "kl")) { error in
            XCTAssertTrue("\(error)".contains("minmax, percentile or entropy"), "\(error)")
        }
    }
}
