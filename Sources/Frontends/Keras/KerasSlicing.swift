import KilnIR

/// `x[...]` on a Keras tensor: Keras 2's SlicingOpLambda (`slice_spec`) and Keras 3's GetItem (its key), with
/// NumPy's basic indexing as TensorFlow's strided slices compute it: whole-number indices drop their dimension,
/// slices `start:stop:step` (negative steps too) keep what Python's `slice.indices` picks, `None` inserts a
/// dimension of size 1 and one `...` stands for every dimension the rest does not name.
extension KerasLowering {
    /// One entry of the key.
    enum SliceItem: Equatable {
        case index(Int)
        case range(start: Int?, stop: Int?, step: Int?)
        case newAxis
        case ellipsis
    }

    /// A Slice of the known dimensions the key narrows, then a Reshape where indices drop dimensions or `None`
    /// inserts them. The batch may only be taken whole.
    mutating func getItem(_ x: String, key: CallValue, _ op: OpCall) throws(KerasImportError) -> String {
        let items = try sliceItems(key, op)
        let dims = types[x]!.shape.dims
        let named = items.filter { $0 != .newAxis && $0 != .ellipsis }.count
        guard items.filter({ $0 == .ellipsis }).count <= 1, named <= dims.count else {
            throw opError(op, "the key names \(named) dimensions of \(types[x]!)\(named <= dims.count ? " with more than one '...'" : "")")
        }
        let whole = SliceItem.range(start: nil, stop: nil, step: nil)
        var expanded: [SliceItem] = []
        for item in items {
            if item == .ellipsis { expanded += Array(repeating: whole, count: dims.count - named) } else { expanded.append(item) }
        }
        if !items.contains(.ellipsis) { expanded += Array(repeating: whole, count: dims.count - named) }

        var axes: [Int] = [], starts: [Int] = [], ends: [Int] = [], steps: [Int] = []
        var result: [Dim] = []
        var axis = 0
        for item in expanded {
            if item == .newAxis {
                result.append(.fixed(1))
                continue
            }
            defer { axis += 1 }
            guard let size = dims[axis].fixedValue else {
                guard item == whole || item == .range(start: nil, stop: nil, step: 1) else {
                    throw opError(op, "slicing the batch dimension of \(types[x]!) is not supported")
                }
                result.append(dims[axis])
                continue
            }
            let picked: (first: Int, step: Int, count: Int)
            switch item {
            case .index(let index):
                let position = index < 0 ? index + size : index
                guard (0..<size).contains(position) else {
                    throw opError(op, "index \(index) is out of range for dimension \(axis) of \(types[x]!)")
                }
                picked = (position, 1, 1)
            case .range(let start, let stop, let step):
                picked = try pythonSlice(start: start, stop: stop, step: step ?? 1, size: size, op)
                guard picked.count > 0 else { throw opError(op, "the slice of dimension \(axis) of \(types[x]!) is empty") }
                result.append(.fixed(picked.count))
            case .newAxis, .ellipsis:
                continue
            }
            guard picked != (0, 1, size) else { continue }
            // ONNX Slice's end one step past the last element; before the first element it is -(size + 1).
            let end = picked.first + picked.count * picked.step
            axes.append(axis)
            starts.append(picked.first)
            ends.append(end < 0 ? -size - 1 : end)
            steps.append(picked.step)
        }
        let reshaped = result != dims
        var value = x
        if !axes.isEmpty {
            value = try emit(
                .slice(axes: axes, starts: starts, ends: ends, steps: steps), [x], name: reshaped ? "\(op.base).slice" : op.base,
                node: op.layer.name)
        }
        if reshaped { value = try reshape(value, to: result, name: op.base, op) }
        return value
    }

    /// The positions Python's `slice(start, stop, step).indices(size)` gives, as a first one, a step and a count.
    private func pythonSlice(start: Int?, stop: Int?, step: Int, size: Int, _ op: OpCall) throws(KerasImportError) -> (
        first: Int, step: Int, count: Int
    ) {
        guard step != 0 else { throw opError(op, "a slice step is 0") }
        func resolved(_ position: Int?, default fallback: Int, low: Int, high: Int) -> Int {
            guard var position else { return fallback }
            if position < 0 { position += size }
            return min(max(position, low), high)
        }
        if step > 0 {
            let first = resolved(start, default: 0, low: 0, high: size), last = resolved(stop, default: size, low: 0, high: size)
            return (first, step, last > first ? (last - first - 1) / step + 1 : 0)
        }
        let first = resolved(start, default: size - 1, low: -1, high: size - 1), last = resolved(stop, default: -1, low: -1, high: size - 1)
        return (first, step, first > last ? (first - last - 1) / -step + 1 : 0)
    }

    /// The key's entries: Keras 2 writes slices as `{start, stop, step}` and `...` as `{"class_name": "__ellipsis__"}`,
    /// Keras 3 as `{"class_name": "__slice__", "config": {start, stop, step}}` and `__ellipsis__`; both write
    /// `None` as null and a tuple as a list.
    private func sliceItems(_ key: CallValue, _ op: OpCall) throws(KerasImportError) -> [SliceItem] {
        let entries: [CallValue]
        if case .list(let list) = key { entries = list } else { entries = [key] }
        var items: [SliceItem] = []
        for entry in entries {
            func bound(_ name: String, in fields: [String: CallValue]) throws(KerasImportError) -> Int? {
                guard let value = fields[name], value != .constant(.null) else { return nil }
                guard let int = value.json?.int else {
                    throw opError(op, "slice bounds must be whole numbers, got \(value.json.map { "\($0)" } ?? "a tensor")")
                }
                return int
            }
            switch entry {
            case .constant(.null):
                items.append(.newAxis)
            case .constant(let json) where json.int != nil:
                items.append(.index(json.int!))
            case .dict(let fields):
                let className = fields["class_name"]?.json?.string
                if className == "__ellipsis__" {
                    items.append(.ellipsis)
                } else if className == "__slice__", case .dict(let config) = fields["config"] {
                    items.append(
                        .range(
                            start: try bound("start", in: config), stop: try bound("stop", in: config), step: try bound("step", in: config))
                    )
                } else if className == nil, fields.keys.allSatisfy(["start", "stop", "step"].contains) {
                    items.append(
                        .range(
                            start: try bound("start", in: fields), stop: try bound("stop", in: fields), step: try bound("step", in: fields))
                    )
                } else {
                    throw opError(op, "indexing with \(entry.json.map { "\($0)" } ?? "a tensor") is not supported")
                }
            case .tensor:
                throw opError(op, "indexing with a tensor is not supported; Kiln reads constant indices and slices")
            case .constant, .list:
                throw opError(
                    op,
                    "indexing with \(entry.json.map { "\($0)" } ?? "a tensor") is not supported; Kiln reads whole numbers, slices, None and ..."
                )
            }
        }
        return items
    }
}
