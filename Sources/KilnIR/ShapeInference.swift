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
    public func inferTypes(_ inputs: [TensorType]) throws(TypeError) -> [TensorType] {
        guard arity.contains(inputs.count) else {
            throw TypeError(op: name, "takes \(arity.lowerBound == arity.upperBound ? "\(arity.lowerBound)" : "\(arity.lowerBound) to \(arity.upperBound)") inputs, got \(inputs.count)")
        }
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
        case .matMul:
            return [try inferMatMul(inputs[0], inputs[1])]
        case .gemm(let transB):
            return [try inferGemm(inputs, transB: transB)]
        case .softmax(let axis):
            try requireFloat(inputs[0])
            _ = try normalizedAxis(axis, rank: inputs[0].shape.rank)
            return inputs
        case .flatten(let axis):
            let dims = inputs[0].shape.dims
            guard (0...dims.count).contains(axis) else { throw TypeError(op: name, "axis \(axis) out of range for \(inputs[0])") }
            guard let outer = product(dims[..<axis]), let inner = product(dims[axis...]) else {
                throw TypeError(op: name, "cannot flatten \(inputs[0]): more than one symbolic dimension on one side")
            }
            return [TensorType(inputs[0].dtype, Shape([outer, inner]))]
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
        case .convTranspose(let c):
            for input in inputs { try requireFloat(input) }
            let x = inputs[0].shape.dims, w = inputs[1].shape.dims
            let spatial = x.count - 2
            guard spatial >= 1, w.count == spatial + 2, c.strides.count == spatial, c.dilations.count == spatial,
                c.pads.count == 2 * spatial, c.groups == 1, w[spatial + 1] == x[spatial + 1], let cout = w[spatial].fixedValue
            else { throw TypeError(op: name, "kernel \(inputs[1]) does not fit \(inputs[0]) and the attributes") }
            if inputs.count == 3 && inputs[2].shape != Shape([.fixed(cout)]) {
                throw TypeError(op: name, "bias must be [\(cout)], got \(inputs[2])")
            }
            var out = [x[0]]
            for d in 0..<spatial {
                guard let size = x[d + 1].fixedValue, let k = w[d].fixedValue else { throw TypeError(op: name, "spatial sizes must be known") }
                let length = (size - 1) * c.strides[d] + c.dilations[d] * (k - 1) + 1 - c.pads[d] - c.pads[spatial + d]
                guard length >= 1, c.pads[d] >= 0 else { throw TypeError(op: name, "the output of dimension \(d) would be empty") }
                out.append(.fixed(length))
            }
            return [TensorType(inputs[0].dtype, Shape(out + [.fixed(cout)]))]
        case .pool(let pooling):
            try requireFloat(inputs[0])
            let dims = inputs[0].shape.dims
            let spatial = dims.count - 2
            guard spatial >= 1, pooling.window.count == spatial, pooling.strides.count == spatial, pooling.pads.count == 2 * spatial else {
                throw TypeError(op: name, "window, strides and pads must fit the \(max(spatial, 0)) spatial dimensions of \(inputs[0])")
            }
            var out = [dims[0]]
            for d in 0..<spatial {
                out.append(try windowed(dims[d + 1], window: pooling.window[d], stride: pooling.strides[d], padBegin: pooling.pads[d], padEnd: pooling.pads[spatial + d]))
            }
            return [TensorType(inputs[0].dtype, Shape(out + [dims[spatial + 1]]))]
        case .reduce(_, let axes, let keepDims):
            try requireFloat(inputs[0])
            let rank = inputs[0].shape.rank
            var normalized = Set<Int>()
            for axis in axes { normalized.insert(try normalizedAxis(axis, rank: rank)) }
            var out: [Dim] = []
            for (d, dim) in inputs[0].shape.dims.enumerated() {
                if normalized.contains(d) {
                    if keepDims { out.append(1) }
                } else {
                    out.append(dim)
                }
            }
            return [TensorType(inputs[0].dtype, Shape(out))]
        case .batchNorm(_, let axis):
            for input in inputs { try requireFloat(input) }
            let channels = inputs[0].shape.dims[try normalizedAxis(axis, rank: inputs[0].shape.rank)]
            for parameter in inputs.dropFirst() where parameter.shape != Shape([channels]) {
                throw TypeError(op: name, "parameters must be [\(channels)], got \(parameter)")
            }
            return [inputs[0]]
        case .layerNorm(let axis, _):
            for input in inputs { try requireFloat(input) }
            let normalized = Shape(Array(inputs[0].shape.dims[try normalizedAxis(axis, rank: inputs[0].shape.rank)...]))
            guard normalized.dims.allSatisfy({ $0.fixedValue != nil }) else {
                throw TypeError(op: name, "the normalized dimensions of \(inputs[0]) must be known")
            }
            for parameter in inputs.dropFirst() where parameter.shape != normalized {
                throw TypeError(op: name, "scale and bias must be \(normalized), got \(parameter)")
            }
            return [inputs[0]]
        case .concat(let axis):
            let first = inputs[0]
            let a = try normalizedAxis(axis, rank: first.shape.rank)
            var total = 0
            for input in inputs {
                guard input.dtype == first.dtype, input.shape.rank == first.shape.rank else {
                    throw TypeError(op: name, "inputs differ in type or rank: \(first) and \(input)")
                }
                for d in 0..<first.shape.rank where d != a && input.shape.dims[d] != first.shape.dims[d] {
                    throw TypeError(op: name, "inputs differ outside axis \(axis): \(first) and \(input)")
                }
                guard let size = input.shape.dims[a].fixedValue else {
                    throw TypeError(op: name, "cannot concatenate along the symbolic dimension of \(input)")
                }
                total += size
            }
            var dims = first.shape.dims
            dims[a] = .fixed(total)
            return [TensorType(first.dtype, Shape(dims))]
        case .pad(let pads, _):
            let dims = inputs[0].shape.dims
            guard pads.count == 2 * dims.count, pads.allSatisfy({ $0 >= 0 }) else {
                throw TypeError(op: name, "needs \(2 * dims.count) non-negative pads for \(inputs[0]), got \(pads)")
            }
            var out: [Dim] = []
            for (d, dim) in dims.enumerated() {
                let extra = pads[d] + pads[dims.count + d]
                if extra == 0 {
                    out.append(dim)
                } else if let size = dim.fixedValue {
                    out.append(.fixed(size + extra))
                } else {
                    throw TypeError(op: name, "cannot pad the symbolic dimension of \(inputs[0])")
                }
            }
            return [TensorType(inputs[0].dtype, Shape(out))]
        case .fused(let product, _):
            guard product.acceptsEpilogue else { throw TypeError(op: name, "\(product.name) cannot take an epilogue") }
            let types = try product.inferTypes(inputs)
            try requireFloat(types[0])
            return types
        case .crop(let pads):
            let dims = inputs[0].shape.dims
            guard pads.count == 2 * dims.count, pads.allSatisfy({ $0 >= 0 }) else {
                throw TypeError(op: name, "needs \(2 * dims.count) non-negative amounts for \(inputs[0]), got \(pads)")
            }
            var out: [Dim] = []
            for (d, dim) in dims.enumerated() {
                let removed = pads[d] + pads[dims.count + d]
                if removed == 0 {
                    out.append(dim)
                } else if let size = dim.fixedValue, size > removed {
                    out.append(.fixed(size - removed))
                } else {
                    throw TypeError(op: name, "cannot remove \(removed) elements from dimension \(d) of \(inputs[0])")
                }
            }
            return [TensorType(inputs[0].dtype, Shape(out))]
        case .upsample(let factors, let mode):
            if mode == .linear { try requireFloat(inputs[0]) }
            let dims = inputs[0].shape.dims
            guard dims.count == factors.count + 2, !factors.isEmpty, factors.allSatisfy({ $0 >= 1 }) else {
                throw TypeError(op: name, "needs a factor of at least 1 per spatial dimension of \(inputs[0]), got \(factors)")
            }
            var out = [dims[0]]
            for (d, factor) in factors.enumerated() {
                guard let size = dims[d + 1].fixedValue else { throw TypeError(op: name, "spatial dimension \(d + 1) of \(inputs[0]) must be known") }
                out.append(.fixed(size * factor))
            }
            out.append(dims[dims.count - 1])
            return [TensorType(inputs[0].dtype, Shape(out))]
        case .quantizeLinear(let axis), .dequantizeLinear(let axis):
            let quantize = if case .quantizeLinear = self { true } else { false }
            let x = inputs[0], scale = inputs[1], zeroPoint = inputs[2]
            guard scale.dtype == .float32, zeroPoint.shape == scale.shape, [.int8, .uint8, .int32].contains(zeroPoint.dtype),
                quantize ? x.dtype == .float32 && zeroPoint.dtype != .int32 : x.dtype == zeroPoint.dtype
            else {
                throw TypeError(op: name, "needs \(quantize ? "f32" : "i8/u8/i32") x, f32 scale and a zero point of the \(quantize ? "target" : "same") type shaped like scale, got \(inputs)")
            }
            if scale.shape.rank == 1 {
                let a = try normalizedAxis(axis, rank: x.shape.rank)
                guard scale.shape.dims[0] == x.shape.dims[a] else { throw TypeError(op: name, "\(scale) has no entry per index of axis \(axis) of \(x)") }
            } else if scale.shape.rank != 0 {
                throw TypeError(op: name, "scale must be a scalar or 1-D, got \(scale)")
            }
            return [TensorType(quantize ? zeroPoint.dtype : .float32, x.shape)]
        case .gather(let axis):
            let data = inputs[0].shape.dims, indices = inputs[1]
            guard indices.dtype == .int32 || indices.dtype == .int64 else {
                throw TypeError(op: name, "indices must be i32 or i64, got \(indices)")
            }
            let axis = try normalizedAxis(axis, rank: data.count)
            guard data[axis].fixedValue != nil else { throw TypeError(op: name, "the gathered dimension of \(inputs[0]) must be known") }
            return [TensorType(inputs[0].dtype, Shape(Array(data[..<axis]) + indices.shape.dims + Array(data[(axis + 1)...])))]
        }
    }

    private func inferConv(_ inputs: [TensorType], _ c: Convolution) throws(TypeError) -> TensorType {
        for input in inputs { try requireFloat(input) }
        let x = inputs[0].shape.dims, w = inputs[1].shape.dims
        let spatial = x.count - 2
        guard spatial >= 1, w.count == spatial + 2, c.strides.count == spatial, c.dilations.count == spatial,
            c.pads.count == 2 * spatial, c.groups >= 1
        else {
            throw TypeError(op: name, "input \(inputs[0]), kernel \(inputs[1]) and attributes do not agree on the spatial rank")
        }
        guard let cin = x[spatial + 1].fixedValue, let kernelIn = w[spatial].fixedValue, let cout = w[spatial + 1].fixedValue,
            cin % c.groups == 0, kernelIn == cin / c.groups, cout % c.groups == 0
        else {
            throw TypeError(op: name, "kernel \(inputs[1]) does not fit \(inputs[0]) with \(c.groups) groups")
        }
        if inputs.count == 3 && inputs[2].shape != Shape([.fixed(cout)]) {
            throw TypeError(op: name, "bias must be [\(cout)], got \(inputs[2])")
        }
        var out = [x[0]]
        for d in 0..<spatial {
            guard let k = w[d].fixedValue else { throw TypeError(op: name, "kernel size must be known") }
            let effective = c.dilations[d] * (k - 1) + 1
            out.append(try windowed(x[d + 1], window: effective, stride: c.strides[d], padBegin: c.pads[d], padEnd: c.pads[spatial + d]))
        }
        return TensorType(inputs[0].dtype, Shape(out + [.fixed(cout)]))
    }

    /// The output length of a sliding window: floor((size + pads - window) / stride) + 1.
    private func windowed(_ dim: Dim, window: Int, stride: Int, padBegin: Int, padEnd: Int) throws(TypeError) -> Dim {
        guard let size = dim.fixedValue else { throw TypeError(op: name, "spatial dimensions must be known") }
        guard stride >= 1, window >= 1, size + padBegin + padEnd >= window else {
            throw TypeError(op: name, "a window of \(window) (stride \(stride)) does not fit a dimension of \(size) with padding \(padBegin)+\(padEnd)")
        }
        return .fixed((size + padBegin + padEnd - window) / stride + 1)
    }

    private func requireFloat(_ type: TensorType) throws(TypeError) {
        guard type.dtype == .float32 else { throw TypeError(op: name, "needs f32 input, got \(type)") }
    }

    private func normalizedAxis(_ axis: Int, rank: Int) throws(TypeError) -> Int {
        let normalized = axis < 0 ? axis + rank : axis
        guard (0..<rank).contains(normalized) else { throw TypeError(op: name, "axis \(axis) out of range for rank \(rank)") }
        return normalized
    }

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

    private func inferReshape(_ input: Shape, _ target: [Int]) throws(TypeError) -> Shape {
        guard target.filter({ $0 == -1 }).count <= 1, target.allSatisfy({ $0 >= -1 }) else {
            throw TypeError(op: name, "shape \(target) may hold one -1 and no other negative entry")
        }
        var dims: [Dim] = []
        for (i, size) in target.enumerated() {
            if size == 0 {
                guard i < input.rank else { throw TypeError(op: name, "0 at position \(i) but input \(input) has rank \(input.rank)") }
                dims.append(input.dims[i])
            } else {
                dims.append(.fixed(size))
            }
        }
        // Count the input's factors and the target's known factors; what is left is the -1 entry.
        var symbols = input.dims.compactMap { if case .symbolic(let s) = $0 { s } else { nil } }
        let inputFixed = input.dims.compactMap(\.fixedValue).reduce(1, *)
        var targetFixed = 1
        for (i, dim) in dims.enumerated() where target[i] != -1 {
            switch dim {
            case .fixed(let size): targetFixed *= size
            case .symbolic(let s):
                guard let index = symbols.firstIndex(of: s) else { throw TypeError(op: name, "cannot reshape \(input) to \(target)") }
                symbols.remove(at: index)
            }
        }
        if let hole = target.firstIndex(of: -1) {
            guard targetFixed > 0, inputFixed % targetFixed == 0 else {
                throw TypeError(op: name, "cannot reshape \(input) to \(target)")
            }
            let ratio = inputFixed / targetFixed
            if symbols.isEmpty {
                dims[hole] = .fixed(ratio)
            } else if symbols.count == 1 && ratio == 1 {
                dims[hole] = .symbolic(symbols[0])
            } else {
                throw TypeError(op: name, "cannot infer the -1 in \(target) from \(input)")
            }
        } else {
            guard symbols.isEmpty, inputFixed == targetFixed else {
                throw TypeError(op: name, "cannot reshape \(input) (\(input.elementCount.map(String.init) ?? "symbolic") elements) to \(target)")
            }
        }
        return Shape(dims)
    }
}

/// The product of some dimensions: fixed if all are, the symbol if exactly one is symbolic and the rest
/// multiply to 1, otherwise nil.
func product(_ dims: ArraySlice<Dim>) -> Dim? {
    var fixed = 1
    var symbol: String?
    for dim in dims {
        switch dim {
        case .fixed(let size): fixed *= size
        case .symbolic(let name):
            if symbol != nil { return nil }
            symbol = name
        }
    }
    guard let symbol else { return .fixed(fixed) }
    return fixed == 1 ? .symbolic(symbol) : nil
}
