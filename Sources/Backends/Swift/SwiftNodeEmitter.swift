import KilnIR

/// Writes the statements that run one node, with operands located by the plan.
struct SwiftNodeEmitter {
    let plan: SwiftPlan
    let types: [String: TensorType]
    /// Prefix for static arrays this node needs (shapes, permutations).
    let staticPrefix: String
    /// The arena value holding this node's scratch space, if it has one.
    var scratch: String? = nil
    /// Weight offsets of a batch normalization's precomputed scale and shift.
    var affine: (scale: Int, shift: Int)? = nil
    /// A matrix product's constant B stored sparse: its weight offset and number of nonzeros.
    var sparse: (offset: Int, nonzeros: Int)? = nil
    /// A matrix product's constant B stored as int8 panels: the weight offsets of the panels and their
    /// column scales (the packed offset then holds the same panels widened to floats).
    var int8Panels: Int8Panels? = nil
    /// A recurrent op's packed weights and folded biases, per direction.
    var recurrent: [RecurrentWeights]? = nil

    /// A convolution that is already a matrix product: 1x1 kernel, stride 1, no padding.
    static func isPointwise(_ c: Convolution, kernel: TensorType) -> Bool {
        kernel.shape.dims.dropLast(2).allSatisfy { $0 == .fixed(1) } && c.strides.allSatisfy { $0 == 1 } && c.pads.allSatisfy { $0 == 0 }
    }

    /// A convolution computed directly rather than as im2col and a matrix product: an image convolution whose
    /// output channels fill whole vectors and whose window holds few values (kh x kw x Cin), where laying out
    /// the columns would cost more than the product.
    static func isDirect(_ c: Convolution, kernel: TensorType) -> Bool {
        guard c.groups == 1, c.strides.count == 2, let w = kernel.shape.fixedSizes, w[3] % 8 == 0 else { return false }
        return w[0] * w[1] * w[2] <= directConvolutionLimit && !isPointwise(c, kernel: kernel)
    }

    /// The largest window (kh x kw x Cin) convolved directly.
    static let directConvolutionLimit = 96

