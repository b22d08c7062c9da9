import Foundation
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

@testable import KerasFrontend

/// A Functional configuration lists its layers in any order: lowering runs each call once its inputs
/// exist (issue 21, item 7). Real Keras fixtures, their layer lists reversed, give the same nodes and the
/// same outputs, bit for bit.
final class LayerOrderTests: XCTestCase {
    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-order-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// The fixture's model_config as an architecture JSON file, its layer list changed by `edit`.
    private func architecture(_ fixture: Fixture, named name: String, edit: (inout [[String: Any]]) -> Void) throws -> URL {
        let snapshot = try HDF5Snapshot.read(path: fixture.model.path) { _, _ in false }
        let text = try XCTUnwrap(try snapshot.stringAttribute("model_config"))
        var root = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        var config = try XCTUnwrap(root["config"] as? [String: Any])
        var layers = try XCTUnwrap(config["layers"] as? [[String: Any]])
        edit(&layers)
        config["layers"] = layers
        root["config"] = config
        root["keras_version"] = "2.15.0"
        let url = scratch.appendingPathComponent(name)
        try JSONSerialization.data(withJSONObject: root).write(to: url)
        return url
    }

    func testReversedLayerListsLowerToTheSameGraph() throws {
        for name in ["functional_keras2_h5", "two_in_two_out_keras2_h5", "nested_keras2_h5", "mobile_block_keras2_h5", "deep200_keras2_h5"]
        {
            let fixture = try Fixture.named(name)
            let inOrder = try KerasReader.read(
                contentsOf: try architecture(fixture, named: "\(name).json") { _ in }, weights: fixture.model)
            let reversed = try KerasReader.read(
                contentsOf: try architecture(fixture, named: "\(name)-reversed.json") { $0.reverse() }, weights: fixture.model)
            XCTAssertEqual(reversed.nodes.map(\.name).sorted(), inOrder.nodes.map(\.name).sorted(), name)
            XCTAssertEqual(reversed.inputs, inOrder.inputs, name)
            XCTAssertEqual(reversed.outputs, inOrder.outputs, name)
            let inputs = try fixture.inputs()
            let expected = try Interpreter().run(inOrder, inputs: inputs)
            let actual = try Interpreter().run(reversed, inputs: inputs)
            for output in inOrder.outputs {
                XCTAssertEqual(actual[output]?.floats, expected[output]?.floats, "\(name) \(output)")
            }
        }
    }

    func testALayerReadingATensorNoLayerMakesIsNamed() throws {
        let fixture = try Fixture.named("functional_keras2_h5")
        let url = try architecture(fixture, named: "ghost.json") { layers in
            // The last layer reads from a layer that does not exist.
            layers[layers.count - 1]["inbound_nodes"] = [[["ghost", 0, 0, [String: Any]()]]]
        }
        XCTAssertThrowsError(try KerasReader.read(contentsOf: url, weights: fixture.model)) { error in
            XCTAssertTrue("\(error)".contains("read tensors no layer produces"), "\(error)")
        }
    }
}
