import KilnIR

/// Convolution, pooling, normalization, merge and reshaping layers (channels-last).
extension KerasLowering {
    /// Lowers a merge layer (Add, Concatenate...) or returns nil when `layer` is not one.
    mutating func merge(_ layer: LayerSpec, _ inputs: [String], base: String) throws(KerasImportError) -> String? {
        let op: Op
        switch layer.className {
        case "Add", "Average": op = .binary(.add)
        case "Subtract": op = .binary(.sub)
        case "Multiply": op = .binary(.mul)
        case "Maximum": op = .binary(.max)
        case "Minimum": op = .binary(.min)
        case "Concatenate":
            return try emit(.concat(axis: layer.config["axis"]?.int ?? -1), inputs, name: base, node: layer.name)
        case "Dot":
            return try dot(layer, inputs, base: base)
        default: return nil
        }
        guard inputs.count >= 2, layer.className != "Subtract" || inputs.count == 2 else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className,
                reason: "needs two inputs\(layer.className == "Subtract" ? " exactly" : " or more"), got \(inputs.count)")
        }
        var value = inputs[0]
        for (index, input) in inputs.dropFirst().enumerated() {
            let last = index == inputs.count - 2 && layer.className != "Average"
            value = try emit(op, [value, input], name: last ? base : "\(base).\(index)", node: layer.name)
        }
        if layer.className == "Average" {
            let scale = addConstant("\(base).scale", Tensor(shape: [], floats: [1 / Float(inputs.count)]))
            value = try emit(.binary(.mul), [value, scale], name: base, node: layer.name)
        }
        return value
    }

    /// Lowers the spatial and shape layers, or returns nil for a class it does not know.
    mutating func lowerSpatial(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String? {
        let config = layer.config
        let type = types[x]!
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        if config["data_format"]?.string == "channels_first" && type.shape.rank > 2, var object = config.object {
            // A channels_first layer computes what its channels_last twin computes on the transposed data. The
            // Transposes between consecutive channels_first layers cancel in the passes.
            let rank = type.shape.rank
            object["data_format"] = .string("channels_last")
            var twin = layer
            twin.config = .object(object)
            let last = try emit(.transpose(perm: [0] + Array(2..<rank) + [1]), [x], name: "\(base).channels_last", node: layer.name)
            guard let lowered = try lowerSpatial(twin, last, base: "\(base).nhwc") else { return nil }
            guard types[lowered]!.shape.rank == rank else { return lowered }
            return try emit(.transpose(perm: [0, rank - 1] + Array(1..<(rank - 1))), [lowered], name: base, node: layer.name)
        }
        let spatial = type.shape.rank - 2
        switch layer.className {
        case "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose":
            return try transposedConvolution(layer, x, base: base)
        case "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D":
            return try convolution(layer, x, base: base)
        case "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D":
            let window = try sizes(config["pool_size"], count: spatial, layer: layer)
            let strides = config["strides"].map { $0.isNull ? window : (try? sizes($0, count: spatial, layer: layer)) ?? window } ?? window
            let pads = try padding(
                config["padding"]?.string ?? "valid", input: type, window: window, strides: strides,
                dilations: Array(repeating: 1, count: spatial), layer: layer)
            let kind: Pooling.Kind = layer.className.hasPrefix("Max") ? .max : .average
            return try emit(.pool(Pooling(kind: kind, window: window, strides: strides, pads: pads)), [x], name: base, node: layer.name)
        case "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
            "GlobalMaxPooling3D":
            let reduction: Reduction = layer.className.contains("Max") ? .max : .mean
            return try emit(
                .reduce(reduction, axes: Array(1...spatial), keepDims: config["keepdims"]?.bool ?? false), [x], name: base, node: layer.name
            )
        case "BatchNormalization":
            return try batchNormalization(layer, x, base: base)
        case "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D":
            let pairs = try paddingPairs(config["padding"], count: spatial, layer: layer)
            let pads = [0] + pairs.map(\.0) + [0] + [0] + pairs.map(\.1) + [0]
            return try emit(.pad(pads: pads, value: 0), [x], name: base, node: layer.name)
        case "Cropping1D", "Cropping2D", "Cropping3D":
            let pairs = try paddingPairs(config["cropping"], count: spatial, layer: layer)
            let pads = [0] + pairs.map(\.0) + [0] + [0] + pairs.map(\.1) + [0]
            return try emit(.crop(pads: pads), [x], name: base, node: layer.name)
        case "UpSampling1D", "UpSampling2D", "UpSampling3D":
            let factors = try sizes(config["size"] ?? .number(2), count: spatial, layer: layer)
            switch config["interpolation"]?.string ?? "nearest" {
            case "nearest": return try emit(.upsample(factors: factors, mode: .nearest), [x], name: base, node: layer.name)
            case "bilinear": return try emit(.upsample(factors: factors, mode: .linear), [x], name: base, node: layer.name)
            case let other: throw unsupported("interpolation '\(other)' is not supported; 'nearest' and 'bilinear' are")
            }
        case "Reshape":
            guard let target = config["target_shape"]?.array?.compactMap(\.int), target.count == config["target_shape"]?.array?.count else {
                throw unsupported("target_shape must be a list of integers")
            }
            return try emit(.reshape(shape: [0] + target), [x], name: base, node: layer.name)
        case "Permute":
            guard let dims = config["dims"]?.array?.compactMap(\.int), dims.count == type.shape.rank - 1 else {
                throw unsupported("dims must list every non-batch dimension")
            }
            return try emit(.transpose(perm: [0] + dims), [x], name: base, node: layer.name)
        case "Rescaling":
            let scale = addConstant("\(base).scale", Tensor(shape: [], floats: [Float(config["scale"]?.double ?? 1)]))
            let offset = addConstant("\(base).offset", Tensor(shape: [], floats: [Float(config["offset"]?.double ?? 0)]))
            let scaled = try emit(.binary(.mul), [x, scale], name: "\(base).scaled", node: layer.name)
            return try emit(.binary(.add), [scaled, offset], name: base, node: layer.name)
        case "LeakyReLU":
            let alpha = config["negative_slope"]?.double ?? config["alpha"]?.double ?? (kerasMajorVersion >= 3 ? 0.2 : 0.3)
            return try emit(.activation(.leakyRelu(alpha: Float(alpha))), [x], name: base, node: layer.name)
        case "ELU":
            return try emit(.activation(.elu(alpha: Float(config["alpha"]?.double ?? 1))), [x], name: base, node: layer.name)
        default:
            return nil
        }
    }

    /// Keras's transposed convolution: the output length follows Keras's `deconv_output_length`, and the
    /// crop at the start is TensorFlow's SAME padding of the matching forward convolution.
    private mutating func transposedConvolution(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let config = layer.config, type = types[x]!
        let spatial = type.shape.rank - 2
        guard spatial >= 1, let cin = type.shape.dims.last?.fixedValue, let filters = config["filters"]?.int else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className, reason: "input \(type) or filters do not fit")
        }
        let kernel = try sizes(config["kernel_size"], count: spatial, layer: layer)
        let strides = try sizes(config["strides"] ?? .number(1), count: spatial, layer: layer)
        let dilations = try sizes(config["dilation_rate"] ?? .number(1), count: spatial, layer: layer)
        var outputPadding: [Int]?
        if let json = config["output_padding"], !json.isNull { outputPadding = try sizes(json, count: spatial, layer: layer) }
        let same = config["padding"]?.string == "same"
        var begin: [Int] = [], end: [Int] = []
        for d in 0..<spatial {
            guard let size = type.shape.dims[d + 1].fixedValue else {
                throw .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: "spatial sizes must be known")
            }
            let effective = (kernel[d] - 1) * dilations[d] + 1
            let length: Int
            if let outputPadding {
                length = (size - 1) * strides[d] + effective - 2 * (same ? effective / 2 : 0) + outputPadding[d]
            } else {
                length = same ? size * strides[d] : size * strides[d] + max(effective - strides[d], 0)
            }
            let full = (size - 1) * strides[d] + effective
            let start = same ? max(full - length, 0) / 2 : 0
            begin.append(start)
            end.append(full - start - length)
        }
        let useBias = config["use_bias"]?.bool ?? true
        var constants: [String]
        if let cached = cachedConstants(of: layer) {
            constants = cached
        } else {
            let loaded = try weights.weights(of: layer.name)
            guard loaded.count == (useBias ? 2 : 1), loaded[0].tensor.shape == kernel + [filters, cin] else {
                throw .weightShape(
                    file: file, layer: layer.name, weight: loaded.first?.name ?? "kernel", expected: kernel + [filters, cin],
                    got: loaded.first?.tensor.shape ?? [])
            }
            constants = [addConstant("\(sanitize(layer.name)).kernel", loaded[0].tensor)]
            if useBias { constants.append(addConstant("\(sanitize(layer.name)).bias", loaded[1].tensor)) }
            rememberConstants(constants, of: layer)
        }
        let linear = config["activation"].map { Self.activationName($0) == "linear" } ?? true
        let convolution = Convolution(strides: strides, dilations: dilations, pads: begin + end)
        let value = try emit(.convTranspose(convolution), [x] + constants, name: linear ? base : "\(base).conv", node: layer.name)
        return try activation(config["activation"], value, base: base, layer: layer)
    }

    private mutating func convolution(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let config = layer.config, type = types[x]!
        let spatial = type.shape.rank - 2
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        guard spatial >= 1, let cin = type.shape.dims.last?.fixedValue else {
            throw unsupported("input \(type) is not [batch, spatial..., channels]")
        }
        let kernel = try sizes(config["kernel_size"], count: spatial, layer: layer)
        let strides = try sizes(config["strides"] ?? .number(1), count: spatial, layer: layer)
        let dilations = try sizes(config["dilation_rate"] ?? .number(1), count: spatial, layer: layer)
        let pads = try padding(
            config["padding"]?.string ?? "valid", input: type, window: kernel, strides: strides, dilations: dilations, layer: layer)
        let useBias = config["use_bias"]?.bool ?? true
        let isDepthwise = layer.className.hasPrefix("Depthwise"), isSeparable = layer.className.hasPrefix("Separable")
        let multiplier = config["depth_multiplier"]?.int ?? 1
        let groups = isDepthwise || isSeparable ? cin : (config["groups"]?.int ?? 1)
        let filters = isDepthwise ? cin * multiplier : (config["filters"]?.int ?? 0)
        let weights = try self.weights.weights(of: layer.name)
        let expected = (isSeparable ? 2 : 1) + (useBias ? 1 : 0)
        guard weights.count == expected else {
            throw .missingWeights(
                file: file, layer: layer.name, reason: "expected \(expected) weight arrays, the file has \(weights.count)")
        }
        func check(_ index: Int, _ shape: [Int]) throws(KerasImportError) -> Tensor {
            guard weights[index].tensor.shape == shape else {
                throw .weightShape(
                    file: file, layer: layer.name, weight: weights[index].name, expected: shape, got: weights[index].tensor.shape)
            }
            return weights[index].tensor
        }
        let name = sanitize(layer.name)
        var constants: [String]
        if let cached = cachedConstants(of: layer) {
            constants = cached
        } else {
            var made: [String] = []
            if isDepthwise || isSeparable {
                // Keras's depthwise kernel [kernel..., Cin, multiplier] is a grouped kernel [kernel..., 1, Cin * multiplier].
                let depthwise = try check(0, kernel + [cin, multiplier])
                made.append(
                    addConstant("\(name).depthwise_kernel", Tensor(shape: kernel + [1, cin * multiplier], storage: depthwise.storage)))
                if isSeparable {
                    made.append(
                        addConstant(
                            "\(name).pointwise_kernel", try check(1, Array(repeating: 1, count: spatial) + [cin * multiplier, filters])))
                }
            } else {
                made.append(addConstant("\(name).kernel", try check(0, kernel + [cin / max(groups, 1), filters])))
            }
            if useBias { made.append(addConstant("\(name).bias", try check(expected - 1, [filters]))) }
            rememberConstants(made, of: layer)
            constants = made
        }
        guard groups >= 1, cin % groups == 0 else { throw unsupported("\(cin) input channels do not split into \(groups) groups") }
        let linear = config["activation"].map { Self.activationName($0) == "linear" } ?? true
        let convolution = Convolution(strides: strides, dilations: dilations, pads: pads, groups: groups)
        var value: String
        if isSeparable {
            let depthwise = try emit(.conv(convolution), [x, constants[0]], name: "\(base).depthwise", node: layer.name)
            let pointwise = Convolution(
                strides: Array(repeating: 1, count: spatial), dilations: Array(repeating: 1, count: spatial),
                pads: Array(repeating: 0, count: 2 * spatial))
            value = try emit(.conv(pointwise), [depthwise] + Array(constants[1...]), name: linear ? base : "\(base).conv", node: layer.name)
        } else {
            value = try emit(.conv(convolution), [x] + constants, name: linear ? base : "\(base).conv", node: layer.name)
        }
        return try activation(config["activation"], value, base: base, layer: layer)
    }

    private mutating func batchNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let config = layer.config, type = types[x]!
        if let axes = config["axis"]?.array, axes.count != 1 {
            return try batchNormalization(layer, x, axes: axes, base: base)
        }
        let axis = config["axis"]?.int ?? config["axis"]?.array?.first?.int ?? -1
        let rank = type.shape.rank
        guard let channels = type.shape.dims[axis < 0 ? axis + rank : axis].fixedValue else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: "BatchNormalization", reason: "the channel axis must be known")
        }
        let scale = config["scale"]?.bool ?? true, center = config["center"]?.bool ?? true
        let name = sanitize(layer.name)
        var constants: [String]
        if let cached = cachedConstants(of: layer) {
            constants = cached
        } else {
            var loaded = try weights.weights(of: layer.name).map(\.tensor)
            guard loaded.count == 2 + (scale ? 1 : 0) + (center ? 1 : 0), loaded.allSatisfy({ $0.shape == [channels] }) else {
                throw .missingWeights(file: file, layer: layer.name, reason: "expected gamma/beta/mean/variance of [\(channels)]")
            }
            let gamma = scale ? loaded.removeFirst() : Tensor(shape: [channels], floats: Array(repeating: 1, count: channels))
            let beta = center ? loaded.removeFirst() : Tensor(shape: [channels], floats: Array(repeating: 0, count: channels))
            constants = [
                addConstant("\(name).gamma", gamma), addConstant("\(name).beta", beta),
                addConstant("\(name).moving_mean", loaded[0]), addConstant("\(name).moving_variance", loaded[1]),
            ]
            rememberConstants(constants, of: layer)
        }
        let epsilon = Float(config["epsilon"]?.double ?? 0.001)
        return try emit(.batchNorm(epsilon: epsilon, axis: axis), [x] + constants, name: base, node: layer.name)
    }

    /// Keras 2's BatchNormalization over several axes (`axis=[1, 3]`), as TensorFlow computes it in inference:
    /// x * inv + (beta - mean * inv) with inv = gamma / sqrt(variance + epsilon), one value per position of
    /// those axes. Its weights are stored full rank ([1, a, 1, c]); inv and the offset become constants of
    /// that shape, which broadcast against x.
    private mutating func batchNormalization(_ layer: LayerSpec, _ x: String, axes json: [JSON], base: String) throws(KerasImportError)
        -> String
    {
        let config = layer.config, type = types[x]!
        let rank = type.shape.rank
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: "BatchNormalization", reason: reason)
        }
        var axes: [Int] = []
        for item in json {
            guard let axis = item.int, (-rank..<rank).contains(axis) else {
                throw unsupported("axis \(json) is not a list of axes of \(type)")
            }
            axes.append(axis < 0 ? axis + rank : axis)
        }
        guard !axes.isEmpty, Set(axes).count == axes.count else { throw unsupported("axis \(json) must list distinct axes") }
        var shape: [Int] = []
        for index in 0..<rank {
            guard axes.contains(index) else {
                shape.append(1)
                continue
            }
            guard let size = type.shape.dims[index].fixedValue else { throw unsupported("the normalized axes of \(type) must be known") }
            shape.append(size)
        }
        let name = sanitize(layer.name)
        let constants: [String]
        if let cached = cachedConstants(of: layer) {
            constants = cached
        } else {
            let scale = config["scale"]?.bool ?? true, center = config["center"]?.bool ?? true
            let count = shape.reduce(1, *)
            var loaded = try weights.weights(of: layer.name).map(\.tensor)
            // Keras 2 stores these weights full rank ([1, a, 1, c]); accept them flattened too.
            guard loaded.count == 2 + (scale ? 1 : 0) + (center ? 1 : 0), loaded.allSatisfy({ $0.count == count && $0.dtype == .float32 })
            else {
                throw .missingWeights(file: file, layer: layer.name, reason: "expected gamma/beta/mean/variance of \(shape)")
            }
            let gamma = scale ? loaded.removeFirst().floats : Array(repeating: 1, count: count)
            let beta = center ? loaded.removeFirst().floats : Array(repeating: 0, count: count)
            let mean = loaded[0].floats, variance = loaded[1].floats
            let epsilon = Float(config["epsilon"]?.double ?? 0.001)
            let inv = (0..<count).map { 1 / (variance[$0] + epsilon).squareRoot() * gamma[$0] }
            let offset = (0..<count).map { beta[$0] - mean[$0] * inv[$0] }
            constants = [
                addConstant("\(name).inv", Tensor(shape: shape, floats: inv)),
                addConstant("\(name).offset", Tensor(shape: shape, floats: offset)),
            ]
            rememberConstants(constants, of: layer)
        }
        let scaled = try emit(.binary(.mul), [x, constants[0]], name: "\(base).scaled", node: layer.name)
        return try emit(.binary(.add), [scaled, constants[1]], name: base, node: layer.name)
    }

    /// An int or a list of ints from a config, as `count` sizes.
    private func sizes(_ json: JSON?, count: Int, layer: LayerSpec) throws(KerasImportError) -> [Int] {
        if let single = json?.int { return Array(repeating: single, count: count) }
        guard let items = json?.array?.compactMap(\.int), items.count == count else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className,
                reason: "expected \(count) sizes, got \(String(describing: json))")
        }
        return items
    }

    /// ZeroPadding's `padding`: an int, one int per dimension, or a (before, after) pair per dimension.
    private func paddingPairs(_ json: JSON?, count: Int, layer: LayerSpec) throws(KerasImportError) -> [(Int, Int)] {
        if let single = json?.int { return Array(repeating: (single, single), count: count) }
        guard let items = json?.array, items.count == count || (count == 1 && items.count == 2) else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className, reason: "cannot read padding \(String(describing: json))")
        }
        if count == 1 && items.count == 2, let a = items[0].int, let b = items[1].int { return [(a, b)] }
        var pairs: [(Int, Int)] = []
        for item in items {
            if let size = item.int {
                pairs.append((size, size))
            } else if let pair = item.array?.compactMap(\.int), pair.count == 2 {
                pairs.append((pair[0], pair[1]))
            } else {
                throw .unsupportedConfig(
                    file: file, layer: layer.name, className: layer.className, reason: "cannot read padding \(String(describing: json))")
            }
        }
        return pairs
    }

    /// Explicit pads for Keras's `valid`, `same` (TensorFlow puts the odd element after) and `causal`.
    private func padding(
        _ mode: String, input: TensorType, window: [Int], strides: [Int], dilations: [Int], layer: LayerSpec
    ) throws(KerasImportError) -> [Int] {
        let count = window.count
        switch mode {
        case "valid":
            return Array(repeating: 0, count: 2 * count)
        case "same":
            var begin: [Int] = [], end: [Int] = []
            for d in 0..<count {
                let effective = (window[d] - 1) * dilations[d] + 1
                guard let size = input.shape.dims[d + 1].fixedValue else {
                    // With stride 1 the padding does not depend on the size: the window less one, split.
                    guard strides[d] == 1 else {
                        throw .unsupportedConfig(
                            file: file, layer: layer.name, className: layer.className,
                            reason: "'same' padding with stride \(strides[d]) depends on the size of spatial dimension \(d + 1)"
                                + unknownSizeHint(input))
                    }
                    begin.append((effective - 1) / 2)
                    end.append(effective - 1 - (effective - 1) / 2)
                    continue
                }
                let outputSize = (size + strides[d] - 1) / strides[d]
                let total = max((outputSize - 1) * strides[d] + effective - size, 0)
                begin.append(total / 2)
                end.append(total - total / 2)
            }
            return begin + end
        case "causal":
            return (0..<count).map { (window[$0] - 1) * dilations[$0] } + Array(repeating: 0, count: count)
        default:
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: layer.className, reason: "padding '\(mode)' is not supported")
        }
    }
}
