/// Types of the ops that slide a window over the spatial dimensions of channels-last data
/// [N, spatial..., C]: convolutions, pooling and upsampling.
extension Op {
    /// The kernel is [kernel..., Cin/groups, Cout]; each output length is that of a window as wide as the
    /// dilated kernel.
    func inferConv(_ inputs: [TensorType], _ c: Convolution) throws(TypeError) -> TensorType {
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
            guard c.dilations[d] >= 1 else { throw TypeError(op: name, "dilation \(c.dilations[d]) of dimension \(d) is not positive") }
            let effective = try dilatedKernel(k, dilation: c.dilations[d], dimension: d)
            out.append(try windowed(x[d + 1], window: effective, stride: c.strides[d], padBegin: c.pads[d], padEnd: c.pads[spatial + d]))
        }
        return TensorType(inputs[0].dtype, Shape(out + [.fixed(cout)]))
    }

    /// The kernel is [kernel..., Cout, Cin] and each output length is
    /// (in - 1) * stride + dilation * (kernel - 1) + 1 minus the pads; only a negative end pad may grow it,
    /// so a negative begin pad is refused like an empty output.
    func inferConvTranspose(_ inputs: [TensorType], _ c: Convolution) throws(TypeError) -> TensorType {
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
            guard c.strides[d] >= 1, c.dilations[d] >= 1, size >= 1 else {
                throw TypeError(
                    op: name,
                    "stride \(c.strides[d]) and dilation \(c.dilations[d]) of dimension \(d) must be positive, on a size of at least 1")
            }
            let what = "the output length of dimension \(d)"
            let spread = try multiply(size - 1, c.strides[d], what)
            let full = try add(spread, try dilatedKernel(k, dilation: c.dilations[d], dimension: d), what)
            let length = try subtract(try subtract(full, c.pads[d], what), c.pads[spatial + d], what)
            guard length >= 1, c.pads[d] >= 0 else { throw TypeError(op: name, "the output of dimension \(d) would be empty") }
            out.append(.fixed(length))
        }
        return TensorType(inputs[0].dtype, Shape(out + [.fixed(cout)]))
    }

    /// One window, stride and pair of pads per spatial dimension; the batch and channels pass through.
    func inferPool(_ input: TensorType, _ pooling: Pooling) throws(TypeError) -> TensorType {
        try requireFloat(input)
        let dims = input.shape.dims
        let spatial = dims.count - 2
        guard spatial >= 1, pooling.window.count == spatial, pooling.strides.count == spatial, pooling.pads.count == 2 * spatial else {
            throw TypeError(op: name, "window, strides and pads must fit the \(max(spatial, 0)) spatial dimensions of \(input)")
        }
        var out = [dims[0]]
        for d in 0..<spatial {
            out.append(
                try windowed(
                    dims[d + 1], window: pooling.window[d], stride: pooling.strides[d], padBegin: pooling.pads[d],
                    padEnd: pooling.pads[spatial + d]))
        }
        return TensorType(input.dtype, Shape(out + [dims[spatial + 1]]))
    }

    /// Each spatial dimension times its factor, so the spatial sizes must be known; nearest upsampling only
    /// copies elements and takes any element type, linear interpolates and needs floats.
    func inferUpsample(_ input: TensorType, factors: [Int], mode: Upsampling) throws(TypeError) -> TensorType {
        if mode == .linear { try requireFloat(input) }
        let dims = input.shape.dims
        guard dims.count == factors.count + 2, !factors.isEmpty, factors.allSatisfy({ $0 >= 1 }) else {
            throw TypeError(op: name, "needs a factor of at least 1 per spatial dimension of \(input), got \(factors)")
        }
        var out = [dims[0]]
        for (d, factor) in factors.enumerated() {
            if factor == 1 {
                out.append(dims[d + 1])
                continue
            }
            guard let size = dims[d + 1].fixedValue else {
                throw TypeError(op: name, "spatial dimension \(d + 1) of \(input) must be known to scale it by \(factor)")
            }
            out.append(.fixed(try multiply(size, factor, "dimension \(d + 1) (\(size)) times \(factor)")))
        }
        out.append(dims[dims.count - 1])
        return TensorType(input.dtype, Shape(out))
    }

    /// The output length of a sliding window: floor((size + pads - window) / stride) + 1.
    /// A symbolic length stays itself when the window keeps every length (stride 1, pads adding up to the
    /// window less one: Keras's "same" padding); any other window needs the length known.
    private func windowed(_ dim: Dim, window: Int, stride: Int, padBegin: Int, padEnd: Int) throws(TypeError) -> Dim {
        if case .symbolic(let symbol) = dim {
            guard stride == 1, padBegin >= 0, padEnd >= 0, window >= 1, CheckedArithmetic.add(padBegin, padEnd) == window - 1 else {
                throw TypeError(
                    op: name,
                    "the size \(symbol) is unknown; a window of \(window) with stride \(stride) and padding \(padBegin)+\(padEnd) needs it known"
                )
            }
            return dim
        }
        guard let size = dim.fixedValue else { throw TypeError(op: name, "spatial dimensions must be known") }
        let padded = try add(try add(size, padBegin, "a dimension with its padding"), padEnd, "a dimension with its padding")
        guard stride >= 1, window >= 1, padBegin >= 0, padEnd >= 0, padded >= window else {
            throw TypeError(
                op: name, "a window of \(window) (stride \(stride)) does not fit a dimension of \(size) with padding \(padBegin)+\(padEnd)")
        }
        return .fixed((padded - window) / stride + 1)
    }

    /// The extent of a kernel of `k` taps spaced `dilation` apart: dilation * (k - 1) + 1.
    private func dilatedKernel(_ k: Int, dilation: Int, dimension d: Int) throws(TypeError) -> Int {
        guard k >= 1 else { throw TypeError(op: name, "kernel size \(k) of dimension \(d) is not positive") }
        let what = "the dilated kernel of dimension \(d) (dilation \(dilation), kernel \(k))"
        return try add(try multiply(dilation, k - 1, what), 1, what)
    }
}
