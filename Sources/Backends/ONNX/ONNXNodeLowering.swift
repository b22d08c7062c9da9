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
    ///
    /// One exhaustive switch, so a new op cannot be added without saying how ONNX writes it; ops that need
    /// more than one ONNX node or a layout decision have helpers (windows in ONNXWindowLowering.swift,
    /// reductions and normalization in ONNXNormalizationLowering.swift, layout changes below).
    mutating func lower(_ node: Node) throws(ONNXEmitError) {
        if try lowerChannelsFirstElementwise(node) { return }
        let x = node.inputs
        let y = node.outputs.map(\.name)
        let name = node.name
        switch node.op {
        case .identity: add("Identity", x, y, name)
        case .binary(let op): add(op.name, x, y, name)
        case .compare(let comparison): lowerCompare(comparison, node)
        case .matMul: add("MatMul", x, y, name)
        case .gemm(let transB): add("Gemm", x, y, name, [int("transB", transB ? 1 : 0)])
        case .softmax(let axis): add("Softmax", x, y, name, [int("axis", axis)])
        case .flatten(let axis): add("Flatten", x, y, name, [int("axis", axis)])
        case .reshape(let shape):
            // ONNX Reshape's default (allowzero = 0) also copies the input dimension for a 0.
            add("Reshape", [x[0], int64s("\(name).shape", shape.map(Int64.init))], y, name)
        case .transpose(let perm): lowerTranspose(perm, node)
        case .cast(let to): add("Cast", x, y, name, [int("to", Int(ONNXEmitter.elementType(to)))])
        case .activation(let activation): try lowerActivation(activation, node)
        case .conv(let c): try lowerConv(c, node)
        case .convTranspose(let c): try lowerConvTranspose(c, node)
        case .pool(let p): try lowerPool(p, node)
        case .reduce(let reduction, let axes, let keepDims): try lowerReduce(reduction, axes: axes, keepDims: keepDims, node)
        case .batchNorm(let epsilon, let axis): try lowerBatchNorm(epsilon: epsilon, axis: axis, node)
        case .layerNorm(let axis, let epsilon): try lowerLayerNorm(axis: axis, epsilon: epsilon, node)
        case .concat(let axis): try lowerConcat(axis: axis, node)
        case .pad(let pads, let value): try lowerPad(pads, value: value, node)
        case .crop(let pads): try lowerCrop(pads, node)
        case .slice(let axes, let starts, let ends, let steps):
            let bounds = [("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)].map {
                int64s("\(name).\($0.0)", $0.1.map(Int64.init))
            }
            add("Slice", [x[0]] + bounds, y, name)
        case .upsample(let factors, let mode): try lowerUpsample(factors: factors, mode: mode, node)
        case .gather(let axis): add("Gather", x, y, name, [int("axis", axis)])
        case .quantizeLinear(let axis): add("QuantizeLinear", x, y, name, [int("axis", axis)])
        case .dequantizeLinear(let axis): add("DequantizeLinear", x, y, name, [int("axis", axis)])
        case .recurrent(let recurrence): try lowerRecurrent(recurrence, node)
        case .attention(let attention): try lowerAttention(attention, node)
        case .fused:
            // ONNXEmitter splits each epilogue into its own activation node before lowering.
            throw .unsupported(node: name, reason: "a fused epilogue is not legal in ONNX; run split-epilogues first")
        }
    }

    /// Lowers a binary elementwise op in the channels-first layout when its operands allow it, so that a
    /// residual Add between two convolutions costs no Transposes; false when they do not.
    private mutating func lowerChannelsFirstElementwise(_ node: Node) throws(ONNXEmitError) -> Bool {
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
            return true
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
                operand = self.constant(
                    "\(constant).nchw", Tensor(shape: [tensor.count] + Array(repeating: 1, count: rank - 2), storage: tensor.storage))
            } else {
                operand = ""
            }
            if !operand.isEmpty {
                let value = fresh("\(y[0]).nchw")
                add(opType, swapped ? [operand, channelsFirst[first]!] : [channelsFirst[first]!, operand], [value], name)
                try toChannelsLast(value, y[0], node)
                return true
            }
        }
        return false
    }

    /// An activation of a value with a channels-first copy runs on the copy, so a Conv, its activation and
    /// the next Conv need no Transposes between them.
    private mutating func lowerActivation(_ activation: Activation, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let dtype = try type(of: x[0], in: node).dtype
        if let first = channelsFirst[x[0]] {
            let value = fresh("\(y[0]).nchw")
            lower(activation, first, value, dtype, name)
            try toChannelsLast(value, y[0], node)
        } else {
            lower(activation, x[0], y[0], dtype, name)
        }
    }

    /// The IR's own layout changes (a channels_first model) meet the emitter's: a value moved to
    /// channels-last has its channels-first copy already, and moving that back is the copy itself.
    private mutating func lowerTranspose(_ perm: [Int], _ node: Node) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let rank = perm.count
        let toLast = [0] + Array(2..<max(rank, 2)) + [1], toFirst = [0, rank - 1] + Array(1..<max(rank - 1, 1))
        if rank >= 3, perm == toFirst, let first = channelsFirst[x[0]] {
            add("Identity", [first], y, name)
            return
        }
        add("Transpose", x, y, name, [ints("perm", perm)])
        if rank >= 3, perm == toLast { channelsFirst[y[0]] = x[0] }
    }

    /// Inputs that all have channels-first copies are joined in that layout.
    private mutating func lowerConcat(axis: Int, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
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
    }

    /// A constant Pad; padding only spatial dimensions of a value that has a channels-first copy pads the copy.
    private mutating func lowerPad(_ pads: [Int], value: Float, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let dtype = try type(of: x[0], in: node).dtype
        let (source, amounts, nchw) = channelsFirstAmounts(x[0], pads)
        let padsInput = int64s("\(name).pads", amounts.map(Int64.init))
        let result = nchw ? fresh("\(y[0]).nchw") : y[0]
        add("Pad", [source, padsInput, scalar("\(name).value", value, dtype)], [result], name, [string("mode", "constant")])
        if nchw { try toChannelsLast(result, y[0], node) }
    }

    /// Crop as Slice, on the channels-first copy under the same condition as Pad.
    private mutating func lowerCrop(_ pads: [Int], _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let (source, amounts, nchw) = channelsFirstAmounts(x[0], pads)
        let rank = amounts.count / 2
        let starts = int64s("\(name).starts", amounts[0..<rank].map(Int64.init))
        // An end of -k stops k before the end; Int64.max means "to the end".
        let ends = int64s("\(name).ends", amounts[rank...].map { $0 == 0 ? Int64.max : -Int64($0) })
        let axes = int64s("\(name).axes", (0..<rank).map(Int64.init))
        let value = nchw ? fresh("\(y[0]).nchw") : y[0]
        add("Slice", [source, starts, ends, axes], [value], name)
        if nchw { try toChannelsLast(value, y[0], node) }
    }

    /// Comparisons are ONNX's, but NotEqual, which ONNX writes as Not(Equal).
    private mutating func lowerCompare(_ comparison: Comparison, _ node: Node) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        switch comparison {
        case .equal, .greater, .greaterOrEqual, .less, .lessOrEqual: add(comparison.name, x, y, name)
        case .notEqual: add("Not", [intermediate("Equal", x, y[0], "equal")], y, name)
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
