import Foundation
import KilnIR
import XCTest

@testable import KerasFrontend

/// MultiHeadAttention, Attention and EinsumDense configurations: what lowers and the errors for what does not
/// (the numbers are checked against Keras by the mha_*, dot_attention_* and einsum_dense_* fixtures).
final class KerasAttentionLayerTests: XCTestCase {
    private func tensor(_ name: String) -> [String: Any] {
        ["class_name": "__keras_tensor__", "config": ["dtype": "float32", "keras_history": [name, 0, 0]]]
    }

    /// A Keras 3 model calling MultiHeadAttention(num_heads 2, key_dim 3) on q [5, 4] and v [7, 6] with `kwargs`.
    private func attentionModel(_ config: [String: Any] = [:], kwargs: [String: Any] = [:]) -> ModelConfigBuilder {
        var model = ModelConfigBuilder(.keras3)
        model.input("q", [5, 4])
        model.input("v", [7, 6])
        model.input("m", [5, 7])
        var settings: [String: Any] = ["num_heads": 2, "key_dim": 3]
        settings.merge(config) { $1 }
        model.layer("MultiHeadAttention", "mha", settings, inboundNodes: [["args": [tensor("q"), tensor("v")], "kwargs": kwargs]])
        model.outputs = ["mha"]
        let kernel = { (shape: [Int]) in Tensor(shape: shape, floats: [Float](repeating: 0.1, count: shape.reduce(1, *))) }
        model.setWeights(
            "mha",
            [
                kernel([4, 2, 3]), kernel([2, 3]), kernel([6, 2, 3]), kernel([2, 3]), kernel([6, 2, 3]), kernel([2, 3]), kernel([2, 3, 4]),
                kernel([4]),
            ])
        return model
    }

    func testMultiHeadAttentionLowersToProjectionsAndTheAttentionOp() throws {
        let graph = try attentionModel(kwargs: ["attention_mask": tensor("m"), "use_causal_mask": true]).lower()
        let attention = try XCTUnwrap(graph.nodes.first { $0.op.name == "Attention" })
        XCTAssertEqual(attention.op, .attention(Attention(scale: Float(1 / 3.0.squareRoot()), causal: true)))
        XCTAssertEqual(attention.inputs.last, "m")
        XCTAssertEqual(attention.outputs.map(\.type), [TensorType(.float32, ["N", 5, 2, 3])])
        XCTAssertEqual(graph.nodes.filter { $0.op == .matMul }.count, 4)
        XCTAssertEqual(graph.nodes.last?.outputs.first?.type, TensorType(.float32, ["N", 5, 4]))
    }

    func testMultiHeadAttentionRefusesWhatItDoesNotLower() {
        assertMentions(
            loweringError(attentionModel(["attention_axes": [1, 2]])),
            ["'mha'", "attention_axes [1, 2] is not supported", "every axis between the batch and the features"])
        assertMentions(
            loweringError(attentionModel(kwargs: ["query_mask": tensor("m")])),
            ["'mha'", "query_mask", "attention_mask and use_causal_mask"])
        assertMentions(loweringError(attentionModel(kwargs: ["use_causal_mask": "yes"])), ["use_causal_mask", "not true or false"])
    }

    func testAttentionRefusesItsMaskArgument() {
        var model = ModelConfigBuilder(.keras3)
        model.input("q", [5, 4])
        model.input("v", [7, 4])
        model.layer(
            "Attention", "attention", ["score_mode": "concat"],
            inboundNodes: [["args": [[tensor("q"), tensor("v")]], "kwargs": ["mask": [NSNull(), tensor("v")]]]])
        model.outputs = ["attention"]
        assertMentions(loweringError(model), ["'attention'", "query and value masks (the `mask` argument) are not supported yet"])
    }

    func testEinsumDenseRefusesBadEquationsAndPerSliceProducts() {
        for (equation, message) in [
            ("abc,cd", "an einsum equation"), ("ab,bc->ac", "an input spec of 3 letters"), ("abc,bd->abd", "product per slice"),
            ("abc,cz->abd", "every output and kernel letter"),
        ] {
            var model = ModelConfigBuilder(.keras3)
            model.input("x", [5, 4])
            model.layer("EinsumDense", "einsum", ["equation": equation, "output_shape": [5, 3]], on: ["x"])
            model.outputs = ["einsum"]
            assertMentions(loweringError(model), ["'einsum'", message])
        }
    }
}
