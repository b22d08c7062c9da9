/// A reference to a tensor produced by a layer: its `tensor`-th output at its `node`-th call.
struct TensorRef: Hashable {
    var layer: String
    var node: Int
    var tensor: Int
}

/// One layer of a model configuration and the calls that feed it.
struct LayerSpec {
    var className: String
    var name: String
    var config: JSON
    /// The Python module Keras 3 records for the class (`keras.layers`, or a custom layer's package).
    var module: String? = nil
    /// For each call of the layer, the tensors it was called on, in argument order (not its mask).
    var calls: [[TensorRef]]
    /// For each call of a Functional model's layer, its arguments as recorded (empty in a Sequential model).
    var arguments: [CallArguments] = []

    /// The tensors a call needs before it can run: its inputs and its mask.
    func dependencies(ofCall call: Int) -> [TensorRef] {
        calls[call] + (call < arguments.count ? arguments[call].mask.map { [$0] } ?? [] : [])
    }

    /// The mask a call was given as the `mask` keyword argument.
    func mask(ofCall call: Int) -> TensorRef? { call < arguments.count ? arguments[call].mask : nil }
}

/// A Sequential or Functional model configuration, normalized to a graph of layer calls.
struct ModelSpec {
    var name: String
    var layers: [LayerSpec]
    var inputs: [TensorRef]
    var outputs: [TensorRef]
}

/// Reads the `model_config` JSON of Keras 2 and Keras 3 files.
struct KerasConfigParser {
    let file: String

    func parse(_ root: JSON) throws(KerasImportError) -> ModelSpec {
        guard let className = root["class_name"]?.string, let config = root["config"] else {
            throw bad("the top level has no class_name and config")
        }
        switch className {
        case "Sequential": return try sequential(config)
        case "Functional", "Model": return try functional(config)
        default: throw bad("the model is a \(className); Kiln reads Sequential and Functional models")
        }
    }

    func bad(_ reason: String) -> KerasImportError { .badConfig(file: file, reason: reason) }

    private func sequential(_ config: JSON) throws(KerasImportError) -> ModelSpec {
        let name = config["name"]?.string ?? "sequential"
        guard var layers = config["layers"]?.array else { throw bad("Sequential config has no layers") }
        var specs: [LayerSpec] = []
        // The input: an explicit InputLayer, or a shape recorded on the first layer or the model.
        if let first = layers.first, first["class_name"]?.string == "InputLayer" {
            layers.removeFirst()
            specs.append(try layerSpec(first, calls: []))
        } else {
            let shape =
                layers.first?["config"]?["batch_input_shape"] ?? layers.first?["config"]?["batch_shape"]
                ?? config["build_input_shape"]
            guard let shape else { throw bad("the Sequential model has no input shape; build it with an Input before saving") }
            let firstName = layers.first?["config"]?["name"]?.string ?? "sequential"
            let dtype = layers.first?["config"]?["dtype"]
            let inputConfig: JSON = .object([
                "name": .string("\(firstName)_input"), "batch_shape": shape, "dtype": dtype?.string.map(JSON.string) ?? .string("float32"),
            ])
            specs.append(LayerSpec(className: "InputLayer", name: "\(firstName)_input", config: inputConfig, calls: []))
        }
        let input = TensorRef(layer: specs[0].name, node: 0, tensor: 0)
        var previous = input
        for layer in layers {
            let spec = try layerSpec(layer, calls: [[previous]])
            specs.append(spec)
            previous = TensorRef(layer: spec.name, node: 0, tensor: 0)
        }
        return ModelSpec(name: name, layers: specs, inputs: [input], outputs: [previous])
    }

    private func functional(_ config: JSON) throws(KerasImportError) -> ModelSpec {
        let name = config["name"]?.string ?? "model"
        guard let layers = config["layers"]?.array else { throw bad("Functional config has no layers") }
        var specs: [LayerSpec] = []
        let names = Set(layers.compactMap { $0["name"]?.string ?? $0["config"]?["name"]?.string })
        for layer in layers {
            let arguments = try inboundCalls(layer["inbound_nodes"] ?? .array([]), layer: layer["name"]?.string ?? "?", layerNames: names)
            var spec = try layerSpec(layer, calls: arguments.map(\.inputs))
            spec.arguments = arguments
            specs.append(spec)
        }
        guard let inputs = config["input_layers"], let outputs = config["output_layers"] else {
            throw bad("Functional config has no input_layers or output_layers")
        }
        return ModelSpec(name: name, layers: specs, inputs: try refList(inputs), outputs: try refList(outputs))
    }

    private func layerSpec(_ json: JSON, calls: [[TensorRef]]) throws(KerasImportError) -> LayerSpec {
        guard let className = json["class_name"]?.string, let config = json["config"] else {
            throw bad("a layer has no class_name or config")
        }
        guard let name = json["name"]?.string ?? config["name"]?.string else { throw bad("a \(className) layer has no name") }
        // Names key the weights and the graph's values; Keras gives every layer a non-empty one.
        guard !name.isEmpty else { throw bad("a \(className) layer has an empty name; Keras names every layer") }
        return LayerSpec(className: className, name: name, config: config, module: json["module"]?.string, calls: calls)
    }

    /// `input_layers` / `output_layers`: one `[name, node, tensor]`, or a structure of them (lists nested as
    /// the model's inputs or outputs were, or a dict), flattened in Keras's order (dict keys sorted).
    private func refList(_ json: JSON) throws(KerasImportError) -> [TensorRef] {
        guard json.array != nil || json.object != nil else { throw bad("input_layers/output_layers is not a list") }
        var refs: [TensorRef] = []
        try flatten(json, into: &refs)
        return refs
    }

    /// Appends every tensor reference in a structure of them; anything else is an error.
    private func flatten(_ json: JSON, into refs: inout [TensorRef]) throws(KerasImportError) {
        switch json {
        case .array(let items) where items.first?.string != nil:
            refs.append(try ref(json))
        case .array(let items):
            for item in items { try flatten(item, into: &refs) }
        case .object(let object):
            for key in object.keys.sorted() { try flatten(object[key] ?? .null, into: &refs) }
        case .null, .bool, .number, .string:
            throw bad("a tensor reference is not [layer, node, tensor]")
        }
    }

    private func ref(_ json: JSON) throws(KerasImportError) -> TensorRef {
        guard let items = json.array, items.count >= 3, let layer = items[0].string, let node = items[1].int,
            let tensor = items[2].int
        else { throw bad("a tensor reference is not [layer, node, tensor]") }
        return TensorRef(layer: layer, node: node, tensor: tensor)
    }
}
