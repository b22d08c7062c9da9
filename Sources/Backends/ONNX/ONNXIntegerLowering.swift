import KilnIR
import ONNXProto

/// Quantized products with ONNX's integer operators (`ONNXQuantizedForm.qoperator`).
///
/// A Gemm or MatMul whose input is DequantizeLinear(QuantizeLinear(x)) and whose kernel is DequantizeLinear
/// of constant int8 weights multiplies the integers and rescales the exact int32 sums:
///
///     %y = Gemm(DequantizeLinear(QuantizeLinear(%x)), DequantizeLinear(%w.quantized), %b)
///   ->
///     QuantizeLinear(x) -> MatMulInteger(xq, wq, x_zero_point, w_zero_point) -> Cast(float)
///       -> Mul(x_scale * w_scale, one per output channel) -> Add(b)
///
/// ONNX Runtime's CPU MatMulInteger takes u8 x i8 and i8 x i8, so the int8 weights are read as they are. Its
/// ConvInteger takes only u8 x u8, so a Conv's weights are written plus 128 with zero point 128, and int8
/// activations are quantized to uint8 with their zero point plus 128: the same integers after the zero
/// points are subtracted. Products without a quantized input (dynamic quantization: weights only) keep
/// reading DequantizeLinear; the QuantizeLinear/DequantizeLinear nodes nothing reads any more are swept.
extension ONNXGraphBuilder {
    /// Writes `node` with integer operators when it is a quantized product; returns false, writing nothing,
    /// for any other node.
    mutating func lowerInteger(_ node: Node) throws(ONNXEmitError) -> Bool {
        let x = node.inputs, y = node.outputs[0].name
        guard x.count >= 2, types[y]?.dtype == .float32, let input = quantizedInput(x[0]) else { return false }
        switch node.op {
        case .gemm(let transB):
            guard let kernel = quantizedKernel(x[1], outputAxis: transB ? 0 : 1) else { return false }
            // MatMulInteger reads [K, N].
            let weights = transB ? constant("\(kernel.integers).kn", kernel.weights.transposed([1, 0])) : kernel.integers
            if x.count == 3, let integers = integerBias(x[2], input, kernel) {
                lowerMatMulInteger(input, weights, kernel, bias: nil, integerBias: integers, y, node.name)
            } else {
                lowerMatMulInteger(input, weights, kernel, bias: x.count == 3 ? x[2] : nil, integerBias: nil, y, node.name)
            }
        case .matMul:
            guard let kernel = quantizedKernel(x[1], outputAxis: 1) else { return false }
            lowerMatMulInteger(input, kernel.integers, kernel, bias: nil, integerBias: nil, y, node.name)
        case .conv(let c):
            let spatial = c.strides.count
            guard let kernel = quantizedKernel(x[1], outputAxis: spatial + 1) else { return false }
            let outputs = kernel.weights.shape[spatial + 1]
            // The bias as [C, 1, ...], to broadcast over the channels-first result.
            // A bias quantized to int32 is added to the integer sums.
            var bias: Tensor?
            if x.count == 3 {
                guard let tensor = integerBias(x[2], input, kernel) ?? floatConstant(x[2]), tensor.count == outputs else { return false }
                bias = Tensor(shape: [outputs] + Array(repeating: 1, count: spatial), storage: tensor.storage)
            }
            try lowerConvInteger(input, kernel, c, bias: bias, node)
        default:
            return false
        }
        return true
    }

    /// QuantizeLinear(x) -> MatMulInteger (-> Add the int32 bias) -> Cast -> Mul by the combined scales (-> Add
    /// the float bias).
    private mutating func lowerMatMulInteger(
        _ input: QuantizedInput, _ weights: String, _ kernel: QuantizedKernel, bias: String?, integerBias: Tensor?, _ y: String,
        _ name: String
    ) {
        var sums = intermediate("MatMulInteger", [input.integers, weights, input.zeroPoint, kernel.zeroPoint], y, "integer")
        if let integerBias {
            sums = intermediate("Add", [sums, constant("\(name).bias_i32", integerBias)], y, "biased")
        }
        let shape = kernel.scales.count == 1 ? [] : [kernel.scales.count]
        let rescale = constant("\(name).rescale", Tensor(shape: shape, floats: kernel.scales.map { $0 * input.scale }))
        rescaled(sums, rescale, bias: bias, y, name)
    }

