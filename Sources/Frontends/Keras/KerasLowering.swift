import KilnIR

/// Lowers a model configuration and its weights to a graph, layer call by layer call.
struct KerasLowering {
    static let supportedLayers = [
        "Activation", "ActivityRegularization", "Add", "AlphaDropout", "Average", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "BatchNormalization", "Concatenate", "Conv1D", "Conv2D", "Conv3D", "Dense", "DepthwiseConv1D",
        "DepthwiseConv2D", "Dropout", "ELU", "Flatten", "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D",
        "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "InputLayer", "LeakyReLU", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
        "Maximum", "Minimum", "Multiply", "Permute",
        "GroupNormalization", "LayerNormalization", "Normalization", "PReLU", "ReLU", "RepeatVector", "Rescaling", "Reshape",
        "SeparableConv1D",
        "SeparableConv2D", "Softmax", "ThresholdedReLU", "UnitNormalization", "Dot", "SpatialDropout1D", "SpatialDropout2D",
        "SpatialDropout3D", "Subtract", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
        "UpSampling1D", "UpSampling2D", "UpSampling3D", "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed",
        "Masking", "RNN", "CuDNNLSTM", "CuDNNGRU",
        "MultiHeadAttention", "EinsumDense", "Attention", "AdditiveAttention",
    ].sorted()

    let file: String
    /// Keras 2 and Keras 3 differ in places (e.g. `hard_sigmoid`); this picks the definition.
    let kerasMajorVersion: Int
    let weights: KerasWeightSource
    /// Sizes for inputs saved with unknown dimensions: every dimension but the batch, by input name.
    var inputShapes: [String: [Int]] = [:]
    /// Read recurrent layers saved with `stateful=True` as stateless (`kiln --stateful-as-stateless`).
    var statefulAsStateless = false
    /// Each symbol standing for an unknown input dimension, with its input and axis, for messages.
    private var unknownDimensions: [String: (input: String, axis: Int)] = [:]

    private(set) var graph = Graph(name: "model")
    private(set) var types: [String: TensorType] = [:]
    private var produced: [TensorRef: String] = [:]
    private var layerConstants: [String: [String]] = [:]
    /// The mask Keras attaches to each value that has one (`KerasMasks.swift`).
    var masks: [String: KerasMask] = [:]
    /// The `indices != 0` value computed for each Embedding input whose mask a layer uses.
    var nonzeroMasks: [String: String] = [:]

    init(file: String, kerasMajorVersion: Int, weights: KerasWeightSource) {
        self.file = file
        self.kerasMajorVersion = kerasMajorVersion
        self.weights = weights
    }

