import KilnIR

/// Normalization, parametric activation, preprocessing and small structural layers, lowered to IR ops.
extension KerasLowering {
    /// Lowers one of these layers, or returns nil for a class it does not know.
    mutating func lowerNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String? {
        switch layer.className {
        case "LayerNormalization": try layerNormalization(layer, x, base: base)
        case "GroupNormalization": try groupNormalization(layer, x, base: base)
        case "UnitNormalization": try unitNormalization(layer, x, base: base)
        case "PReLU": try parametricRelu(layer, x, base: base)
        case "ThresholdedReLU":
            try emit(
                .activation(.thresholdedRelu(theta: try config(of: layer).float("theta", default: 1))), [x], name: base, node: layer.name)
        case "Normalization": try preprocessingNormalization(layer, x, base: base)
        case "RepeatVector": try repeatVector(layer, x, base: base)
        default: nil
        }
    }

    /// The error for a configuration these lowerings cannot take.
    private func unsupported(_ layer: LayerSpec, _ reason: String) -> KerasImportError {
        .unsupportedConfig(file: file, layer: layer.name, className: layer.className, reason: reason)
    }

    /// Over trailing axes the IR's LayerNorm, with scale and bias shaped like those axes; over other axes,
    /// and Keras 3's `rms_scaling`, which LayerNorm cannot express, the computation itself.
    private mutating func layerNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer), type = types[x]!, rank = type.shape.rank
        let over = try settings.axes("axis", rank: rank, default: [-1])
        let epsilon = try settings.float("epsilon", default: 0.001)
        let scale = try settings.bool("scale", default: true), center = try settings.bool("center", default: true)
        let rms = try settings.bool("rms_scaling", default: false)
        let count = (scale ? 1 : 0) + (center && !rms ? 1 : 0)
        if !rms, let first = over.first, over == Array(first..<rank) {
            let normalized = type.shape.dims[first...].compactMap(\.fixedValue)
            guard normalized.count == over.count else { throw unsupported(layer, "the normalized axes of \(type) must be known") }
            var parameters: [String]
            if let cached = cachedConstants(of: layer) {
                parameters = cached
            } else {
                parameters = try normalizationParameters(layer, count: count, shape: normalized)
                if center && !scale {
                    // LayerNorm's bias comes after its scale: a scale of ones stands in.
                    // The weights just read hold this many elements, so the product fits.
                    let ones = Tensor(shape: normalized, floats: Array(repeating: 1, count: normalized.reduce(1, *)))
                    parameters.insert(addConstant("\(sanitize(layer.name)).ones", ones), at: 0)
                    rememberConstants(parameters, of: layer)
                }
            }
            return try emit(.layerNorm(axis: first, epsilon: epsilon), [x] + parameters, name: base, node: layer.name)
        }
        // The parameters broadcast against x over the normalized axes.
        let shape = (0..<rank).map { over.contains($0) ? (type.shape.dims[$0].fixedValue ?? 1) : 1 }
        let parameters = try normalizationParameters(layer, count: count, shape: shape)
        let (centered, deviation) = try standardDeviation(x, over: over, epsilon: epsilon, base: base, layer: layer)
        // Keras 3's rms_scaling divides x itself (not x - mean) by the deviation and adds no offset.
        var value = try emit(.binary(.div), [rms ? x : centered, deviation], name: "\(base).normalized", node: layer.name)
        if scale { value = try emit(.binary(.mul), [value, parameters[0]], name: "\(base).scaled", node: layer.name) }
        if center && !rms { value = try emit(.binary(.add), [value, parameters[scale ? 1 : 0]], name: base, node: layer.name) }
        return value
    }

    /// x - mean(x) and sqrt(mean((x - mean(x))^2) + epsilon), the means over `over` with kept dimensions.
    private mutating func standardDeviation(
        _ x: String, over: [Int], epsilon: Float, base: String, layer: LayerSpec
    ) throws(KerasImportError) -> (centered: String, deviation: String) {
        let mean = try emit(.reduce(.mean, axes: over, keepDims: true), [x], name: "\(base).mean", node: layer.name)
        let centered = try emit(.binary(.sub), [x, mean], name: "\(base).centered", node: layer.name)
        let squared = try emit(.binary(.mul), [centered, centered], name: "\(base).squared", node: layer.name)
        let variance = try emit(.reduce(.mean, axes: over, keepDims: true), [squared], name: "\(base).variance", node: layer.name)
        let eps = addConstant("\(base).epsilon", Tensor(shape: [], floats: [epsilon]))
        let shifted = try emit(.binary(.add), [variance, eps], name: "\(base).variance_eps", node: layer.name)
        return (centered, try emit(.activation(.sqrt), [shifted], name: "\(base).std", node: layer.name))
    }

    /// Channels split into groups; each group is normalized over the spatial dimensions and its channels.
    private mutating func groupNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let settings = config(of: layer), type = types[x]!, rank = type.shape.rank
        let groups = try settings.size("groups", default: 32)
        let axis = try settings.axis("axis", rank: rank)
        guard rank >= 2, axis == rank - 1, let channels = type.shape.dims.last?.fixedValue,
            let spatialSizes = Optional(type.shape.dims.dropFirst().dropLast().compactMap(\.fixedValue)),
            spatialSizes.count == rank - 2
        else { throw unsupported(layer, "needs channels-last input with known sizes, normalized along its last axis") }
        guard channels % groups == 0 else { throw settings.invalid("groups", "a whole number that divides the \(channels) channels") }
        let epsilon = try settings.float("epsilon", default: 0.001)
        let scale = try settings.bool("scale", default: true), center = try settings.bool("center", default: true)
        let parameters = try normalizationParameters(layer, count: (scale ? 1 : 0) + (center ? 1 : 0), shape: [channels])
        let split = rank + 1
        let grouped = try emit(
            .reshape(shape: [0] + spatialSizes + [groups, channels / groups]), [x], name: "\(base).grouped", node: layer.name)
        let perm = [0, split - 2] + Array(1..<(split - 2)) + [split - 1]
        var inverse = [Int](repeating: 0, count: split)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        let moved = try emit(.transpose(perm: perm), [grouped], name: "\(base).groups_first", node: layer.name)
        let (centered, deviation) = try standardDeviation(moved, over: Array(2..<split), epsilon: epsilon, base: base, layer: layer)
        let normalized = try emit(.binary(.div), [centered, deviation], name: "\(base).normalized", node: layer.name)
        let back = try emit(.transpose(perm: inverse), [normalized], name: "\(base).groups_last", node: layer.name)
        var value = try emit(.reshape(shape: [0] + spatialSizes + [channels]), [back], name: "\(base).merged", node: layer.name)
        if scale { value = try emit(.binary(.mul), [value, parameters[0]], name: "\(base).scaled", node: layer.name) }
        if center { value = try emit(.binary(.add), [value, parameters[scale ? 1 : 0]], name: base, node: layer.name) }
        return value
    }

    /// x * min(rsqrt(sum(x^2)), 1e12), that is x / max(sqrt(sum(x^2)), 1e-12).
    private mutating func unitNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let over = try config(of: layer).axes("axis", rank: types[x]!.shape.rank, default: [-1])
        let squared = try emit(.binary(.mul), [x, x], name: "\(base).squared", node: layer.name)
        let sum = try emit(.reduce(.sum, axes: over, keepDims: true), [squared], name: "\(base).sum", node: layer.name)
        let norm = try emit(.activation(.sqrt), [sum], name: "\(base).norm", node: layer.name)
        let floor = addConstant("\(base).epsilon", Tensor(shape: [], floats: [1e-12]))
        let safe = try emit(.binary(.max), [norm, floor], name: "\(base).safe_norm", node: layer.name)
        return try emit(.binary(.div), [x, safe], name: base, node: layer.name)
    }

    /// max(x, 0) + alpha * min(x, 0), alpha shared along `shared_axes`.
    private mutating func parametricRelu(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let type = types[x]!, rank = type.shape.rank
        let settings = config(of: layer)
        let shared = Set(
            settings["shared_axes"] == nil
                ? [] : try settings.sizes("shared_axes", count: settings["shared_axes"]?.array?.count ?? 1, in: 1...max(rank - 1, 1)))
        let shape = (1..<rank).map { shared.contains($0) ? 1 : (type.shape.dims[$0].fixedValue ?? 1) }
        let alpha = try normalizationParameters(layer, count: 1, shape: shape)[0]
        let zero = addConstant("\(base).zero", Tensor(shape: [], floats: [0]))
        let positive = try emit(.activation(.relu), [x], name: "\(base).positive", node: layer.name)
        let negative = try emit(.binary(.min), [x, zero], name: "\(base).negative", node: layer.name)
        let scaled = try emit(.binary(.mul), [negative, alpha], name: "\(base).scaled", node: layer.name)
        return try emit(.binary(.add), [positive, scaled], name: base, node: layer.name)
    }

    /// Keras's Normalization preprocessing layer: (x - mean) / max(sqrt(variance), 1e-7), or the inverse
    /// with `invert`.
    private mutating func preprocessingNormalization(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let loaded = try weights.weights(of: layer.name).map(\.tensor)
        guard loaded.count >= 2, loaded[0].count == loaded[1].count else {
            throw .missingWeights(file: file, layer: layer.name, reason: "expected the adapted mean and variance")
        }
        let shape = loaded[0].shape
        let deviation = loaded[1].floats.map { max($0.squareRoot(), 1e-7) }
        let mean = addConstant("\(sanitize(layer.name)).mean", loaded[0])
        let std = addConstant("\(sanitize(layer.name)).std", Tensor(shape: shape, floats: deviation))
        if try config(of: layer).bool("invert", default: false) {
            let scaled = try emit(.binary(.mul), [x, std], name: "\(base).scaled", node: layer.name)
            return try emit(.binary(.add), [scaled, mean], name: base, node: layer.name)
        }
        let centered = try emit(.binary(.sub), [x, mean], name: "\(base).centered", node: layer.name)
        return try emit(.binary(.div), [centered, std], name: base, node: layer.name)
    }

    /// [batch, features] repeated n times along a new axis 1.
    private mutating func repeatVector(_ layer: LayerSpec, _ x: String, base: String) throws(KerasImportError) -> String {
        let type = types[x]!
        // The lowering concatenates n copies, so n is bounded far below other sizes.
        let n = try config(of: layer).int("n", in: 1...Self.maxRepeats)
        guard type.shape.rank == 2, let features = type.shape.dims[1].fixedValue else {
            throw unsupported(layer, "RepeatVector takes [batch, features] with known features, got \(type)")
        }
        let row = try emit(.reshape(shape: [0, 1, features]), [x], name: "\(base).row", node: layer.name)
        return try emit(.concat(axis: 1), Array(repeating: row, count: n), name: base, node: layer.name)
    }

    /// The largest `n` of a RepeatVector, lowered as a Concat of n inputs.
    static let maxRepeats = 1 << 16

    /// Keras's Softmax over several axes, exp(x - logsumexp(x)) with the sum over all of them, lowered as
    /// exp(x - max) / sum(exp(x - max)) with max and sum reduced over those axes.
    /// `axes` are distinct, non-negative and sorted (`LayerConfig.axes`).
    mutating func softmax(_ layer: LayerSpec, _ x: String, axes: [Int], base: String) throws(KerasImportError) -> String {
        guard !axes.isEmpty else { throw config(of: layer).invalid("axis", "an axis or a non-empty list of axes") }
        let maximum = try emit(.reduce(.max, axes: axes, keepDims: true), [x], name: "\(base).max", node: layer.name)
        let shifted = try emit(.binary(.sub), [x, maximum], name: "\(base).shifted", node: layer.name)
        let exponential = try emit(.activation(.exp), [shifted], name: "\(base).exp", node: layer.name)
        let sum = try emit(.reduce(.sum, axes: axes, keepDims: true), [exponential], name: "\(base).sum", node: layer.name)
        return try emit(.binary(.div), [exponential, sum], name: base, node: layer.name)
    }

    /// Keras's batch dot: contracts axis `axes[0]` of the first input with `axes[1]` of the second, per
    /// batch row. The result holds the first input's other dimensions, then the second's; a result of rank 1
    /// becomes [batch, 1]. With `normalize`, each input is first L2-normalized along its axis (cosine).
    mutating func dot(_ layer: LayerSpec, _ inputs: [String], base: String) throws(KerasImportError) -> String {
        func unsupported(_ reason: String) -> KerasImportError {
            .unsupportedConfig(file: file, layer: layer.name, className: "Dot", reason: reason)
        }
        guard inputs.count == 2 else { throw unsupported("takes two inputs, got \(inputs.count)") }
        let shapes = inputs.map { types[$0]!.shape }
        guard shapes.allSatisfy({ $0.rank >= 2 && $0.dims.dropFirst().allSatisfy { $0.fixedValue != nil } }) else {
            throw unsupported("inputs \(shapes) must have rank 2 or more and known sizes after the batch")
        }
        let configured = try config(of: layer).sizes("axes", count: 2, in: -LayerConfig.maxSize...LayerConfig.maxSize)
        let axes = zip(configured, shapes).map { $0 < 0 ? $0 + $1.rank : $0 }
        guard zip(axes, shapes).allSatisfy({ (1..<$1.rank).contains($0) }), shapes[0].dims[axes[0]] == shapes[1].dims[axes[1]] else {
            throw unsupported("axes \(configured) do not pick two equal non-batch dimensions of \(shapes[0]) and \(shapes[1])")
        }
        var operands = inputs
        if try config(of: layer).bool("normalize", default: false) {
            // Keras 2 divides by sqrt(max(sum of squares, 1e-12)), Keras 3 by max(norm, 1e-7).
            let floor = addConstant("\(base).epsilon", Tensor(shape: [], floats: [kerasMajorVersion >= 3 ? 1e-7 : 1e-6]))
            for (index, input) in inputs.enumerated() {
                let squared = try emit(.binary(.mul), [input, input], name: "\(base).squared\(index)", node: layer.name)
                let sum = try emit(
                    .reduce(.sum, axes: [axes[index]], keepDims: true), [squared], name: "\(base).sum\(index)", node: layer.name)
                let norm = try emit(.activation(.sqrt), [sum], name: "\(base).norm\(index)", node: layer.name)
                let safe = try emit(.binary(.max), [norm, floor], name: "\(base).safe_norm\(index)", node: layer.name)
                operands[index] = try emit(.binary(.div), [input, safe], name: "\(base).unit\(index)", node: layer.name)
            }
        }
        if shapes[0].rank == 2 && shapes[1].rank == 2 {
            let product = try emit(.binary(.mul), operands, name: "\(base).product", node: layer.name)
            return try emit(.reduce(.sum, axes: [1], keepDims: true), [product], name: base, node: layer.name)
        }
        // [batch, rest of x..., k] x [batch, k, rest of y...] as a batched [batch, Px, k] x [batch, k, Py].
        let depth = shapes[0].dims[axes[0]].fixedValue!
        let restX = (1..<shapes[0].rank).filter { $0 != axes[0] }, restY = (1..<shapes[1].rank).filter { $0 != axes[1] }
        let sizesX = restX.map { shapes[0].dims[$0].fixedValue! }, sizesY = restY.map { shapes[1].dims[$0].fixedValue! }
        var x = operands[0], y = operands[1]
        if restX + [axes[0]] != Array(1..<shapes[0].rank) {
            x = try emit(.transpose(perm: [0] + restX + [axes[0]]), [x], name: "\(base).lhs", node: layer.name)
        }
        if [axes[1]] + restY != Array(1..<shapes[1].rank) {
            y = try emit(.transpose(perm: [0, axes[1]] + restY), [y], name: "\(base).rhs", node: layer.name)
        }
        let rowsX = sizesX.reduce(1, *), columnsY = sizesY.reduce(1, *)
        if sizesX.count != 1 { x = try emit(.reshape(shape: [0, rowsX, depth]), [x], name: "\(base).lhs_matrix", node: layer.name) }
        if sizesY.count != 1 { y = try emit(.reshape(shape: [0, depth, columnsY]), [y], name: "\(base).rhs_matrix", node: layer.name) }
        let target = sizesX + sizesY
        if target == [rowsX, columnsY] { return try emit(.matMul, [x, y], name: base, node: layer.name) }
        let product = try emit(.matMul, [x, y], name: "\(base).product", node: layer.name)
        return try emit(.reshape(shape: [0] + (target.isEmpty ? [1] : target)), [product], name: base, node: layer.name)
    }

    /// A layer's first `count` weights, checked to hold as many elements as `shape` and reshaped to it.
    private mutating func normalizationParameters(_ layer: LayerSpec, count: Int, shape: [Int]) throws(KerasImportError) -> [String] {
        if let cached = cachedConstants(of: layer) { return cached }
        let loaded = try weights.weights(of: layer.name)
        let size = shape.reduce(1, *)
        guard loaded.count >= count, loaded.prefix(count).allSatisfy({ $0.tensor.count == size }) else {
            throw .missingWeights(file: file, layer: layer.name, reason: "expected \(count) weight arrays of \(size) elements")
        }
        let names = loaded.prefix(count).map { weight in
            addConstant(
                "\(sanitize(layer.name)).\(weight.name.split(separator: "/").last.map(String.init) ?? "weight")",
                Tensor(shape: shape, storage: weight.tensor.storage))
        }
        rememberConstants(names, of: layer)
        return names
    }
}
