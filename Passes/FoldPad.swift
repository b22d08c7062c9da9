import KilnIR

/// Folds a Pad of the spatial dimensions into the padding of the Conv or MaxPool that reads it.
///
/// A Conv pads with zeros, so a zero Pad folds into any Conv. A MaxPool's padding never wins the maximum
/// (it is -infinity), so a Pad folds into it when the Pad's value is -infinity, or when it is zero and the
/// padded values are known to be non-negative (a Relu, Sigmoid, ReLU6... came first) — in both cases only
/// while every window still overlaps the input (each pad smaller than the window, as ONNX also requires).
/// An AveragePool divides by the number of real elements (Keras's and the IR's only mode), while a Pad's
/// zeros would count, so a Pad before an AveragePool stays; so does a Pad of the batch or channel
/// dimension, and one before a ConvTranspose (whose pads crop its output).
///
/// Rewrite:
///
///     %p = Pad(%x) {pads = [0, 1, 1, 0, 0, 1, 1, 0], value = 0.0} : f32[N,6,6,3]     // %x : f32[N,4,4,3]
///     %y = Conv(%p, %k) {strides = [1, 1], dilations = [1, 1], pads = [0, 0, 0, 0], groups = 1} : f32[N,4,4,8]
///   ->
///     %y = Conv(%x, %k) {strides = [1, 1], dilations = [1, 1], pads = [1, 1, 1, 1], groups = 1} : f32[N,4,4,8]
public struct FoldPad: RulePass {
    public static let name = "fold-pad"
    public static let summary = "fold a spatial Pad into the padding of the Conv or MaxPool after it"

    public init() {}

    public var rules: RuleTable { RuleTable([("fold-pad-into-window", Self.foldPad)]) }

    static let foldPad: RewriteRule = { node, context in
        guard let pad = context.producer(node.inputs[0]), case .pad(let padding, let value) = pad.op,
            context.isOnlyRead(node.inputs[0], by: node)
        else { return nil }
        let rank = padding.count / 2, spatial = rank - 2
        // Nothing on the batch or channel dimensions.
        guard spatial >= 1, padding[0] == 0, padding[rank - 1] == 0, padding[rank] == 0, padding[2 * rank - 1] == 0 else { return nil }
        let extra = Array(padding[1..<(rank - 1)]) + Array(padding[(rank + 1)..<(2 * rank - 1)])
        let source = pad.inputs[0]
        guard let folded = fold(node.op, extra, value: value, source: source, context) else { return nil }
        var result = node
        result.op = folded
        result.inputs[0] = source
        return .replace(with: result)
    }

    /// The op with the Pad's amounts added to its own padding, or nil when that would compute something else.
    static func fold(_ op: Op, _ extra: [Int], value: Float, source: String, _ context: RewriteContext) -> Op? {
        switch op {
        case .conv(var c):
            guard value == 0, c.pads.count == extra.count else { return nil }
            c.pads = zip(c.pads, extra).map(+)
            return .conv(c)
        case .fused(let product, let epilogue):
            guard case .conv = product, let folded = fold(product, extra, value: value, source: source, context) else { return nil }
            return .fused(folded, epilogue: epilogue)
        case .pool(var pooling):
            guard pooling.kind == .max, pooling.pads.count == extra.count else { return nil }
            guard value == -.infinity || (value == 0 && NonNegative(context: context).holds(for: source)) else { return nil }
            pooling.pads = zip(pooling.pads, extra).map(+)
            let spatial = pooling.window.count
            guard (0..<spatial).allSatisfy({ pooling.pads[$0] < pooling.window[$0] && pooling.pads[spatial + $0] < pooling.window[$0] })
            else { return nil }
            return .pool(pooling)
        default:
            return nil
        }
    }
}

/// Whether a value is provably never negative, from the ops that computed it.
struct NonNegative {
    let context: RewriteContext

    func holds(for value: String, depth: Int = 0) -> Bool {
        if let constant = context.constant(value) {
            return constant.dtype == .float32 && constant.floats.allSatisfy { $0 >= 0 }
        }
        guard depth < 32, let node = context.producer(value) else { return false }
        let inputs = { node.inputs.allSatisfy { holds(for: $0, depth: depth + 1) } }
        switch node.op {
        case .activation(let activation): return Self.isNonNegative(activation)
        case .fused(_, let epilogue): return Self.isNonNegative(epilogue)
        case .softmax: return true
        // Upsampling repeats or interpolates (a convex combination of) its input.
        case .identity, .reshape, .flatten, .transpose, .crop, .slice, .concat, .binary(.mul), .binary(.add), .binary(.min), .pool, .reduce,
            .upsample:
            return inputs()
        case .gather: return holds(for: node.inputs[0], depth: depth + 1)
        case .pad(_, let padValue): return padValue >= 0 && inputs()
        case .binary(.max): return node.inputs.contains { holds(for: $0, depth: depth + 1) }
        // A quotient of non-negative values can be 0 / 0.
        // A comparison is a bool, not a number.
        case .cast, .compare, .binary(.sub), .binary(.div), .binary(.pow), .matMul, .gemm, .conv, .convTranspose, .batchNorm, .layerNorm,
            .quantizeLinear, .dequantizeLinear, .recurrent, .attention:
            return false
        }
    }

    static func isNonNegative(_ activation: Activation) -> Bool {
        switch activation {
        case .relu, .sigmoid, .exp, .softplus, .hardSigmoid, .abs: true
        case .clip(let lower, _): lower >= 0
        case .thresholdedRelu(let theta): theta >= 0
        case .tanh, .softsign, .elu, .selu, .gelu, .swish, .leakyRelu, .sqrt, .log, .neg, .erf, .reciprocal: false
        }
    }
}