    /// QuantizeLinear on the channels-first input -> ConvInteger with uint8 weights -> Cast -> Mul -> Add, then
    /// back to channels-last.
    private mutating func lowerConvInteger(
        _ input: QuantizedInput, _ kernel: QuantizedKernel, _ c: Convolution, bias: Tensor?, _ node: Node
    ) throws(ONNXEmitError) {
        let y = node.outputs[0].name, name = node.name
        let spatial = c.strides.count
        // Keras's kernel [kernel..., Cin/groups, Cout] is ONNX's [Cout, Cin/groups, kernel...], here plus 128.
        let oihw = kernel.weights.transposed([spatial + 1, spatial] + Array(0..<spatial))
        guard case .int8(let signed) = oihw.storage else { throw .unsupported(node: name, reason: "its quantized kernel is not int8") }
        let shifted = Tensor(shape: oihw.shape, storage: .uint8(signed.map { UInt8(Int($0) + 128) }))
        let weights = constant("\(kernel.integers).oihw_u8", shifted)
        let (integers, zeroPoint) = try channelsFirstIntegers(input, node)
        let sums = fresh("\(y).integer")
        add(
            "ConvInteger", [integers, weights, zeroPoint, scalar("\(name).kernel_zero_point", 128, .uint8)], [sums], sums,
            [
                ints("kernel_shape", Array(oihw.shape[2...])), ints("strides", c.strides), ints("dilations", c.dilations),
                ints("pads", c.pads), int("group", c.groups),
            ])
        let shape = kernel.scales.count == 1 ? [] : [kernel.scales.count] + Array(repeating: 1, count: spatial)
        let rescale = constant("\(name).rescale", Tensor(shape: shape, floats: kernel.scales.map { $0 * input.scale }))
        let value = fresh("\(y).nchw")
        if let bias, bias.dtype == .int32 {
            let biased = fresh("\(y).biased")
            add("Add", [sums, constant("\(name).bias_nchw", bias)], [biased], biased)
            rescaled(biased, rescale, bias: nil, value, name)
        } else {
            rescaled(sums, rescale, bias: bias.map { constant("\(name).bias_nchw", $0) }, value, name)
        }
        try toChannelsLast(value, y, node)
    }

    /// Cast(int32 sums) * rescale (+ bias) as `y`, the last node under the IR node's name.
    private mutating func rescaled(_ sums: String, _ rescale: String, bias: String?, _ y: String, _ name: String) {
        let float = fresh("\(y).float")
        add("Cast", [sums], [float], float, [int("to", Int(ONNXEmitter.elementType(.float32)))])
        guard let bias else {
            add("Mul", [float, rescale], [y], name)
            return
        }
        let scaled = intermediate("Mul", [float, rescale], y, "rescaled")
        add("Add", [scaled, bias], [y], name)
    }

    /// The uint8 channels-first integers of a quantized value and their zero point, quantized once per value
    /// from the channels-first copy of its float value (an int8 value's zero point moved up by 128).
    private mutating func channelsFirstIntegers(_ input: QuantizedInput, _ node: Node) throws(ONNXEmitError) -> (String, String) {
        if let existing = quantizedChannelsFirst[input.integers] { return existing }
        let first = try channelsFirstInput(input.float, node)
        let zeroPoint = input.dtype == .uint8 ? input.zeroPoint : scalar("\(input.zeroPoint).u8", Float(input.zero + 128), .uint8)
        let integers = fresh("\(input.integers).nchw")
        add("QuantizeLinear", [first, input.scaleName, zeroPoint], [integers], integers)
        quantizedChannelsFirst[input.integers] = (integers, zeroPoint)
        return (integers, zeroPoint)
    }

    /// The integers of `value` when it is DequantizeLinear of constant int32 with zero points 0 and the scales
    /// of the integer sums (input scale x weight scale): a bias that adds to the sums exactly.
    private func integerBias(_ value: String, _ input: QuantizedInput, _ kernel: QuantizedKernel) -> Tensor? {
        guard let dequantize = producers[value], case .dequantizeLinear = dequantize.op, dequantize.inputs.count == 3,
            let q = constants[dequantize.inputs[0]], q.dtype == .int32, let scale = constants[dequantize.inputs[1]],
            let zero = constants[dequantize.inputs[2]], zero.int64s.allSatisfy({ $0 == 0 })
        else { return nil }
        let sums = kernel.scales.map { $0 * input.scale }, scales = scale.floats
        guard scales.count == q.count, sums.count == 1 || sums.count == q.count,
            scales.indices.allSatisfy({ scales[$0] == sums[sums.count == 1 ? 0 : $0] })
        else { return nil }
        return q
    }

