/// Why an op cannot accept its input types.
public struct TypeError: Error, Hashable, CustomStringConvertible {
    public var op: String
    public var message: String

    public init(op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { "\(op): \(message)" }
}

extension Op {
    /// The types of the op's outputs given the types of its inputs.
    ///
    /// One exhaustive switch, so a new op cannot be added without saying how its types follow; the longer
    /// rules live in helpers beside their kind (here: products, normalization, quantization; windows in
    /// ShapeInference+Windows.swift; layout changes in ShapeInference+Layout.swift).
    ///
    /// Every input and output must be countable: no negative dimension, and a byte size that fits in an
    /// `Int`. The rules compute with overflow-reporting arithmetic, so extreme attributes or sizes from a
    /// file give a `TypeError`, never a trap.
    public func inferTypes(_ inputs: [TensorType]) throws(TypeError) -> [TensorType] {
        guard arity.contains(inputs.count) else {
            throw TypeError(
                op: name,
                "takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") inputs, got \(inputs.count)"
            )
        }
        for (index, input) in inputs.enumerated() { try requireCountable(input, "input \(index + 1)") }
        let outputs = try inferCountableTypes(inputs)
        for output in outputs { try requireCountable(output, "the output") }
        return outputs
    }

    /// The rule of each op, for inputs already checked to be countable.
    private func inferCountableTypes(_ inputs: [TensorType]) throws(TypeError) -> [TensorType] {
        switch self {
        case .identity:
            return inputs
        case .activation:
            try requireFloat(inputs[0])
            return inputs
        case .binary:
            guard inputs[0].dtype == inputs[1].dtype else {
                throw TypeError(op: name, "element types differ: \(inputs[0]) and \(inputs[1])")
            }
            return [TensorType(inputs[0].dtype, try broadcast(inputs[0].shape, inputs[1].shape))]
        case .compare:
            guard inputs[0].dtype == inputs[1].dtype else {
                throw TypeError(op: name, "element types differ: \(inputs[0]) and \(inputs[1])")
            }
            return [TensorType(.bool, try broadcast(inputs[0].shape, inputs[1].shape))]
        case .matMul:
            return [try inferMatMul(inputs[0], inputs[1])]
        case .gemm(let transB):
            return [try inferGemm(inputs, transB: transB)]
        case .softmax(let axis):
            try requireFloat(inputs[0])
            _ = try normalizedAxis(axis, rank: inputs[0].shape.rank)
            return inputs
        case .flatten(let axis):
            return [try inferFlatten(inputs[0], axis: axis)]
        case .reshape(let target):
            return [TensorType(inputs[0].dtype, try inferReshape(inputs[0].shape, target))]
        case .transpose(let perm):
            let dims = inputs[0].shape.dims
            guard perm.sorted() == Array(0..<dims.count) else {
                throw TypeError(op: name, "perm \(perm) is not a permutation of the \(dims.count) dimensions of \(inputs[0])")
            }
            return [TensorType(inputs[0].dtype, Shape(perm.map { dims[$0] }))]
        case .cast(let to):
            return [TensorType(to, inputs[0].shape)]
        case .conv(let convolution):
            return [try inferConv(inputs, convolution)]
        case .convTranspose(let convolution):
            return [try inferConvTranspose(inputs, convolution)]
        case .pool(let pooling):
            return [try inferPool(inputs[0], pooling)]
        case .reduce(_, let axes, let keepDims):
            return [try inferReduce(inputs[0], axes: axes, keepDims: keepDims)]
        case .batchNorm(_, let axis):
            return [try inferBatchNorm(inputs, axis: axis)]
        case .layerNorm(let axis, _):
            return [try inferLayerNorm(inputs, axis: axis)]
        case .concat(let axis):
            return [try inferConcat(inputs, axis: axis)]
        case .pad(let pads, _):
            return [try inferPad(inputs[0], pads)]
        case .fused(let product, _):
            guard product.acceptsEpilogue else { throw TypeError(op: name, "\(product.name) cannot take an epilogue") }
            let types = try product.inferTypes(inputs)
            try requireFloat(types[0])
            return types
        case .crop(let pads):
            return [try inferCrop(inputs[0], pads)]
        case .slice(let axes, let starts, let ends, let steps):
            return [try inferSlice(inputs[0], axes: axes, starts: starts, ends: ends, steps: steps)]
        case .upsample(let factors, let mode):
            return [try inferUpsample(inputs[0], factors: factors, mode: mode)]
        case .quantizeLinear(let axis):
            return [try inferQuantization(inputs, axis: axis, quantize: true)]
        case .dequantizeLinear(let axis):
            return [try inferQuantization(inputs, axis: axis, quantize: false)]
        case .gather(let axis):
            return [try inferGather(inputs[0], indices: inputs[1], axis: axis)]
        case .recurrent(let recurrence):
            return try inferRecurrent(inputs, recurrence)
        case .attention(let attention):
            return try inferAttention(inputs, attention)
        }
    }

