import Foundation
import KilnIR
import XCTest

@testable import KerasFrontend

/// Op layers in the forms real files write them (the inbound nodes below are copied from files tf-keras 2.20
/// and Keras 3.12 wrote): Keras 2's TFOpLambda and SlicingOpLambda, Keras 3's keras.ops operations, and the
/// masks of Embedding(mask_zero=True).
final class KerasOpLayerTests: XCTestCase {
    private let numpy = "keras.src.ops.numpy"
    private func tensor(_ layer: String) -> [String: Any] { ModelConfigBuilder.kerasTensor(layer) }
    private func ops(_ graph: Graph) -> [String] { graph.nodes.map { $0.op.name } }

    func testKeras2TFOpLambdaArgumentsAndConstants() throws {
        var model = ModelConfigBuilder(.keras2)
        model.input("x", [4, 6])
        model.input("y", [4, 6])
        // tf.math.add(x, y): a single entry, the second operand among the kwargs under its parameter name.
        model.op("TFOpLambda", "tf.math.add", ["function": "math.add"], inboundNodes: [["x", 0, 0, ["y": ["y", 0, 0]]]])
        // 1.0 - x: the constant first, x among its kwargs.
        model.op(
            "TFOpLambda", "tf.math.subtract", ["function": "math.subtract"],
            inboundNodes: [["_CONSTANT_VALUE", -1, 1.0, ["y": ["tf.math.add", 0, 0], "name": NSNull()]]])
        // tf.concat([a, x], axis=-1): a list first argument, each entry with the same kwargs.
        model.op(
            "TFOpLambda", "tf.concat", ["function": "concat"],
            inboundNodes: [[["tf.math.subtract", 0, 0, ["axis": -1]], ["x", 0, 0, ["axis": -1]]]])
        // tf.linalg.matmul(x, y, transpose_b=True) and tf.reduce_mean(c, axis=1, keepdims=True).
        model.op(
            "TFOpLambda", "tf.linalg.matmul", ["function": "linalg.matmul"],
            inboundNodes: [["x", 0, 0, ["b": ["y", 0, 0], "transpose_b": true]]])
        model.op(
            "TFOpLambda", "tf.math.reduce_mean", ["function": "math.reduce_mean"],
            inboundNodes: [["tf.concat", 0, 0, ["axis": 1, "keepdims": true]]])
        model.outputs = ["tf.linalg.matmul", "tf.math.reduce_mean"]
        let graph = try model.lower(version: "2.20.1")
        XCTAssertEqual(ops(graph), ["Add", "Sub", "Concat", "Transpose", "MatMul", "ReduceMean"])
        XCTAssertEqual(graph.nodes[1].inputs, ["tf.math.subtract.x", "tf.math.add"])
        XCTAssertEqual(graph.constants.first?.tensor, Tensor(shape: [], floats: [1]))
        XCTAssertEqual(graph.nodes[2].op, .concat(axis: -1))
        XCTAssertEqual(graph.nodes[3].op, .transpose(perm: [0, 2, 1]))
        XCTAssertEqual(graph.nodes[5].op, .reduce(.mean, axes: [1], keepDims: true))
        XCTAssertEqual(graph.valueTypes["tf.linalg.matmul"], TensorType(.float32, ["N", 4, 4]))
    }

    func testKeras3OperationsAreNotTheLayersOfTheirName() throws {
        var model = ModelConfigBuilder(.keras3)
        model.input("x", [4, 6])
        // keras.ops.add(x, 2.0) and keras.ops.softmax(x, axis=1), next to the Add and Softmax layers.
        model.op("Add", "add", module: numpy, inboundNodes: [["args": [tensor("x"), 2.0], "kwargs": [String: Any]()]])
        model.op(
            "Softmax", "softmax", module: "keras.src.ops.nn", ["axis": 1],
            inboundNodes: [["args": [tensor("add")], "kwargs": [String: Any]()]])
        model.layer(
            "Add", "add_layer", inboundNodes: [["args": [[tensor("add"), tensor("softmax")]], "kwargs": [String: Any]()]], shape: [4, 6])
        model.layer("Softmax", "softmax_layer", ["axis": -1], on: ["add_layer"])
        // keras.ops.matmul(s, keras.ops.ones((6, 3))): a constant tensor argument.
        let ones =
            ["class_name": "__tensor__", "config": ["value": Array(repeating: [1.0, 1.0, 1.0], count: 6), "dtype": "float32"]]
            as [String: Any]
        model.op("Matmul", "matmul", module: numpy, inboundNodes: [["args": [tensor("softmax_layer"), ones], "kwargs": [String: Any]()]])
        model.outputs = ["matmul"]
        let graph = try model.lower()
        XCTAssertEqual(ops(graph), ["Add", "Softmax", "Add", "Softmax", "MatMul"])
        XCTAssertEqual(graph.nodes[1].op, .softmax(axis: 1))
        XCTAssertEqual(graph.constantsByName["matmul.b"]?.shape, [6, 3])

        // A legacy .h5 of Keras 3 names no modules: an operation is the class whose config has no `trainable`.
        var legacy = ModelConfigBuilder(.keras3)
        legacy.input("x", [4, 6])
        legacy.op("Add", "add", inboundNodes: [["args": [tensor("x"), 2.0], "kwargs": [String: Any]()]])
        legacy.outputs = ["add"]
        XCTAssertEqual(try legacy.lower().nodes.map(\.op), [.binary(.add)])
    }

