import KilnIR
import XCTest

@testable import KerasFrontend

/// SimpleRNN, LSTM, GRU and Bidirectional as the IR's recurrent ops: weights in ONNX's layout and gate order,
/// the options that change the graph, and the errors for what Kiln does not convert. Numbers against Keras are
/// checked by the recurrent fixtures.
final class KerasRecurrentLayerTests: XCTestCase {
    /// A layer's weights with each value naming its place: kernel[i][c] = 100 + 10 i + c / 10 and so on.
    private func weights(input: Int, units: Int, gates: Int, biasRows: Int? = nil) -> [Tensor] {
        let columns = gates * units
        let kernel = (0..<input * columns).map { Float(100 + ($0 / columns) * 10) + Float($0 % columns) / 10 }
        let recurrent = (0..<units * columns).map { Float(200 + ($0 / columns) * 10) + Float($0 % columns) / 10 }
        let biasShape = biasRows.map { [$0, columns] } ?? [columns]
        let bias = (0..<biasShape.reduce(1, *)).map { Float(300 + ($0 / columns) * 10) + Float($0 % columns) / 10 }
        return [
            Tensor(shape: [input, columns], floats: kernel), Tensor(shape: [units, columns], floats: recurrent),
            Tensor(shape: biasShape, floats: bias),
        ]
    }

    func testLSTMWeightsAreTransposedIntoONNXsGateOrder() throws {
        var model = ModelConfigBuilder(.keras3)
        model.input("x", [5, 2])
        model.layer("LSTM", "lstm", ["units": 1, "return_sequences": true], on: ["x"])
        model.setWeights("lstm", weights(input: 2, units: 1, gates: 4))
        model.outputs = ["lstm"]
        let graph = try model.lower()
        let node = try XCTUnwrap(graph.nodes.first { $0.op.name == "LSTM" })
        XCTAssertEqual(
            node.op, .recurrent(Recurrence(cell: .lstm, direction: .forward, hiddenSize: 1, activations: [.sigmoid, .tanh, .tanh])))
        let constants = graph.constantsByName
        // Keras columns i, f, c, o become ONNX rows i, o, f, c; each row holds the kernel's column over inputs.
        XCTAssertEqual(constants[node.inputs[1]]?.shape, [1, 4, 2])
        XCTAssertEqual(constants[node.inputs[1]]?.floats, [100, 110, 100.3, 110.3, 100.1, 110.1, 100.2, 110.2])
        XCTAssertEqual(constants[node.inputs[2]]?.floats, [200, 200.3, 200.1, 200.2])
        XCTAssertEqual(constants[node.inputs[3]]?.floats, [300, 300.3, 300.1, 300.2, 0, 0, 0, 0])
        XCTAssertEqual(graph.outputValues.map(\.type), [TensorType(.float32, ["N", 5, 1])])
    }

    func testGRUResetAfterSplitsItsTwoBiasRowsAndKeras2HardSigmoidDiffersFromKeras3s() throws {
        for (version, alpha) in [("2.15.0", Float(0.2)), ("3.12.0", Float(1.0 / 6))] {
            var model = ModelConfigBuilder(version.hasPrefix("2") ? .keras2 : .keras3)
            model.input("x", [3, 1])
            model.layer(
                "GRU", "gru", ["units": 1, "reset_after": true, "recurrent_activation": "hard_sigmoid", "activation": "linear"], on: ["x"])
            model.setWeights("gru", weights(input: 1, units: 1, gates: 3, biasRows: 2))
            model.outputs = ["gru"]
            let graph = try model.lower(version: version)
            let node = try XCTUnwrap(graph.nodes.first { $0.op.name == "GRU" })
            XCTAssertEqual(
                node.op,
                .recurrent(
                    Recurrence(
                        cell: .gru(linearBeforeReset: true), direction: .forward, hiddenSize: 1,
                        activations: [.hardSigmoid(alpha: alpha, beta: 0.5), .leakyRelu(alpha: 1)])), version)
            XCTAssertEqual(graph.constantsByName[node.inputs[3]]?.floats, [300, 300.1, 300.2, 310, 310.1, 310.2])
        }
    }

    func testGoBackwardsReturnStateAndInitialStates() throws {
        var model = ModelConfigBuilder(.keras2)
        model.input("x", [4, 2])
        model.input("h", [3])
        model.layer(
            "SimpleRNN", "rnn", ["units": 3, "go_backwards": true, "return_sequences": true, "return_state": true], on: ["x", "h"])
        model.setWeights("rnn", weights(input: 2, units: 3, gates: 1))
        model.outputs = ["rnn"]
        let graph = try model.lower(version: "2.15.0")
        let node = try XCTUnwrap(graph.nodes.first { $0.op.name == "RNN" })
        XCTAssertEqual(node.op, .recurrent(Recurrence(cell: .rnn, direction: .reverse, hiddenSize: 3, activations: [.tanh])))
        XCTAssertEqual(node.inputs.count, 5, "the initial state is read")
        // The sequence comes out last step first, as Keras returns it.
        XCTAssertTrue(graph.nodes.contains { $0.op == .slice(axes: [1], starts: [-1], ends: [Int.min], steps: [-1]) })
    }

