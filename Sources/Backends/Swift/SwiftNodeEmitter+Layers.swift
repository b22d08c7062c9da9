import KilnIR

/// The statements of the layer-shaped ops: casts, convolutions, pooling, reductions, layout ops,
/// quantization and gathers, each with the kernel sections it calls.
extension SwiftNodeEmitter {
    /// Cast: integers and bools are whole-number floats, so most casts copy and f32 to an integer truncates.
    func emitCast(
        _ node: Node, to: DType, _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        // Integer values (indices) and bools (0 or 1) are held as whole-number floats, so a Cast to f32 or
        // between integer types copies, and a Cast from f32 to an integer type truncates. Constants of any
        // type are converted when the weights are written.
        let from = types[inputs[0]]!.dtype
        let integers: Set<DType> = [.int32, .int64]
        if from == .bool && (to == .float32 || integers.contains(to)) {
            try copyIfNeeded(inputs[0], y, &out)
        } else if to == .float32 && (from == .float32 || integers.contains(from) || plan.isConstant(inputs[0])) {
            try copyIfNeeded(inputs[0], y, &out)
        } else if integers.contains(to) && integers.contains(from) {
            try copyIfNeeded(inputs[0], y, &out)
        } else if integers.contains(to) && from == .float32 {
            sections.insert(.gather)
            out.line("kilnTruncate(\(p(inputs[0])), \(p(y)), \(count(y)))")
        } else {
            throw .unsupported(node: node.name, reason: "Cast from \(from.textName) to \(to.textName)")
        }
    }

    /// A convolution: direct, im2col and the packed GEMM, or grouped.
    func emitConv(
        _ node: Node, c: Convolution, packedOffset: Int?, activation: String, _ out: inout CodePrinter, _ statics: inout CodePrinter,
        _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        sections.insert(.window)
        let x = types[inputs[0]]!.shape.dims, w = types[inputs[1]]!.shape.fixedSizes!
        let spatial = c.strides.count
        let window = window(x, Array(w[0..<spatial]), c.strides, c.dilations, c.pads, types[y]!.shape.dims, &out, &statics)
        let cin = x.last!.fixedValue!, cout = w.last!
        let bias = inputs.count == 3 ? p(inputs[2]) : "nil"
        if Self.isDirect(c, kernel: types[inputs[1]]!) {
            out.line(
                "kilnDirectConv2D(\(p(inputs[0])), \(window), \(p(inputs[1])), bias: \(bias), \(p(y)), inChannels: \(cin), outChannels: \(cout), batch: batch, activation: \(activation))"
            )
        } else if c.groups == 1, let packedOffset {
            sections.insert(.gemm)
            let columns = w.dropLast().reduce(1, *)
            let rows = plan.counts[y]!.rows(of: cout).expression
            var source = p(inputs[0])
            if let scratch {
                out.line("kilnIm2col(\(p(inputs[0])), \(window), channels: \(cin), \(p(scratch)), batch: batch)")
                source = p(scratch)
            }
            out.line(
                "kilnGemm(\(source), lda: \(columns), \(packedOffset == 0 ? "w" : "w + \(packedOffset)"), bias: \(bias), \(p(y)), ldc: \(cout), m: \(rows), n: \(cout), k: \(columns), activation: \(activation))"
            )
        } else {
            out.line(
                "kilnGroupedConv(\(p(inputs[0])), \(window), \(p(inputs[1])), bias: \(bias), \(p(y)), inChannels: \(cin), outChannels: \(cout), groups: \(c.groups), batch: batch, activation: \(activation))"
            )
        }
    }

    /// A transposed convolution, as the forward convolution's geometry from the output back to the input.
    func emitConvTranspose(
        _ node: Node, c: Convolution, _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        try requireOnlyTheBatchUnknown([inputs[0], y], node)
        sections.insert(.window)
        let x = types[inputs[0]]!.shape.dims, w = types[inputs[1]]!.shape.fixedSizes!
        let spatial = c.strides.count
        // The geometry is that of the forward convolution from the output back to the input.
        let outputDims = types[y]!.shape.dims
        let window = window(outputDims, Array(w[0..<spatial]), c.strides, c.dilations, c.pads, x, &out, &statics)
        let bias = inputs.count == 3 ? p(inputs[2]) : "nil"
        out.line(
            "kilnConvTranspose(\(p(inputs[0])), \(window), \(p(inputs[1])), bias: \(bias), \(p(y)), inChannels: \(x.last!.fixedValue!), outChannels: \(w[spatial]), batch: batch)"
        )
    }

