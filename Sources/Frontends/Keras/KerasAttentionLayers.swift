import KilnIR

/// Keras's MultiHeadAttention (Keras 2: tf_keras/src/layers/attention/multi_head_attention.py; Keras 3:
/// keras/src/layers/attention/multi_head_attention.py), lowered as Keras computes it: the query, key and value
/// projections (EinsumDense layers whose kernels are [features, heads, depth]) as MatMuls with the kernels seen as
/// [features, heads * depth] and reshaped to [batch, seq, heads, depth]; the `Attention` op; the output projection
/// (kernel [heads, valueDepth, output...]) as a MatMul over the flattened heads.
extension KerasLowering {
    static let attentionLayers: Set<String> = ["MultiHeadAttention", "Attention", "AdditiveAttention"]

    /// The layer's outputs, or nil when it is no attention layer.
    mutating func lowerAttention(
        _ layer: LayerSpec, call: Int, inputs: [String], base: String, mask: KerasMask?
    ) throws(KerasImportError) -> [String]? {
        guard Self.attentionLayers.contains(layer.className) else { return nil }
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        guard mask == nil else {
            throw unsupported(
                "its inputs carry Keras masks (from Embedding(mask_zero=True) or Masking), which Kiln does not apply here yet")
        }
        if layer.className != "MultiHeadAttention" { return try keyValueAttention(layer, call: call, inputs: inputs, base: base) }
        let call = try AttentionCall(layer, call: call, inputs: inputs, file: file)
        return try multiHeadAttention(layer, call, base: base)
    }