    // MARK: Checks every rule uses

    /// Throws unless the elements are f32, for the ops only defined on floats.
    func requireFloat(_ type: TensorType) throws(TypeError) {
        guard type.dtype == .float32 else { throw TypeError(op: name, "needs f32 input, got \(type)") }
    }

    /// `axis` counted from the front (a negative one counts from the end), checked against `rank`.
    func normalizedAxis(_ axis: Int, rank: Int) throws(TypeError) -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard (0..<rank).contains(normalized) else { throw TypeError(op: name, "axis \(axis) out of range for rank \(rank)") }
        return normalized
    }

    // MARK: Products

    private func broadcast(_ a: Shape, _ b: Shape) throws(TypeError) -> Shape {
        let rank = max(a.rank, b.rank)
        let padA = [Dim](repeating: 1, count: rank - a.rank) + a.dims
        let padB = [Dim](repeating: 1, count: rank - b.rank) + b.dims
        var result: [Dim] = []
        for (x, y) in zip(padA, padB) {
            if x == y || y == 1 {
                result.append(x)
            } else if x == 1 {
                result.append(y)
            } else {
                throw TypeError(op: name, "shapes \(a) and \(b) do not broadcast")
            }
        }
        return Shape(result)
    }

    private func inferMatMul(_ a: TensorType, _ b: TensorType) throws(TypeError) -> TensorType {
        try requireFloat(a)
        try requireFloat(b)
        guard a.shape.rank >= 2, b.shape.rank >= 2 else {
            throw TypeError(op: name, "needs inputs of rank 2 or more, got \(a) and \(b)")
        }
        let k1 = a.shape.dims[a.shape.rank - 1]
        let k2 = b.shape.dims[b.shape.rank - 2]
        guard k1 == k2 else { throw TypeError(op: name, "inner dimensions differ: \(a) x \(b)") }
        let batch = try broadcast(Shape(Array(a.shape.dims.dropLast(2))), Shape(Array(b.shape.dims.dropLast(2))))
        return TensorType(a.dtype, Shape(batch.dims + [a.shape.dims[a.shape.rank - 2], b.shape.dims[b.shape.rank - 1]]))
    }

    private func inferGemm(_ inputs: [TensorType], transB: Bool) throws(TypeError) -> TensorType {
        let a = inputs[0], b = inputs[1]
        for input in inputs { try requireFloat(input) }
        guard a.shape.rank == 2, b.shape.rank == 2 else { throw TypeError(op: name, "needs rank-2 A and B, got \(a) and \(b)") }
        let m = a.shape.dims[0], k = a.shape.dims[1]
        let (kb, n) = transB ? (b.shape.dims[1], b.shape.dims[0]) : (b.shape.dims[0], b.shape.dims[1])
        guard k == kb else { throw TypeError(op: name, "inner dimensions differ: \(a) x \(b)\(transB ? "ᵀ" : "")") }
        let result = Shape([m, n])
        if inputs.count == 3 {
            guard (try? broadcast(result, inputs[2].shape)) == result else {
                throw TypeError(op: name, "bias \(inputs[2]) does not broadcast to \(result)")
            }
        }
        return TensorType(a.dtype, result)
    }

    // MARK: Reductions and normalization

    /// The reduced axes drop out, or stay as 1 with `keepDims`; an axis named twice counts once.
    private func inferReduce(_ input: TensorType, axes: [Int], keepDims: Bool) throws(TypeError) -> TensorType {
        try requireFloat(input)
        let rank = input.shape.rank
        var normalized = Set<Int>()
        for axis in axes { normalized.insert(try normalizedAxis(axis, rank: rank)) }
        var out: [Dim] = []
        for (d, dim) in input.shape.dims.enumerated() {
            if normalized.contains(d) {
                if keepDims { out.append(1) }
            } else {
                out.append(dim)
            }
        }
        return TensorType(input.dtype, Shape(out))
    }

    /// x keeps its type; scale, offset, mean and variance each hold one value per index of `axis`.
    private func inferBatchNorm(_ inputs: [TensorType], axis: Int) throws(TypeError) -> TensorType {
        for input in inputs { try requireFloat(input) }
        let channels = inputs[0].shape.dims[try normalizedAxis(axis, rank: inputs[0].shape.rank)]
        for parameter in inputs.dropFirst() where parameter.shape != Shape([channels]) {
            throw TypeError(op: name, "parameters must be [\(channels)], got \(parameter)")
        }
        return inputs[0]
    }

    /// x keeps its type; the optional scale and bias are shaped like the normalized dimensions, which must be
    /// known because the parameters are stored with that shape.
    private func inferLayerNorm(_ inputs: [TensorType], axis: Int) throws(TypeError) -> TensorType {
        for input in inputs { try requireFloat(input) }
        let normalized = Shape(Array(inputs[0].shape.dims[try normalizedAxis(axis, rank: inputs[0].shape.rank)...]))
        guard normalized.dims.allSatisfy({ $0.fixedValue != nil }) else {
            throw TypeError(op: name, "the normalized dimensions of \(inputs[0]) must be known")
        }
        for parameter in inputs.dropFirst() where parameter.shape != normalized {
            throw TypeError(op: name, "scale and bias must be \(normalized), got \(parameter)")
        }
        return inputs[0]
    }

    // MARK: Quantization

    /// QuantizeLinear (`quantize`) and DequantizeLinear share their checks: a f32 scale that is one value or
    /// one per index of `axis`, and a zero point shaped like it whose type is the quantized type.
    private func inferQuantization(_ inputs: [TensorType], axis: Int, quantize: Bool) throws(TypeError) -> TensorType {
        let x = inputs[0], scale = inputs[1], zeroPoint = inputs[2]
        guard scale.dtype == .float32, zeroPoint.shape == scale.shape, [.int8, .uint8, .int32].contains(zeroPoint.dtype),
            quantize ? x.dtype == .float32 && zeroPoint.dtype != .int32 : x.dtype == zeroPoint.dtype
        else {
            throw TypeError(
                op: name,
                "needs \(quantize ? "f32" : "i8/u8/i32") x, f32 scale and a zero point of the \(quantize ? "target" : "same") type shaped like scale, got \(inputs)"
            )
        }
        if scale.shape.rank == 1 {
            let a = try normalizedAxis(axis, rank: x.shape.rank)
            guard scale.shape.dims[0] == x.shape.dims[a] else {
                throw TypeError(op: name, "\(scale) has no entry per index of axis \(axis) of \(x)")
            }
        } else if scale.shape.rank != 0 {
            throw TypeError(op: name, "scale must be a scalar or 1-D, got \(scale)")
        }
        return TensorType(quantize ? zeroPoint.dtype : .float32, x.shape)
    }
}
