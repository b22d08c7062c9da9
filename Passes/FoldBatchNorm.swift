import KilnIR

/// Folds an inference BatchNorm over the channels into the Conv or Gemm before it: the kernel's output
/// channels are scaled and the bias shifted, so the normalization costs nothing at run time.
///
/// With s = gamma / sqrt(variance + epsilon): kernel'[..., c] = kernel[..., c] * s[c] and
/// bias'[c] = (bias[c] - mean[c]) * s[c] + beta[c].
///
/// A BatchNorm with nothing to fold into becomes the IR's per-channel affine form: a BatchNorm with
/// scale s, offset beta - mean * s, mean 0, variance 1 and epsilon 0, which computes exactly x * s + t
/// (both precomputed in double precision, like the interpreter's BatchNorm). Both backends run that form
/// as one pass over the data (ONNX BatchNormalization, the Swift executor's affine kernel).
///
/// Rewrite:
///
///     %c = Conv(%x, %k, %b) {...} : f32[N,8,8,4]
///     %y = BatchNorm(%c, %gamma, %beta, %mean, %var) {epsilon = 0.001, axis = -1} : f32[N,8,8,4]
///   ->
///     %y = Conv(%x, %k.bn, %b.bn) {...} : f32[N,8,8,4]
///
///     %y = BatchNorm(%x, %gamma, %beta, %mean, %var) {epsilon = 0.001, axis = 1} : f32[N,4,8]
///   ->
///     %y = BatchNorm(%x, %y.scale, %y.shift, %y.zeros, %y.ones) {epsilon = 0.0, axis = 1} : f32[N,4,8]
public struct FoldBatchNorm: RulePass {
    public static let name = "fold-batchnorm"
    public static let summary = "fold BatchNorm into the Conv or Gemm before it, or make it a per-channel scale and shift"

    public init() {}

    public var rules: RuleTable { RuleTable([("fold-into-product", Self.foldIntoProduct), ("affine-form", Self.affineForm)]) }

    /// The constant parameters of a BatchNorm: gamma, beta, mean, variance.
    static func parameters(_ node: Node, _ context: RewriteContext) -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float])? {
        guard case .batchNorm = node.op,
            let tensors = Optional(node.inputs[1...].compactMap { context.constant($0) }), tensors.count == 4,
            tensors.allSatisfy({ $0.dtype == .float32 && $0.count == tensors[0].count })
        else { return nil }
        return (tensors[0].floats, tensors[1].floats, tensors[2].floats, tensors[3].floats)
    }

    static let foldIntoProduct: RewriteRule = { node, context in
        guard case .batchNorm(let epsilon, let axis) = node.op, let producer = context.producer(node.inputs[0]),
            context.isOnlyRead(node.inputs[0], by: node), axis == -1 || axis == node.outputType.shape.rank - 1,
            let (gamma, beta, mean, variance) = parameters(node, context),
            let folded = fold(producer, context, gamma, beta, mean, variance, epsilon)
        else { return nil }
        let kernel = context.freshName("\(producer.inputs[1]).bn")
        let bias = context.freshName("\(producer.inputs[1]).bn_bias")
        var product = producer
        product.inputs = [producer.inputs[0], kernel, bias]
        product.outputs = node.outputs
        return .replace(with: product, constants: [Constant(kernel, folded.kernel), Constant(bias, folded.bias)])
    }

    /// s = gamma / sqrt(variance + epsilon) and t = beta - mean * s, computed in double precision.
    static let affineForm: RewriteRule = { node, context in
        guard case .batchNorm(let epsilon, let axis) = node.op, let (gamma, beta, mean, variance) = parameters(node, context),
            !(epsilon == 0 && mean.allSatisfy { $0 == 0 } && variance.allSatisfy { $0 == 1 })
        else { return nil }
        let scale = gamma.indices.map { Double(gamma[$0]) / (Double(variance[$0]) + Double(epsilon)).squareRoot() }
        let shift = gamma.indices.map { Double(beta[$0]) - Double(mean[$0]) * scale[$0] }
        let y = node.outputs[0].name, channels = [gamma.count]
        let constants = [
            Constant(context.freshName("\(y).scale"), Tensor(shape: channels, floats: scale.map(Float.init))),
            Constant(context.freshName("\(y).shift"), Tensor(shape: channels, floats: shift.map(Float.init))),
            Constant(context.freshName("\(y).zeros"), Tensor(shape: channels, floats: Array(repeating: 0, count: gamma.count))),
            Constant(context.freshName("\(y).ones"), Tensor(shape: channels, floats: Array(repeating: 1, count: gamma.count))),
        ]
        var affine = node
        affine.op = .batchNorm(epsilon: 0, axis: axis)
        affine.inputs = [node.inputs[0]] + constants.map(\.name)
        return .replace(with: affine, constants: constants)
    }

    private static func fold(
        _ producer: Node, _ context: RewriteContext, _ gamma: [Float], _ beta: [Float], _ mean: [Float], _ variance: [Float],
        _ epsilon: Float
    ) -> (kernel: Tensor, bias: Tensor)? {
        guard producer.inputs.count >= 2, let kernel = context.constant(producer.inputs[1]), kernel.dtype == .float32 else { return nil }
        let channels = gamma.count
        let scale = (0..<channels).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
        // Which kernel element scales with which output channel.
        let channelOf: (Int) -> Int
        switch producer.op {
        case .conv:
            guard kernel.shape.last == channels else { return nil }
            channelOf = { $0 % channels }
        case .gemm(let transB):
            guard kernel.shape.count == 2 else { return nil }
            if transB {
                guard kernel.shape[0] == channels else { return nil }
                let k = kernel.shape[1]
                channelOf = { $0 / k }
            } else {
                guard kernel.shape[1] == channels else { return nil }
                channelOf = { $0 % channels }
            }
        default:
            return nil
        }
        var bias = [Float](repeating: 0, count: channels)
        if producer.inputs.count == 3 {
            guard let existing = context.constant(producer.inputs[2]), existing.count == channels else { return nil }
            bias = existing.floats
        }
        let values = kernel.floats.enumerated().map { $1 * scale[channelOf($0)] }
        let shifted = (0..<channels).map { (bias[$0] - mean[$0]) * scale[$0] + beta[$0] }
        return (Tensor(shape: kernel.shape, floats: values), Tensor(shape: [channels], floats: shifted))
    }
}
