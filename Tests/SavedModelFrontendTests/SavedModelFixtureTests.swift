import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import TFProto
import XCTest

@testable import SavedModelFrontend

/// testdata/savedmodel/mlp: Dense(8, relu) -> Dense(3, softmax) saved by tf_keras with model.save('mlp/1'),
/// with each weight as Keras holds it in weights/<layer>.<weight>.npy.
final class SavedModelFixtureTests: XCTestCase {
    let directory = TestPaths.testdata.appendingPathComponent("savedmodel/mlp")
    var version: URL { directory.appendingPathComponent("1") }

    func testCheckpointTensorsAreKerasWeights() throws {
        let bundle = try TensorBundle(prefix: version.appendingPathComponent("variables/variables").path)
        // A Sequential model's checkpoint names layers with weights by their position among them.
        let keys = [
            "hidden.kernel": "layer_with_weights-0/kernel", "hidden.bias": "layer_with_weights-0/bias",
            "scores.kernel": "layer_with_weights-1/kernel", "scores.bias": "layer_with_weights-1/bias",
        ]
        XCTAssertEqual(Set(bundle.keys), Set(keys.values.map { "\($0)/.ATTRIBUTES/VARIABLE_VALUE" } + ["_CHECKPOINTABLE_OBJECT_GRAPH"]))
        for (weight, key) in keys {
            let expected = try NPY.read(contentsOf: directory.appendingPathComponent("weights/\(weight).npy"))
            XCTAssertEqual(try bundle.tensor("\(key)/.ATTRIBUTES/VARIABLE_VALUE"), expected, weight)
        }
    }

    func testObjectGraphNamesTheVariables() throws {
        let bundle = try TensorBundle(prefix: version.appendingPathComponent("variables/variables").path)
        let strings = try bundle.strings("_CHECKPOINTABLE_OBJECT_GRAPH")
        XCTAssertEqual(strings.count, 1)
        let graph = try Tensorflow_TrackableObjectGraph(serializedBytes: strings[0])
        let root = try XCTUnwrap(graph.nodes.first)
        let layer = try XCTUnwrap(root.children.first { $0.localName == "layer_with_weights-0" })
        let kernel = try XCTUnwrap(graph.nodes[Int(layer.nodeID)].children.first { $0.localName == "kernel" })
        XCTAssertEqual(
            graph.nodes[Int(kernel.nodeID)].attributes.map(\.checkpointKey), ["layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE"])
    }

    func testSavedModelSchemaReadsTheServingSignature() throws {
        let model = try Tensorflow_SavedModel(serializedBytes: Data(contentsOf: version.appendingPathComponent("saved_model.pb")))
        XCTAssertEqual(model.metaGraphs.count, 1)
        let graph = model.metaGraphs[0]
        XCTAssertEqual(graph.metaInfoDef.tags, ["serve"])
        let signature = try XCTUnwrap(graph.signatureDef["serving_default"])
        XCTAssertEqual(signature.methodName, "tensorflow/serving/predict")
        let input = try XCTUnwrap(signature.inputs["features"])
        XCTAssertEqual(input.name, "serving_default_features:0")
        XCTAssertEqual(input.dtype, .dtFloat)
        XCTAssertEqual(input.tensorShape.dim.map(\.size), [-1, 4])
        XCTAssertEqual(signature.outputs["scores"]?.tensorShape.dim.map(\.size), [-1, 3])
        XCTAssertFalse(graph.graphDef.library.function.isEmpty)
        XCTAssertFalse(graph.objectGraphDef.nodes.isEmpty)
    }

    func testKerasMetadataNamesTheLayers() throws {
        let metadata = try Keras_SavedMetadata(serializedBytes: Data(contentsOf: version.appendingPathComponent("keras_metadata.pb")))
        XCTAssertEqual(metadata.nodes.map(\.nodePath), ["root", "root.layer_with_weights-0", "root.layer_with_weights-1"])
        XCTAssertEqual(metadata.nodes.map(\.identifier), ["_tf_keras_sequential", "_tf_keras_layer", "_tf_keras_layer"])
        let root = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(metadata.nodes[0].metadata.utf8)) as? [String: Any])
        XCTAssertEqual(root["class_name"] as? String, "Sequential")
        XCTAssertEqual(root["name"] as? String, "mlp")
    }
}
