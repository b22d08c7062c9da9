import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import ONNXBackend
import ONNXProto
import XCTest

/// The emitted ONNX keeps Keras's layouts at its boundaries and runs channels-first inside: for every Keras
/// fixture at -O2, no more Transposes than one per graph input and output of rank 3 or more, plus one per op
/// whose meaning depends on the layout (Flatten, Reshape, Gather's table rows, and LayerNormalization, which
/// normalizes trailing axes only, so a channels-first value goes back to channels-last before it), and around the
/// recurrent ops, which ONNX Runtime runs sequence-major.
final class ONNXLayoutTests: XCTestCase {
    func testTransposesOnlyAtBoundariesAndLayoutChanges() throws {
        let pipeline = try Optimizer.pipeline(level: "O2")
        var checked = 0
        for fixture in try Fixture.all() {
            let graph = try pipeline.run(try fixture.load())
            let onnx = try decodeONNX(graph).graph
            let transposes = onnx.node.filter { $0.opType == "Transpose" }.count
            let boundaries = (graph.inputs + graph.outputValues).filter { $0.type.shape.rank >= 3 }.count
            let layoutDependent = onnx.node.filter { ["Flatten", "Reshape", "Gather", "LayerNormalization"].contains($0.opType) }.count
            // ONNX Runtime runs RNN, GRU and LSTM sequence-major only: a Transpose of each input sequence (shared by the
            // ops that read it) and initial state, and one of each result something reads.
            let read = Set(onnx.node.flatMap(\.input) + onnx.output.map(\.name))
            let recurrent = onnx.node.filter { ["RNN", "GRU", "LSTM"].contains($0.opType) }
            let sequences = Set(recurrent.map { $0.input[0] }).count
            let states = recurrent.reduce(0) {
                $0 + $1.input.dropFirst(5).filter { !$0.isEmpty }.count + $1.output.filter(read.contains).count
            }
            XCTAssertLessThanOrEqual(
                transposes, boundaries + layoutDependent + sequences + states,
                "\(fixture.name): \(onnx.node.map { "\($0.opType)(\($0.input.first ?? ""))" }.joined(separator: ", "))")
            // Recurrent layers are ONNX's native operators, never a Loop or Scan.
            XCTAssertFalse(onnx.node.contains { ["Loop", "Scan"].contains($0.opType) }, fixture.name)
            if fixture.name.hasPrefix("recurrent_") { XCTAssertFalse(recurrent.isEmpty, fixture.name) }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 50)
        // A whole channels_first network: its own Transposes meet the emitter's and nothing is transposed at all
        // but before the channels_last Flatten.
        let graph = try pipeline.run(try ModelLoader.load(try Fixture.named("channels_first_keras3_keras").model))
        let onnx = try decodeONNX(graph).graph
        XCTAssertLessThanOrEqual(onnx.node.filter { $0.opType == "Transpose" }.count, 1, "\(onnx.node.map(\.opType))")
    }
}
