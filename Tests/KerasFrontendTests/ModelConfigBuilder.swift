import Foundation
import KilnIR
import XCTest

@testable import KerasFrontend

/// Builds a Functional model configuration in the Keras 2 or the Keras 3 form, with weights in memory, so
/// lowering rules can be tested without making a file for each case.
struct ModelConfigBuilder {
    /// How a file records the calls of a layer: Keras 2's nested lists or Keras 3's `__keras_tensor__` args.
    enum Form { case keras2, keras3 }

    let form: Form
    var name = "model"
    private(set) var layers: [[String: Any]] = []
    private(set) var inputs: [String] = []
    var outputs: [String] = []
    /// `output_layers` as written, when it is not one reference per name of `outputs` (nested lists).
    var outputStructure: Any?
    private(set) var weights: [String: [Tensor]] = [:]
    private var shapes: [String: [Int]] = [:]

    init(_ form: Form = .keras3) { self.form = form }

    /// An InputLayer with a batch dimension followed by `shape`.
    mutating func input(_ name: String, _ shape: [Int]) {
        let shapeKey = form == .keras2 ? "batch_input_shape" : "batch_shape"
        let config: [String: Any] = ["name": name, shapeKey: [NSNull()] + shape.map { $0 as Any }, "dtype": "float32"]
        layers.append(["class_name": "InputLayer", "name": name, "config": config, "inbound_nodes": [Any]()])
        inputs.append(name)
        shapes[name] = shape
    }

    /// An InputLayer whose sizes after the batch may be unknown (nil, saved as `None`).
    mutating func input(_ name: String, unknown shape: [Int?]) {
        let shapeKey = form == .keras2 ? "batch_input_shape" : "batch_shape"
        let config: [String: Any] = [
            "name": name, shapeKey: [NSNull()] + shape.map { $0.map { $0 as Any } ?? NSNull() }, "dtype": "float32",
        ]
        layers.append(["class_name": "InputLayer", "name": name, "config": config, "inbound_nodes": [Any]()])
        inputs.append(name)
        shapes[name] = shape.map { $0 ?? 1 }
    }

    /// A layer called once on the outputs of `inputs`; `shape` is its output shape without the batch
    /// dimension (only needed to build Dense weights downstream).
    mutating func layer(_ className: String, _ name: String, _ config: [String: Any] = [:], on inputs: [String], shape: [Int]? = nil) {
        var config = config
        config["name"] = name
        // Every layer's config has it (an operation's, in Keras 3, does not).
        config["trainable"] = config["trainable"] ?? true
        let node: Any
        switch form {
        case .keras2:
            node = inputs.map { [$0, 0, 0, [String: Any]()] as [Any] }
        case .keras3:
            let tensors = inputs.map { input -> [String: Any] in
                ["class_name": "__keras_tensor__", "config": ["dtype": "float32", "keras_history": [input, 0, 0]]]
            }
            node = ["args": tensors.count == 1 ? [tensors[0]] : [tensors], "kwargs": [String: Any]()] as [String: Any]
        }
        layers.append(["class_name": className, "name": name, "config": config, "inbound_nodes": [node]])
        shapes[name] = shape ?? inputs.first.flatMap { shapes[$0] }
    }

    /// A layer whose `inbound_nodes` are written as given, for the forms `layer(_:_:_:on:)` does not write.
    mutating func layer(_ className: String, _ name: String, _ config: [String: Any] = [:], inboundNodes: [Any], shape: [Int]? = nil) {
        var config = config
        config["name"] = name
        config["trainable"] = config["trainable"] ?? true
        layers.append(["class_name": className, "name": name, "config": config, "inbound_nodes": inboundNodes])
        shapes[name] = shape
    }

    /// An op layer, recorded as Keras records a call of a TensorFlow function (Keras 2: class TFOpLambda, the
    /// function in the config) or a keras.ops one (Keras 3: the operation's class and module, its settings in the
    /// config, which has no `trainable`); `inboundNodes` as the file writes them.
    mutating func op(_ className: String, _ name: String, module: String? = nil, _ config: [String: Any] = [:], inboundNodes: [Any]) {
        var config = config
        config["name"] = name
        var layer: [String: Any] = ["class_name": className, "name": name, "config": config, "inbound_nodes": inboundNodes]
        if let module { layer["module"] = module }
        layers.append(layer)
    }