    /// The values of `value` when it is an f32 constant or DequantizeLinear of constants (a bias quantized
    /// to int32), dequantized as the interpreter does.
    private func floatConstant(_ value: String) -> Tensor? {
        if let tensor = constants[value] { return tensor.dtype == .float32 ? tensor : nil }
        guard let dequantize = producers[value], case .dequantizeLinear(let axis) = dequantize.op, dequantize.inputs.count == 3,
            let q = constants[dequantize.inputs[0]], let scale = constants[dequantize.inputs[1]], let zero = constants[dequantize.inputs[2]]
        else { return nil }
        let a = axis < 0 ? axis + q.shape.count : axis
        let perAxis = scale.shape.count == 1, inner = perAxis ? q.shape[(a + 1)...].reduce(1, *) : 1, size = perAxis ? q.shape[a] : 1
        let integers = q.int64s, zeros = zero.int64s, scales = scale.floats
        return Tensor(
            shape: q.shape, floats: integers.indices.map { i in Float(integers[i] - zeros[i / inner % size]) * scales[i / inner % size] })
    }

    /// `value` when it is DequantizeLinear(QuantizeLinear(x)) with one scale and zero point, both constants.
    private func quantizedInput(_ value: String) -> QuantizedInput? {
        guard let dequantize = producers[value], case .dequantizeLinear = dequantize.op, dequantize.inputs.count == 3,
            let quantize = producers[dequantize.inputs[0]], case .quantizeLinear = quantize.op, quantize.inputs.count == 3,
            let scale = constants[dequantize.inputs[1]], scale.dtype == .float32, scale.count == 1,
            let zero = constants[dequantize.inputs[2]], zero.count == 1, zero.dtype == .uint8 || zero.dtype == .int8,
            constants[quantize.inputs[1]]?.floats == scale.floats, constants[quantize.inputs[2]]?.int64s == zero.int64s
        else { return nil }
        return QuantizedInput(
            float: quantize.inputs[0], integers: dequantize.inputs[0], scale: scale.floats[0], scaleName: dequantize.inputs[1],
            zeroPoint: dequantize.inputs[2], zero: Int(zero.int64s[0]), dtype: zero.dtype)
    }

    /// `value` when it is DequantizeLinear of constant int8 weights with zero points 0 and one scale, or one
    /// per output channel along `outputAxis`.
    private func quantizedKernel(_ value: String, outputAxis: Int) -> QuantizedKernel? {
        guard let dequantize = producers[value], case .dequantizeLinear(let axis) = dequantize.op, dequantize.inputs.count == 3,
            let weights = constants[dequantize.inputs[0]], weights.dtype == .int8, weights.shape.count > outputAxis,
            let scale = constants[dequantize.inputs[1]], scale.dtype == .float32,
            let zero = constants[dequantize.inputs[2]], zero.dtype == .int8, zero.count == scale.count, zero.int64s.allSatisfy({ $0 == 0 })
        else { return nil }
        let rank = weights.shape.count
        let perChannel = scale.count == weights.shape[outputAxis] && (axis < 0 ? axis + rank : axis) == outputAxis
        guard scale.count == 1 || perChannel else { return nil }
        return QuantizedKernel(integers: dequantize.inputs[0], weights: weights, scales: scale.floats, zeroPoint: dequantize.inputs[2])
    }
}

/// A product's input read through QuantizeLinear/DequantizeLinear with one scale and zero point.
private struct QuantizedInput {
    /// The float value quantized, and its integers.
    var float: String
    var integers: String
    var scale: Float
    var scaleName: String
    var zeroPoint: String
    var zero: Int
    /// uint8 or int8.
    var dtype: DType
}

/// A constant int8 kernel read through DequantizeLinear, zero points 0.
private struct QuantizedKernel {
    var integers: String
    var weights: Tensor
    /// One, or one per output channel.
    var scales: [Float]
    var zeroPoint: String
}