    func testSlicingWithStridesNegativeStepsNewAxesAndEllipsis() throws {
        for form in [ModelConfigBuilder.Form.keras2, .keras3] {
            var model = ModelConfigBuilder(form)
            model.input("x", [4, 12])
            func range(_ start: Any, _ stop: Any, _ step: Any) -> Any {
                let fields: [String: Any] = ["start": start, "stop": stop, "step": step]
                if form == .keras2 { return fields }
                return ["class_name": "__slice__", "config": fields] as [String: Any]
            }
            let full = range(NSNull(), NSNull(), NSNull())
            let ellipsisFields: [String: Any] =
                form == .keras2 ? ["class_name": "__ellipsis__"] : ["class_name": "__ellipsis__", "config": [String: Any]()]
            let ellipsis: Any = ellipsisFields
            let keys: [(String, [Any])] = [
                ("strided", [full, range(NSNull(), NSNull(), -1), range(1, 10, 2)]), // x[:, ::-1, 1:10:2]
                ("newaxis", [ellipsis, NSNull(), range(NSNull(), 3, NSNull())]), // x[..., None, :3]
                ("index", [full, -1]), // x[:, -1]
                ("whole", [full]), // x[:]
            ]
            for (name, key) in keys {
                let keras2Node: [Any] = ["x", 0, 0, ["slice_spec": key] as [String: Any]]
                let keras3Node: [String: Any] = ["args": [tensor("x"), key] as [Any], "kwargs": [String: Any]()]
                let node: Any = form == .keras2 ? keras2Node : keras3Node
                if form == .keras2 {
                    model.op("SlicingOpLambda", name, ["function": "__operators__.getitem"], inboundNodes: [node])
                } else {
                    model.op("GetItem", name, module: numpy, inboundNodes: [node])
                }
            }
            model.outputs = ["strided", "newaxis", "index", "whole"]
            let graph = try model.lower(version: form == .keras2 ? "2.20.1" : "3.12.0")
            let types = graph.valueTypes
            XCTAssertEqual(graph.nodes.first?.op, .slice(axes: [1, 2], starts: [3, 1], ends: [-5, 11], steps: [-1, 2]), "\(form)")
            XCTAssertEqual(types["strided"], TensorType(.float32, ["N", 4, 5]), "\(form)")
            XCTAssertEqual(types["newaxis"], TensorType(.float32, ["N", 4, 1, 3]), "\(form)")
            XCTAssertEqual(types["index"], TensorType(.float32, ["N", 12]), "\(form)")
            XCTAssertEqual(types["whole"], TensorType(.float32, ["N", 4, 12]), "\(form)")
        }
    }

    func testArgumentsKilnCannotReadAreErrorsNamingThem() {
        func error(version: String = "2.20.1", _ build: (inout ModelConfigBuilder) -> Void) -> String {
            var model = ModelConfigBuilder(version.hasPrefix("2") ? .keras2 : .keras3)
            model.input("x", [4, 6])
            build(&model)
            model.outputs = ["op"]
            return loweringError(model, version: version)
        }
        assertMentions(
            error { $0.op("TFOpLambda", "op", ["function": "nn.silu"], inboundNodes: [["x", 0, 0, ["beta": 2.0]]]) },
            ["layer 'op'", "TFOpLambda calling tf.nn.silu", "a beta other than 1"])
        assertMentions(
            error { $0.op("TFOpLambda", "op", ["function": "math.reduce_sum"], inboundNodes: [["x", 0, 0, ["axis": 1, "where": true]]]) },
            ["tf.math.reduce_sum", "argument 'where' is not supported"])
        assertMentions(
            error { $0.op("TFOpLambda", "op", ["function": "reshape"], inboundNodes: [["x", 0, 0, ["shape": ["x", 0, 0]]]]) },
            ["tf.reshape", "'shape' must be whole numbers", "Kiln needs a constant"])
        assertMentions(
            error {
                $0.op("SlicingOpLambda", "op", ["function": "__operators__.getitem"], inboundNodes: [["x", 0, 0, ["slice_spec": [0]]]])
            },
            ["slicing the batch dimension"])
        assertMentions(
            error(version: "3.12.0") {
                $0.op(
                    "Cast", "op", module: "keras.src.ops.core", ["dtype": "float16"],
                    inboundNodes: [["args": [self.tensor("x")], "kwargs": [String: Any]()]])
            },
            ["keras.ops.Cast", "a cast to float16 is not supported"])
    }