    /// Writes the statements of `node` into `out` (static tables into `statics`) and records the kernel
    /// sections they call. `epilogue` is an activation fused into a matrix product.
    func emit(
        _ node: Node, packedOffset: Int?, epilogue: Activation?, into out: inout CodePrinter, statics: inout CodePrinter,
        sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        let fusedNote = epilogue.map { " with \($0.name) fused" } ?? ""
        let activation = epilogue.map(Self.activation) ?? ".none"
        out.line(
            "// \(node.outputs.map { "%" + $0.name }.joined(separator: ", ")) = \(node.op.name)(\(inputs.map { "%" + $0 }.joined(separator: ", ")))\(fusedNote)"
        )
        switch node.op {
        case .identity, .flatten, .reshape:
            try copyIfNeeded(inputs[0], y, &out)
        case .cast(let to):
            try emitCast(node, to: to, &out, &statics, &sections)
        case .activation(let f):
            out.line("kilnUnary(\(Self.activation(f)), \(p(inputs[0])), \(p(y)), \(count(y)))")
        case .binary(let op):
            sections.insert(.elementwise)
            try binary(".\(op.rawValue)", inputs[0], inputs[1], y, node, &out, &statics)
        case .compare(let comparison):
            // Bools are held as 1 or 0.
            sections.insert(.elementwise)
            try binary(".\(comparison.rawValue)", inputs[0], inputs[1], y, node, &out, &statics)
        case .softmax(let axis):
            sections.insert(.elementwise)
            let dims = types[y]!.shape.dims
            let axis = axis < 0 ? axis + dims.count : axis
            out.line(
                "kilnSoftmax(\(p(inputs[0])), \(p(y)), outer: \(product(dims[..<axis])), size: \(product(dims[axis...axis])), inner: \(product(dims[(axis + 1)...])))"
            )
        case .transpose(let perm):
            try requireOnlyTheBatchUnknown([inputs[0]], node)
            sections.insert(.layout)
            let shape = "\(staticPrefix)Shape", permutation = "\(staticPrefix)Perm"
            statics.line("private static let \(shape): [Int] = \(staticDims(types[inputs[0]]!.shape))")
            statics.line("private static let \(permutation): [Int] = \(perm)")
            out.line("kilnTranspose(\(p(inputs[0])), Self.\(shape), Self.\(permutation), \(p(y)), batch: batch)")
        case .gemm(let transB):
            try matrixProduct(node, transB: transB, packedOffset: packedOffset, activation: activation, &out, &statics, &sections)
        case .matMul:
            try matrixProduct(node, transB: false, packedOffset: packedOffset, activation: activation, &out, &statics, &sections)
        case .conv(let c):
            try emitConv(node, c: c, packedOffset: packedOffset, activation: activation, &out, &statics, &sections)
        case .convTranspose(let c):
            try emitConvTranspose(node, c: c, &out, &statics, &sections)
        case .pool(let pooling):
            try emitPool(node, pooling: pooling, &out, &statics, &sections)
        case .reduce(let reduction, let axes, _):
            try emitReduce(node, reduction: reduction, axes: axes, &out, &statics, &sections)
        case .batchNorm(_, let axis):
            guard let affine else { throw .unsupported(node: node.name, reason: "BatchNorm without constant parameters") }
            sections.insert(.elementwise)
            let dims = types[inputs[0]]!.shape.dims
            let a = axis < 0 ? axis + dims.count : axis
            out.line(
                "kilnAffine(\(p(inputs[0])), w + \(affine.scale), w + \(affine.shift), \(p(y)), outer: \(product(dims[..<a])), channels: \(product(dims[a...a])), inner: \(product(dims[(a + 1)...])))"
            )
        case .layerNorm(let axis, let epsilon):
            sections.insert(.normalization)
            let dims = types[inputs[0]]!.shape.dims
            let a = axis < 0 ? axis + dims.count : axis
            let scale = inputs.count >= 2 ? p(inputs[1]) : "nil", bias = inputs.count == 3 ? p(inputs[2]) : "nil"
            out.line(
                "kilnLayerNorm(\(p(inputs[0])), \(scale), \(bias), \(p(y)), outer: \(product(dims[..<a])), size: \(product(dims[a...])), epsilon: \(swiftFloat(epsilon)))"
            )
        case .concat(let axis):
            try emitConcat(node, axis: axis, &out, &statics, &sections)
        case .crop(let pads):
            try emitCrop(node, pads: pads, &out, &statics, &sections)
        case .slice(let axes, let starts, let ends, let steps):
            try emitSlice(node, axes: axes, starts: starts, ends: ends, steps: steps, &out, &statics, &sections)
        case .pad(let pads, let value):
            try emitPad(node, pads: pads, value: value, &out, &statics, &sections)
        case .upsample(let factors, let mode):
            try emitUpsample(node, factors: factors, mode: mode, &out, &statics, &sections)
        case .quantizeLinear(let axis), .dequantizeLinear(let axis):
            try emitQuantization(node, axis: axis, &out, &statics, &sections)
        case .gather(let axis):
            try emitGather(node, axis: axis, &out, &statics, &sections)
        case .recurrent(let r):
            try emitRecurrent(node, r, &out, &sections)
        case .attention(let a):
            sections.insert(.attention)
            let q = types[inputs[0]]!.shape.dims, k = types[inputs[1]]!.shape.dims, v = types[inputs[2]]!.shape.dims
            let fullyMasked: String =
                switch a.fullyMaskedRows {
                case .uniform: "1 / Float(\(product(k[1...1])))"
                case .zero: "0"
                case .ones: "1"
                }
            // A mask dimension of size 1 repeats (stride 0); the others are row-major over [batch, Tq, Tk].
            var strides = ["0", "0", "0"]
            if inputs.count > a.maskIndex {
                let m = types[inputs[a.maskIndex]]!.shape.dims
                strides = (0..<3).map { m[$0] == .fixed(1) ? "0" : product(m[($0 + 1)...]) }
            }
            out.line(
                "kilnAttention(\(p(inputs[0])), \(p(inputs[1])), \(p(inputs[2])), additive: \(a.score == .additive ? p(inputs[3]) : "nil"), mask: \(inputs.count > a.maskIndex ? p(inputs[a.maskIndex]) : "nil"), maskBatch: \(strides[0]), maskQuery: \(strides[1]), maskKey: \(strides[2]), \(p(y)), scores: \(a.returnsScores ? p(node.outputs[1].name) : "nil"), batch: \(product(q[0...0])), queries: \(product(q[1...1])), keys: \(product(k[1...1])), heads: \(product(q[2...2])), keyDepth: \(product(q[3...3])), valueDepth: \(product(v[3...3])), scale: \(swiftFloat(a.scale)), causal: \(a.causal), fullyMaskedWeight: \(fullyMasked))"
            )
        case .fused:
            // SwiftEmitter hands a product's epilogue over as `epilogue`; no fused op reaches here.
            throw .unsupported(node: node.name, reason: "a fused epilogue must be taken out of the op before emission")
        }
    }

