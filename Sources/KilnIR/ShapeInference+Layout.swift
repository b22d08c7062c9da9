/// Types of the ops that move, join, pad or pick elements without arithmetic: Flatten, Reshape, Concat, Pad,
/// Crop, Slice and Gather. Symbolic dimensions (the batch) survive where their position is unambiguous.
extension Op {
    /// Dimensions before `axis` become the first output dimension and the rest the second; each side may
    /// hold at most one symbolic dimension, which then is that side's size.
    func inferFlatten(_ input: TensorType, axis: Int) throws(TypeError) -> TensorType {
        let dims = input.shape.dims
        guard (0...dims.count).contains(axis) else { throw TypeError(op: name, "axis \(axis) out of range for \(input)") }
        guard let outer = try product(dims[..<axis]), let inner = try product(dims[axis...]) else {
            throw TypeError(op: name, "cannot flatten \(input): more than one symbolic dimension on one side")
        }
        return TensorType(input.dtype, Shape([outer, inner]))
    }

    /// A 0 copies the input's dimension at its position; the one -1 takes what is left of the input's
    /// elements, which may be the input's only symbolic dimension.
    func inferReshape(_ input: Shape, _ target: [Int]) throws(TypeError) -> Shape {
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
        guard let inputFixed = CheckedArithmetic.product(input.dims.compactMap(\.fixedValue)) else {
            throw overflow("the element count of \(input)")
        }
        var targetFixed = 1
        for (i, dim) in dims.enumerated() where target[i] != -1 {
            switch dim {
            case .fixed(let size): targetFixed = try multiply(targetFixed, size, "the element count of shape \(target)")
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
                throw TypeError(
                    op: name, "cannot reshape \(input) (\(input.elementCount.map(String.init) ?? "symbolic") elements) to \(target)")
            }
        }
        return Shape(dims)
    }

    /// The inputs agree in type and in every dimension but `axis`, whose sizes must be known to be summed.
    func inferConcat(_ inputs: [TensorType], axis: Int) throws(TypeError) -> TensorType {
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
            total = try add(total, size, "the concatenated length along axis \(axis)")
        }
        var dims = first.shape.dims
        dims[a] = .fixed(total)
        return TensorType(first.dtype, Shape(dims))
    }

    /// Each padded dimension grows by its two pads; a symbolic one may only be left unpadded.
    func inferPad(_ input: TensorType, _ pads: [Int]) throws(TypeError) -> TensorType {
        let dims = input.shape.dims
        guard pads.count == 2 * dims.count, pads.allSatisfy({ $0 >= 0 }) else {
            throw TypeError(op: name, "needs \(2 * dims.count) non-negative pads for \(input), got \(pads)")
        }
        var out: [Dim] = []
        for (d, dim) in dims.enumerated() {
            let extra = try add(pads[d], pads[dims.count + d], "the padding of dimension \(d)")
            if extra == 0 {
                out.append(dim)
            } else if let size = dim.fixedValue {
                out.append(.fixed(try add(size, extra, "dimension \(d) (\(size)) with its padding")))
            } else {
                throw TypeError(op: name, "cannot pad the symbolic dimension of \(input)")
            }
        }
        return TensorType(input.dtype, Shape(out))
    }

    /// Each cropped dimension shrinks by its two amounts and must keep at least one element; a symbolic one
    /// may only be left whole.
    func inferCrop(_ input: TensorType, _ pads: [Int]) throws(TypeError) -> TensorType {
        let dims = input.shape.dims
        guard pads.count == 2 * dims.count, pads.allSatisfy({ $0 >= 0 }) else {
            throw TypeError(op: name, "needs \(2 * dims.count) non-negative amounts for \(input), got \(pads)")
        }
        var out: [Dim] = []
        for (d, dim) in dims.enumerated() {
            let removed = try add(pads[d], pads[dims.count + d], "the amount cropped from dimension \(d)")
            if removed == 0 {
                out.append(dim)
            } else if let size = dim.fixedValue, size > removed {
                out.append(.fixed(size - removed))
            } else {
                throw TypeError(op: name, "cannot remove \(removed) elements from dimension \(d) of \(input)")
            }
        }
        return TensorType(input.dtype, Shape(out))
    }

    /// Each sliced axis (named once, of known size) keeps the elements ONNX Slice picks, at least one.
    func inferSlice(_ input: TensorType, axes: [Int], starts: [Int], ends: [Int], steps: [Int]) throws(TypeError) -> TensorType {
        guard starts.count == axes.count, ends.count == axes.count, steps.count == axes.count else {
            throw TypeError(
                op: name,
                "needs one start, end and step per axis, got \(axes.count) axes, \(starts.count) starts, \(ends.count) ends, \(steps.count) steps"
            )
        }
        var dims = input.shape.dims
        var seen = Set<Int>()
        for (i, axis) in axes.enumerated() {
            let a = try normalizedAxis(axis, rank: dims.count)
            guard seen.insert(a).inserted else { throw TypeError(op: name, "axis \(axis) is named twice") }
            guard let size = dims[a].fixedValue else { throw TypeError(op: name, "cannot slice the symbolic dimension of \(input)") }
            guard steps[i] != 0 else { throw TypeError(op: name, "the step of axis \(axis) is 0") }
            let count = SliceRange(start: starts[i], end: ends[i], step: steps[i], size: size).count
            guard count > 0 else {
                throw TypeError(
                    op: name, "axis \(axis) of \(input) keeps no element (start \(starts[i]), end \(ends[i]), step \(steps[i]))")
            }
            dims[a] = .fixed(count)
        }
        return TensorType(input.dtype, Shape(dims))
    }

    /// data[..<axis] + indices + data[axis+1...]; the gathered dimension must be known so that indices can
    /// be checked against it.
    func inferGather(_ data: TensorType, indices: TensorType, axis: Int) throws(TypeError) -> TensorType {
        let dims = data.shape.dims
        guard indices.dtype == .int32 || indices.dtype == .int64 else {
            throw TypeError(op: name, "indices must be i32 or i64, got \(indices)")
        }
        let axis = try normalizedAxis(axis, rank: dims.count)
        guard dims[axis].fixedValue != nil else { throw TypeError(op: name, "the gathered dimension of \(data) must be known") }
        return TensorType(data.dtype, Shape(Array(dims[..<axis]) + indices.shape.dims + Array(dims[(axis + 1)...])))
    }
}

