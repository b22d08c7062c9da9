import KilnIR
import ONNXProto

/// Convolutions, pooling and upsampling: ONNX computes them channels-first, so each reads the channels-first
/// copy of its input and writes a channels-first result that a Transpose turns back (and that the next
/// windowed op reads directly).
extension ONNXGraphBuilder {
    /// Conv with Keras's kernel [kernel..., Cin/groups, Cout] permuted to ONNX's [Cout, Cin/groups, kernel...].
    mutating func lowerConv(_ c: Convolution, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let spatial = c.strides.count
        let (kernel, kernelShape) = try onnxKernel(x[1], [spatial + 1, spatial] + Array(0..<spatial), suffix: "oihw", node)
        let value = fresh("\(y[0]).nchw")
        add(
            "Conv", [try channelsFirstInput(x[0], node), kernel] + x.dropFirst(2), [value], name,
            [
                ints("kernel_shape", Array(kernelShape[2...])), ints("strides", c.strides), ints("dilations", c.dilations),
                ints("pads", c.pads), int("group", c.groups),
            ])
        try toChannelsLast(value, y[0], node)
    }

    /// ConvTranspose with Keras's kernel [kernel..., Cout, Cin] permuted to ONNX's [Cin, Cout, kernel...]; a
    /// negative end pad (output positions no input reaches) is ONNX's output_padding.
    mutating func lowerConvTranspose(_ c: Convolution, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        guard c.groups == 1 else { throw .unsupported(node: name, reason: "ConvTranspose with \(c.groups) groups") }
        let spatial = c.strides.count
        let (kernel, kernelShape) = try onnxKernel(x[1], [spatial + 1, spatial] + Array(0..<spatial), suffix: "iohw", node)
        let ends = c.pads[spatial...].map { max($0, 0) }
        let extra = c.pads[spatial...].map { max(-$0, 0) }
        let value = fresh("\(y[0]).nchw")
        add(
            "ConvTranspose", [try channelsFirstInput(x[0], node), kernel] + x.dropFirst(2), [value], name,
            [
                ints("kernel_shape", Array(kernelShape[2...])), ints("strides", c.strides), ints("dilations", c.dilations),
                ints("pads", Array(c.pads[0..<spatial]) + ends), ints("output_padding", extra),
            ])
        try toChannelsLast(value, y[0], node)
    }

    /// MaxPool or AveragePool; Keras averages over the real elements only (count_include_pad = 0).
    mutating func lowerPool(_ p: Pooling, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        var attributes = [ints("kernel_shape", p.window), ints("strides", p.strides), ints("pads", p.pads)]
        if p.kind == .average { attributes.append(int("count_include_pad", 0)) }
        let value = fresh("\(y[0]).nchw")
        add(p.kind == .max ? "MaxPool" : "AveragePool", [try channelsFirstInput(x[0], node)], [value], name, attributes)
        try toChannelsLast(value, y[0], node)
    }

    /// Resize, channels-first, scales 1 on the batch and channels; no roi ("" skips the optional input).
    /// Nearest with integer factors: asymmetric coordinates, rounded down, read input o / factor.
    mutating func lowerUpsample(factors: [Int], mode: Upsampling, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let scales = constant("\(name).scales", Tensor(shape: [factors.count + 2], floats: [1, 1] + factors.map(Float.init)))
        let value = fresh("\(y[0]).nchw")
        let attributes =
            mode == .linear
            ? [string("mode", "linear"), string("coordinate_transformation_mode", "half_pixel")]
            : [string("mode", "nearest"), string("coordinate_transformation_mode", "asymmetric"), string("nearest_mode", "floor")]
        add("Resize", [try channelsFirstInput(x[0], node), "", scales], [value], name, attributes)
        try toChannelsLast(value, y[0], node)
    }

    /// The kernel in ONNX's layout and its shape: a permuted initializer when the kernel is a constant,
    /// a Transpose node otherwise.
    private mutating func onnxKernel(
        _ kernel: String, _ perm: [Int], suffix: String, _ node: Node
    ) throws(ONNXEmitError) -> (String, [Int]) {
        if let weights = constants[kernel] {
            let permuted = weights.transposed(perm)
            return (constant("\(kernel).\(suffix)", permuted), permuted.shape)
        }
        guard let sizes = try type(of: kernel, in: node).shape.fixedSizes else {
            throw .unsupported(node: node.name, reason: "the kernel %\(kernel) has symbolic dimensions")
        }
        let value = fresh("\(kernel).\(suffix)")
        add("Transpose", [kernel], [value], "\(node.name).kernel_to_\(suffix)", [ints("perm", perm)])
        return (value, perm.map { sizes[$0] })
    }
}
