import KilnIR

/// Lowers op layers, each as TensorFlow (Keras 2) or `keras.ops` on the TensorFlow backend (Keras 3) computes
/// it: a constant operand takes the type of the tensor it meets (`x + 2`, `tokens != 0`), settings are constants.
extension KerasLowering {
    /// One call of an op layer, with the values its tensor arguments have in the graph.
    struct OpCall {
        let layer: LayerSpec
        let function: OpFunction
        var arguments: OpArguments
        let values: [TensorRef: String]
        let base: String
    }

    mutating func lowerOpLayer(_ layer: LayerSpec, call: CallArguments, values: [TensorRef: String], base: String) throws(KerasImportError)
        -> String
    {
        guard let function = Self.opFunction(of: layer) else {
            throw .unsupportedLayers(
                file: file,
                [
                    UnsupportedLayerClass(
                        className: layer.className, layers: [layer.name], module: layer.module, function: Self.functionName(of: layer))
                ],
                supported: Self.supportedLayers)
        }
        var op = OpCall(
            layer: layer, function: function, arguments: OpArguments(call, config: layer.config, isKeras2: kerasMajorVersion < 3),
            values: values, base: base)
        let result = try lower(&op)
        if let unread = op.arguments.unread() { throw opError(op, "\(unread) is not supported") }
        return result
    }

    func opError(_ op: OpCall, _ reason: String) -> KerasImportError {
        .unsupportedConfig(
            file: file, layer: op.layer.name, className: "\(op.layer.className) calling \(Self.functionName(of: op.layer))", reason: reason)
    }