    /// Keras's Attention and AdditiveAttention layers (keras/src/layers/attention/attention.py and
    /// additive_attention.py; tf_keras/src/layers/attention/ likewise) as the Attention op with one head:
    /// softmax(scores) value, where the scores are Attention's `score_mode="dot"` s * query keyᵀ (s its trained
    /// scalar `scale` with `use_scale`, else 1), its `"concat"` c * sum(tanh(s * (query + key))) (c its trained
    /// `concat_score_weight`; s multiplies query and key first), or AdditiveAttention's sum(w * tanh(query + key)) (w
    /// its trained `scale` [features] with `use_scale`, else ones). `use_causal_mask` masks later keys (Keras subtracts
    /// 1e9 from masked scores, so a row masked everywhere, possible only with a longer query than key, gets equal
    /// weights).
    private mutating func keyValueAttention(
        _ layer: LayerSpec, call: Int, inputs: [String], base: String
    ) throws(KerasImportError) -> [String] {
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        let settings = config(of: layer)
        let additive = layer.className == "AdditiveAttention"
        let scoreMode = additive ? "additive" : try settings.choice("score_mode", ["dot", "concat"], default: "dot")
        let useScale = try settings.bool("use_scale", default: additive)
        guard call < layer.arguments.count else {
            throw unsupported("its call arguments are not recorded (Attention needs a Functional model)")
        }
        let arguments = layer.arguments[call]
        switch arguments.kwargs["mask"] {
        case nil, .constant(.null)?: break
        default: throw unsupported("its query and value masks (the `mask` argument) are not supported yet")
        }
        func flag(_ keyword: String) throws(KerasImportError) -> Bool {
            switch arguments.kwargs[keyword] {
            case nil, .constant(.null): return false
            case .constant(.bool(let value))?: return value
            default: throw unsupported("its argument '\(keyword)' is not true or false")
            }
        }
        let causal = try flag("use_causal_mask"), returnScores = try flag("return_attention_scores")
        guard inputs.count == 2 || inputs.count == 3 else {
            throw unsupported("it is called on \(inputs.count) tensors; Keras's Attention takes [query, value] or [query, value, key]")
        }
        let (query, value, key) = (inputs[0], inputs[1], inputs.count == 3 ? inputs[2] : inputs[1])
        for (role, name) in [("query", query), ("value", value), ("key", key)] {
            guard types[name]!.shape.rank == 3 else {
                throw unsupported("its \(role) is \(types[name]!); Kiln reads [batch, seq, features]")
            }
        }
        let features = types[query]!.shape.dims[2]
        guard let depth = features.fixedValue else { throw unsupported("its query \(types[query]!) has no known feature size") }
        // Keras's weights in order: `scale` (with use_scale: a scalar, or [features] for AdditiveAttention), then
        // Attention's `concat_score_weight` (a scalar) in concat mode.
        let shapes: [[Int]] = (useScale ? [additive ? [depth] : []] : []) + (scoreMode == "concat" ? [[]] : [])
        var loaded: [Tensor] = []
        if !shapes.isEmpty {
            let found = try weights.weights(of: layer.name, expecting: shapes)
            guard found.count == shapes.count else {
                throw .missingWeights(
                    file: file, layer: layer.name, reason: "expected \(shapes.count) weight arrays, the file has \(found.count)")
            }
            for ((name, tensor), shape) in zip(found, shapes) where tensor.count != max(shape.reduce(1, *), 1) {
                throw .weightShape(file: file, layer: layer.name, weight: name, expected: shape, got: tensor.shape)
            }
            loaded = found.map(\.tensor)
        }
        var scale: Float = 1
        var (queryInput, keyInput) = (query, key)
        var additiveWeights: String?
        switch scoreMode {
        case "dot":
            if useScale { scale = loaded[0].floats[0] }
        case "concat":
            if useScale {
                let factor = addConstant("\(layer.name).scale", Tensor(shape: [], floats: [loaded[0].floats[0]]))
                queryInput = try emit(.binary(.mul), [query, factor], name: "\(base).query.scaled", node: layer.name)
                keyInput = try emit(.binary(.mul), [key, factor], name: "\(base).key.scaled", node: layer.name)
            }
            scale = loaded[loaded.count - 1].floats[0]
            additiveWeights = addConstant("\(layer.name).ones", Tensor(shape: [depth], floats: Array(repeating: 1, count: depth)))
        default:
            let w = useScale ? loaded[0].floats : Array(repeating: 1, count: depth)
            additiveWeights = addConstant("\(layer.name).scale", Tensor(shape: [depth], floats: w))
        }
        // One head: [batch, seq, 1, features].
        func headed(_ value: String, _ role: String) throws(KerasImportError) -> String {
            try emit(.reshape(shape: [0, 0, 1, -1]), [value], name: "\(base).\(role).head", node: layer.name)
        }
        let attention = Attention(
            scale: scale, score: additiveWeights == nil ? .dot : .additive, causal: causal, returnsScores: returnScores)
        let names = [fresh("\(base).context")] + (returnScores ? [fresh("\(base).weights")] : [])
        let results = try emitResults(
            .attention(attention),
            [try headed(queryInput, "query"), try headed(keyInput, "key"), try headed(value, "value")]
                + (additiveWeights.map { [$0] } ?? []),
            names: names,
            node: layer.name)
        var outputs = [try emit(.reshape(shape: [0, 0, -1]), [results[0]], name: base, node: layer.name)]
        if returnScores {
            guard let tq = types[query]!.shape.dims[1].fixedValue, let tv = types[key]!.shape.dims[1].fixedValue else {
                throw unsupported("return_attention_scores needs known query and value lengths; fix them with --input-shape")
            }
            outputs.append(try emit(.reshape(shape: [0, tq, tv]), [results[1]], name: "\(base).scores", node: layer.name))
        }
        return outputs
    }