    func p(_ value: String) -> String { plan.pointer(value) }

    func count(_ value: String) -> String { plan.counts[value]!.expression }

    /// Declares the window geometry of a convolution or pooling and returns how the kernel call names it:
    /// a static table, or, when the spatial sizes are given to `predict`, a value built in `run` from them.
    func window(
        _ input: [Dim], _ window: [Int], _ strides: [Int], _ dilations: [Int], _ pads: [Int], _ output: [Dim], _ out: inout CodePrinter,
        _ statics: inout CodePrinter
    ) -> String {
        let name = "\(staticPrefix)Window"
        func size(_ dim: Dim) -> String {
            if let size = dim.fixedValue { return String(size) }
            if case .symbolic(let symbol) = dim, let variable = plan.sizeNames[symbol], variable != "batch" { return variable }
            return "-1"
        }
        let inputSizes = "[" + input.map(size).joined(separator: ", ") + "]"
        let outputSizes = "[" + output.dropFirst().dropLast().map(size).joined(separator: ", ") + "]"
        let geometry =
            "KilnWindow(input: \(inputSizes), window: \(window), strides: \(strides), dilations: \(dilations), pads: \(pads), output: \(outputSizes))"
        let runtime = (input.dropFirst() + output.dropFirst()).contains { dim in
            if case .symbolic(let symbol) = dim { return plan.sizeNames[symbol] != "batch" }
            return false
        }
        guard runtime else {
            statics.line("private static let \(name) = \(geometry)")
            return "Self.\(name)"
        }
        out.line("let \(name) = \(geometry)")
        return name
    }

    /// Shape-only ops alias their input; only an output that needs its own storage is copied.
    func copyIfNeeded(_ x: String, _ y: String, _ out: inout CodePrinter) throws(SwiftEmitError) {
        let from = plan.pointer(x), to = plan.pointer(y)
        if from != to { out.line("(\(to)).update(from: \(from), count: \(plan.counts[y]!.expression))") }
    }

