import KilnIR
import ONNXProto

/// The IR's ops as ONNX nodes.
///
/// Most ops map one to one. The IR is channels-last (Keras's layout) and ONNX's convolutions, pooling
/// and batch normalization are channels-first, so those ops read a transposed copy of their input and
/// transpose their result back; an op that reads such a result uses the channels-first copy directly,
/// and the Transposes nothing reads are swept away at the end.
extension ONNXGraphBuilder {
    /// Appends the ONNX nodes computing the IR node's outputs under their IR names.
    mutating func lower(_ node: Node) throws(ONNXEmitError) {
        let x = node.inputs
        let y = node.outputs.map(\.name)
        let name = node.name
        // Elementwise ops between two channels-first values of one type stay channels-first (a residual Add).
        if let opType = Self.binaryElementwise(node.op), x.count == 2, let a = channelsFirst[x[0]], let b = channelsFirst[x[1]],
            types[x[0]] == types[x[1]]
        {
            let value = fresh("\(y[0]).nchw")
            add(opType, [a, b], [value], name)
            try toChannelsLast(value, y[0], node)
            return
        }
        // ... and so do elementwise ops of a channels-first value with a constant of one value or one per channel.
        if let opType = Self.binaryElementwise(node.op), x.count == 2, let (first, constant, swapped) = channelsFirstOperand(x),
            let rank = types[first]?.shape.rank, rank >= 3, let tensor = constants[constant], types[y[0]] == types[first]
        {
            let operand: String
            if tensor.count == 1 {
                operand = constant
            } else if tensor.shape.last == tensor.count, tensor.count == types[first]!.shape.dims.last?.fixedValue {
                // One per channel along the last axis: as [C, 1, ...] it broadcasts over the channels-first copy.
                operand = self.constant("\(constant).nchw", Tensor(shape: [tensor.count] + Array(repeating: 1, count: rank - 2), storage: tensor.storage))
            } else {
                operand = ""
            }
            if !operand.isEmpty {
                let value = fresh("\(y[0]).nchw")
                add(opType, swapped ? [operand, channelsFirst[first]!] : [channelsFirst[first]!, operand], [value], name)
                try toChannelsLast(value, y[0], node)
                return
            }
        }
        switch node.op {
        case .identity: add("Identity", x, y, name)
        case .binary(let op): add(op.name, x, y, name)
        case .matMul: add("MatMul", x, y, name)
        case .gemm(let transB): add("Gemm", x, y, name, [int("transB", transB ? 1 : 0)])
        case .softmax(let axis): add("Softmax", x, y, name, [int("axis", axis)])
        case .flatten(let axis): add("Flatten", x, y, name, [int("axis", axis)])
        case .reshape(let shape):
            // ONNX Reshape's default (allowzero = 0) also copies the input dimension for a 0.
            add("Reshape", [x[0], int64s("\(name).shape", shape.map(Int64.init))], y, name)
        case .transpose(let perm):
            // The IR's own layout changes (a channels_first model) meet the emitter's: a value moved to
            // channels-last has its channels-first copy already, and moving that back is the copy itself.
            let rank = perm.count
            let toLast = [0] + Array(2..<max(rank, 2)) + [1], toFirst = [0, rank - 1] + Array(1..<max(rank - 1, 1))
            if rank >= 3, perm == toFirst, let first = channelsFirst[x[0]] {
                add("Identity", [first], y, name)
                break
            }
            add("Transpose", x, y, name, [ints("perm", perm)])
            if rank >= 3, perm == toLast { channelsFirst[y[0]] = x[0] }
        case .cast(let to): add("Cast", x, y, name, [int("to", Int(ONNXEmitter.elementType(to)))])
        case .activation(let activation):
            let dtype = try type(of: x[0], in: node).dtype
            if let first = channelsFirst[x[0]] {
                let value = fresh("\(y[0]).nchw")
                lower(activation, first, value, dtype, name)
                try toChannelsLast(value, y[0], node)
            } else {
                lower(activation, x[0], y[0], dtype, name)
            }
        case .conv(let c):
            let spatial = c.strides.count
            // Keras's kernel [kernel..., Cin/groups, Cout] is ONNX's [Cout, Cin/groups, kernel...].
            let (kernel, kernelShape) = try onnxKernel(x[1], [spatial + 1, spatial] + Array(0..<spatial), suffix: "oihw", node)
            let value = fresh("\(y[0]).nchw")
            add(
                "Conv", [try channelsFirstInput(x[0], node), kernel] + x.dropFirst(2), [value], name,
                [
                    ints("kernel_shape", Array(kernelShape[2...])), ints("strides", c.strides), ints("dilations", c.dilations),
                    ints("pads", c.pads), int("group", c.groups),
                ])
            try toChannelsLast(value, y[0], node)
        case .convTranspose(let c):
            guard c.groups == 1 else { throw .unsupported(node: name, reason: "ConvTranspose with \(c.groups) groups") }
            let spatial = c.strides.count
            // Keras's kernel [kernel..., Cout, Cin] is ONNX's [Cin, Cout, kernel...]; a negative end pad
            // (output positions no input reaches) is ONNX's output_padding.
            let (kernel, kernelShape) = try onnxKernel(x[1], [spatial + 1, spatial] + Array(0..<spatial), suffix: "iohw", node)
            let ends = c.pads[spatial...].map { max($0, 0) }
            let extra = c.pads[spatial...].map { max(-$0, 0) }
            let value = fresh("\(y[0]).nchw")
            add(
                "ConvTranspose", [try channelsFirstInput(x[0], node), kernel] + x.dropFirst(2), [value], name,
                [
                    ints("kernel_shape", Array(kernelShape[2...])), ints("strides", c.strides), ints("dilations", c.dilations),
                    ints("pads", Array(c.pads[0..<spatial]) + ends), ints("output_padding", extra),
                ])
            try toChannelsLast(value, y[0], node)
        case .pool(let p):
            var attributes = [ints("kernel_shape", p.window), ints("strides", p.strides), ints("pads", p.pads)]
            // Keras averages over the real elements only.
            if p.kind == .average { attributes.append(int("count_include_pad", 0)) }
            let value = fresh("\(y[0]).nchw")
            add(p.kind == .max ? "MaxPool" : "AveragePool", [try channelsFirstInput(x[0], node)], [value], name, attributes)
            try toChannelsLast(value, y[0], node)
        case .reduce(let reduction, let axes, let keepDims):
            // A value with a channels-first copy: reduce the copy. Without keepDims, when the channels or every
            // spatial axis go, what is left has the same order in both layouts.
            let rank = try type(of: x[0], in: node).shape.rank
            let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
            if let first = channelsFirst[x[0]], rank >= 3, !normalized.isEmpty, !normalized.contains(0) {
                let permuted = normalized.map { $0 == rank - 1 ? 1 : $0 + 1 }.sorted()
                let spatial = normalized.subtracting([rank - 1]).count
                if !keepDims && (normalized.contains(rank - 1) || spatial == rank - 2) {
                    try lowerReduce(reduction, axes: permuted, keepDims: false, first, y, name)
                } else {
                    let value = fresh("\(y[0]).nchw")
                    try lowerReduce(reduction, axes: permuted, keepDims: keepDims, first, [value], name)
                    try toChannelsLast(value, y[0], node)
                }
            } else {
                try lowerReduce(reduction, axes: axes, keepDims: keepDims, x[0], y, name)
            }
        case .batchNorm(let epsilon, let axis):
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
        case .layerNorm(let axis, let epsilon):
            try lowerLayerNorm(axis: axis, epsilon: epsilon, node)
        case .concat(let axis):
            // Inputs that all have channels-first copies are joined in that layout.
            let rank = try type(of: y[0], in: node).shape.rank
            let a = axis < 0 ? axis + rank : axis
            let copies = x.compactMap { channelsFirst[$0] }
            if rank >= 3, a != 0, copies.count == x.count {
                let value = fresh("\(y[0]).nchw")
                add("Concat", copies, [value], name, [int("axis", a == rank - 1 ? 1 : a + 1)])
                try toChannelsLast(value, y[0], node)
            } else {
                add("Concat", x, y, name, [int("axis", axis)])
            }
        case .pad(let pads, let value):
            let dtype = try type(of: x[0], in: node).dtype
            // Padding only spatial dimensions of a value that has a channels-first copy pads the copy.
            let (source, amounts, nchw) = channelsFirstAmounts(x[0], pads)
            let padsInput = int64s("\(name).pads", amounts.map(Int64.init))
            let result = nchw ? fresh("\(y[0]).nchw") : y[0]
            add("Pad", [source, padsInput, scalar("\(name).value", value, dtype)], [result], name, [string("mode", "constant")])
            if nchw { try toChannelsLast(result, y[0], node) }
        case .crop(let pads):
            let (source, amounts, nchw) = channelsFirstAmounts(x[0], pads)
            let rank = amounts.count / 2
            let starts = int64s("\(name).starts", amounts[0..<rank].map(Int64.init))
            // An end of -k stops k before the end; Int64.max means "to the end".
            let ends = int64s("\(name).ends", amounts[rank...].map { $0 == 0 ? Int64.max : -Int64($0) })
            let axes = int64s("\(name).axes", (0..<rank).map(Int64.init))
            let value = nchw ? fresh("\(y[0]).nchw") : y[0]
            add("Slice", [source, starts, ends, axes], [value], name)
            if nchw { try toChannelsLast(value, y[0], node) }
        case .upsample(let factors, let mode):
            // Channels-first, scales 1 on the batch and channels; no roi ("" skips the optional input). Nearest
            // with integer factors: asymmetric coordinates, rounded down, read input o / factor.
            let scales = constant("\(name).scales", Tensor(shape: [factors.count + 2], floats: [1, 1] + factors.map(Float.init)))
            let value = fresh("\(y[0]).nchw")
            let attributes =
                mode == .linear
                ? [string("mode", "linear"), string("coordinate_transformation_mode", "half_pixel")]
                : [string("mode", "nearest"), string("coordinate_transformation_mode", "asymmetric"), string("nearest_mode", "floor")]
            add("Resize", [try channelsFirstInput(x[0], node), "", scales], [value], name, attributes)
            try toChannelsLast(value, y[0], node)
        case .gather(let axis): add("Gather", x, y, name, [int("axis", axis)])
        case .quantizeLinear(let axis): add("QuantizeLinear", x, y, name, [int("axis", axis)])
        case .dequantizeLinear(let axis): add("DequantizeLinear", x, y, name, [int("axis", axis)])
        case .fused:
            // ONNXEmitter splits each epilogue into its own activation node before lowering.
            throw .unsupported(node: name, reason: "a fused epilogue is not legal in ONNX; run split-epilogues first")
        }
    }