    private mutating func lower(_ op: inout OpCall) throws(KerasImportError) -> String {
        let name = op.base, node = op.layer.name
        switch op.function {
        case .binary(let binary):
            let (a, b) = try operands(&op, first: "x", second: "y")
            guard types[a]!.dtype == .float32 else {
                throw opError(op, "arithmetic on \(types[a]!) is not supported; Kiln computes it on f32")
            }
            return try emit(.binary(binary), [a, b], name: name, node: node)
        case .compare(let comparison):
            let (a, b) = try operands(&op, first: "x", second: "y")
            return try emit(.compare(comparison), [a, b], name: name, node: node)
        case .unary(let activation):
            let x = try floatTensor(&op, 0, "x")
            return try emit(.activation(activation), [x], name: name, node: node)
        case .rsqrt:
            let x = try floatTensor(&op, 0, "x")
            let root = try emit(.activation(.sqrt), [x], name: "\(name).sqrt", node: node)
            return try emit(.activation(.reciprocal), [root], name: name, node: node)
        case .square:
            // TensorFlow's square is x * x.
            let x = try floatTensor(&op, 0, "x")
            return try emit(.binary(.mul), [x, x], name: name, node: node)
        case .silu:
            let x = try floatTensor(&op, 0, "features")
            guard try float(op, op.arguments.setting("beta"), "beta") ?? 1 == 1 else {
                throw opError(op, "a beta other than 1 is not supported")
            }
            return try emit(.activation(.swish), [x], name: name, node: node)
        case .elu:
            let x = try floatTensor(&op, 0, "features")
            let alpha = try float(op, op.arguments.setting("alpha"), "alpha") ?? 1
            return try emit(.activation(.elu(alpha: alpha)), [x], name: name, node: node)
        case .leakyRelu:
            let x = try floatTensor(&op, 0, "features")
            let slope = try float(op, op.arguments.setting("alpha", "negative_slope"), "alpha") ?? 0.2
            return try emit(.activation(.leakyRelu(alpha: slope)), [x], name: name, node: node)
        case .gelu:
            let x = try floatTensor(&op, 0, "features")
            // keras.ops.gelu approximates by default, tf.nn.gelu does not.
            let approximate = try bool(op, op.arguments.setting("approximate"), "approximate") ?? !op.arguments.isKeras2
            return try emit(.activation(.gelu(approximate: approximate)), [x], name: name, node: node)
        case .softmax:
            let x = try floatTensor(&op, 0, "logits")
            let axes = try ints(op, op.arguments.setting("axis", "dim"), "axis") ?? [-1]
            if axes.count == 1 { return try emit(.softmax(axis: axes[0]), [x], name: name, node: node) }
            let settings = LayerConfig(.object(["axis": .array(axes.map { .number(Double($0)) })]), of: op.layer, file: file)
            return try softmax(op.layer, x, axes: try settings.axes("axis", rank: types[x]!.shape.rank, default: [-1]), base: name)
        case .relu:
            let x = try floatTensor(&op, 0, "x")
            var settings: [String: JSON] = [:]
            for key in ["negative_slope", "max_value", "threshold"] { settings[key] = op.arguments.setting(key)?.json ?? .null }
            return try relu(LayerConfig(.object(settings), of: op.layer, file: file), x, base: name, layer: op.layer)
        case .reshape:
            let x = try tensor(&op, 0, "tensor")
            guard let shape = try ints(op, op.arguments.setting("shape", "newshape"), "shape") else { throw opError(op, "needs a shape") }
            guard !shape.contains(0) else { throw opError(op, "a shape with a 0 (an empty tensor) is not supported") }
            return try emit(.reshape(shape: shape), [x], name: name, node: node)
        case .transpose:
            let x = try tensor(&op, 0, "a")
            let rank = types[x]!.shape.rank
            guard try bool(op, op.arguments.setting("conjugate"), "conjugate") != true else {
                throw opError(op, "conjugate is not supported")
            }
            let perm = try ints(op, op.arguments.setting("perm", "axes"), "perm") ?? Array((0..<rank).reversed())
            return try emit(.transpose(perm: perm.map { $0 < 0 ? $0 + rank : $0 }), [x], name: name, node: node)
        case .concat:
            let values = try tensorList(&op, "values")
            let axis = try int(op, op.arguments.setting("axis"), "axis") ?? 0
            return try emit(.concat(axis: axis), values, name: name, node: node)
        case .stack:
            let values = try tensorList(&op, "values")
            let axis = try int(op, op.arguments.setting("axis"), "axis") ?? 0
            var expanded: [String] = []
            for (index, value) in values.enumerated() {
                expanded.append(try expandDims(value, axes: [axis], name: "\(name).\(index)", op))
            }
            return try emit(.concat(axis: axis < 0 ? axis + types[values[0]]!.shape.rank + 1 : axis), expanded, name: name, node: node)
        case .expandDims:
            let x = try tensor(&op, 0, "input")
            guard let axes = try ints(op, op.arguments.setting("axis"), "axis") else { throw opError(op, "needs an axis") }
            return try expandDims(x, axes: axes, name: name, op)
        case .squeeze:
            let x = try tensor(&op, 0, "input")
            let dims = types[x]!.shape.dims
            let given = try ints(op, op.arguments.setting("axis", "squeeze_dims"), "axis")
            // Without axes TensorFlow drops every dimension of size 1, the batch too when it is 1 at run time;
            // Kiln drops the known ones.
            let axes = given.map { $0.map { $0 < 0 ? $0 + dims.count : $0 } } ?? dims.indices.filter { dims[$0] == .fixed(1) }
            for axis in axes where !dims.indices.contains(axis) || dims[axis] != .fixed(1) {
                throw opError(op, "cannot squeeze axis \(axis) of \(types[x]!): it is not of size 1")
            }
            return try reshape(x, to: dims.indices.filter { !axes.contains($0) }.map { dims[$0] }, name: name, op)
        case .getItem:
            let x = try tensor(&op, 0, "tensor")
            guard let key = op.arguments.operand(1, "slice_spec") else { throw opError(op, "needs a slice") }
            return try getItem(x, key: key, op)
        case .reduce(let reduction):
            let x = try tensor(&op, 0, "input_tensor")
            let rank = types[x]!.shape.rank
            let axes = try ints(op, op.arguments.setting("axis", "reduction_indices"), "axis") ?? Array(0..<rank)
            let keepDims = try bool(op, op.arguments.setting("keepdims", "keep_dims"), "keepdims") ?? false
            if let initial = op.arguments.setting("initial"), initial != .constant(.null) {
                throw opError(op, "an initial value is not supported")
            }
            if axes.isEmpty { return try emit(.identity, [x], name: name, node: node) }
            return try emit(.reduce(reduction, axes: axes, keepDims: keepDims), [x], name: name, node: node)
        case .any:
            // any(x) = max(cast(x, f32)) > 0 over the axes.
            let x = try tensor(&op, 0, "input_tensor")
            let rank = types[x]!.shape.rank
            let axes = try ints(op, op.arguments.setting("axis", "reduction_indices"), "axis") ?? Array(0..<rank)
            let keepDims = try bool(op, op.arguments.setting("keepdims", "keep_dims"), "keepdims") ?? false
            guard types[x]!.dtype == .bool else { throw opError(op, "reads bool tensors only, got \(types[x]!)") }
            if axes.isEmpty { return try emit(.identity, [x], name: name, node: node) }
            let floats = try emit(.cast(to: .float32), [x], name: "\(name).f32", node: node)
            let largest = try emit(
                .reduce(.max, axes: axes.map { $0 < 0 ? $0 + rank : $0 }, keepDims: keepDims), [floats], name: "\(name).max", node: node)
            let zero = addConstant("\(name).zero", Tensor(shape: [], floats: [0]))
            return try emit(.compare(.greater), [largest, zero], name: name, node: node)
        case .matMul:
            return try matMul(&op)
        case .clip:
            return try clip(&op)
        case .cast:
            let x = try tensor(&op, 0, "x")
            guard let dtypeName = op.arguments.setting("dtype")?.json?.string else { throw opError(op, "needs a dtype") }
            let dtypes: [String: DType] = ["float32": .float32, "int32": .int32, "int64": .int64, "bool": .bool]
            guard let dtype = dtypes[dtypeName] else {
                throw opError(op, "a cast to \(dtypeName) is not supported; Kiln computes float32, int32, int64 and bool")
            }
            return try emit(.cast(to: dtype), [x], name: name, node: node)
        }
    }

