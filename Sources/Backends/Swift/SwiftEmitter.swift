import KilnIR

/// Generated Swift for one model: a source file declaring the executor type, and its weights file.
public struct SwiftEmission: Sendable {
    public var typeName: String
    public var source: String
    public var weights: [UInt8]
}

/// Why a graph could not be compiled to Swift.
public enum SwiftEmitError: Error, CustomStringConvertible {
    case unsupported(node: String, reason: String)
    case badTypeName(String, reason: String)

    public var description: String {
        switch self {
        case .unsupported(let node, let reason): "the Swift backend cannot compile '\(node)': \(reason)"
        case .badTypeName(let name, let reason):
            "'\(name)' cannot name the generated type: \(reason); choose another with --name"
        }
    }
}

/// Compiles a graph to a self-contained Swift executor: one `public final class` with `init(weightsAt:)`
/// and typed `predict` methods, depending only on the standard library and Foundation. Weights live in a
/// separate file (never in the source, so swiftc compiles it in seconds), matrix-product operands packed
/// in the panel layout of the kernels; activations live in one arena planned at generation time and
/// allocated once per batch size. An activation that only a matrix product reads is fused into the
/// product's epilogue.
public struct SwiftEmitter: Sendable {
    public init() {}

    /// Emits the source and weights of `graph`; `typeName` defaults to the graph name in UpperCamelCase.
    public func emit(_ graph: Graph, typeName: String? = nil) throws(SwiftEmitError) -> SwiftEmission {
        // DequantizeLinear of constants (int8 weights) runs once, at load: its values are stored as int8
        // and widened into the float weights the products read.
        let (graph, int8) = Self.loadTimeDequantization(graph)
        let typeName = typeName ?? Self.typeName(for: graph.name)
        if let problem = SwiftNames.problem(withTypeName: typeName) { throw .badTypeName(typeName, reason: problem) }

        for input in graph.inputs where ![.float32, .int32, .int64].contains(input.type.dtype) {
            throw .unsupported(node: input.name, reason: "input type \(input.type) is not supported; inputs must be f32, i32 or i64")
        }
        // Integer values are indices, held as whole-number floats: only shape-only ops, Slice, Casts, comparisons and
        // Gather's indices read them.
        let valueTypes = graph.valueTypes
        for node in graph.nodes {
            for (position, input) in node.inputs.enumerated() {
                guard let type = valueTypes[input], type.dtype == .int32 || type.dtype == .int64 else { continue }
                switch node.op {
                case .identity, .flatten, .reshape, .slice, .cast, .compare: continue
                case .gather where position == 1: continue
                default: throw .unsupported(node: node.name, reason: "\(node.op.name) reading the integer value %\(input)")
                }
            }
        }
        // The API takes and returns whole examples: the batch first; any other dimension known, or a size
        // the inputs define, which predict takes.
        let batch = SwiftPlan.batchSymbol(of: graph), sizeNames = SwiftPlan.sizeNames(of: graph).names
        for value in graph.inputs + graph.outputValues {
            let dims = value.type.shape.dims
            guard dims.first == .symbolic(batch),
                dims.dropFirst().allSatisfy({ dim in
                    if case .symbolic(let symbol) = dim { return symbol != batch && sizeNames[symbol] != nil }
                    return true
                })
            else {
                throw .unsupported(
                    node: value.name,
                    reason:
                        "\(value.type) needs the batch \(batch) as its first dimension and only sizes the inputs define after it, as the generated API takes whole examples"
                )
            }
        }
        for value in graph.outputValues where value.type.dtype != .float32 {
            throw .unsupported(node: value.name, reason: "output type \(value.type) is not supported; outputs must be f32")
        }
        // The kernels run the IR's fused epilogues (legalized by split-epilogues to `epilogueSupport`).
        let (nodes, epilogues) = try Self.productsAndEpilogues(graph)
        var fused = graph
        fused.nodes = nodes
        // Int8 constants are widened after the payload, whose size is known once everything is laid out.
        var layout = try layOutWeights(
            nodes, types: fused.valueTypes, constants: graph.constantsByName, int8: int8, outputs: graph.outputs, widenedBase: 0,
            sizeNames: sizeNames)
        if !layout.weights.widenings.isEmpty {
            layout = try layOutWeights(
                nodes, types: fused.valueTypes, constants: graph.constantsByName, int8: int8, outputs: graph.outputs,
                widenedBase: layout.weights.payloadEnd, sizeNames: sizeNames)
        }
        let types = fused.valueTypes, weights = layout.weights, scratch = layout.scratch
        let plan = try SwiftPlan(graph: fused, weightOffsets: layout.raw, scratch: scratch)
        var body = CodePrinter()
        var statics = CodePrinter()
        var sections: Set<SwiftKernels.Section> = []
        for (index, node) in nodes.enumerated() {
            try SwiftNodeEmitter(
                plan: plan, types: types, staticPrefix: "s\(index)", scratch: scratch[index] == nil ? nil : SwiftPlan.scratchName(index),
                affine: layout.affine[index], sparse: layout.sparse[index], int8Panels: layout.int8Panels[index],
                recurrent: layout.recurrent[index]
            ).emit(
                node, packedOffset: layout.packed[index], epilogue: epilogues[index], into: &body, statics: &statics, sections: &sections)
        }
        if !weights.widenings.isEmpty { sections.insert(.int8) }
        let file = SwiftFileWriter(
            graph: graph, typeName: typeName, plan: plan, weights: weights, body: body.text, statics: statics.text,
            kernels: SwiftKernels.source(for: sections))
        return SwiftEmission(typeName: typeName, source: file.source(), weights: weights.fileBytes(fingerprint: file.fingerprint))
    }