    /// A Keras 3 tensor argument: `{"class_name": "__keras_tensor__", ...}`.
    static func kerasTensor(_ layer: String, _ node: Int = 0) -> [String: Any] {
        ["class_name": "__keras_tensor__", "config": ["dtype": "float32", "keras_history": [layer, node, 0]]]
    }

    /// A Dense layer with deterministic weights of Keras's shapes: kernel [in, units] and bias [units].
    mutating func dense(_ name: String, units: Int, activation: Any = "linear", useBias: Bool = true, on input: String) {
        let inputShape = shapes[input] ?? []
        let inFeatures = inputShape.last ?? 1
        layer(
            "Dense", name, ["units": units, "activation": activation, "use_bias": useBias], on: [input],
            shape: Array(inputShape.dropLast()) + [units])
        var tensors = [Tensor(shape: [inFeatures, units], floats: (0..<inFeatures * units).map { Float($0 % 7) * 0.1 - 0.3 })]
        if useBias { tensors.append(Tensor(shape: [units], floats: (0..<units).map { Float($0) * 0.01 })) }
        weights[name] = tensors
    }

    /// Replaces the weights of a layer, to test what happens when they do not fit its configuration.
    mutating func setWeights(_ layer: String, _ tensors: [Tensor]) { weights[layer] = tensors }

    /// Conv2D with a square kernel, a bias and made-up weights.
    mutating func conv2D(_ name: String, filters: Int, kernel: Int, strides: Int, padding: String, on input: String) {
        let channels = shapes[input]?.last ?? 1
        layer(
            "Conv2D", name,
            [
                "filters": filters, "kernel_size": [kernel, kernel], "strides": [strides, strides], "padding": padding,
                "activation": "linear",
            ],
            on: [input], shape: (shapes[input]?.dropLast() ?? []) + [filters])
        let count = kernel * kernel * channels * filters
        weights[name] = [
            Tensor(shape: [kernel, kernel, channels, filters], floats: (0..<count).map { Float($0 % 5) * 0.1 - 0.2 }),
            Tensor(shape: [filters], floats: Array(repeating: 0.1, count: filters)),
        ]
    }

    /// The configuration as the JSON text a file would hold.
    var json: String {
        let reference = { (name: String) -> [Any] in [name, 0, 0] }
        let root: [String: Any] = [
            "class_name": "Functional",
            "config": [
                "name": name, "layers": layers, "input_layers": inputs.map(reference),
                "output_layers": outputStructure ?? outputs.map(reference),
            ] as [String: Any],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// Lowers the configuration as `KerasReader` does for a file of the given Keras version.
    func lower(version: String = "3.12.0", inputShapes: [String: [Int]] = [:], statefulAsStateless: Bool = false) throws(KerasImportError)
        -> Graph
    {
        try KerasReader.lower(
            json, version: version, backend: nil, format: "h5", weights: MemoryWeights(tensors: weights), file: "memory.h5",
            options: KerasReader.Options(inputShapes: inputShapes, statefulAsStateless: statefulAsStateless))
    }
}

/// Weights held in a dictionary by layer name.
struct MemoryWeights: KerasWeightSource {
    var tensors: [String: [Tensor]]

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        (tensors[layer] ?? []).enumerated().map { ("\(layer)/\($0.offset)", $0.element) }
    }
}

extension XCTestCase {
    /// The message of the error lowering throws, or a test failure when it succeeds.
    func loweringError(_ model: ModelConfigBuilder, version: String = "3.12.0", file: StaticString = #filePath, line: UInt = #line)
        -> String
    {
        do {
            let graph = try model.lower(version: version)
            XCTFail("lowering succeeded:\n\(graph.text)", file: file, line: line)
            return ""
        } catch {
            return error.description
        }
    }

    func assertMentions(_ message: String, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        for part in parts { XCTAssertTrue(message.contains(part), "'\(message)' should mention '\(part)'", file: file, line: line) }
    }
}