    // MARK: - Functions of several nodes

    /// tf.linalg.matmul (with transpose_a/transpose_b or their adjoint_ twins) and keras.ops.matmul.
    private mutating func matMul(_ op: inout OpCall) throws(KerasImportError) -> String {
        var (a, b) = try operands(&op, first: "a", second: "b")
        for (index, flags) in [["transpose_a", "adjoint_a"], ["transpose_b", "adjoint_b"]].enumerated() {
            var transposed = false
            for flag in flags { transposed = try bool(op, op.arguments.setting(flag), flag) ?? false || transposed }
            guard transposed else { continue }
            let operand = index == 0 ? a : b
            let rank = types[operand]!.shape.rank
            guard rank >= 2 else { throw opError(op, "cannot transpose \(types[operand]!)") }
            let moved = try emit(
                .transpose(perm: Array(0..<(rank - 2)) + [rank - 1, rank - 2]), [operand], name: "\(op.base).\(index == 0 ? "a" : "b")_t",
                node: op.layer.name)
            if index == 0 { a = moved } else { b = moved }
        }
        for hint in ["a_is_sparse", "b_is_sparse"] { _ = op.arguments.setting(hint) }
        if let outputType = op.arguments.setting("output_type"), outputType != .constant(.null) {
            throw opError(op, "output_type is not supported")
        }
        return try emit(.matMul, [a, b], name: op.base, node: op.layer.name)
    }

    /// tf.clip_by_value and keras.ops.clip: min(x, high), then max(that, low), as TensorFlow computes it.
    private mutating func clip(_ op: inout OpCall) throws(KerasImportError) -> String {
        let x = try floatTensor(&op, 0, "t")
        guard let low = op.arguments.setting("clip_value_min", "x_min"), let high = op.arguments.setting("clip_value_max", "x_max") else {
            throw opError(op, "needs both bounds")
        }
        if let lower = low.json?.double, let upper = high.json?.double, lower <= upper {
            return try emit(.activation(.clip(min: Float(lower), max: Float(upper))), [x], name: op.base, node: op.layer.name)
        }
        let upper = try operand(&op, high, like: x, role: "max")
        let below = try emit(.binary(.min), [x, upper], name: "\(op.base).max", node: op.layer.name)
        let lower = try operand(&op, low, like: x, role: "min")
        return try emit(.binary(.max), [below, lower], name: op.base, node: op.layer.name)
    }