    /// Max or average pooling over a window.
    func emitPool(
        _ node: Node, pooling: Pooling, _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        sections.insert(.window)
        let x = types[inputs[0]]!.shape.dims
        let window = window(
            x, pooling.window, pooling.strides, Array(repeating: 1, count: pooling.window.count), pooling.pads, types[y]!.shape.dims,
            &out, &statics)
        out.line(
            "kilnPool(\(p(inputs[0])), \(window), channels: \(x.last!.fixedValue!), isMax: \(pooling.kind == .max), \(p(y)), batch: batch)")
    }

    /// A reduction over adjacent axes (split-reductions legalizes others).
    func emitReduce(
        _ node: Node, reduction: Reduction, axes: [Int], _ out: inout CodePrinter, _ statics: inout CodePrinter,
        _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        sections.insert(.elementwise)
        let dims = types[inputs[0]]!.shape.dims
        let sorted = axes.map { $0 < 0 ? $0 + dims.count : $0 }.sorted()
        guard let first = sorted.first, sorted == Array(first..<(first + sorted.count)) else {
            throw .unsupported(node: node.name, reason: "reductions over axes that are not adjacent; run split-reductions first")
        }
        let kind = ["sum": 0, "max": 1, "min": 2, "mean": 3][reduction.rawValue]!
        out.line(
            "kilnReduce(\(p(inputs[0])), \(p(y)), outer: \(product(dims[..<first])), size: \(product(dims[first...sorted.last!])), inner: \(product(dims[(sorted.last! + 1)...])), kind: \(kind))"
        )
    }

    /// Concatenation as one block copy per input per outer index.
    func emitConcat(
        _ node: Node, axis: Int, _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        let dims = types[y]!.shape.dims
        let a = axis < 0 ? axis + dims.count : axis
        let o = SwiftIndex("o"), total = extent(dims[a...])
        out.line("for o in 0..<\(product(dims[..<a])) {")
        var offset = SwiftIndex(0)
        for input in inputs {
            let block = extent(types[input]!.shape.dims[a...])
            out.line(
                "    (\(plan.pointer(y, plus: o * total + offset))).update(from: \(plan.pointer(input, plus: o * block)), count: \(block))")
            offset = offset + block
        }
        out.line("}")
    }

    /// Crop through the layout kernel's shape tables.
    func emitCrop(
        _ node: Node, pads: [Int], _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        try requireOnlyTheBatchUnknown([inputs[0], y], node)
        sections.insert(.layout)
        let shape = "\(staticPrefix)Shape", amounts = "\(staticPrefix)Crop"
        statics.line("private static let \(shape): [Int] = \(staticDims(types[y]!.shape))")
        statics.line("private static let \(amounts): [Int] = \(pads)")
        statics.line("private static let \(shape)In: [Int] = \(staticDims(types[inputs[0]]!.shape))")
        out.line("kilnCrop(\(p(inputs[0])), Self.\(shape)In, Self.\(shape), Self.\(amounts), \(p(y)), batch: batch)")
    }

    /// A strided slice: the first element and step per dimension, through the layout kernel.
    func emitSlice(
        _ node: Node, axes: [Int], starts: [Int], ends: [Int], steps: [Int], _ out: inout CodePrinter, _ statics: inout CodePrinter,
        _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        try requireOnlyTheBatchUnknown([inputs[0], y], node)
        sections.insert(.layout)
        let inShape = types[inputs[0]]!.shape.dims
        var first = Array(repeating: 0, count: inShape.count), step = Array(repeating: 1, count: inShape.count)
        for (i, axis) in axes.enumerated() {
            let a = axis < 0 ? axis + inShape.count : axis
            let range = SliceRange(start: starts[i], end: ends[i], step: steps[i], size: inShape[a].fixedValue!)
            (first[a], step[a]) = (range.first, range.step)
        }
        let shape = "\(staticPrefix)Shape"
        statics.line("private static let \(shape)In: [Int] = \(staticDims(types[inputs[0]]!.shape))")
        statics.line("private static let \(shape): [Int] = \(staticDims(types[y]!.shape))")
        statics.line("private static let \(staticPrefix)First: [Int] = \(first)")
        statics.line("private static let \(staticPrefix)Steps: [Int] = \(step)")
        out.line(
            "kilnSlice(\(p(inputs[0])), Self.\(shape)In, Self.\(shape), Self.\(staticPrefix)First, Self.\(staticPrefix)Steps, \(p(y)), batch: batch)"
        )
    }

