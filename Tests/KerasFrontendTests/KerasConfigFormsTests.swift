import Foundation
import KilnIR
import XCTest

@testable import KerasFrontend

/// Forms of model configurations found in real files: nested output lists, calls with keyword arguments,
/// Keras's output names, and every unsupported layer reported at once.
final class KerasConfigFormsTests: XCTestCase {
    /// input [4] -> Dense a, b, c, each on the input.
    private func threeHeads(_ form: ModelConfigBuilder.Form) -> ModelConfigBuilder {
        var model = ModelConfigBuilder(form)
        model.input("x", [4])
        for name in ["a", "b", "c"] { model.dense(name, units: 2, on: "x") }
        return model
    }

    func testNestedOutputListsAreFlattenedInOrder() throws {
        for form in [ModelConfigBuilder.Form.keras2, .keras3] {
            var model = threeHeads(form)
            model.outputStructure = [[["a", 0, 0], [["b", 0, 0]]], ["c", 0, 0]]
            XCTAssertEqual(try model.lower().outputs, ["a", "b", "c"], "\(form)")
            model.outputStructure = ["c": ["c", 0, 0], "a": [["a", 0, 0]]]
            XCTAssertEqual(try model.lower().outputs, ["a", "c"], "dict keys in sorted order, \(form)")
            model.outputStructure = [["a", 0, 0], [7]]
            assertMentions(loweringError(model), ["a tensor reference is not [layer, node, tensor]"])
        }
    }

    func testKeras2CallsWithKeywordArguments() throws {
        var model = ModelConfigBuilder(.keras2)
        model.input("x", [4])
        model.dense("d", units: 3, on: "x")
        // `Dropout(...)(d, training=False)`: tf-keras nests the reference one level deeper and appends the kwargs.
        model.layer("Dropout", "drop", ["rate": 0.5], inboundNodes: [[[["d", 0, 0, ["training": false]]]]], shape: [3])
        // A merge on a list, every entry carrying the (same) kwargs, and a constant Keras 2 marks as such.
        model.layer(
            "Add", "sum",
            inboundNodes: [[["drop", 0, 0, ["flag": true]], ["d", 0, 0, ["flag": true]], ["_CONSTANT_VALUE", -1, 3, [String: Any]()]]],
            shape: [3])
        model.outputs = ["sum"]
        let graph = try model.lower(version: "2.20.1")
        XCTAssertEqual(graph.nodes.map(\.op), [.gemm(transB: false), .binary(.add)])
        XCTAssertEqual(graph.nodes.last?.inputs, ["d", "d"])

        // A tensor among the kwargs is an input of the call: here one too many for a Dense.
        var extra = ModelConfigBuilder(.keras2)
        extra.input("x", [4])
        extra.input("m", [4])
        extra.dense("d", units: 3, on: "x")
        extra.layer("Dense", "e", ["units": 2], inboundNodes: [[["d", 0, 0, ["state": ["m", 0, 0]]]]])
        extra.outputs = ["e"]
        assertMentions(loweringError(extra, version: "2.20.1"), ["layer 'e'", "takes one input, got 2"])
        // A `mask` is not an input: a layer given one uses it, which Kiln implements for few layers.
        var masked = ModelConfigBuilder(.keras2)
        masked.input("x", [4])
        masked.input("m", [4])
        masked.dense("d", units: 3, on: "x")
        masked.layer("Dense", "f", ["units": 2], inboundNodes: [[["d", 0, 0, ["mask": ["m", 0, 0]]]]])
        masked.outputs = ["f"]
        assertMentions(loweringError(masked, version: "2.20.1"), ["layer 'f'", "carries a mask", "masked Dense is not supported yet"])
    }

    func testKeras3CallsWithKeywordArguments() throws {
        let tensor = { (name: String) -> [String: Any] in
            ["class_name": "__keras_tensor__", "config": ["dtype": "float32", "keras_history": [name, 0, 0]]]
        }
        var model = ModelConfigBuilder(.keras3)
        model.input("x", [4])
        model.dense("d", units: 3, on: "x")
        model.layer("Dropout", "drop", ["rate": 0.5], inboundNodes: [["args": [tensor("d")], "kwargs": ["training": false]]], shape: [3])
        model.outputs = ["drop"]
        let graph = try model.lower()
        XCTAssertEqual(graph.nodes.map(\.op), [.gemm(transB: false), .identity])
        XCTAssertEqual(graph.outputs, ["drop"])
    }