    /// Where every constant goes in the weights: B operands of matrix products packed in panels (or sparse),
    /// BatchNorm folded to a scale and shift, every other constant raw; int8 constants stored as int8 and
    /// widened at load to floats from `widenedBase` on.
    struct WeightsLayout {
        var weights = WeightsWriter()
        var packed: [Int: Int] = [:]
        var raw: [String: Int] = [:]
        var scratch: [Int: ElementCount] = [:]
        var affine: [Int: (scale: Int, shift: Int)] = [:]
        var sparse: [Int: (offset: Int, nonzeros: Int)] = [:]
        /// Products whose B is int8 panels: where those panels and their column scales are in the file.
        var int8Panels: [Int: Int8Panels] = [:]
        /// Recurrent ops: each direction's packed weights and folded biases.
        var recurrent: [Int: [RecurrentWeights]] = [:]
    }

    private func layOutWeights(
        _ nodes: [Node], types: [String: TensorType], constants: [String: Tensor], int8: [String: Int8Weights], outputs: [String],
        widenedBase: Int,
        sizeNames: [String: String]
    ) throws(SwiftEmitError) -> WeightsLayout {
        var layout = WeightsLayout()
        layout.weights.widenedBase = widenedBase
        var packings: [String: Int] = [:]
        var int8Packings: [String: (values: Int, scales: Int, widened: Int)] = [:]
        // Constants that feed a matrix product as B are stored packed; every other float constant raw.
        for (index, node) in nodes.enumerated() {
            if let (b, k, n, transposed) = try packedOperand(node, types, constants), Self.isMatrix(node.op),
                int8[node.inputs[1]] == nil, Self.storesSparse(b)
            {
                // A mostly zero B (a pruned Dense) is stored by column and read by the sparse kernel, which
                // transposes eight rows of A at a time into scratch.
                layout.sparse[index] = layout.weights.add(sparse: b, k: k, n: n, transposed: transposed)
                layout.scratch[index] = ElementCount(fixed: (k + n) * 8)
            } else if let (b, k, n, transposed) = try packedOperand(node, types, constants) {
                // A constant shared by several products is packed once per orientation.
                let key = "\(transposed) \(node.inputs[1])"
                if let weights = int8[node.inputs[1]], let scales = weights.columnScales(n: n, transposed: transposed) {
                    if int8Packings[key] == nil {
                        int8Packings[key] = layout.weights.add(packing: weights, columnScales: scales, k: k, n: n, transposed: transposed)
                    }
                    layout.packed[index] = int8Packings[key]!.widened
                    layout.int8Panels[index] = Int8Panels(
                        values: int8Packings[key]!.values, scales: int8Packings[key]!.scales,
                        inputScale: Self.dequantizedScale(of: node.inputs[0], nodes, constants))
                } else {
                    if packings[key] == nil { packings[key] = layout.weights.add(packing: b, k: k, n: n, transposed: transposed) }
                    layout.packed[index] = packings[key]
                }
            }
            if case .conv(let c) = node.op, c.groups == 1, !SwiftNodeEmitter.isPointwise(c, kernel: types[node.inputs[1]]!),
                !SwiftNodeEmitter.isDirect(c, kernel: types[node.inputs[1]]!)
            {
                // im2col columns: one row per output pixel, one column per (window position, input channel).
                let columns = types[node.inputs[1]]!.shape.fixedSizes!.dropLast().reduce(1, *)
                let pixels = try SwiftPlan.count(of: types[node.outputs[0].name]!, value: node.name, sizeNames: sizeNames)
                let cout = types[node.outputs[0].name]!.shape.dims.last!.fixedValue!
                layout.scratch[index] = ElementCount(coefficient: pixels.coefficient / cout * columns, scale: pixels.scale)
            }
            if case .recurrent(let r) = node.op {
                layout.recurrent[index] = try layout.weights.add(recurrent: r, node, types: types, constants: constants)
                // The input projection of every step: [batch * steps, gates * hidden].
                let y = try SwiftPlan.count(of: types[node.outputs[0].name]!, value: node.name, sizeNames: sizeNames)
                layout.scratch[index] = ElementCount(
                    coefficient: y.coefficient / (r.directions * r.hiddenSize) * r.gates * r.hiddenSize, scale: y.scale)
            }
            if case .batchNorm(let epsilon, _) = node.op {
                // Inference batch normalization is a per-channel scale and shift, computed here once.
                guard let gamma = constants[node.inputs[1]], let beta = constants[node.inputs[2]], let mean = constants[node.inputs[3]],
                    let variance = constants[node.inputs[4]]
                else { throw .unsupported(node: node.name, reason: "BatchNorm parameters must be constants") }
                let g = gamma.floats, b = beta.floats, m = mean.floats, v = variance.floats
                let scale = (0..<g.count).map { g[$0] / (v[$0] + epsilon).squareRoot() }
                let shift = (0..<g.count).map { b[$0] - m[$0] * scale[$0] }
                layout.affine[index] = (layout.weights.add(scale), layout.weights.add(shift))
            }
        }
        for (index, node) in nodes.enumerated() {
            for (position, input) in node.inputs.enumerated() where constants[input] != nil && layout.raw[input] == nil {
                if (layout.packed[index] != nil || layout.sparse[index] != nil) && position == 1 { continue }
                if layout.affine[index] != nil { continue }
                if layout.recurrent[index] != nil && (1...3).contains(position) { continue }
                // A Cast to f32 of a constant of another type is done here, once; a comparison reads integers as
                // the whole-number floats the executor holds them as.
                guard let tensor = constants[input],
                    tensor.dtype == .float32 || node.op == .cast(to: .float32) || Self.isQuantization(node.op)
                        || (Self.isComparison(node.op) && Self.isExactAsFloats(tensor))
                else {
                    throw .unsupported(node: node.name, reason: "constant %\(input) is \(constants[input]?.dtype.textName ?? "?"), not f32")
                }
                if let weights = int8[input] {
                    layout.raw[input] = layout.weights.add(widening: weights)
                } else {
                    layout.raw[input] = layout.weights.add(tensor.floats)
                }
            }
        }
        for output in outputs where constants[output] != nil && layout.raw[output] == nil {
            layout.raw[output] = layout.weights.add(constants[output]!.floats)
        }
        return layout
    }