    /// Inserts dimensions of size 1 at `axes`, counted in the result (as NumPy and TensorFlow do).
    mutating func expandDims(_ x: String, axes: [Int], name: String, _ op: OpCall) throws(KerasImportError) -> String {
        var dims = types[x]!.shape.dims
        let rank = dims.count + axes.count
        let positions = axes.map { $0 < 0 ? $0 + rank : $0 }.sorted()
        guard positions.allSatisfy({ (0..<rank).contains($0) }), Set(positions).count == positions.count else {
            throw opError(op, "axis \(axes) is out of range for \(types[x]!)")
        }
        for position in positions { dims.insert(.fixed(1), at: position) }
        return try reshape(x, to: dims, name: name, op)
    }

    /// A Reshape to `dims`, whose one symbolic dimension (the batch) is the Reshape's -1.
    mutating func reshape(_ x: String, to dims: [Dim], name: String, _ op: OpCall) throws(KerasImportError) -> String {
        guard dims.filter({ $0.fixedValue == nil }).count <= 1 else { throw opError(op, "cannot reshape \(types[x]!) to \(Shape(dims))") }
        return try emit(.reshape(shape: dims.map { $0.fixedValue ?? -1 }), [x], name: name, node: op.layer.name)
    }

    // MARK: - Arguments

    /// A tensor operand.
    private func tensor(_ op: inout OpCall, _ position: Int, _ name: String) throws(KerasImportError) -> String {
        guard let value = op.arguments.operand(position, name) else { throw opError(op, "needs the argument '\(name)'") }
        guard case .tensor(let ref) = value, let tensor = op.values[ref] else {
            throw opError(op, "its argument '\(name)' is a constant; Kiln reads op layers on tensors")
        }
        return tensor
    }

    private func floatTensor(_ op: inout OpCall, _ position: Int, _ name: String) throws(KerasImportError) -> String {
        let x = try tensor(&op, position, name)
        guard types[x]!.dtype == .float32 else { throw opError(op, "needs f32 input, got \(types[x]!)") }
        return x
    }

    /// The tensors of a list argument (concat's and stack's values).
    private func tensorList(_ op: inout OpCall, _ name: String) throws(KerasImportError) -> [String] {
        guard case .list(let items) = op.arguments.operand(0, name), !items.isEmpty else { throw opError(op, "needs a list of tensors") }
        var values: [String] = []
        for item in items {
            guard case .tensor(let ref) = item, let value = op.values[ref] else { throw opError(op, "takes tensors only, not constants") }
            values.append(value)
        }
        return values
    }

    /// Two operands of an elementwise function, at least one a tensor; a constant takes the tensor's type.
    private mutating func operands(_ op: inout OpCall, first: String, second: String) throws(KerasImportError) -> (String, String) {
        guard let a = op.arguments.operand(0, first), let b = op.arguments.operand(1, second) else {
            throw opError(op, "needs two operands, '\(first)' and '\(second)'")
        }
        let tensors = [a, b].compactMap { value -> String? in
            if case .tensor(let ref) = value { return op.values[ref] }
            return nil
        }
        guard let like = tensors.first else { throw opError(op, "both operands are constants") }
        if tensors.count == 2, types[tensors[0]]!.dtype != types[tensors[1]]!.dtype {
            throw opError(op, "its operands have different types, \(types[tensors[0]]!) and \(types[tensors[1]]!)")
        }
        return (try operand(&op, a, like: like, role: first), try operand(&op, b, like: like, role: second))
    }

