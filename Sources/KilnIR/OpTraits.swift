/// What groups of ops have in common, defined once with exhaustive switches so a new op must say where it
/// belongs. Passes ask these questions instead of listing every op they do not handle; syntax, shape
/// inference, the interpreter and the emitters keep their own exhaustive switches, where each op needs its
/// own behaviour.
extension Op {
    /// A product of a matrix or convolution: Conv, ConvTranspose, Gemm, MatMul. These are the ops that
    /// may take an activation as their epilogue (`Op.fused`), and that pruning and quantization work on.
    public var isProduct: Bool {
        switch self {
        case .conv, .convTranspose, .gemm, .matMul: true
        case .identity, .activation, .binary, .compare, .softmax, .flatten, .reshape, .transpose, .cast, .pool, .reduce, .batchNorm,
            .layerNorm, .concat, .pad, .crop, .slice, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .recurrent, .attention,
            .fused:
            false
        }
    }

    /// Whether an activation may be fused into the op as its epilogue (`Op.fused`); a backend may fuse
    /// fewer (`EpilogueSupport`).
    public var acceptsEpilogue: Bool { isProduct }

    /// Computes each output element from the input elements at the same position only (after
    /// broadcasting): activations, binary arithmetic, comparisons, Cast, Identity, QuantizeLinear and
    /// DequantizeLinear. Such an op commutes with any permutation of dimensions applied to all its
    /// operands.
    public var isElementwise: Bool {
        switch self {
        case .identity, .activation, .binary, .compare, .cast, .quantizeLinear, .dequantizeLinear: true
        case .matMul, .gemm, .softmax, .flatten, .reshape, .transpose, .conv, .convTranspose, .pool, .reduce, .batchNorm, .layerNorm,
            .concat, .pad, .crop, .slice, .upsample, .gather, .recurrent, .attention, .fused:
            false
        }
    }

    /// Changes only the shape, never the order of the elements in memory: Reshape, Flatten, Identity.
    public var isShapeOnly: Bool {
        switch self {
        case .identity, .reshape, .flatten: true
        case .activation, .binary, .compare, .matMul, .gemm, .softmax, .transpose, .cast, .conv, .convTranspose, .pool, .reduce,
            .batchNorm, .layerNorm, .concat, .pad, .crop, .slice, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .recurrent,
            .attention,
            .fused:
            false
        }
    }

    /// Moves or copies elements without computing new values: shape-only ops, Transpose, Concat, Pad,
    /// Crop, Slice, Gather and nearest upsampling.
    public var isLayoutOnly: Bool {
        switch self {
        case .identity, .reshape, .flatten, .transpose, .concat, .pad, .crop, .slice, .gather: true
        case .upsample(_, let mode): mode == .nearest
        case .activation, .binary, .compare, .matMul, .gemm, .softmax, .cast, .conv, .convTranspose, .pool, .reduce, .batchNorm, .layerNorm,
            .quantizeLinear, .dequantizeLinear, .recurrent, .attention, .fused:
            false
        }
    }

    /// The axis along which the op's per-channel parameters or channels lie, for an input of `rank`
    /// dimensions: the last for channels-last products, pooling and upsampling, BatchNorm's `axis`, the
    /// quantization axis. Nil for ops with no channel axis.
    public func channelAxis(rank: Int) -> Int? {
        func normalized(_ axis: Int) -> Int { axis < 0 ? axis + rank : axis }
        switch self {
        case .conv, .convTranspose, .pool, .upsample, .gemm, .matMul: return rank - 1
        case .batchNorm(_, let axis), .quantizeLinear(let axis), .dequantizeLinear(let axis): return normalized(axis)
        case .fused(let product, _): return product.channelAxis(rank: rank)
        case .identity, .activation, .binary, .compare, .softmax, .flatten, .reshape, .transpose, .cast, .reduce, .layerNorm, .concat, .pad,
            .crop, .slice, .gather, .recurrent, .attention:
            return nil
        }
    }
}

extension Op {
    /// The op without its fused epilogue: the product of `.fused`, any other op itself.
    public var withoutEpilogue: Op {
        if case .fused(let product, _) = self { return product }
        return self
    }
}