    private mutating func multiHeadAttention(_ layer: LayerSpec, _ call: AttentionCall, base: String) throws(KerasImportError) -> [String] {
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        let settings = config(of: layer)
        let heads = try settings.size("num_heads"), keyDepth = try settings.size("key_dim")
        let valueDepth = try settings.size("value_dim", default: keyDepth)
        let useBias = try settings.bool("use_bias", default: true)
        let dropout = try settings.double("dropout", default: 0)
        var call = call
        let rank = types[call.query]!.shape.rank
        for (role, name) in [("query", call.query), ("key", call.key), ("value", call.value)] {
            let type = types[name]!
            guard type.shape.rank >= 3, type.shape.rank == rank, type.shape.dims.last?.fixedValue != nil else {
                throw unsupported("its \(role) is \(type); Kiln reads [batch, positions..., features] of one rank with known features")
            }
        }
        // Keras attends over every axis between the batch and the features unless told otherwise; Kiln lowers
        // exactly that (1-D over a sequence, 2-D over height and width...) by joining those axes into one.
        let attended = Array(1..<(rank - 1))
        if let axes = settings["attention_axes"] {
            let list = (axes.array ?? [axes]).map { $0.int.map { $0 < 0 ? $0 + rank : $0 } }
            guard list == attended else {
                throw unsupported(
                    "attention_axes [\(list.map { $0.map(String.init) ?? "?" }.joined(separator: ", "))] is not supported; Kiln attends over every axis between the batch and the features (\(attended) for rank-\(rank) inputs, Keras's default)"
                )
            }
        }
        var queryPositions: [Int] = [], keyPositions: [Int] = []
        if rank > 3 {
            guard !call.causal else { throw unsupported("use_causal_mask with attention over \(rank - 2) axes is not supported") }
            func joined(_ value: String, _ role: String) throws(KerasImportError) -> (String, [Int]) {
                let dims = types[value]!.shape.dims
                guard let positions = dims[1..<(rank - 1)].map(\.fixedValue) as [Int?]?, positions.allSatisfy({ $0 != nil }) else {
                    throw unsupported("attention over \(rank - 2) axes needs their sizes; \(types[value]!) leaves some unknown")
                }
                let sizes = positions.map { $0! }
                let flat = try emit(
                    .reshape(shape: [0, sizes.reduce(1, *), dims[rank - 1].fixedValue!]), [value], name: "\(base).\(role).positions",
                    node: layer.name)
                return (flat, sizes)
            }
            let keyIsValue = call.key == call.value
            (call.query, queryPositions) = try joined(call.query, "query")
            (call.value, keyPositions) = try joined(call.value, "value")
            call.key = keyIsValue ? call.value : try joined(call.key, "key").0
            if let mask = call.mask {
                let t = queryPositions.reduce(1, *), s = keyPositions.reduce(1, *)
                guard types[mask]!.shape.rank == 1 + 2 * (rank - 2) else {
                    throw unsupported("its attention_mask \(types[mask]!) is not [batch, query positions..., key positions...]")
                }
                call.mask = try emit(.reshape(shape: [0, t, s]), [mask], name: "\(base).mask.positions", node: layer.name)
            }
        }
        let query = types[call.query]!, key = types[call.key]!, value = types[call.value]!
        let outputShape: [Int]
        switch settings["output_shape"] {
        case nil: outputShape = [query.shape.dims[2].fixedValue!]
        case .some(let json):
            let items = json.array ?? [json]
            var sizes: [Int] = []
            for item in items {
                guard let size = item.int, size >= 1, size <= LayerConfig.maxSize else {
                    throw settings.invalid("output_shape", "a size or a list of sizes")
                }
                sizes.append(size)
            }
            guard !sizes.isEmpty else { throw settings.invalid("output_shape", "a size or a list of sizes") }
            outputShape = sizes
        }
        var outputSize = 1
        for size in outputShape {
            guard let product = CheckedArithmetic.multiply(outputSize, size), product <= LayerConfig.maxSize else {
                throw settings.invalid("output_shape", "sizes whose product is at most \(LayerConfig.maxSize)")
            }
            outputSize = product
        }
        let dims = [query, key, value].map { $0.shape.dims[2].fixedValue! }
        let projections = [(dims[0], keyDepth), (dims[1], keyDepth), (dims[2], valueDepth)]
        var shapes: [[Int]] = []
        for (features, depth) in projections { shapes += [[features, heads, depth]] + (useBias ? [[heads, depth]] : []) }
        shapes += [[heads, valueDepth] + outputShape] + (useBias ? [outputShape] : [])
        let constants = try attentionWeights(layer, shapes: shapes, useBias: useBias)
        let perProjection = useBias ? 2 : 1
        var projected: [String] = []
        for (index, (input, role)) in [(call.query, "query"), (call.key, "key"), (call.value, "value")].enumerated() {
            let weights = Array(constants[(index * perProjection)..<((index + 1) * perProjection)])
            var x = try emit(.matMul, [input, weights[0]], name: "\(base).\(role)", node: layer.name)
            if useBias { x = try emit(.binary(.add), [x, weights[1]], name: "\(base).\(role).bias_add", node: layer.name) }
            let depth = projections[index].1
            projected.append(try emit(.reshape(shape: [0, 0, heads, depth]), [x], name: "\(base).\(role).heads", node: layer.name))
        }
        // Keras 3 takes ops.dot_product_attention (masked logits replaced, fully masked rows uniform) unless
        // dropout is set, the scores are returned or it attends over several axes; its Softmax layer then zeroes
        // fully masked rows. Keras 2 adds
        // -1e9 to masked logits: fully masked rows uniform.
        // Keras 2's Softmax over several axes (exp(x - logsumexp(x))) gives such rows weights 1.
        let zeroRows = kerasMajorVersion >= 3 && (dropout > 0 || call.returnScores || rank > 3)
        let fullyMasked: Attention.FullyMaskedRows = zeroRows ? .zero : kerasMajorVersion < 3 && rank > 3 ? .ones : .uniform
        let attention = Attention(
            scale: Float(1 / Double(keyDepth).squareRoot()), causal: call.causal, fullyMaskedRows: fullyMasked,
            returnsScores: call.returnScores)
        let names = [fresh("\(base).context")] + (call.returnScores ? [fresh("\(base).scores")] : [])
        let results = try emitResults(.attention(attention), projected + (call.mask.map { [$0] } ?? []), names: names, node: layer.name)
        let flat = try emit(.reshape(shape: [0, 0, heads * valueDepth]), [results[0]], name: "\(base).merged", node: layer.name)
        let last = 3 * perProjection
        var output = try emit(.matMul, [flat, constants[last]], name: "\(base).output", node: layer.name)
        if useBias { output = try emit(.binary(.add), [output, constants[last + 1]], name: "\(base).output.bias_add", node: layer.name) }
        if outputShape.count > 1 || rank > 3 {
            let positions: [Int] = rank > 3 ? queryPositions : [0]
            output = try emit(.reshape(shape: [0] + positions + outputShape), [output], name: "\(base).output.shaped", node: layer.name)
        }
        var scores = Array(results.dropFirst())
        if rank > 3, let weights = scores.first {
            scores = [
                try emit(
                    .reshape(shape: [0, heads] + queryPositions + keyPositions), [weights], name: "\(base).scores.shaped", node: layer.name)
            ]
        }
        return [output] + scores
    }