    private func matrixProduct(
        _ node: Node, transB: Bool, packedOffset: Int?, activation: String, _ out: inout CodePrinter, _ statics: inout CodePrinter,
        _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let a = node.inputs[0], b = node.inputs[1], y = node.outputs[0].name
        let aType = types[a]!, bType = types[b]!, yType = types[y]!
        guard let k = aType.shape.dims.last?.fixedValue, let n = yType.shape.dims.last?.fixedValue else {
            throw .unsupported(node: node.name, reason: "matrix products need known inner and output widths")
        }
        let yCount = plan.counts[y]!
        let rows = yCount.rows(of: n).expression
        // A bias of one row and the activation go into the packed kernel's epilogue. Any other bias is added
        // afterwards, and the activation then runs as a pass of its own, as it does after an unpacked product.
        var rowBias: String?
        var lateBias: String?
        if node.inputs.count == 3 {
            let c = node.inputs[2]
            let cCount = plan.counts[c]!
            if packedOffset != nil || sparse != nil, cCount.isFixed, cCount.coefficient == n,
                types[c]!.shape.rank == 1 || types[c]!.shape.dims.first == .fixed(1)
            {
                rowBias = c
            } else {
                lateBias = c
            }
        }
        let lateActivation = (packedOffset != nil || sparse != nil) && lateBias == nil ? nil : activation
        if let sparse, let scratch {
            sections.insert(.sparse)
            out.line(
                "kilnSparseGemm(\(plan.pointer(a)), lda: \(k), w + \(sparse.offset), nonzeros: \(sparse.nonzeros), bias: \(rowBias.map { plan.pointer($0) } ?? "nil"), \(plan.pointer(y)), ldc: \(n), m: \(rows), n: \(n), k: \(k), scratch: \(plan.pointer(scratch)), activation: \(lateActivation == nil ? activation : ".none"))"
            )
        } else if let packedOffset {
            sections.insert(.gemm)
            let bias = rowBias.map { plan.pointer($0) } ?? "nil", f = lateActivation == nil ? activation : ".none"
            let gemm =
                "kilnGemm(\(plan.pointer(a)), lda: \(k), \(packedOffset == 0 ? "w" : "w + \(packedOffset)"), bias: \(bias), \(plan.pointer(y)), ldc: \(n), m: \(rows), n: \(n), k: \(k), activation: \(f))"
            if let int8Panels {
                sections.insert(.int8Gemv)
                // One row streams the int8 panels themselves (a quarter of the bytes) where the AVX2 target makes
                // that pay (widened in registers, or multiplied as integers when A is a quantized activation);
                // otherwise, and for more rows, the product reads the floats widened at load.
                out.line("#if KILN_FMA")
                out.line("if \(rows) == 1 {")
                let panels = "UnsafeRawPointer(w + \(int8Panels.values)).assumingMemoryBound(to: Int8.self)"
                out.withIndentation { out in
                    if let inputScale = int8Panels.inputScale {
                        // A quantized activation times int8 weights: integer products, summed in int32.
                        out.line(
                            "kilnGemvInt32(\(plan.pointer(a)), inputScale: \(swiftFloat(inputScale)), \(panels), scales: w + \(int8Panels.scales), bias: \(bias), \(plan.pointer(y)), n: \(n), k: \(k), activation: \(f))"
                        )
                    } else {
                        out.line(
                            "kilnGemvInt8(\(plan.pointer(a)), \(panels), scales: w + \(int8Panels.scales), bias: \(bias), \(plan.pointer(y)), n: \(n), k: \(k), activation: \(f))"
                        )
                    }
                }
                out.line("} else {")
                out.withIndentation { out in out.line(gemm) }
                out.line("}")
                out.line("#else")
                out.line(gemm)
                out.line("#endif")
            } else {
                out.line(gemm)
            }
        } else {
            sections.insert(.matMul)
            let m = aType.shape.dims[aType.shape.rank - 2]
            guard let mSize = m.fixedValue ?? (aType.shape.rank == 2 ? 0 : nil) else {
                throw .unsupported(node: node.name, reason: "batched product with a symbolic row count")
            }
            if bType.shape.rank == 2 {
                // Every row of A (all leading dimensions together) times one B.
                out.line(
                    "kilnMatMul(\(plan.pointer(a)), strideA: 0, \(plan.pointer(b)), strideB: 0, \(plan.pointer(y)), batch: 1, m: \(rows), n: \(n), k: \(k), transposeB: \(transB))"
                )
            } else {
                guard aType.shape.rank == bType.shape.rank, aType.shape.dims.dropLast(2) == bType.shape.dims.dropLast(2) else {
                    throw .unsupported(node: node.name, reason: "MatMul with broadcast batch dimensions \(aType) x \(bType)")
                }
                out.line(
                    "kilnMatMul(\(plan.pointer(a)), strideA: \(mSize * k), \(plan.pointer(b)), strideB: \(k * n), \(plan.pointer(y)), batch: \(yCount.rows(of: n * mSize).expression), m: \(mSize), n: \(n), k: \(k), transposeB: false)"
                )
            }
        }
        if let lateBias {
            sections.insert(.elementwise)
            try binary(".add", y, lateBias, y, node, &out, &statics)
        }
        if let lateActivation, lateActivation != ".none" {
            out.line("kilnUnary(\(lateActivation), \(plan.pointer(y)), \(plan.pointer(y)), \(yCount.expression))")
        }
    }

