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
        case .add, .sub, .mul, .div:
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
        }
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