    func testBidirectionalMergesBothDirectionsAsItsMergeModeSays() throws {
        for (mode, op) in [("concat", "Concat"), ("sum", "Add"), ("mul", "Mul"), ("ave", "Mul")] {
            var model = ModelConfigBuilder(.keras2)
            model.input("x", unknown: [nil, 2])
            model.layer(
                "Bidirectional", "bi",
                ["merge_mode": mode, "layer": ["class_name": "LSTM", "config": ["name": "lstm", "units": 2, "return_sequences": true]]],
                on: ["x"])
            model.setWeights("bi", weights(input: 2, units: 2, gates: 4) + weights(input: 2, units: 2, gates: 4))
            model.outputs = ["bi"]
            let graph = try model.lower(version: "2.15.0")
            let directions = graph.nodes.compactMap { node -> Recurrence.Direction? in
                if case .recurrent(let r) = node.op { r.direction } else { nil }
            }
            XCTAssertEqual(directions, [.forward, .reverse], mode)
            XCTAssertEqual(graph.nodes.last?.op.name, op, mode)
            XCTAssertEqual(graph.outputValues[0].type.shape, ["N", "x_dim1", mode == "concat" ? 4 : 2], mode)
        }
    }

    func testStatefulAndUnknownActivationsAreClearErrors() throws {
        var model = ModelConfigBuilder(.keras3)
        model.input("x", [4, 2])
        model.layer("LSTM", "lstm", ["units": 2, "stateful": true], on: ["x"])
        model.setWeights("lstm", weights(input: 2, units: 2, gates: 4))
        model.outputs = ["lstm"]
        assertMentions(
            loweringError(model), ["layer 'lstm'", "stateful=True", "--stateful-as-stateless", "save the model again with stateful=False"])
        // With the flag, the stateless layer: the same op as without stateful.
        let stateless = try model.lower(statefulAsStateless: true)
        XCTAssertEqual(
            stateless.nodes.first { $0.op.name == "LSTM" }?.op,
            .recurrent(Recurrence(cell: .lstm, direction: .forward, hiddenSize: 2, activations: [.sigmoid, .tanh, .tanh])))

        var selu = ModelConfigBuilder(.keras3)
        selu.input("x", [4, 2])
        selu.layer("GRU", "gru", ["units": 2, "activation": "selu"], on: ["x"])
        selu.outputs = ["gru"]
        assertMentions(loweringError(selu), ["layer 'gru'", "activation 'selu' cannot run inside a recurrent cell"])

        var wrapped = ModelConfigBuilder(.keras3)
        wrapped.input("x", [4, 6, 6, 1])
        wrapped.layer(
            "TimeDistributed", "frames", ["layer": ["class_name": "Lambda", "config": ["name": "code"]]], on: ["x"])
        wrapped.outputs = ["frames"]
        assertMentions(loweringError(wrapped), ["layer 'frames'", "wraps a Lambda, which Kiln does not support"])
    }

    func testAMaskBecomesTheStepMaskOfTheOpAndABidirectionalSequenceZerosItsMaskedSteps() throws {
        var model = ModelConfigBuilder(.keras2)
        model.input("tokens", [4])
        model.layer("Embedding", "embedding", ["input_dim": 5, "output_dim": 2, "mask_zero": true], on: ["tokens"])
        model.setWeights("embedding", [Tensor(shape: [5, 2], floats: Array(repeating: 0.5, count: 10))])
        model.layer("LSTM", "lstm", ["units": 2, "return_sequences": true], on: ["embedding"])
        model.setWeights("lstm", weights(input: 2, units: 2, gates: 4))
        model.layer(
            "Bidirectional", "bi",
            ["merge_mode": "concat", "layer": ["class_name": "GRU", "config": ["name": "gru", "units": 2, "return_sequences": true]]],
            on: ["lstm"])
        model.setWeights("bi", weights(input: 2, units: 2, gates: 3) + weights(input: 2, units: 2, gates: 3))
        model.layer("GRU", "last", ["units": 2], on: ["bi"])
        model.setWeights("last", weights(input: 4, units: 2, gates: 3))
        model.outputs = ["last"]
        let graph = try model.lower(version: "2.15.0")
        let recurrent = graph.nodes.compactMap { node -> (Recurrence, [String])? in
            if case .recurrent(let r) = node.op { (r, node.inputs) } else { nil }
        }
        // The LSTM repeats its previous output at a masked step, the Bidirectional (returning sequences) gives zeros,
        // and the mask passes through both sequences to the last GRU.
        XCTAssertEqual(recurrent.map(\.0.maskedOutput), [.previous, .zeros, .zeros, .previous])
        let masks = Set(recurrent.map { $0.1[4] })
        XCTAssertEqual(masks.count, 1, "one mask, computed once")
        let mask = try XCTUnwrap(graph.nodes.first { $0.outputs[0].name == masks.first })
        XCTAssertEqual(mask.op, .compare(.notEqual))
        XCTAssertEqual(mask.inputs[0], "tokens")
        // The last output of a masked layer is its state where a row has a real step, else zeros.
        XCTAssertEqual(graph.nodes.last?.op, .binary(.mul))
    }

    func testKeras3GivesNoMaskToARecurrentCallWithInitialStates() throws {
        var model = ModelConfigBuilder(.keras3)
        model.input("tokens", [4])
        model.input("h", [2])
        model.layer("Embedding", "embedding", ["input_dim": 5, "output_dim": 2, "mask_zero": true], on: ["tokens"])
        model.setWeights("embedding", [Tensor(shape: [5, 2], floats: Array(repeating: 0.5, count: 10))])
        model.layer("SimpleRNN", "rnn", ["units": 2], on: ["embedding", "h"])
        model.setWeights("rnn", weights(input: 2, units: 2, gates: 1))
        model.outputs = ["rnn"]
        let graph = try model.lower()
        let node = try XCTUnwrap(graph.nodes.first { $0.op.name == "RNN" })
        XCTAssertEqual(node.op, .recurrent(Recurrence(cell: .rnn, direction: .forward, hiddenSize: 2, activations: [.tanh])))
    }
}
