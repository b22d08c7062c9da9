import KilnIR

/// Folds an inference BatchNorm over the channels into the Conv or Gemm before it: the kernel's output
/// channels are scaled and the bias shifted, so the normalization costs nothing at run time.
///
/// With s = gamma / sqrt(variance + epsilon): kernel'[..., c] = kernel[..., c] * s[c] and
/// bias'[c] = (bias[c] - mean[c]) * s[c] + beta[c].
///
/// A BatchNorm with nothing to fold into becomes one scale and shift, x * s + (beta - mean * s), with both
/// constants precomputed and shaped to broadcast along its axis.
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
///     %y.scaled = Mul(%x, %y.scale) : f32[N,4,8]          // %y.scale : f32[4,1]
///     %y = Add(%y.scaled, %y.shift) : f32[N,4,8]          // %y.shift : f32[4,1]
public struct FoldBatchNorm: Pass {
    public static let name = "fold-batchnorm"
    public static let summary = "fold BatchNorm into the Conv or Gemm before it, or make it one scale and shift"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            foldIntoProduct(&graph, index, context) || scaleAndShift(&graph, index, context)
        }
        return graph
    }

    private func foldIntoProduct(_ graph: inout Graph, _ index: Int, _ context: RewriteContext) -> Bool {
        let node = graph.nodes[index]
        guard case .batchNorm(let epsilon, let axis) = node.op, let p = context.producers[node.inputs[0]],
            context.uses[node.inputs[0]] == 1, !graph.outputs.contains(node.inputs[0]),
            axis == -1 || axis == node.outputType.shape.rank - 1,
            let gamma = context.constants[node.inputs[1]]?.floats, let beta = context.constants[node.inputs[2]]?.floats,
            let mean = context.constants[node.inputs[3]]?.floats, let variance = context.constants[node.inputs[4]]?.floats,
            let folded = fold(graph.nodes[p], context.constants, gamma, beta, mean, variance, epsilon)
        else { return false }
        let kernel = graph.freshName("\(graph.nodes[p].inputs[1]).bn")
        graph.constants.append(Constant(kernel, folded.kernel))
        let bias = graph.freshName("\(graph.nodes[p].inputs[1]).bn_bias")
        graph.constants.append(Constant(bias, folded.bias))
        graph.nodes[p].inputs = [graph.nodes[p].inputs[0], kernel, bias]
        graph.nodes[p].outputs = node.outputs
        graph.nodes.remove(at: index)
        graph.removeDeadCode()
        return true
    }

    /// y = x * s + t with s = gamma / sqrt(variance + epsilon) and t = beta - mean * s, computed in double
    /// precision like the interpreter's BatchNorm.
    private func scaleAndShift(_ graph: inout Graph, _ index: Int, _ context: RewriteContext) -> Bool {
        let node = graph.nodes[index]
        guard case .batchNorm(let epsilon, let axis) = node.op, let gamma = context.constants[node.inputs[1]]?.floats,
            let beta = context.constants[node.inputs[2]]?.floats, let mean = context.constants[node.inputs[3]]?.floats,
            let variance = context.constants[node.inputs[4]]?.floats
        else { return false }
        let type = node.outputType, rank = type.shape.rank
        let a = axis < 0 ? axis + rank : axis
        let scale = gamma.indices.map { Double(gamma[$0]) / (Double(variance[$0]) + Double(epsilon)).squareRoot() }
        let shift = gamma.indices.map { Double(beta[$0]) - Double(mean[$0]) * scale[$0] }
        // [C] followed by a 1 for each dimension after the axis, so it broadcasts along the axis.
        let shape = [gamma.count] + Array(repeating: 1, count: rank - a - 1)
        let y = node.outputs[0].name
        let scaleName = graph.freshName("\(y).scale")
        graph.constants.append(Constant(scaleName, Tensor(shape: shape, floats: scale.map(Float.init))))
        let shiftName = graph.freshName("\(y).shift")
        graph.constants.append(Constant(shiftName, Tensor(shape: shape, floats: shift.map(Float.init))))
        let scaled = graph.freshName("\(y).scaled")
        graph.nodes[index] = Node(name: node.name, op: .binary(.add), inputs: [scaled, shiftName], outputs: node.outputs)
        graph.nodes.insert(Node(name: scaled, op: .binary(.mul), inputs: [node.inputs[0], scaleName], outputs: [Value(scaled, type)]), at: index)
        graph.removeDeadCode()
        return true
    }

    private func fold(
        _ producer: Node, _ constants: [String: Tensor], _ gamma: [Float], _ beta: [Float], _ mean: [Float], _ variance: [Float],
        _ epsilon: Float
    ) -> (kernel: Tensor, bias: Tensor)? {
        guard producer.inputs.count >= 2, let kernel = constants[producer.inputs[1]], kernel.dtype == .float32 else { return nil }
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
        case .identity, .activation, .binary, .matMul, .softmax, .flatten, .reshape, .transpose, .cast, .pool, .reduce, .batchNorm, .concat, .pad, .crop, .convTranspose, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .fused, .layerNorm:
            return nil
        }
        var bias = [Float](repeating: 0, count: channels)
        if producer.inputs.count == 3 {
            guard let existing = constants[producer.inputs[2]], existing.count == channels else { return nil }
            bias = existing.floats
        }
        let values = kernel.floats.enumerated().map { $1 * scale[channelOf($0)] }
        let shifted = (0..<channels).map { (bias[$0] - mean[$0]) * scale[$0] + beta[$0] }
        return (Tensor(shape: kernel.shape, floats: values), Tensor(shape: [channels], floats: shifted))
    }
}
