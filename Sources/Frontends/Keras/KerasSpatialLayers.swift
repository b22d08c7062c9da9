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
            let axis = try config(of: layer).axisAsWritten("axis", rank: types[inputs[0]]!.shape.rank)
            return try emit(.concat(axis: axis), inputs, name: base, node: layer.name)
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

    /// The spatial dimensions of a Keras `...1D`, `...2D` or `...3D` layer of the classes `lowerSpatial` lowers.
    static func spatialRank(of className: String) -> Int? {
        guard let digit = ["1D": 1, "2D": 2, "3D": 3].first(where: { className.hasSuffix($0.key) })?.value else { return nil }
        return className.hasPrefix("Global") || className.contains("Conv") || className.contains("Pooling")
            || className.hasPrefix("ZeroPadding") || className.hasPrefix("Cropping") || className.hasPrefix("UpSampling") ? digit : nil
    }

    /// Lowers the spatial and shape layers, or returns nil for a class it does not know.
    mutating func lowerSpatial(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String? {
        let settings = config(of: layer)
        let type = types[x]!
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        // Keras's 1D, 2D and 3D layers take [batch, spatial..., channels] of exactly that many spatial dimensions.
        if let spatialRank = Self.spatialRank(of: layer.className), type.shape.rank != spatialRank + 2 {
            throw unsupported("takes an input of rank \(spatialRank + 2) ([batch, \(spatialRank) spatial, channels]), got \(type)")
        }
        let channelsFirst = try settings.choice("data_format", Self.dataFormats, default: "channels_last") == "channels_first"
        if channelsFirst && type.shape.rank > 2, var object = layer.config.object {
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
            let window = try settings.sizes("pool_size", count: spatial, default: 2)
            let strides = settings["strides"] == nil ? window : try settings.sizes("strides", count: spatial)
            let pads = try padding(
                try settings.choice("padding", ["valid", "same"], default: "valid"), input: type, window: window, strides: strides,
                dilations: Array(repeating: 1, count: spatial), layer: layer)
            let kind: Pooling.Kind = layer.className.hasPrefix("Max") ? .max : .average
            return try emit(.pool(Pooling(kind: kind, window: window, strides: strides, pads: pads)), [x], name: base, node: layer.name)
        case "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
            "GlobalMaxPooling3D":
            let reduction: Reduction = layer.className.contains("Max") ? .max : .mean
            return try emit(
                .reduce(reduction, axes: Array(1...spatial), keepDims: try settings.bool("keepdims", default: false)), [x], name: base,
                node: layer.name)
        case "BatchNormalization":
            return try batchNormalization(layer, x, base: base)
        case "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D":
            let pairs = try settings.pairs("padding", count: spatial)
            let pads = [0] + pairs.map(\.0) + [0] + [0] + pairs.map(\.1) + [0]
            return try emit(.pad(pads: pads, value: 0), [x], name: base, node: layer.name)
        case "Cropping1D", "Cropping2D", "Cropping3D":
            let pairs = try settings.pairs("cropping", count: spatial)
            let pads = [0] + pairs.map(\.0) + [0] + [0] + pairs.map(\.1) + [0]
            return try emit(.crop(pads: pads), [x], name: base, node: layer.name)
        case "UpSampling1D", "UpSampling2D", "UpSampling3D":
            let factors = try settings.sizes("size", count: spatial, default: 2)
            // Keras's methods (tf.image.resize's); Kiln lowers the first two.
            let interpolation = try settings.choice(
                "interpolation", ["nearest", "bilinear", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"],
                default: "nearest")
            guard ["nearest", "bilinear"].contains(interpolation) else {
                throw unsupported("interpolation '\(interpolation)' is not supported; 'nearest' and 'bilinear' are")
            }
            let mode: Upsampling = interpolation == "nearest" ? .nearest : .linear
            return try emit(.upsample(factors: factors, mode: mode), [x], name: base, node: layer.name)
        case "Reshape":
            let target = try settings.ints("target_shape", in: -1...LayerConfig.maxSize)
            guard !target.contains(0), target.filter({ $0 == -1 }).count <= 1 else {
                throw settings.invalid("target_shape", "a list of sizes from 1 to 2^31, one of which may be -1")
            }
            return try emit(.reshape(shape: [0] + target), [x], name: base, node: layer.name)
        case "Permute":
            let dims = try settings.ints("dims", in: 1...max(type.shape.rank - 1, 1))
            guard dims.sorted() == Array(1..<max(type.shape.rank, 1)) else {
                throw settings.invalid("dims", "a permutation of the non-batch axes 1 to \(type.shape.rank - 1) of \(type)")
            }
            return try emit(.transpose(perm: [0] + dims), [x], name: base, node: layer.name)
        case "Rescaling":
            let scale = addConstant("\(base).scale", Tensor(shape: [], floats: [try settings.float("scale", default: 1)]))
            let offset = addConstant("\(base).offset", Tensor(shape: [], floats: [try settings.float("offset", default: 0)]))
            let scaled = try emit(.binary(.mul), [x, scale], name: "\(base).scaled", node: layer.name)
            return try emit(.binary(.add), [scaled, offset], name: base, node: layer.name)
        case "LeakyReLU":
            let alpha = try settings.float(
                settings["negative_slope"] != nil ? "negative_slope" : "alpha", default: kerasMajorVersion >= 3 ? 0.2 : 0.3)
            return try emit(.activation(.leakyRelu(alpha: alpha)), [x], name: base, node: layer.name)
        case "ELU":
            return try emit(.activation(.elu(alpha: try settings.float("alpha", default: 1))), [x], name: base, node: layer.name)
        default:
            return nil
        }
    }

    /// Keras's transposed convolution: the output length follows Keras's `deconv_output_length`, and the
    /// crop at the start is TensorFlow's SAME padding of the matching forward convolution.
    private mutating func transposedConvolution(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer), type = types[x]!
        let spatial = type.shape.rank - 2
        let filters = try settings.size("filters")
        guard spatial >= 1, let cin = type.shape.dims.last?.fixedValue else {
            throw .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: "input \(type) does not fit")
        }
        let kernel = try settings.sizes("kernel_size", count: spatial)
        let strides = try settings.sizes("strides", count: spatial, default: 1)
        let dilations = try settings.sizes("dilation_rate", count: spatial, default: 1)
        var outputPadding: [Int]?
        if settings["output_padding"] != nil {
            outputPadding = try settings.sizes("output_padding", count: spatial, in: 0...LayerConfig.maxSize)
        }
        let same = try settings.choice("padding", ["valid", "same"], default: "valid") == "same"
        var begin: [Int] = [], end: [Int] = []
        for d in 0..<spatial {
            guard let size = type.shape.dims[d + 1].fixedValue else {
                throw .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: "spatial sizes must be known")
            }
            // Every size is at most 2^31 here (the config's by LayerConfig, the input's by the types), so only
            // products of two of them and sums of those can arise: each fits in an Int, checked all the same.
            let what = "the output length of spatial dimension \(d + 1)"
            let effective = try fits(
                CheckedArithmetic.multiply(kernel[d] - 1, dilations[d]).flatMap { CheckedArithmetic.add($0, 1) }, layer, what)
            let spread = try fits(CheckedArithmetic.multiply(size - 1, strides[d]), layer, what)
            let stretched = try fits(CheckedArithmetic.multiply(size, strides[d]), layer, what)
            let length: Int
            if let outputPadding {
                length = try fits(
                    CheckedArithmetic.sum([spread, effective, -2 * (same ? effective / 2 : 0), outputPadding[d]]), layer, what)
            } else {
                length = same ? stretched : try fits(CheckedArithmetic.add(stretched, max(effective - strides[d], 0)), layer, what)
            }
            let full = try fits(CheckedArithmetic.add(spread, effective), layer, what)
            let start = same ? max(full - length, 0) / 2 : 0
            begin.append(start)
            end.append(full - start - length)
        }
        let useBias = try settings.bool("use_bias", default: true)
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
        let linear = try settings.activation().name == "linear"
        let convolution = Convolution(strides: strides, dilations: dilations, pads: begin + end)
        let value = try emit(.convTranspose(convolution), [x] + constants, name: linear ? base : "\(base).conv", node: layer.name)
        return try activation(value, base: base, layer: layer)
    }

    private mutating func convolution(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer), type = types[x]!
        let spatial = type.shape.rank - 2
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
        }
        guard spatial >= 1, let cin = type.shape.dims.last?.fixedValue else {
            throw unsupported("input \(type) is not [batch, spatial..., channels]")
        }
        let kernel = try settings.sizes("kernel_size", count: spatial)
        let strides = try settings.sizes("strides", count: spatial, default: 1)
        let dilations = try settings.sizes("dilation_rate", count: spatial, default: 1)
        let pads = try padding(
            try settings.choice("padding", ["valid", "same", "causal"], default: "valid"), input: type, window: kernel, strides: strides,
            dilations: dilations, layer: layer)
        let useBias = try settings.bool("use_bias", default: true)
        let isDepthwise = layer.className.hasPrefix("Depthwise"), isSeparable = layer.className.hasPrefix("Separable")
        let multiplier = isDepthwise || isSeparable ? try settings.size("depth_multiplier", default: 1) : 1
        let groups = isDepthwise || isSeparable ? cin : try settings.size("groups", default: 1)
        guard cin % groups == 0 else {
            throw settings.invalid("groups", "a whole number that divides the \(cin) input channels")
        }
        let depthwiseChannels = try fits(CheckedArithmetic.multiply(cin, multiplier), layer, "\(cin) channels times depth_multiplier")
        let filters = isDepthwise ? depthwiseChannels : try settings.size("filters")
        guard isDepthwise || isSeparable || filters % groups == 0 else {
            throw settings.invalid("groups", "a whole number that divides the \(filters) filters", value: settings["groups"])
        }
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
        let linear = try settings.activation().name == "linear"
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
        return try activation(value, base: base, layer: layer)
    }

    private mutating func batchNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer), type = types[x]!
        let rank = type.shape.rank
        if let axes = settings["axis"]?.array, axes.count != 1 {
            return try batchNormalization(layer, x, axes: try settings.axes("axis", rank: rank, default: [-1]), base: base)
        }
        let axis = try settings.axisAsWritten("axis", rank: rank)
        guard let channels = type.shape.dims[axis < 0 ? axis + rank : axis].fixedValue else {
            throw .unsupportedConfig(
                file: file, layer: layer.name, className: "BatchNormalization", reason: "the channel axis must be known")
        }
        let scale = try settings.bool("scale", default: true), center = try settings.bool("center", default: true)
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
        let epsilon = try settings.float("epsilon", default: 0.001)
        return try emit(.batchNorm(epsilon: epsilon, axis: axis), [x] + constants, name: base, node: layer.name)
    }

    /// Keras 2's BatchNormalization over several axes (`axis=[1, 3]`), as TensorFlow computes it in inference:
    /// x * inv + (beta - mean * inv) with inv = gamma / sqrt(variance + epsilon), one value per position of
    /// those axes. Its weights are stored full rank ([1, a, 1, c]); inv and the offset become constants of
    /// that shape, which broadcast against x.
    private mutating func batchNormalization(_ layer: LayerSpec, _ x: String, axes: [Int], base: String) throws(KerasImportError)
        -> String
    {
        let settings = config(of: layer), type = types[x]!
        let rank = type.shape.rank
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: "BatchNormalization", reason: reason)
        }
        guard !axes.isEmpty else { throw settings.invalid("axis", "an axis or a non-empty list of axes") }
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
            let scale = try settings.bool("scale", default: true), center = try settings.bool("center", default: true)
            let count = try fits(CheckedArithmetic.product(shape), layer, "the element count of \(shape)")
            var loaded = try weights.weights(of: layer.name).map(\.tensor)
            // Keras 2 stores these weights full rank ([1, a, 1, c]); accept them flattened too.
            guard loaded.count == 2 + (scale ? 1 : 0) + (center ? 1 : 0), loaded.allSatisfy({ $0.count == count && $0.dtype == .float32 })
            else {
                throw .missingWeights(file: file, layer: layer.name, reason: "expected gamma/beta/mean/variance of \(shape)")
            }
            let gamma = scale ? loaded.removeFirst().floats : Array(repeating: 1, count: count)
            let beta = center ? loaded.removeFirst().floats : Array(repeating: 0, count: count)
            let mean = loaded[0].floats, variance = loaded[1].floats
            let epsilon = try settings.float("epsilon", default: 0.001)
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

    /// Explicit pads for Keras's `valid`, `same` (TensorFlow puts the odd element after) and `causal`.
    private func padding(
        _ mode: String, input: TensorType, window: [Int], strides: [Int], dilations: [Int], layer: LayerSpec
    ) throws(KerasImportError) -> [Int] {
        let count = window.count
        // The window and dilation are each at most 2^31 (LayerConfig), so the dilated window fits.
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
                let outputSize = size / strides[d] + (size % strides[d] == 0 ? 0 : 1)
                let covered = try fits(
                    CheckedArithmetic.add((outputSize - 1) * strides[d], effective), layer,
                    "the 'same' padding of spatial dimension \(d + 1)")
                let total = max(covered - size, 0)
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