    func testUnsupportedFunctionsAreNamedWithTheSupportedOnes() {
        var keras2 = ModelConfigBuilder(.keras2)
        keras2.input("x", [4])
        keras2.op("TFOpLambda", "tf.math.cumsum", ["function": "math.cumsum"], inboundNodes: [["x", 0, 0, ["axis": 1]]])
        keras2.op("TFOpLambda", "tf.math.cumsum_1", ["function": "math.cumsum"], inboundNodes: [["tf.math.cumsum", 0, 0, ["axis": 1]]])
        keras2.outputs = ["tf.math.cumsum_1"]
        assertMentions(
            loweringError(keras2, version: "2.20.1"),
            [
                "2 x TFOpLambda calling tf.math.cumsum (layers 'tf.math.cumsum', 'tf.math.cumsum_1')", "read for these functions only",
                "tf.math.add", "keras.ops.GetItem",
            ])
        var keras3 = ModelConfigBuilder(.keras3)
        keras3.input("x", [4])
        keras3.op("Cumsum", "cumsum", module: numpy, ["axis": 1], inboundNodes: [["args": [tensor("x")], "kwargs": [String: Any]()]])
        keras3.outputs = ["cumsum"]
        assertMentions(loweringError(keras3), ["1 x Cumsum calling keras.ops.Cumsum (layer 'cumsum')"])
    }

    /// Embedding(mask_zero=True) -> Dense -> a pooling that uses the mask: Keras 2 records the mask nowhere,
    /// Keras 3 as the pooling's `mask` argument (a NotEqual op layer).
    func testMasksReachTheLayersThatUseThem() throws {
        for form in [ModelConfigBuilder.Form.keras2, .keras3] {
            var model = ModelConfigBuilder(form)
            model.input("tokens", [5])
            model.layer("Embedding", "embedding", ["input_dim": 4, "output_dim": 3, "mask_zero": true], on: ["tokens"], shape: [5, 3])
            model.setWeights("embedding", [Tensor(shape: [4, 3], floats: (0..<12).map(Float.init))])
            model.dense("dense", units: 2, on: "embedding")
            if form == .keras2 {
                model.layer("GlobalAveragePooling1D", "pool", on: ["dense"])
            } else {
                model.op(
                    "NotEqual", "not_equal", module: numpy, inboundNodes: [["args": [tensor("tokens"), 0], "kwargs": [String: Any]()]])
                model.layer(
                    "GlobalAveragePooling1D", "pool", inboundNodes: [["args": [tensor("dense")], "kwargs": ["mask": tensor("not_equal")]]])
            }
            model.outputs = ["pool"]
            let graph = try model.lower(version: form == .keras2 ? "2.20.1" : "3.12.0")
            XCTAssertEqual(
                ops(graph).suffix(7), ["NotEqual", "Cast", "Reshape", "Mul", "ReduceSum", "ReduceSum", "Div"], "\(form)")
            XCTAssertEqual(graph.valueTypes["pool"], TensorType(.float32, ["N", 2]))

            // A layer that uses the mask in a way Kiln does not compute is an error, not a silent unmasked result.
            var softmax = model
            softmax.layer("Softmax", "softmax", on: ["dense"])
            softmax.outputs = ["softmax"]
            if form == .keras3 {
                softmax.layer("Softmax", "softmax_2", inboundNodes: [["args": [tensor("dense")], "kwargs": ["mask": tensor("not_equal")]]])
                softmax.outputs = ["softmax_2"]
            }
            assertMentions(
                loweringError(softmax, version: form == .keras2 ? "2.20.1" : "3.12.0"),
                ["layer 'softmax", "carries a mask", "masked Softmax is not supported yet"])
        }
    }
}