    mutating func lower(_ spec: ModelSpec) throws(KerasImportError) -> Graph {
        // Every layer class Kiln cannot lower is reported at once, before lowering any layer.
        let unsupported = try unsupportedClasses(of: spec)
        guard unsupported.isEmpty else { throw .unsupportedLayers(file: file, unsupported, supported: Self.supportedLayers) }
        graph.name = sanitize(spec.name)
        let layers = Dictionary(spec.layers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for ref in spec.inputs {
            guard let layer = layers[ref.layer], layer.className == "InputLayer" else {
                throw .badConfig(file: file, reason: "model input '\(ref.layer)' is not an InputLayer")
            }
            try addInput(layer, ref: ref)
        }
        let inputNames = Set(spec.inputs.map(\.layer) + graph.inputs.map(\.name))
        if let unknown = inputShapes.keys.sorted().first(where: { !inputNames.contains($0) }) {
            throw .badConfig(
                file: file,
                reason:
                    "--input-shape names '\(unknown)', which is no input of the model; its inputs: \(graph.inputs.map(\.name).joined(separator: ", "))"
            )
        }
        var produced = self.produced
        try runCalls(spec, produced: &produced, valueSuffix: "")
        self.produced = produced
        for (ref, name) in zip(spec.outputs, Self.outputNames(spec.outputs)) {
            guard let value = self.produced[ref] else {
                throw .badConfig(file: file, reason: "model output '\(ref.layer)' is never computed")
            }
            // Outputs carry Keras's names: the producing layer's, even when that is a nested model or a later
            // call of a shared layer. A value inside the model that holds the name gives it up.
            let wanted = sanitize(name)
            if value != wanted, types[wanted] != nil, !graph.outputs.contains(wanted), !graph.inputs.contains(where: { $0.name == wanted })
            {
                renameValue(wanted, to: fresh("\(wanted).call0"))
            }
            if value != wanted || graph.inputs.contains(where: { $0.name == value }) || graph.outputs.contains(value) {
                let output = try emit(.identity, [value], name: types[wanted] == nil ? wanted : fresh(wanted), node: ref.layer)
                graph.outputs.append(output)
            } else {
                graph.outputs.append(value)
            }
        }
        return graph
    }

    /// Renames a value everywhere it appears; `new` must be free.
    private mutating func renameValue(_ old: String, to new: String) {
        for index in graph.nodes.indices {
            graph.nodes[index].inputs = graph.nodes[index].inputs.map { $0 == old ? new : $0 }
            for output in graph.nodes[index].outputs.indices where graph.nodes[index].outputs[output].name == old {
                graph.nodes[index].outputs[output].name = new
            }
        }
        graph.outputs = graph.outputs.map { $0 == old ? new : $0 }
        types[new] = types.removeValue(forKey: old)
        produced = produced.mapValues { $0 == old ? new : $0 }
    }

    /// Lowers every layer call of `spec` once all its inputs exist, the one listed first among those ready
    /// (configs are usually in order already), recording what each produces. Linear in the number of calls
    /// (plus a log factor), in any order.
    private mutating func runCalls(_ spec: ModelSpec, produced: inout [TensorRef: String], valueSuffix: String) throws(KerasImportError) {
        // Keras 2 numbers the calls of a nested model after the node that built it; find each layer's offset.
        var highest: [String: Int] = [:]
        for layer in spec.layers {
            for call in layer.calls.indices {
                for ref in layer.dependencies(ofCall: call) { highest[ref.layer] = max(highest[ref.layer] ?? 0, ref.node) }
            }
        }
        for ref in spec.outputs { highest[ref.layer] = max(highest[ref.layer] ?? 0, ref.node) }
        let calls: [(layer: LayerSpec, call: Int)] = spec.layers.filter { $0.className != "InputLayer" }
            .flatMap { layer in layer.calls.indices.map { (layer, $0) } }
        var schedule = CallSchedule(calls.map { $0.layer.dependencies(ofCall: $0.call) }, produced: produced)
        while let next = schedule.next() {
            let (layer, call) = calls[next]
            let inputs = layer.calls[call].map { produced[$0]! }
            let base = valueName(layer.name, call: call) + valueSuffix
            let outputs: [String]
            if Self.nestedModelClasses.contains(layer.className) {
                // The inlined layers follow the masks themselves.
                outputs = try lowerNested(layer, inputs: inputs, valueSuffix: call == 0 ? valueSuffix : ".call\(call)\(valueSuffix)")
            } else if isOpLayer(layer) {
                guard call < layer.arguments.count else {
                    throw .badConfig(file: file, reason: "op layer '\(layer.name)' has no recorded call")
                }
                // Op layers drop masks, as TFOpLambda and keras.ops do.
                outputs = [try lowerOpLayer(layer, call: layer.arguments[call], values: produced, base: base)]
                propagateMask(layer, inputs: inputs, mask: nil, outputs: outputs)
            } else {
                let mask = self.mask(for: layer, call: call, inputs: inputs, produced: produced)
                try checkMaskUse(layer, call: call, mask: mask)
                outputs = try lowerCall(layer, call: call, inputs: inputs, base: base, mask: mask)
                propagateMask(layer, inputs: inputs, mask: mask, outputs: outputs)
            }
            let offset = max(0, (highest[layer.name] ?? 0) - (layer.calls.count - 1))
            for (index, output) in outputs.enumerated() {
                let ref = TensorRef(layer: layer.name, node: call + offset, tensor: index)
                if produced.updateValue(output, forKey: ref) == nil { schedule.produced(ref) }
            }
        }
        let stuck = schedule.waiting
        guard stuck.isEmpty else {
            throw .badConfig(
                file: file,
                reason: "layers \(stuck.map { "'\(calls[$0].layer.name)'" }.joined(separator: ", ")) read tensors no layer produces")
        }
    }

    /// Inlines a Sequential or Functional model used as a layer. Its layers are named `outer/inner`, so
    /// their weights are found and shared across calls; values of later calls get a `.callN` suffix.
    private mutating func lowerNested(_ layer: LayerSpec, inputs: [String], valueSuffix: String) throws(KerasImportError) -> [String] {
        let parsed = try KerasConfigParser(file: file).parse(.object(["class_name": .string(layer.className), "config": layer.config]))
        func scoped(_ ref: TensorRef) -> TensorRef { TensorRef(layer: "\(layer.name)/\(ref.layer)", node: ref.node, tensor: ref.tensor) }
        let spec = ModelSpec(
            name: parsed.name,
            layers: parsed.layers.map { inner in
                LayerSpec(
                    className: inner.className, name: "\(layer.name)/\(inner.name)", config: inner.config, module: inner.module,
                    calls: inner.calls.map { $0.map(scoped) }, arguments: inner.arguments.map { $0.mapRefs(scoped) })
            },
            inputs: parsed.inputs.map(scoped), outputs: parsed.outputs.map(scoped))
        guard spec.inputs.count == inputs.count else {
            throw .badConfig(
                file: file, reason: "nested model '\(layer.name)' takes \(spec.inputs.count) inputs, it is called with \(inputs.count)")
        }
        var produced: [TensorRef: String] = [:]
        for (ref, value) in zip(spec.inputs, inputs) { produced[ref] = value }
        try runCalls(spec, produced: &produced, valueSuffix: valueSuffix)
        var outputs: [String] = []
        for ref in spec.outputs {
            guard let value = produced[ref] else {
                throw .badConfig(file: file, reason: "nested model '\(layer.name)' never computes its output '\(ref.layer)'")
            }
            outputs.append(value)
        }
        return outputs
    }

    // MARK: - Layers

    private mutating func lowerCall(_ layer: LayerSpec, call: Int, inputs: [String], base: String, mask: KerasMask?)
        throws(KerasImportError)
        -> [String]
    {
        let settings = config(of: layer)
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        if let mask, layer.className == "GlobalAveragePooling1D", inputs.count == 1 {
            return [finish(try maskedAveragePooling(layer, inputs[0], mask: mask, base: base), as: base, input: inputs[0])]
        }
        if let outputs = try lowerRecurrent(layer, inputs, base: base, mask: mask) { return outputs }
        if let outputs = try lowerAttention(layer, call: call, inputs: inputs, base: base, mask: mask) { return outputs }
        if let merged = try merge(layer, inputs, base: base) { return [merged] }
        guard inputs.count == 1 else { throw unsupported("takes one input, got \(inputs.count)") }
        let x = inputs[0]
        var result: String
        switch layer.className {
        case "Dense":
            result = try dense(layer, x, base: base)
        case "Dropout":
            result = x
        case "EinsumDense":
            result = try einsumDense(layer, x, base: base)
        case "Embedding":
            result = try embedding(layer, x, base: base)
        case "Masking":
            result = try masking(layer, x, base: base)
        case "Flatten":
            // channels_first: Keras moves the channels last first, so the features come out in the order a
            // channels_last model would give.
            let rank = types[x]!.shape.rank
            var source = x
            if try settings.choice("data_format", Self.dataFormats, default: "channels_last") == "channels_first" && rank > 2 {
                source = try emit(.transpose(perm: [0] + Array(2..<rank) + [1]), [x], name: "\(base).channels_last", node: layer.name)
            }
            result = try emit(.flatten(axis: 1), [source], name: base, node: layer.name)
        case "Activation":
            result = try activation(x, base: base, layer: layer)
        case "Softmax":
            let rank = types[x]!.shape.rank
            if let axes = settings["axis"]?.array, axes.count != 1 {
                result = try softmax(layer, x, axes: try settings.axes("axis", rank: rank, default: [-1]), base: base)
            } else {
                result = try emit(.softmax(axis: try settings.axisAsWritten("axis", rank: rank)), [x], name: base, node: layer.name)
            }
        case "ReLU":
            result = try relu(settings, x, base: base, layer: layer)
        case "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
            "ActivityRegularization":
            result = x
        default:
            if let lowered = try lowerSpatial(layer, x, base: base) {
                result = lowered
                break
            }
            if let lowered = try lowerNormalization(layer, x, base: base) {
                result = lowered
                break
            }
            // `lower` rejects every class outside `supportedLayers` first; this is a class listed there but
            // handled nowhere, a bug in Kiln.
            throw .unsupportedLayers(
                file: file, [UnsupportedLayerClass(className: layer.className, layers: [layer.name], module: layer.module)],
                supported: Self.supportedLayers.filter { $0 != layer.className })
        }
        return [finish(result, as: base, input: x)]
    }

    /// One call of `layer` (a layer Kiln lowers, or a nested model) on `x`, for the wrappers in other files
    /// (TimeDistributed); `suffix` keeps the values of repeated calls apart.
    mutating func lowerWrapped(_ layer: LayerSpec, _ x: String, base: String, suffix: String) throws(KerasImportError) -> String {
        if Self.nestedModelClasses.contains(layer.className) {
            let outputs = try lowerNested(layer, inputs: [x], valueSuffix: suffix)
            guard outputs.count == 1 else {
                throw .unsupportedConfig(
                    file: file, layer: layer.name, className: layer.className,
                    reason: "has \(outputs.count) outputs; a wrapped model needs one")
            }
            return outputs[0]
        }
        let outputs = try lowerCall(layer, call: 0, inputs: [x], base: base, mask: nil)
        guard outputs.count == 1 else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className, reason: "has \(outputs.count) outputs; a wrapped layer needs one"
            )
        }
        return outputs[0]
    }

    /// Dense for the wrappers in other files (TimeDistributed).
    mutating func denseLayer(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        try dense(layer, x, base: base)
    }

    private mutating func dense(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer)
        let units = try settings.size("units")
        let inputType = types[x]!
        guard let inFeatures = inputType.shape.dims.last?.fixedValue else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: "Dense", reason: "input \(inputType) has no known last dimension")
        }
        let useBias = try settings.bool("use_bias", default: true)
        let constants = try constants(
            of: layer, shapes: useBias ? [[inFeatures, units], [units]] : [[inFeatures, units]], names: ["kernel", "bias"])
        let linear = try settings.activation().name == "linear"
        let preActivation = linear ? base : "\(base).\(inputType.shape.rank == 2 ? "gemm" : "matmul")"
        var value: String
        if inputType.shape.rank == 2 {
            value = try emit(.gemm(transB: false), [x] + constants, name: preActivation, node: layer.name)
        } else {
            value = try emit(.matMul, [x, constants[0]], name: useBias ? "\(base).matmul" : preActivation, node: layer.name)
            if useBias {
                value = try emit(.binary(.add), [value, constants[1]], name: linear ? base : "\(base).bias_add", node: layer.name)
            }
        }
        return try activation(value, base: base, layer: layer)
    }

    /// Keras's ReLU layer, lowered as Keras computes it: x gated at `threshold` (x * (x > threshold)) or
    /// relu(x) without one, clipped to [0, max_value] when given, minus negative_slope * relu(threshold - x).
    /// Keras's Embedding: a Gather of rows of the table. Float indices are cast to int32 first (truncated
    /// toward zero), as Keras does; an index outside the vocabulary is an error in every engine but ONNX,
    /// where negative indices count from the end.
    private mutating func embedding(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer)
        let vocabulary = try settings.size("input_dim"), width = try settings.size("output_dim")
        // Read here so that a mask_zero that is not a bool is an error, not a layer without its mask.
        _ = try settings.bool("mask_zero", default: false)
        let table = try constants(of: layer, shapes: [[vocabulary, width]], names: ["embeddings"])[0]
        var indices = x
        if !(types[x]!.dtype == .int32 || types[x]!.dtype == .int64) {
            indices = try emit(.cast(to: .int32), [x], name: "\(base).indices", node: layer.name)
        }
        return try emit(.gather(axis: 0), [table, indices], name: base, node: layer.name)
    }

    mutating func relu(_ settings: LayerConfig, _ x: String, base: String, layer: LayerSpec) throws(KerasImportError) -> String {
        let maxValue = settings["max_value"] == nil ? nil : try settings.double("max_value", default: 0)
        let slope = try settings.double("negative_slope", default: 0)
        let threshold = try settings.double("threshold", default: 0)
        switch (maxValue, slope, threshold) {
        case (nil, 0, 0): return try emit(.activation(.relu), [x], name: base, node: layer.name)
        case (let max?, 0, 0): return try emit(.activation(.clip(min: 0, max: Float(max))), [x], name: base, node: layer.name)
        case (nil, _, 0): return try emit(.activation(.leakyRelu(alpha: Float(slope))), [x], name: base, node: layer.name)
        default: break
        }
        // Keras gates at a threshold without clamping at 0, and clips only with a max_value.
        var positive = x
        let positiveName = slope == 0 ? base : "\(base).positive"
        if threshold != 0 {
            let gated = maxValue == nil ? positiveName : "\(base).above"
            positive = try emit(.activation(.thresholdedRelu(theta: Float(threshold))), [x], name: gated, node: layer.name)
            if let maxValue {
                positive = try emit(.activation(.clip(min: 0, max: Float(maxValue))), [positive], name: positiveName, node: layer.name)
            }
        } else {
            let clipped: Activation = maxValue.map { .clip(min: 0, max: Float($0)) } ?? .relu
            positive = try emit(.activation(clipped), [x], name: positiveName, node: layer.name)
        }
        guard slope != 0 else { return positive }
        let start = addConstant("\(base).threshold", Tensor(shape: [], floats: [Float(threshold)]))
        let below = try emit(.binary(.sub), [start, x], name: "\(base).below", node: layer.name)
        let negative = try emit(.activation(.relu), [below], name: "\(base).negative", node: layer.name)
        let scale = addConstant("\(base).slope", Tensor(shape: [], floats: [Float(slope)]))
        let scaled = try emit(.binary(.mul), [negative, scale], name: "\(base).scaled", node: layer.name)
        return try emit(.binary(.sub), [positive, scaled], name: base, node: layer.name)
    }

    // MARK: - Activations

    /// The activation's name whether Keras wrote a string or a serialized function object.
    static func activationName(_ json: JSON) -> String? {
        if let name = json.string { return name }
        return json["config"]?.string ?? json["config"]?["name"]?.string ?? json["class_name"]?.string
    }

    static let supportedActivations = [
        "linear", "relu", "sigmoid", "tanh", "softmax", "softplus", "softsign", "elu", "selu", "gelu", "swish", "silu",
        "exponential", "hard_sigmoid", "relu6", "leaky_relu", "hard_silu", "hard_swish", "mish",
    ]

    /// The layer's `activation` applied to `x` (x itself for none or "linear").
    mutating func activation(_ x: String, base: String, layer: LayerSpec) throws(KerasImportError) -> String {
        let (name, object) = try config(of: layer).activation()
        let json = object ?? .string(name)
        func one(_ activation: Activation) throws(KerasImportError) -> String {
            try emit(.activation(activation), [x], name: base, node: layer.name)
        }
        switch name {
        case "linear": return x
        case "relu": return try one(.relu)
        case "sigmoid": return try one(.sigmoid)
        case "tanh": return try one(.tanh)
        case "softplus": return try one(.softplus)
        case "softsign": return try one(.softsign)
        case "exponential": return try one(.exp)
        case "elu": return try one(.elu(alpha: 1))
        case "selu": return try one(.selu(alpha: Activation.seluAlpha, gamma: Activation.seluGamma))
        case "gelu": return try one(.gelu(approximate: json["config"]?["approximate"]?.bool ?? false))
        case "swish", "silu": return try one(.swish)
        case "relu6": return try one(.clip(min: 0, max: 6))
        case "leaky_relu": return try one(.leakyRelu(alpha: Float(json["config"]?["negative_slope"]?.double ?? 0.2)))
        case "hard_sigmoid": return try one(hardSigmoid)
        case "softmax": return try emit(.softmax(axis: -1), [x], name: base, node: layer.name)
        case "hard_silu", "hard_swish":
            let gate = try emit(.activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)), [x], name: "\(base).hard_sigmoid", node: layer.name)
            return try emit(.binary(.mul), [x, gate], name: base, node: layer.name)
        case "mish":
            let softplus = try emit(.activation(.softplus), [x], name: "\(base).softplus", node: layer.name)
            let tanh = try emit(.activation(.tanh), [softplus], name: "\(base).tanh", node: layer.name)
            return try emit(.binary(.mul), [x, tanh], name: base, node: layer.name)
        default:
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className,
                reason: "activation '\(name)' is not supported; supported: \(Self.supportedActivations.joined(separator: ", "))")
        }
    }

    /// Keras 2: clip(0.2x + 0.5, 0, 1). Keras 3: relu6(x + 3) / 6, that is clip(x/6 + 0.5, 0, 1).
    private var hardSigmoid: Activation {
        kerasMajorVersion >= 3 ? .hardSigmoid(alpha: 1.0 / 6, beta: 0.5) : .hardSigmoid(alpha: 0.2, beta: 0.5)
    }

    // MARK: - Graph building

    private mutating func addInput(_ layer: LayerSpec, ref: TensorRef) throws(KerasImportError) {
        guard let shape = (layer.config["batch_shape"] ?? layer.config["batch_input_shape"])?.array, !shape.isEmpty else {
            throw .badConfig(file: file, reason: "input '\(layer.name)' has no batch_shape")
        }
        try checkInputShape(shape, of: layer)
        let name = sanitize(layer.name)
        var dims: [Dim] = [.symbolic("N")]
        if let pinned = inputShapes[name] ?? inputShapes[layer.name] {
            // Fixed at conversion: the given sizes must agree with every size the model knows.
            guard pinned.count == shape.count - 1, pinned.allSatisfy({ (1...LayerConfig.maxSize).contains($0) }),
                zip(shape.dropFirst(), pinned).allSatisfy({ known, size in known.int.map { $0 == size } ?? true })
            else {
                let saved = shape.dropFirst().map { $0.int.map(String.init) ?? "?" }.joined(separator: "x")
                throw .unsupportedConfig(
                    file: file, layer: layer.name, className: "InputLayer",
                    reason:
                        "the input shape \(pinned.map(String.init).joined(separator: "x")) does not fit the saved shape \(saved) (? is unknown)"
                )
            }
            dims += pinned.map(Dim.fixed)
        } else {
            for (axis, dim) in shape.enumerated().dropFirst() {
                if let size = dim.int {
                    dims.append(.fixed(size))
                } else {
                    // An unknown size: a symbol the graph carries until run time.
                    let symbol = String(name.map { $0.isLetter || $0.isNumber ? $0 : "_" }) + "_dim\(axis)"
                    unknownDimensions[symbol] = (name, axis)
                    dims.append(.symbolic(symbol))
                }
            }
        }
        let dtypeName = layer.config["dtype"]?.string ?? layer.config["dtype"]?["config"]?["name"]?.string ?? "float32"
        let dtypes: [String: DType] = ["float32": .float32, "int32": .int32, "int64": .int64]
        guard let dtype = dtypes[dtypeName] else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: "InputLayer",
                reason: "input dtype \(dtypeName) is not supported; float32, int32 and int64 are")
        }
        let type = TensorType(dtype, Shape(dims))
        graph.inputs.append(Value(name, type))
        types[name] = type
        produced[ref] = name
    }

    /// Keras's `data_format` values.
    static let dataFormats = ["channels_last", "channels_first"]

    /// Each size after the batch is `null` (unknown) or from 1 to `LayerConfig.maxSize`, and the known ones
    /// multiply to an element count that fits.
    private func checkInputShape(_ shape: [JSON], of layer: LayerSpec) throws(KerasImportError) {
        let settings = config(of: layer)
        let key = layer.config["batch_shape"] != nil ? "batch_shape" : "batch_input_shape"
        var sizes: [Int] = []
        for dim in shape.dropFirst() where !dim.isNull {
            guard let size = dim.int, (1...LayerConfig.maxSize).contains(size) else {
                throw settings.invalid(
                    key, "a list of sizes from 1 to 2^31 (or null for an unknown size) after the batch", value: .array(shape))
            }
            sizes.append(size)
        }
        guard CheckedArithmetic.product(sizes + [DType.int64.byteSize]) != nil else {
            throw settings.invalid(key, "a shape whose elements' bytes a 64-bit integer can count", value: .array(shape))
        }
    }

    /// `value`, or an error saying that `what` overflows for this layer.
    func fits(_ value: Int?, _ layer: LayerSpec, _ what: String) throws(KerasImportError) -> Int {
        guard let value else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className,
                reason: "\(what) is larger than a 64-bit integer holds; the configuration's sizes are far beyond any model")
        }
        return value
    }

    /// Adds a constant under a fresh name derived from `base`.
    mutating func addConstant(_ base: String, _ tensor: Tensor) -> String {
        // Weight names such as `gamma:0` become text-form names (`gamma_0`).
        let name = fresh(sanitize(base))
        graph.constants.append(Constant(name, tensor))
        types[name] = tensor.type
        return name
    }

    /// Constants already made from a layer's weights: shared layers reuse them.
    func cachedConstants(of layer: LayerSpec) -> [String]? { layerConstants[layer.name] }

    mutating func rememberConstants(_ names: [String], of layer: LayerSpec) { layerConstants[layer.name] = names }

    /// Reads a layer's weights once (shared layers reuse them), checks their shapes, adds them as constants.
    private mutating func constants(of layer: LayerSpec, shapes: [[Int]], names: [String]) throws(KerasImportError) -> [String] {
        if let existing = layerConstants[layer.name] { return existing }
        let loaded = try weights.weights(of: layer.name, expecting: shapes)
        guard loaded.count == shapes.count else {
            throw .missingWeights(
                file: file, layer: layer.name, reason: "expected \(shapes.count) weight arrays, the file has \(loaded.count)")
        }
        var result: [String] = []
        for ((weightName, tensor), (shape, role)) in zip(loaded, zip(shapes, names)) {
            guard tensor.shape == shape else {
                throw .weightShape(file: file, layer: layer.name, weight: weightName, expected: shape, got: tensor.shape)
            }
            let name = fresh("\(sanitize(layer.name)).\(role)")
            graph.constants.append(Constant(name, tensor))
            types[name] = tensor.type
            result.append(name)
        }
        layerConstants[layer.name] = result
        return result
    }

    @discardableResult
    mutating func emit(_ op: Op, _ inputs: [String], name: String, node: String) throws(KerasImportError) -> String {
        let inferred: [TensorType]
        do {
            inferred = try op.inferTypes(inputs.map { types[$0]! })
        } catch {
            throw .unsupportedConfig(
                file: file, layer: node, className: op.name,
                reason: "its input types do not fit: \(error.message)" + unknownSizeHint(inputs))
        }
        let valueName = types[name] == nil ? name : fresh(name)
        graph.nodes.append(Node(name: sanitize(node), op: op, inputs: inputs, outputs: [Value(valueName, inferred[0])]))
        types[valueName] = inferred[0]
        return valueName
    }

    /// Adds a node with several results named `names` (all fresh) and returns them.
    mutating func emitResults(_ op: Op, _ inputs: [String], names: [String], node: String) throws(KerasImportError) -> [String] {
        let inferred: [TensorType]
        do {
            inferred = try op.inferTypes(inputs.map { types[$0]! })
        } catch {
            throw .unsupportedConfig(
                file: file, layer: node, className: op.name,
                reason: "its input types do not fit: \(error.message)" + unknownSizeHint(inputs))
        }
        graph.nodes.append(Node(name: sanitize(node), op: op, inputs: inputs, outputs: zip(names, inferred).map { Value($0, $1) }))
        for (name, type) in zip(names, inferred) { types[name] = type }
        return names
    }

    /// When an op's inputs have unknown sizes (besides the batch), which input dimensions they are and how
    /// to fix them at conversion.
    func unknownSizeHint(_ inputs: [String]) -> String { unknownSizeHint(inputs.compactMap { types[$0] }) }

    /// The same for the types of an op's inputs.
    func unknownSizeHint(_ inputTypes: TensorType...) -> String { unknownSizeHint(inputTypes) }

    func unknownSizeHint(_ inputTypes: [TensorType]) -> String {
        let symbols = Set(
            inputTypes.flatMap(\.shape.dims).compactMap { dim -> String? in
                if case .symbolic(let s) = dim, unknownDimensions[s] != nil { return s }
                return nil
            })
        guard !symbols.isEmpty else { return "" }
        let owners = symbols.sorted().compactMap { unknownDimensions[$0] }
        let inputsNamed = Set(owners.map(\.input)).sorted()
        let example = inputsNamed.map { input in
            let dims = graph.inputs.first { $0.name == input }?.type.shape.dims.dropFirst() ?? []
            return "--input-shape \(input)=" + dims.map { $0.fixedValue.map(String.init) ?? "SIZE" }.joined(separator: "x")
        }
        return "; it needs the size of "
            + owners.map { "dimension \($0.axis) of input '\($0.input)'" }.joined(separator: " and ")
            + ", which the model leaves unknown: fix it at conversion with " + example.joined(separator: " ")
    }

    /// Gives a layer's last value the layer's name when it is a fresh node result.
    private mutating func finish(_ value: String, as base: String, input: String) -> String {
        guard value != base, value != input, types[base] == nil, let last = graph.nodes.indices.last,
            graph.nodes[last].outputs[0].name == value
        else { return value }
        graph.nodes[last].outputs[0].name = base
        types[base] = types.removeValue(forKey: value)
        return base
    }

    private func valueName(_ layer: String, call: Int) -> String {
        call == 0 ? sanitize(layer) : "\(sanitize(layer)).call\(call)"
    }

    func fresh(_ base: String) -> String {
        if types[base] == nil { return base }
        var i = 1
        while types["\(base).\(i)"] != nil { i += 1 }
        return "\(base).\(i)"
    }

    /// Value names may hold ASCII letters, digits and `_ . - /`; anything else becomes `_`.
    func sanitize(_ name: String) -> String {
        let cleaned = String(name.map { TextParser.isNameCharacter($0) ? $0 : "_" })
        return cleaned.isEmpty ? "_" : cleaned
    }
}