    /// The operand of a binary op that has a channels-first copy and the other, a constant; whether the
    /// constant comes first.
    private func channelsFirstOperand(_ x: [String]) -> (String, String, Bool)? {
        if channelsFirst[x[0]] != nil, constants[x[1]] != nil { return (x[0], x[1], false) }
        if channelsFirst[x[1]] != nil, constants[x[0]] != nil { return (x[1], x[0], true) }
        return nil
    }

    /// For Pad and Crop: the channels-first copy of `x` and the amounts permuted to its layout when the
    /// batch and channels are untouched, else `x` itself and the amounts as they are.
    private func channelsFirstAmounts(_ x: String, _ pads: [Int]) -> (String, [Int], Bool) {
        let rank = pads.count / 2
        guard rank >= 3, let first = channelsFirst[x], pads[0] == 0, pads[rank - 1] == 0, pads[rank] == 0, pads[2 * rank - 1] == 0 else {
            return (x, pads, false)
        }
        let order = [0, rank - 1] + Array(1..<(rank - 1))
        return (first, order.map { pads[$0] } + order.map { pads[rank + $0] }, true)
    }

    private static func binaryElementwise(_ op: Op) -> String? {
        if case .binary(let binary) = op { return binary.name }
        return nil
    }

    /// LayerNormalization from opset 17 (which needs a scale: ones when the IR has none); below it the
    /// same arithmetic as standard ops. Over several dimensions, x is reshaped to one normalized dimension
    /// and back, with 1-D scale and bias: ONNX Runtime fuses an Add before LayerNormalization into its
    /// SkipLayerNormalization, which accepts only a 1-D scale.
    private mutating func lowerLayerNorm(axis: Int, epsilon: Float, _ node: Node) throws(ONNXEmitError) {
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
            var inputs = [flat ? intermediate("Reshape", [x[0], int64s("\(name).flat_shape", Array(repeating: 0, count: a) + [-1])], y, "flat") : x[0]]
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
        try lowerReduce(.mean, axes: axes, keepDims: true, x[0], [mean], mean)
        let centered = intermediate("Sub", [x[0], mean], y, "centered")
        let squared = intermediate("Mul", [centered, centered], y, "squared")
        let variance = fresh("\(y).variance")
        try lowerReduce(.mean, axes: axes, keepDims: true, squared, [variance], variance)
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

    /// Reductions: axes are an attribute before opset 18 and an input from then on (ReduceSum from 13).
    private mutating func lowerReduce(
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

    /// The kernel in ONNX's layout and its shape: a permuted initializer when the kernel is a constant,
    /// a Transpose node otherwise.
    private mutating func onnxKernel(
        _ kernel: String, _ perm: [Int], suffix: String, _ node: Node
    ) throws(ONNXEmitError) -> (String, [Int]) {
        if let weights = constants[kernel] {
            let permuted = weights.transposed(perm)
            return (constant("\(kernel).\(suffix)", permuted), permuted.shape)
        }
        guard let sizes = try type(of: kernel, in: node).shape.fixedSizes else {
            throw .unsupported(node: node.name, reason: "the kernel %\(kernel) has symbolic dimensions")
        }
        let value = fresh("\(kernel).\(suffix)")
        add("Transpose", [kernel], [value], "\(node.name).kernel_to_\(suffix)", [ints("perm", perm)])
        return (value, perm.map { sizes[$0] })
    }

    /// The channels-first form of a channels-last value, transposing it unless one exists already.
    mutating func channelsFirstInput(_ value: String, _ node: Node) throws(ONNXEmitError) -> String {
        if let first = channelsFirst[value] { return first }
        let rank = try type(of: value, in: node).shape.rank
        guard rank >= 3 else {
            throw .unsupported(node: node.name, reason: "%\(value) has rank \(rank); it needs a batch, a spatial and a channel dimension")
        }
        let first = fresh("\(value).nchw")
        add("Transpose", [value], [first], "\(node.name).to_channels_first", [ints("perm", [0, rank - 1] + Array(1..<(rank - 1)))])
        channelsFirst[value] = first
        return first
    }

    /// Makes the channels-last value `y` from its channels-first form `first`.
    mutating func toChannelsLast(_ first: String, _ y: String, _ node: Node) throws(ONNXEmitError) {
        let rank = try type(of: y, in: node).shape.rank
        add("Transpose", [first], [y], "\(node.name).to_channels_last", [ints("perm", [0] + Array(2..<rank) + [1])])
        channelsFirst[y] = first
    }
}