    /// A tensor's value, or a constant (a number or nested lists of numbers) of `like`'s element type.
    private mutating func operand(_ op: inout OpCall, _ value: CallValue, like: String, role: String) throws(KerasImportError) -> String {
        if case .tensor(let ref) = value, let tensor = op.values[ref] { return tensor }
        guard let json = value.json, let tensor = constantTensor(json, dtype: types[like]!.dtype) else {
            throw opError(op, "its argument '\(role)' is neither a tensor nor numbers Kiln can read as \(types[like]!.dtype.textName)")
        }
        return addConstant("\(op.base).\(role)", tensor)
    }

    private func int(_ op: OpCall, _ value: CallValue?, _ name: String) throws(KerasImportError) -> Int? {
        guard let value, value != .constant(.null) else { return nil }
        guard let int = value.json?.int, Swift.abs(int) <= LayerConfig.maxSize else {
            throw opError(op, "'\(name)' must be a whole number from -2^31 to 2^31, got \(describe(value))")
        }
        return int
    }

    /// A whole number or a list of them.
    private func ints(_ op: OpCall, _ value: CallValue?, _ name: String) throws(KerasImportError) -> [Int]? {
        guard let value, value != .constant(.null) else { return nil }
        if let int = value.json?.int, Swift.abs(int) <= LayerConfig.maxSize { return [int] }
        guard let items = value.json?.array, case let ints = items.compactMap(\.int), ints.count == items.count,
            ints.allSatisfy({ Swift.abs($0) <= LayerConfig.maxSize })
        else {
            throw opError(op, "'\(name)' must be whole numbers from -2^31 to 2^31, got \(describe(value))")
        }
        return ints
    }

    private func float(_ op: OpCall, _ value: CallValue?, _ name: String) throws(KerasImportError) -> Float? {
        guard let value, value != .constant(.null) else { return nil }
        guard let number = value.json?.double else { throw opError(op, "'\(name)' must be a number, got \(describe(value))") }
        return Float(number)
    }

    private func bool(_ op: OpCall, _ value: CallValue?, _ name: String) throws(KerasImportError) -> Bool? {
        guard let value, value != .constant(.null) else { return nil }
        guard let flag = value.json?.bool else { throw opError(op, "'\(name)' must be true or false, got \(describe(value))") }
        return flag
    }

    private func describe(_ value: CallValue) -> String {
        if case .tensor(let ref) = value { return "the tensor of layer '\(ref.layer)' (Kiln needs a constant)" }
        return "\(value.json.map { "\($0)" } ?? "?")"
    }
}

/// A constant from JSON numbers (or bools) nested as lists, of `dtype`; nil when the lists are not rectangular
/// or a value does not fit the type (a fraction or an out-of-range number for an integer type).
func constantTensor(_ json: JSON, dtype: DType) -> Tensor? {
    var shape: [Int] = []
    var probe = json
    while let items = probe.array {
        shape.append(items.count)
        guard let first = items.first else { return nil }
        probe = first
    }
    var values: [Double] = []
    func collect(_ value: JSON, depth: Int) -> Bool {
        if depth == shape.count {
            if let number = value.double {
                values.append(number)
            } else if let flag = value.bool {
                values.append(flag ? 1 : 0)
            } else {
                return false
            }
            return true
        }
        guard let items = value.array, items.count == shape[depth] else { return false }
        return items.allSatisfy { collect($0, depth: depth + 1) }
    }
    guard collect(json, depth: 0) else { return nil }
    func whole(_ range: ClosedRange<Double>) -> Bool { values.allSatisfy { $0 == $0.rounded() && range.contains($0) } }
    switch dtype {
    case .float32: return Tensor(shape: shape, floats: values.map { Float($0) })
    case .int32: return whole(-2_147_483_648...2_147_483_647) ? Tensor(shape: shape, storage: .int32(values.map { Int32($0) })) : nil
    case .int64:
        return whole(-9_007_199_254_740_992...9_007_199_254_740_992) ? Tensor(shape: shape, storage: .int64(values.map { Int64($0) })) : nil
    case .bool: return values.allSatisfy({ $0 == 0 || $0 == 1 }) ? Tensor(shape: shape, storage: .bool(values.map { $0 != 0 })) : nil
    case .float16, .int8, .uint8: return nil
    }
}