    /// y = a op b with NumPy broadcasting, `kind` naming the runtime's `KilnBinary` case (which has one of each
    /// BinaryOp's and Comparison's name): operands that repeat whole along the leading dimensions take the
    /// fast path; any other broadcast walks the output index by index.
    /// `kind` names the runtime's KilnBinaryOp case (a BinaryOp or a comparison).
    private func binary(
        _ kind: String, _ a: String, _ b: String, _ y: String, _ node: Node, _ out: inout CodePrinter, _ statics: inout CodePrinter
    ) throws(SwiftEmitError) {
        let sa = types[a]!.shape, sb = types[b]!.shape, sy = types[y]!.shape
        if Self.repeats(sa, within: sy) && Self.repeats(sb, within: sy) && (sa == sy || sb == sy) {
            out.line(
                "kilnBinary(\(kind), \(plan.pointer(a)), \(plan.counts[a]!.expression), \(plan.pointer(b)), \(plan.counts[b]!.expression), \(plan.pointer(y)), \(plan.counts[y]!.expression))"
            )
            return
        }
        try requireOnlyTheBatchUnknown([a, b, y], node)
        let names = ["A", "B", "Y"].map { "\(staticPrefix)\(a == y ? "Bias" : "")Shape\($0)" }
        for (name, shape) in zip(names, [sa, sb, sy]) { statics.line("private static let \(name): [Int] = \(staticDims(shape))") }
        out.line(
            "kilnBinaryStrided(\(kind), \(plan.pointer(a)), Self.\(names[0]), \(plan.pointer(b)), Self.\(names[1]), \(plan.pointer(y)), Self.\(names[2]), batch: batch)"
        )
    }

    /// Whether an operand of shape `s` broadcasts to `full` by repeating whole: its dimensions, after any
    /// leading 1s, equal the trailing dimensions of `full`.
    static func repeats(_ s: Shape, within full: Shape) -> Bool {
        let dims = Array(s.dims.drop { $0 == .fixed(1) })
        return dims.count <= full.rank && Array(full.dims.suffix(dims.count)) == dims
    }

    func staticDims(_ shape: Shape) -> String {
        "[" + shape.dims.map { $0.fixedValue.map(String.init) ?? "-1" }.joined(separator: ", ") + "]"
    }

    func product(_ dims: ArraySlice<Dim>) -> String { extent(dims).description }

    /// The number of elements of `dims`, over the run-time sizes.
    func extent(_ dims: ArraySlice<Dim>) -> SwiftIndex {
        var fixed = 1
        var names: [String] = []
        for dim in dims {
            switch dim {
            case .fixed(let size): fixed *= size
            case .symbolic(let symbol): names.append(plan.sizeNames[symbol] ?? "batch")
            }
        }
        return names.isEmpty ? SwiftIndex(fixed) : SwiftIndex(names.sorted().joined(separator: " * "), times: fixed)
    }

    /// Refuses a node whose kernel takes its shapes as tables fixed at generation (with only the batch left
    /// to run time) when one of `values` has another unknown dimension.
    func requireOnlyTheBatchUnknown(_ values: [String], _ node: Node) throws(SwiftEmitError) {
        for value in values {
            let unknown = types[value]!.shape.dims.dropFirst().compactMap { dim -> String? in
                if case .symbolic(let symbol) = dim { return symbol }
                return nil
            }
            if let symbol = unknown.first {
                throw .unsupported(
                    node: node.name,
                    reason:
                        "the Swift executor runs \(node.op.name) only on shapes known but for the batch, and \(types[value]!) has the unknown size \(symbol); fix it with --input-shape"
                )
            }
        }
    }

    /// The runtime's `KilnActivation` for an activation.
    static func activation(_ activation: Activation) -> String {
        switch activation {
        case .relu: ".relu"
        case .sigmoid: ".sigmoid"
        case .tanh: ".tanh"
        case .exp: ".exp"
        case .softplus: ".softplus"
        case .softsign: ".softsign"
        case .swish: ".swish"
        case .gelu(let approximate): approximate ? ".geluTanh" : ".geluExact"
        case .elu(let alpha): ".elu(\(swiftFloat(alpha)))"
        case .selu(let alpha, let gamma): ".selu(\(swiftFloat(alpha)), \(swiftFloat(gamma)))"
        case .hardSigmoid(let alpha, let beta): ".hardSigmoid(\(swiftFloat(alpha)), \(swiftFloat(beta)))"
        case .leakyRelu(let alpha): ".leakyRelu(\(swiftFloat(alpha)))"
        case .clip(let low, let high): ".clip(\(swiftFloat(low)), \(swiftFloat(high)))"
        case .sqrt: ".sqrt"
        case .thresholdedRelu(let theta): ".thresholdedRelu(\(swiftFloat(theta)))"
        case .log: ".log"
        case .abs: ".abs"
        case .neg: ".neg"
        case .erf: ".erf"
        case .reciprocal: ".reciprocal"
        }
    }
}