    /// The scale of `value` when a DequantizeLinear of integers with one scale (a quantized activation)
    /// produced it, so a product can take its integers back exactly: `value / scale` rounded.
    private static func dequantizedScale(of value: String, _ nodes: [Node], _ constants: [String: Tensor]) -> Float? {
        guard let node = nodes.first(where: { $0.outputs[0].name == value }), case .dequantizeLinear = node.op,
            let scale = constants[node.inputs[1]], scale.count == 1, scale.dtype == .float32, scale.floats[0] > 0
        else { return nil }
        return scale.floats[0]
    }

    /// The default type name for a graph name: `mnist_mlp` -> `MnistMlp`, `3d-net` -> `Model3dNet`.
    public static func typeName(for name: String) -> String { SwiftNames.typeName(for: name) }

    /// The products and activations whose epilogues this backend's kernels apply: Conv, Gemm and MatMul
    /// with a result of rank 2 or more, any activation. Other epilogues must be split off first
    /// (the split-epilogues pass, in the Swift legalization pipeline).
    public static let epilogueSupport = EpilogueSupport(products: ["Conv", "Gemm", "MatMul"], minimumRank: 2)

    /// The nodes with each fused epilogue taken out of the op, and the epilogue of each node by index.
    private static func productsAndEpilogues(_ graph: Graph) throws(SwiftEmitError) -> (nodes: [Node], epilogues: [Int: Activation]) {
        var nodes = graph.nodes
        var epilogues: [Int: Activation] = [:]
        for (index, node) in nodes.enumerated() {
            guard case .fused(let product, let epilogue) = node.op else { continue }
            guard epilogueSupport.accepts(product, rank: node.outputType.shape.rank, activation: epilogue) else {
                throw .unsupported(
                    node: node.name, reason: "\(product.name) with a fused \(epilogue.name) is not legal here; run split-epilogues first")
            }
            nodes[index].op = product
            epilogues[index] = epilogue
        }
        return (nodes, epilogues)
    }

