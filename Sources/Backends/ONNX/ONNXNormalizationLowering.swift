import KilnIR
import ONNXProto

/// Reductions, batch normalization and layer normalization, whose ONNX forms depend on the opset and, for
/// values with a channels-first copy, on which axes they cover.
extension ONNXGraphBuilder {
    /// A value with a channels-first copy: reduce the copy. Without keepDims, when the channels or every
    /// spatial axis go, what is left has the same order in both layouts.
    mutating func lowerReduce(_ reduction: Reduction, axes: [Int], keepDims: Bool, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let rank = try type(of: x[0], in: node).shape.rank
        let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        if let first = channelsFirst[x[0]], rank >= 3, !normalized.isEmpty, !normalized.contains(0) {
            let permuted = normalized.map { $0 == rank - 1 ? 1 : $0 + 1 }.sorted()
            let spatial = normalized.subtracting([rank - 1]).count
            if !keepDims && (normalized.contains(rank - 1) || spatial == rank - 2) {
                try addReduce(reduction, axes: permuted, keepDims: false, first, y, name)
            } else {
                let value = fresh("\(y[0]).nchw")
                try addReduce(reduction, axes: permuted, keepDims: keepDims, first, [value], name)
                try toChannelsLast(value, y[0], node)
            }
        } else {
            try addReduce(reduction, axes: axes, keepDims: keepDims, x[0], y, name)
        }
    }

    /// BatchNormalization normalizes axis 1: over the last axis it runs on the channels-first copy, and any
    /// other axis is refused.
    mutating func lowerBatchNorm(epsilon: Float, axis: Int, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let rank = try type(of: x[0], in: node).shape.rank
        let normalized = axis < 0 ? axis + rank : axis
        guard rank >= 2, normalized == 1 || normalized == rank - 1 else {
            throw .unsupported(node: name, reason: "BatchNorm over axis \(axis) of a rank-\(rank) tensor (ONNX normalizes axis 1)")
        }
        if normalized == 1 {
            add("BatchNormalization", x, y, name, [float("epsilon", epsilon)])
        } else {
            let value = fresh("\(y[0]).nchw")
            add("BatchNormalization", [try channelsFirstInput(x[0], node)] + x.dropFirst(), [value], name, [float("epsilon", epsilon)])
            try toChannelsLast(value, y[0], node)
        }
    }

    /// LayerNormalization from opset 17 (which needs a scale: ones when the IR has none); below it the
    /// same arithmetic as standard ops. Over several dimensions, x is reshaped to one normalized dimension
    /// and back, with 1-D scale and bias: ONNX Runtime fuses an Add before LayerNormalization into its
    /// SkipLayerNormalization, which accepts only a 1-D scale.
    mutating func lowerLayerNorm(axis: Int, epsilon: Float, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs[0].name, name = node.name
        let type = try type(of: x[0], in: node)
        let rank = type.shape.rank
        let a = axis < 0 ? axis + rank : axis
        if opset >= 17 {
            let sizes = type.shape.dims[a...].compactMap(\.fixedValue)
            let size = sizes.reduce(1, *)
            let flat = sizes.count > 1
            // A parameter as one dimension: a reshaped initializer when it is a constant, a Reshape otherwise.
            func parameter(_ value: String, _ role: String) -> String {
                guard flat else { return value }
                if let tensor = constants[value] { return constant("\(name).\(role)", Tensor(shape: [size], storage: tensor.storage)) }
                return intermediate("Reshape", [value, int64s("\(name).\(role)_shape", [Int64(size)])], y, role)
            }
            var inputs = [
                flat
                    ? intermediate("Reshape", [x[0], int64s("\(name).flat_shape", Array(repeating: 0, count: a) + [-1])], y, "flat") : x[0]
            ]
            if x.count >= 2 {
                inputs.append(parameter(x[1], "scale"))
            } else {
                inputs.append(constant("\(name).scale", Tensor(shape: flat ? [size] : sizes, floats: Array(repeating: 1, count: size))))
            }
            if x.count == 3 { inputs.append(parameter(x[2], "bias")) }
            let attributes = [int("axis", flat ? -1 : a), float("epsilon", epsilon)]
            if flat {
                let normalized = fresh("\(y).normalized")
                add("LayerNormalization", inputs, [normalized], normalized, attributes)
                add("Reshape", [normalized, int64s("\(name).shape", Array(repeating: 0, count: a) + sizes.map(Int64.init))], [y], name)
            } else {
                add("LayerNormalization", inputs, [y], name, attributes)
            }
            return
        }
        let axes = Array(a..<rank)
        let mean = fresh("\(y).mean")
        try addReduce(.mean, axes: axes, keepDims: true, x[0], [mean], mean)
        let centered = intermediate("Sub", [x[0], mean], y, "centered")
        let squared = intermediate("Mul", [centered, centered], y, "squared")
        let variance = fresh("\(y).variance")
        try addReduce(.mean, axes: axes, keepDims: true, squared, [variance], variance)
        let shifted = intermediate("Add", [variance, scalar("\(y).epsilon", epsilon, .float32)], y, "variance_eps")
        let deviation = intermediate("Sqrt", [shifted], y, "std")
        var steps: [(String, String)] = []
        if x.count >= 2 { steps.append(("Mul", x[1])) }
        if x.count == 3 { steps.append(("Add", x[2])) }
        var value = x.count == 1 ? y : fresh("\(y).normalized")
        add("Div", [centered, deviation], [value], x.count == 1 ? name : value)
        for (index, (opType, operand)) in steps.enumerated() {
            let last = index == steps.count - 1
            let result = last ? y : fresh("\(y).scaled")
            add(opType, [value, operand], [result], last ? name : result)
            value = result
        }
    }

    /// One Reduce node: axes are an attribute before opset 18 and an input from then on (ReduceSum from 13).
    private mutating func addReduce(
        _ reduction: Reduction, axes: [Int], keepDims: Bool, _ x: String, _ y: [String], _ name: String
    ) throws(ONNXEmitError) {
        // ONNX reduces every axis when given none; the IR reduces none.
        guard !axes.isEmpty else {
            add("Identity", [x], y, name)
            return
        }
        let opType =
            switch reduction {
            case .mean: "ReduceMean"
            case .max: "ReduceMax"
            case .min: "ReduceMin"
            case .sum: "ReduceSum"
            }
        let keep = int("keepdims", keepDims ? 1 : 0)
        if opset >= 18 || reduction == .sum {
            add(opType, [x, int64s("\(name).axes", axes.map(Int64.init))], y, name, [keep])
        } else {
            add(opType, [x], y, name, [ints("axes", axes), keep])
        }
    }
}
