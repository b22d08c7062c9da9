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
/// normalizes trailing axes only, so a channels-first value goes back to channels-last before it).
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
            XCTAssertLessThanOrEqual(
                transposes, boundaries + layoutDependent,
                "\(fixture.name): \(onnx.node.map { "\($0.opType)(\($0.input.first ?? ""))" }.joined(separator: ", "))")
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