    /// Constant padding through the layout kernel's shape tables.
    func emitPad(
        _ node: Node, pads: [Int], value: Float, _ out: inout CodePrinter, _ statics: inout CodePrinter,
        _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        try requireOnlyTheBatchUnknown([inputs[0], y], node)
        sections.insert(.layout)
        let shape = "\(staticPrefix)Shape", padding = "\(staticPrefix)Pads"
        statics.line("private static let \(shape): [Int] = \(staticDims(types[inputs[0]]!.shape))")
        statics.line("private static let \(padding): [Int] = \(pads)")
        out.line("kilnPad(\(p(inputs[0])), Self.\(shape), Self.\(padding), value: \(swiftFloat(value)), \(p(y)), batch: batch)")
    }

    /// Nearest or linear upsampling by integer factors.
    func emitUpsample(
        _ node: Node, factors: [Int], mode: Upsampling, _ out: inout CodePrinter, _ statics: inout CodePrinter,
        _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        try requireOnlyTheBatchUnknown([inputs[0], y], node)
        sections.insert(.resample)
        let dims = types[inputs[0]]!.shape.dims
        let sizes = dims.dropFirst().dropLast().map { $0.fixedValue! }
        out.line(
            "kiln\(mode == .linear ? "UpsampleLinear" : "UpsampleNearest")(\(p(inputs[0])), \(sizes), \(factors), channels: \(dims.last!.fixedValue!), \(p(y)), batch: batch)"
        )
    }

    /// QuantizeLinear or DequantizeLinear with constant scales and zero points.
    func emitQuantization(
        _ node: Node, axis: Int, _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        // Quantized values are whole numbers held as floats, computed exactly as the interpreter does.
        sections.insert(.quantization)
        guard plan.isConstant(inputs[1]), plan.isConstant(inputs[2]) else {
            throw .unsupported(node: node.name, reason: "\(node.op.name) needs a constant scale and zero point")
        }
        let dims = types[inputs[0]]!.shape.dims
        let perAxis = types[inputs[1]]!.shape.rank == 1
        let a = axis < 0 ? axis + dims.count : axis
        let size = perAxis ? product(dims[a...a]) : "1", inner = perAxis ? product(dims[(a + 1)...]) : "1"
        if case .quantizeLinear = node.op {
            let (low, high) = types[y]!.dtype == .uint8 ? ("0", "255") : ("-128", "127")
            out.line(
                "kilnQuantize(\(p(inputs[0])), \(p(y)), count: \(count(y)), scales: \(p(inputs[1])), zeros: \(p(inputs[2])), size: \(size), inner: \(inner), low: \(low), high: \(high))"
            )
        } else {
            out.line(
                "kilnDequantize(\(p(inputs[0])), \(p(y)), count: \(count(y)), scales: \(p(inputs[1])), zeros: \(p(inputs[2])), size: \(size), inner: \(inner))"
            )
        }
    }

    /// Rows of a constant table by index, reporting the first index outside it.
    func emitGather(
        _ node: Node, axis: Int, _ out: inout CodePrinter, _ statics: inout CodePrinter, _ sections: inout Set<SwiftKernels.Section>
    ) throws(SwiftEmitError) {
        let inputs = node.inputs, y = node.outputs[0].name
        sections.insert(.gather)
        let dims = types[inputs[0]]!.shape.dims
        let a = axis < 0 ? axis + dims.count : axis
        guard dims.allSatisfy({ $0.fixedValue != nil }), let size = dims[a].fixedValue, size <= 1 << 24 else {
            throw .unsupported(node: node.name, reason: "Gather needs data of known shape with at most 2^24 rows, got \(types[inputs[0]]!)")
        }
        out.line(
            "if let bad = kilnGather(\(p(inputs[0])), outer: \(product(dims[..<a])), size: \(size), inner: \(product(dims[(a + 1)...])), \(p(inputs[1])), count: \(count(inputs[1])), \(p(y))) { indexError = indexError ?? (\"\(node.name)\", bad, \(size)) }"
        )
    }
}