    /// The projections' weights as constants: kernels as [features, heads * depth] (the output kernel as
    /// [heads * valueDepth, output]), biases flat. A full-model `.h5` keeps all eight under the layer's name, a
    /// `.keras` archive under its `query`, `key`, `value` and `attention_output` sublayers.
    private mutating func attentionWeights(
        _ layer: LayerSpec, shapes: [[Int]], useBias: Bool
    ) throws(KerasImportError) -> [String] {
        if let cached = cachedConstants(of: layer) { return cached }
        var loaded = try weights.weights(of: layer.name, expecting: shapes)
        let perProjection = useBias ? 2 : 1
        if loaded.isEmpty {
            for (index, sublayer) in ["query", "key", "value", "attention_output"].enumerated() {
                let expected = Array(shapes[(index * perProjection)..<((index + 1) * perProjection)])
                loaded += try weights.weights(of: "\(layer.name)/\(sublayer)", expecting: expected)
            }
        }
        guard loaded.count == shapes.count else {
            throw .missingWeights(
                file: file, layer: layer.name, reason: "expected \(shapes.count) weight arrays, the file has \(loaded.count)")
        }
        var names: [String] = []
        for ((weightName, tensor), shape) in zip(loaded, shapes) {
            guard tensor.shape == shape else {
                throw .weightShape(file: file, layer: layer.name, weight: weightName, expected: shape, got: tensor.shape)
            }
            // Row-major data keeps its order when dimensions are joined: kernels become matrices, biases vectors.
            let flatShape =
                shape.count == 3 && names.count < 3 * perProjection
                ? [shape[0], shape[1] * shape[2]]
                : names.count == 3 * perProjection ? [shape[0] * shape[1], shape.dropFirst(2).reduce(1, *)] : [shape.reduce(1, *)]
            names.append(addConstant("\(layer.name).\(weightName)", Tensor(shape: flatShape, storage: tensor.storage)))
        }
        rememberConstants(names, of: layer)
        return names
    }
}