extension Op {
    /// The product of some dimensions: fixed if all are, the symbol if exactly one is symbolic and the rest
    /// multiply to 1, otherwise nil; a `TypeError` when the fixed ones overflow.
    func product(_ dims: ArraySlice<Dim>) throws(TypeError) -> Dim? {
        var fixed = 1
        var symbol: String?
        for dim in dims {
            switch dim {
            case .fixed(let size): fixed = try multiply(fixed, size, "the product of dimensions \(Shape(Array(dims)))")
            case .symbolic(let name):
                if symbol != nil { return nil }
                symbol = name
            }
        }
        guard let symbol else { return .fixed(fixed) }
        return fixed == 1 ? .symbolic(symbol) : nil
    }
}

/// The elements ONNX Slice takes along one axis of `size` elements: `count` of them, the first at `first`, then
/// every `step`.
public struct SliceRange: Hashable, Sendable {
    public var first: Int
    public var step: Int
    public var count: Int

    /// Resolves a start, end and (nonzero) step as ONNX Slice does: negative positions count from the end,
    /// then clamping to [0, size] for a positive step, to [0, size - 1] (start) and [-1, size - 1] (end) for a
    /// negative one.
    public init(start: Int, end: Int, step: Int, size: Int) {
        func resolved(_ position: Int) -> Int { position < 0 ? (position < -size ? -size - 1 : position) + size : position }
        var first = resolved(start), last = resolved(end)
        if step > 0 {
            first = Swift.min(Swift.max(first, 0), size)
            last = Swift.min(Swift.max(last, 0), size)
            count = last > first ? (last - first - 1) / step + 1 : 0
        } else {
            first = Swift.min(Swift.max(first, 0), size - 1)
            last = Swift.min(Swift.max(last, -1), size - 1)
            let magnitude = step == Int.min ? Int.max : -step
            count = first > last ? (first - last - 1) / magnitude + 1 : 0
        }
        self.first = first
        self.step = step
    }
}