    /// The share of zeros from which a constant B is stored sparse: below it the packed dense kernel is
    /// faster at batch 1 and 32 (measured on a pruned 784-512-512-256-10 MLP, see docs/pruning.md).
    static let sparseThreshold = 0.8

    static func storesSparse(_ b: Tensor) -> Bool {
        let zeros = b.floats.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        return b.count >= 256 && Double(zeros) >= sparseThreshold * Double(b.count)
    }

    private static func isMatrix(_ op: Op) -> Bool {
        if case .gemm = op { return true }
        if case .matMul = op { return true }
        return false
    }

    static func isComparison(_ op: Op) -> Bool {
        if case .compare = op { return true }
        return false
    }

    /// Whether a constant's values are held exactly as floats: f32, or whole numbers up to 2^24 in magnitude.
    static func isExactAsFloats(_ tensor: Tensor) -> Bool {
        switch tensor.dtype {
        case .float32, .bool: true
        case .int8, .uint8, .int32, .int64: tensor.int64s.allSatisfy { $0 >= -(1 << 24) && $0 <= 1 << 24 }
        case .float16: false
        }
    }

    static func isQuantization(_ op: Op) -> Bool {
        switch op {
        case .quantizeLinear, .dequantizeLinear: true
        default: false
        }
    }

    /// The executor computes each DequantizeLinear of constants (quantized weights) once, when it loads:
    /// here its result is computed as the interpreter computes it and laid out like any other weights, and
    /// those whose values are int8 with zero points 0 are returned too, to be stored as int8 and widened
    /// at load.
    static func loadTimeDequantization(_ graph: Graph) -> (Graph, [String: Int8Weights]) {
        var graph = graph
        var constants = graph.constantsByName
        var kept: [Node] = []
        var int8: [String: Int8Weights] = [:]
        for node in graph.nodes {
            if let weights = Int8Weights(node, constants) { int8[node.outputs[0].name] = weights }
            if case .dequantizeLinear(let axis) = node.op, let q = constants[node.inputs[0]], let scale = constants[node.inputs[1]],
                let zero = constants[node.inputs[2]]
            {
                let a = axis < 0 ? axis + q.shape.count : axis
                let inner = q.shape.count > a ? q.shape[(a + 1)...].reduce(1, *) : 1, size = q.shape.count > a ? q.shape[a] : 1
                let perAxis = scale.shape.count == 1
                let scales = scale.floats, zeros = zero.int64s, values = q.int64s
                let floats = values.indices.map { i in
                    let p = perAxis ? i / inner % size : 0
                    return Float(values[i] - zeros[p]) * scales[p]
                }
                let tensor = Tensor(shape: q.shape, floats: floats)
                graph.constants.append(Constant(node.outputs[0].name, tensor))
                constants[node.outputs[0].name] = tensor
                continue
            }
            kept.append(node)
        }
        graph.nodes = kept
        return (graph, int8)
    }

    /// The constant B operand of a matrix product that the packed kernel can use, with its k and n.
    private func packedOperand(_ node: Node, _ types: [String: TensorType], _ constants: [String: Tensor]) throws(SwiftEmitError)
        -> (Tensor, Int, Int, Bool)?
    {
        if case .conv(let c) = node.op, c.groups == 1, let w = constants[node.inputs[1]], w.dtype == .float32,
            !SwiftNodeEmitter.isDirect(c, kernel: types[node.inputs[1]]!)
        {
            // Keras's [kernel..., Cin, Cout] is already the [window x Cin, Cout] matrix im2col needs.
            let cout = w.shape.last!
            let flat = Tensor(shape: [w.count / cout, cout], storage: w.storage)
            return (flat, w.count / cout, cout, false)
        }
        guard node.inputs.count >= 2, let b = constants[node.inputs[1]], b.shape.count == 2, b.dtype == .float32 else { return nil }
        switch node.op {
        case .gemm(let transB):
            return transB ? (b, b.shape[1], b.shape[0], true) : (b, b.shape[0], b.shape[1], false)
        case .matMul:
            return (b, b.shape[0], b.shape[1], false)
        default:
            return nil
        }
    }
}

/// Swift source text for a Float literal that reads back exactly.
func swiftFloat(_ value: Float) -> String {
    if value.isNaN { return "Float.nan" }
    if value.isInfinite { return value < 0 ? "-Float.infinity" : "Float.infinity" }
    let text = "\(value)"
    return text.contains(".") || text.contains("e") ? text : text + ".0"
}
