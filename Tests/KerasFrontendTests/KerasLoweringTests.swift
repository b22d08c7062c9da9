import Foundation
import KilnIR
import KilnInterpreter
import XCTest

@testable import KerasFrontend

/// Lowering rules checked on configurations built in memory, in both the Keras 2 and Keras 3 forms.
final class KerasLoweringTests: XCTestCase {
    /// input [4] -> Dense(3) named `d` -> Activation(`activation`) named `act`.
    private func activationModel(_ activation: Any, form: ModelConfigBuilder.Form = .keras3) -> ModelConfigBuilder {
        var model = ModelConfigBuilder(form)
        model.input("x", [4])
        model.dense("d", units: 3, on: "x")
        model.layer("Activation", "act", ["activation": activation], on: ["d"])
        model.outputs = ["act"]
        return model
    }

    func testEveryActivationString() throws {
        let common: [(String, [Op])] = [
            ("linear", [.identity]),
            ("relu", [.activation(.relu)]),
            ("sigmoid", [.activation(.sigmoid)]),
            ("tanh", [.activation(.tanh)]),
            ("softmax", [.softmax(axis: -1)]),
            ("softplus", [.activation(.softplus)]),
            ("softsign", [.activation(.softsign)]),
            ("elu", [.activation(.elu(alpha: 1))]),
            ("selu", [.activation(.selu(alpha: Activation.seluAlpha, gamma: Activation.seluGamma))]),
            ("gelu", [.activation(.gelu(approximate: false))]),
            ("swish", [.activation(.swish)]),
            ("silu", [.activation(.swish)]),
            ("exponential", [.activation(.exp)]),
            ("relu6", [.activation(.clip(min: 0, max: 6))]),
            ("leaky_relu", [.activation(.leakyRelu(alpha: 0.2))]),
            ("hard_silu", [.activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)), .binary(.mul)]),
            ("hard_swish", [.activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)), .binary(.mul)]),
            ("mish", [.activation(.softplus), .activation(.tanh), .binary(.mul)]),
        ]
        // tf_keras: clip(0.2x + 0.5, 0, 1). Keras 3: relu6(x + 3) / 6.
        let versions: [(String, ModelConfigBuilder.Form, Activation)] = [
            ("2.20.1", .keras2, .hardSigmoid(alpha: 0.2, beta: 0.5)), ("3.12.0", .keras3, .hardSigmoid(alpha: 1.0 / 6, beta: 0.5)),
        ]
        for (version, form, hardSigmoid) in versions {
            for (name, ops) in common + [("hard_sigmoid", [.activation(hardSigmoid)])] {
                let graph = try activationModel(name, form: form).lower(version: version)
                XCTAssertEqual(graph.nodes.map(\.op), [.gemm(transB: false)] + ops, "\(name) in Keras \(version)")
                XCTAssertEqual(graph.outputs, ["act"], name)
                XCTAssertEqual(graph.nodes.last?.outputs.first?.name, "act", name)
            }
        }
    }

    func testSerializedActivationObjects() throws {
        let exact: [String: Any] = ["module": "keras.activations", "class_name": "function", "config": "gelu", "registered_name": "gelu"]
        XCTAssertEqual(try activationModel(exact).lower().nodes.last?.op, .activation(.gelu(approximate: false)))
        let approximate: [String: Any] = ["class_name": "gelu", "config": ["name": "gelu", "approximate": true]]
        XCTAssertEqual(try activationModel(approximate).lower().nodes.last?.op, .activation(.gelu(approximate: true)))
    }

    func testUnknownActivationNamesTheSupportedOnes() {
        assertMentions(loweringError(activationModel("cube")), ["memory.h5", "layer 'act'", "Activation", "'cube'", "hard_sigmoid"])
    }

    func testDenseInKeras2AndKeras3FormsLowersAlike() throws {
        var graphs: [Graph] = []
        for form in [ModelConfigBuilder.Form.keras2, .keras3] {
            var model = ModelConfigBuilder(form)
            model.name = "mlp"
            model.input("features", [6])
            model.dense("hidden", units: 5, activation: "relu", on: "features")
            model.dense("logits", units: 3, activation: "softmax", on: "hidden")
            model.outputs = ["logits"]
            graphs.append(try model.lower())
        }
        XCTAssertEqual(graphs[0], graphs[1])
        let graph = graphs[1]
        XCTAssertEqual(graph.name, "mlp")
        XCTAssertEqual(graph.inputs, [Value("features", TensorType(.float32, [.symbolic("N"), 6]))])
        XCTAssertEqual(graph.constants.map(\.name), ["hidden.kernel", "hidden.bias", "logits.kernel", "logits.bias"])
        XCTAssertEqual(graph.nodes.map { $0.outputs[0].name }, ["hidden.gemm", "hidden", "logits.gemm", "logits"])
        XCTAssertEqual(graph.nodes.map(\.op), [.gemm(transB: false), .activation(.relu), .gemm(transB: false), .softmax(axis: -1)])
        XCTAssertEqual(graph.nodes.map(\.name), ["hidden", "hidden", "logits", "logits"])
        XCTAssertEqual(graph.outputValues, [Value("logits", TensorType(.float32, [.symbolic("N"), 3]))])
    }

    func testDenseOnHigherRankAndWithoutBias() throws {
        var model = ModelConfigBuilder()
        model.input("sequence", [5, 6])
        model.dense("project", units: 4, useBias: false, on: "sequence")
        model.dense("head", units: 3, activation: "tanh", on: "project")
        model.outputs = ["head"]
        let graph = try model.lower()
        XCTAssertEqual(graph.constants.map(\.name), ["project.kernel", "head.kernel", "head.bias"])
        XCTAssertEqual(graph.nodes.map(\.op), [.matMul, .matMul, .binary(.add), .activation(.tanh)])
        XCTAssertEqual(graph.nodes.map { $0.outputs[0].name }, ["project", "head.matmul", "head.bias_add", "head"])
        XCTAssertEqual(graph.outputValues.first?.type, TensorType(.float32, [.symbolic("N"), 5, 3]))

        var flat = ModelConfigBuilder()
        flat.input("x", [6])
        flat.dense("d", units: 2, useBias: false, on: "x")
        flat.outputs = ["d"]
        let gemm = try XCTUnwrap(try flat.lower().nodes.first)
        XCTAssertEqual(gemm.op, .gemm(transB: false))
        XCTAssertEqual(gemm.inputs, ["x", "d.kernel"])
    }

    func testReLULayerSettings() throws {
        func relu(_ config: [String: Any]) -> ModelConfigBuilder {
            var model = ModelConfigBuilder()
            model.input("x", [4])
            model.layer("ReLU", "r", config, on: ["x"])
            model.outputs = ["r"]
            return model
        }
        XCTAssertEqual(try relu([:]).lower().nodes.map(\.op), [.activation(.relu)])
        XCTAssertEqual(
            try relu(["max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0]).lower().nodes.map(\.op),
            [.activation(.clip(min: 0, max: 6))])
        XCTAssertEqual(
            try relu(["max_value": NSNull(), "negative_slope": 0.1]).lower().nodes.map(\.op), [.activation(.leakyRelu(alpha: 0.1))])
        // Keras: clip(x * (x > threshold), 0, max_value) - negative_slope * relu(threshold - x); without a
        // max_value, values gated by a threshold are not clamped at 0.
        let x = Tensor(shape: [1, 4], floats: [-1, 0.25, 0.75, 9])
        func run(_ config: [String: Any]) throws -> [Float] {
            let graph = try relu(config).lower()
            try graph.verify()
            return try XCTUnwrap(try Interpreter().run(graph, inputs: ["x": x])["r"]).floats
        }
        XCTAssertEqual(try run(["threshold": 0.5]), [0, 0, 0.75, 9])
        XCTAssertEqual(try run(["max_value": 6.0, "negative_slope": 0.5]), [-0.5, 0.25, 0.75, 6])
        XCTAssertEqual(try run(["max_value": 2.0, "threshold": 0.5]), [0, 0, 0.75, 2])
        XCTAssertEqual(try run(["negative_slope": 0.5, "threshold": 0.5]), [-0.75, -0.125, 0.75, 9])
        XCTAssertEqual(try run(["max_value": 1.0, "negative_slope": 0.5, "threshold": 0.5]), [-0.75, -0.125, 0.75, 1])
    }

    func testSoftmaxFlattenAndDropoutLayers() throws {
        var model = ModelConfigBuilder()
        model.input("image", [3, 4])
        model.layer("Softmax", "rows", ["axis": [1]], on: ["image"])
        model.layer("Dropout", "drop", ["rate": 0.5], on: ["rows"])
        model.layer("Flatten", "flat", ["data_format": "channels_last"], on: ["drop"])
        model.layer("Dropout", "last_drop", ["rate": 0.5], on: ["flat"])
        model.outputs = ["last_drop"]
        let graph = try model.lower()
        // A Dropout inside the model adds no node; one that is an output keeps its name with an Identity.
        XCTAssertEqual(graph.nodes.map(\.op), [.softmax(axis: 1), .flatten(axis: 1), .identity])
        XCTAssertEqual(graph.nodes.map(\.inputs), [["image"], ["rows"], ["flat"]])
        XCTAssertEqual(graph.outputValues, [Value("last_drop", TensorType(.float32, [.symbolic("N"), 12]))])

        // channels_first: Keras moves the channels (axis 1) last before flattening.
        var channelsFirst = ModelConfigBuilder()
        channelsFirst.input("image", [3, 4])
        channelsFirst.layer("Flatten", "flat", ["data_format": "channels_first"], on: ["image"])
        channelsFirst.outputs = ["flat"]
        let firstGraph = try channelsFirst.lower()
        XCTAssertEqual(firstGraph.nodes.map(\.op), [.transpose(perm: [0, 2, 1]), .flatten(axis: 1)])
        let image = Tensor(shape: [1, 3, 4], floats: (0..<12).map(Float.init))
        let flat = try XCTUnwrap(try Interpreter().run(firstGraph, inputs: ["image": image])["flat"])
        XCTAssertEqual(flat.floats, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
    }

    func testInputThatIsAlsoAnOutput() throws {
        var model = ModelConfigBuilder()
        model.input("x", [2])
        model.layer("Dropout", "drop", ["rate": 0.1], on: ["x"])
        model.outputs = ["drop", "x"]
        let graph = try model.lower()
        XCTAssertEqual(graph.nodes.map(\.op), [.identity, .identity])
        XCTAssertEqual(graph.outputs.count, 2)
        XCTAssertEqual(graph.outputs.first, "drop")
    }

    func testNamesAreSanitizedDeterministically() throws {
        var model = ModelConfigBuilder()
        model.name = "odd model"
        model.input("in put:0", [4])
        model.dense("dense:1 (head)", units: 2, activation: "relu", on: "in put:0")
        model.outputs = ["dense:1 (head)"]
        let graph = try model.lower()
        XCTAssertEqual(graph.name, "odd_model")
        XCTAssertEqual(graph.inputs.map(\.name), ["in_put_0"])
        XCTAssertEqual(graph.outputs, ["dense_1__head_"])
        XCTAssertEqual(graph.constants.map(\.name), ["dense_1__head_.kernel", "dense_1__head_.bias"])
        // Every name survives the text form.
        let text = TextPrinter(inlineLimit: .max).print(graph)
        XCTAssertEqual(try TextParser.parse(text), graph)
        XCTAssertEqual(try model.lower(), graph)
    }

    func testUnknownLayerNamesItsClassAndTheSupportedLayers() {
        var model = ModelConfigBuilder(.keras2)
        model.input("tokens", [10, 3])
        model.layer("ConvLSTM1D", "recurrent", ["filters": 8], on: ["tokens"])
        model.outputs = ["recurrent"]
        assertMentions(
            loweringError(model, version: "2.20.1"),
            ["memory.h5", "layer 'recurrent'", "ConvLSTM1D", "supported layers:", "Dense", "Embedding", "LSTM", "Softmax"])
    }

    func testWeightsThatDoNotFitTheConfiguration() {
        var model = ModelConfigBuilder()
        model.input("x", [4])
        model.dense("d", units: 3, on: "x")
        model.outputs = ["d"]
        var wrongShape = model
        wrongShape.setWeights(
            "d", [Tensor(shape: [3, 4], floats: Array(repeating: 0, count: 12)), Tensor(shape: [3], floats: [0, 0, 0])])
        assertMentions(loweringError(wrongShape), ["layer 'd'", "d/0", "[3, 4]", "[4, 3]"])
        var missingBias = model
        missingBias.setWeights("d", [Tensor(shape: [4, 3], floats: Array(repeating: 0, count: 12))])
        assertMentions(loweringError(missingBias), ["layer 'd'", "expected 2 weight arrays", "has 1"])
    }

    func testBadConfigurations() {
        let notJSON =
            (try? KerasReader.lower("{", version: "3", backend: nil, format: "keras", weights: MemoryWeights(tensors: [:]), file: "x.keras"))
        XCTAssertNil(notJSON)
        do {
            _ = try KerasReader.lower(
                #"{"class_name": "Subclassed", "config": {}}"#, version: "3", backend: nil, format: "keras",
                weights: MemoryWeights(tensors: [:]), file: "x.keras")
            XCTFail("a subclassed model should be rejected")
        } catch {
            assertMentions(error.description, ["x.keras", "Subclassed", "Sequential and Functional"])
        }
    }
}