    func testOutputsCarryKerasNames() throws {
        // A nested model whose call is node 1 (Keras numbers the call that built it 0) is named after the model.
        let innerConfig: [String: Any] = [
            "name": "inner",
            "layers": [
                [
                    "class_name": "InputLayer", "name": "inner_in", "config": ["name": "inner_in", "batch_shape": [NSNull(), 4]],
                    "inbound_nodes": [],
                ],
                [
                    "class_name": "Dense", "name": "inner_dense", "config": ["name": "inner_dense", "units": 2],
                    "inbound_nodes": [[["inner_in", 0, 0, [String: Any]()]]],
                ],
            ],
            "input_layers": [["inner_in", 0, 0]], "output_layers": [["inner_dense", 0, 0]],
        ]
        var model = ModelConfigBuilder(.keras2)
        model.input("x", [4])
        model.layer("Functional", "inner", innerConfig, inboundNodes: [[["x", 0, 0, [String: Any]()]]], shape: [2])
        model.setWeights(
            "inner/inner_dense", [Tensor(shape: [4, 2], floats: Array(repeating: 0.5, count: 8)), Tensor(shape: [2], floats: [0, 1])])
        model.outputStructure = [["inner", 1, 0]]
        XCTAssertEqual(try model.lower(version: "2.20.1").outputs, ["inner"])

        // A shared layer's second call as an output takes the layer's name from the first call's value; the
        // same layer named twice gets `_1` (tf-keras's output names).
        var shared = ModelConfigBuilder(.keras2)
        shared.input("x", [4])
        shared.layer(
            "Dense", "d", ["units": 4], inboundNodes: [[["x", 0, 0, [String: Any]()]], [["d", 0, 0, [String: Any]()]]], shape: [4])
        shared.setWeights(
            "d", [Tensor(shape: [4, 4], floats: (0..<16).map { Float($0) * 0.1 }), Tensor(shape: [4], floats: [0, 0, 0, 0])])
        shared.layer("Activation", "act", ["activation": "relu"], on: ["d"])
        shared.outputStructure = [["d", 1, 0], ["act", 0, 0], ["d", 0, 0]]
        let graph = try shared.lower(version: "2.20.1")
        XCTAssertEqual(graph.outputs, ["d", "act", "d_1"])
        XCTAssertEqual(graph.nodes.first { $0.outputs[0].name == "d" }?.inputs, ["d.call1"])
        XCTAssertEqual(graph.nodes.first { $0.outputs[0].name == "d_1" }?.inputs, ["d.call0"])
        XCTAssertEqual(graph.nodes.first { $0.outputs[0].name == "d.call1" }?.inputs.first, "d.call0")
    }

    func testEveryUnsupportedLayerIsListedAtOnceWithCounts() {
        var model = ModelConfigBuilder(.keras3)
        model.input("q", [5, 8])
        model.input("v", [5, 8])
        model.layer("ConvLSTM1D", "lstm", ["filters": 4], on: ["q"])
        model.layer("Lambda", "lambda", on: ["lstm"])
        model.layer("ConvLSTM1D", "lstm_1", ["filters": 4], on: ["v"])
        // Two inputs: the class is reported, not the arity.
        model.layer("GroupedQueryAttention", "mha", on: ["q", "v"])
        model.layer("Dense", "dense", ["units": 2], on: ["mha"])
        model.outputs = ["lambda", "lstm_1", "dense"]
        let message = loweringError(model)
        assertMentions(
            message,
            [
                "memory.h5",
                "2 x ConvLSTM1D (layers 'lstm', 'lstm_1'), 1 x Lambda (layer 'lambda'), 1 x GroupedQueryAttention (layer 'mha')",
                "recurrent layers (ConvLSTM1D) are not supported yet; SimpleRNN, LSTM, GRU, Bidirectional and RNN around their cells are",
                "Lambda layers hold Python code", "supported layers: Activation",
            ])
        XCTAssertFalse(message.contains("takes one input"), message)
    }

    func testCustomLayersNameTheirPackage() {
        var model = ModelConfigBuilder(.keras3)
        model.input("x", [4])
        model.layer("QDense", "fc1", ["units": 2], on: ["x"])
        model.outputs = ["fc1"]
        var json = model
        json.name = "q"
        let config = json.json.replacingOccurrences(
            of: #""class_name":"QDense""#, with: #""class_name":"QDense","module":"qkeras.qlayers""#)
        do {
            _ = try KerasReader.lower(
                config, version: "3.14", backend: nil, format: "keras", weights: MemoryWeights(tensors: [:]), file: "q.keras")
            XCTFail("QDense should be rejected")
        } catch {
            assertMentions(error.description, ["1 x QDense (layer 'fc1')", "the Python package 'qkeras'"])
        }
    }
}