/// Which values a MultiHeadAttention call reads and how: `layer(query, value, key=None, attention_mask=None,
/// return_attention_scores=False, use_causal_mask=False, ...)`. Keras 3 records the positional arguments in `args`;
/// Keras 2 records the query as the first argument and the rest among the keyword arguments.
struct AttentionCall {
    var query: String
    var value: String
    var key: String
    var mask: String?
    var causal: Bool
    var returnScores: Bool

    init(_ layer: LayerSpec, call: Int, inputs: [String], file: String) throws(KerasImportError) {
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        guard call < layer.arguments.count else {
            throw unsupported("its call arguments are not recorded (MultiHeadAttention needs a Functional model)")
        }
        let arguments = layer.arguments[call]
        // `inputs` holds the values of `arguments.inputs`, in that order.
        var values: [TensorRef: String] = [:]
        for (ref, value) in zip(arguments.inputs, inputs) { values[ref] = value }
        func tensor(_ position: Int, _ keyword: String) throws(KerasImportError) -> String? {
            var argument = position < arguments.args.count ? arguments.args[position] : arguments.kwargs[keyword]
            // Keras 2 records its first argument as a list of one tensor.
            if case .list(let items)? = argument, items.count == 1 { argument = items[0] }
            switch argument {
            case nil, .constant(.null): return nil
            case .tensor(let ref)?: return values[ref]
            case .some(let other):
                throw unsupported(
                    "its argument '\(keyword)' is \(other.json.map(LayerConfig.describe) ?? "a structure of tensors"), not one tensor")
            }
        }
        func flag(_ keyword: String) throws(KerasImportError) -> Bool {
            switch arguments.kwargs[keyword] {
            case nil, .constant(.null): return false
            case .constant(.bool(let value))?: return value
            default: throw unsupported("its argument '\(keyword)' is not true or false")
            }
        }
        guard let query = try tensor(0, "query") else { throw unsupported("its call has no query") }
        guard let value = try tensor(1, "value") else { throw unsupported("its call has no value") }
        self.query = query
        self.value = value
        key = try tensor(2, "key") ?? value
        guard arguments.args.count <= 3 else {
            throw unsupported("it is called with \(arguments.args.count) positional arguments; Kiln reads query, value and key")
        }
        for keyword in ["query_mask", "value_mask", "key_mask"] where try tensor(99, keyword) != nil {
            throw unsupported("its argument '\(keyword)' is a tensor; Kiln applies attention_mask and use_causal_mask only")
        }
        mask = try tensor(99, "attention_mask")
        causal = try flag("use_causal_mask")
        returnScores = try flag("return_attention_scores")
    }
}
