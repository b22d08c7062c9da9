import Foundation // powf, for BinaryOp.pow

/// An elementwise activation function. Each is an op of its own in the IR (`%y = Relu(%x)`), or the fused
/// epilogue of a matrix product or convolution (`Op.fused`).
public enum Activation: Hashable, Sendable {
    case relu
    case sigmoid
    case tanh
    case exp
    /// log(1 + exp(x))
    case softplus
    /// x / (1 + |x|)
    case softsign
    /// x if x > 0 else alpha * (exp(x) - 1)
    case elu(alpha: Float)
    /// gamma * (x if x > 0 else alpha * (exp(x) - 1))
    case selu(alpha: Float, gamma: Float)
    /// x * Φ(x), exactly with erf or with the tanh approximation.
    case gelu(approximate: Bool)
    /// x * sigmoid(x), also called SiLU.
    case swish
    /// max(0, min(1, alpha * x + beta))
    case hardSigmoid(alpha: Float, beta: Float)
    /// x if x >= 0 else alpha * x
    case leakyRelu(alpha: Float)
    /// min(max(x, min), max)
    case clip(min: Float, max: Float)
    /// The square root.
    case sqrt
    /// x if x > theta else 0
    case thresholdedRelu(theta: Float)
    /// The natural logarithm (NaN below 0, -inf at 0).
    case log
    /// |x|
    case abs
    /// -x
    case neg
    /// The error function, 2/sqrt(pi) times the integral of exp(-t^2) from 0 to x.
    case erf
    /// 1 / x
    case reciprocal

    /// Keras's SELU constants, which are also ONNX Selu's defaults.
    public static let seluAlpha: Float = 1.6732632423543772848170429916717
    public static let seluGamma: Float = 1.0507009873554804934193349852946
}

/// Every operation of the IR. Backends and the interpreter switch over it with no `default:`, so adding
/// a case makes the compiler list each place that must learn it.
public enum Op: Hashable, Sendable {
    /// y = x
    case identity
    /// An elementwise activation.
    case activation(Activation)
    /// Elementwise arithmetic of two operands of one element type, with NumPy broadcasting.
    case binary(BinaryOp)
    /// Elementwise comparison of two operands of one element type, with NumPy broadcasting; the result is
    /// `bool` (ONNX's Equal, Greater, GreaterOrEqual, Less, LessOrEqual, and Not(Equal) for NotEqual).
    case compare(Comparison)
    /// Matrix product with NumPy semantics: [..., M, K] x [K, N] -> [..., M, N].
    case matMul
    /// Y = A x op(B) (+ C): A is [M, K]; B is [K, N] or, with `transB`, [N, K]; the optional C broadcasts
    /// to [M, N].
    case gemm(transB: Bool)
    /// Softmax along one axis (negative counts from the end).
    case softmax(axis: Int)
    /// Collapses dimensions before `axis` into the first output dimension and the rest into the second.
    case flatten(axis: Int)
    /// Reshapes to `shape`; one entry may be -1 (inferred), 0 copies the input dimension.
    case reshape(shape: [Int])
    /// Permutes dimensions: output dimension i is input dimension perm[i].
    case transpose(perm: [Int])
    /// Converts elements to another type.
    case cast(to: DType)
    /// N-d convolution over channels-last data: x [N, spatial..., Cin] and w [kernel..., Cin/groups, Cout]
    /// (Keras's layouts), with an optional bias [Cout]; output [N, spatial'..., Cout].
    case conv(Convolution)
    /// Transposed convolution over channels-last data: x [N, spatial..., Cin] and w [kernel..., Cout, Cin]
    /// (Keras's layout), optional bias [Cout]. Output length per dimension is
    /// (in - 1) * stride + dilation * (kernel - 1) + 1 - pads[d] - pads[spatial + d]; a negative end pad
    /// extends the output with positions no input reaches.
    case convTranspose(Convolution)
    /// Max or average pooling over the spatial dimensions of channels-last data [N, spatial..., C].
    case pool(Pooling)
    /// Reduces along `axes`, keeping them as size 1 with `keepDims`.
    case reduce(Reduction, axes: [Int], keepDims: Bool)
    /// Layer normalization over dimensions `axis...`: (x - mean) / sqrt(variance + epsilon), times the
    /// optional scale, plus the optional bias (both shaped like those dimensions); inputs x[, scale[, bias]].
    case layerNorm(axis: Int, epsilon: Float)
    /// Inference batch normalization along `axis`: (x - mean) / sqrt(variance + epsilon) * scale + offset,
    /// with inputs x, scale, offset, mean, variance.
    case batchNorm(epsilon: Float, axis: Int)
    /// Joins any number of inputs along an axis.
    case concat(axis: Int)
    /// Pads with a constant: `pads` holds the count before each dimension, then the count after each.
    case pad(pads: [Int], value: Float)
    /// Removes `pads[d]` elements before and `pads[rank + d]` after each dimension d.
    case crop(pads: [Int])
    /// Strided slices along `axes` (negative counts from the end), exactly ONNX Slice (opset 10 on): for an
    /// axis of size d, a negative start or end has d added; with a positive step the start and end are then
    /// clamped to [0, d] and the slice takes start, start + step, ... while below end; with a negative step
    /// they are clamped to [0, d - 1] and [-1, d - 1] and it takes start, start + step, ... while above end.
    /// `starts`, `ends` and `steps` hold one entry per axis, steps are never 0, each sliced axis must have a
    /// known size and keep at least one element.
    case slice(axes: [Int], starts: [Int], ends: [Int], steps: [Int])
    /// Upsampling of channels-last data [N, spatial..., C] by an integer factor per spatial dimension.
    /// Nearest: output position o repeats input o / factor. Linear (bilinear, trilinear): half-pixel
    /// centers, output position o reads input coordinate (o + 0.5) / factor - 0.5 clamped to the input
    /// (TensorFlow's `resize` and ONNX Resize's `half_pixel`).
    case upsample(factors: [Int], mode: Upsampling)
    /// Picks slices of `data` along `axis` by integer `indices` (i32 or i64): the output shape is
    /// data[..<axis] + indices + data[axis+1...]. An index outside [0, size) is an error.
    case gather(axis: Int)
    /// ONNX QuantizeLinear: y = saturate(round_half_even(x / scale) + zeroPoint), with inputs x (f32), scale
    /// (f32, one value or one per entry of `axis`) and zeroPoint (i8 or u8, shaped like scale), which sets
    /// y's type.
    case quantizeLinear(axis: Int)
    /// ONNX DequantizeLinear: y = (x - zeroPoint) * scale in f32, with inputs x (i8, u8 or i32), scale and
    /// zeroPoint as for QuantizeLinear.
    case dequantizeLinear(axis: Int)
    /// A recurrent layer over a batch-major sequence: ONNX's RNN, GRU or LSTM (opset 14, `layout = 1`), as
    /// `Recurrence` specifies (inputs X, W, R, B[, initial_h[, initial_c]]; outputs Y, Y_h[, Y_c]).
    case recurrent(Recurrence)
    /// Scaled dot-product attention over Keras's multi-head layout, as `Attention` specifies (inputs
    /// query, key, value[, mask]; outputs the result[, the weights]). No ONNX operator below opset 23 matches it;
    /// the ONNX backend writes it as MatMul, Softmax, Where and Transpose.
    case attention(Attention)
    /// A Conv, ConvTranspose, Gemm or MatMul whose results pass through `epilogue` before anything reads
    /// them; written as the product with an `epilogue` attribute (`Conv(...) {..., epilogue = Relu}`).
    indirect case fused(Op, epilogue: Activation)
}

/// An elementwise operation of two operands (ONNX's binary operators of the same names).
public enum BinaryOp: String, Hashable, Sendable, CaseIterable {
    /// a + b, a - b, a * b, a / b (IEEE 754 single precision).
    case add, sub, mul, div
    /// The larger and the smaller operand (ONNX Max and Min).
    case max, min
    /// a raised to the power b (C's `powf`, as ONNX Pow and TensorFlow's pow): NaN for a negative a and a
    /// b that is not a whole number.
    case pow

    /// The name in the text form and in ONNX: `Add`, `Sub`, `Mul`, `Div`, `Max`, `Min`, `Pow`.
    public var name: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    /// The op on one pair of elements, as the reference interpreter computes it.
    public func apply(_ a: Float, _ b: Float) -> Float {
        switch self {
        case .add: a + b
        case .sub: a - b
        case .mul: a * b
        case .div: a / b
        case .max: Swift.max(a, b)
        case .min: Swift.min(a, b)
        case .pow: Foundation.pow(a, b)
        }
    }

    /// Whether swapping the operands gives the same result.
    public var isCommutative: Bool {
        switch self {
        case .add, .mul, .max, .min: true
        case .sub, .div, .pow: false
        }
    }
}

/// An elementwise comparison of two operands, true or false per element.
public enum Comparison: String, Hashable, Sendable, CaseIterable {
    case equal, notEqual, greater, greaterOrEqual, less, lessOrEqual

    /// The name in the text form: `Equal`, `NotEqual`, `Greater`, `GreaterOrEqual`, `Less`, `LessOrEqual` (ONNX's,
    /// but for NotEqual, which ONNX writes as Not(Equal)).
    public var name: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    /// The comparison of one pair of elements (any comparison with NaN is false but NotEqual).
    public func apply(_ a: Double, _ b: Double) -> Bool {
        switch self {
        case .equal: a == b
        case .notEqual: a != b
        case .greater: a > b
        case .greaterOrEqual: a >= b
        case .less: a < b
        case .lessOrEqual: a <= b
        }
    }
}

/// Strides, dilations, explicit padding and groups of a convolution, one entry per spatial dimension.
public struct Convolution: Hashable, Sendable {
    public var strides: [Int]
    public var dilations: [Int]
    /// Padding before each spatial dimension, then after each.
    public var pads: [Int]
    public var groups: Int

    public init(strides: [Int], dilations: [Int], pads: [Int], groups: Int = 1) {
        self.strides = strides
        self.dilations = dilations
        self.pads = pads
        self.groups = groups
    }
}

/// A pooling window. Average pooling divides by the number of real (not padded) elements, as Keras does.
public struct Pooling: Hashable, Sendable {
    public enum Kind: String, Sendable { case max, average }

    public var kind: Kind
    public var window: [Int]
    public var strides: [Int]
    /// Padding before each spatial dimension, then after each.
    public var pads: [Int]

    public init(kind: Kind, window: [Int], strides: [Int], pads: [Int]) {
        self.kind = kind
        self.window = window
        self.strides = strides
        self.pads = pads
    }
}

/// How upsampling fills the positions between input elements.
public enum Upsampling: String, Hashable, Sendable, CaseIterable {
    case nearest, linear
}

/// How a reduction combines elements.
public enum Reduction: String, Hashable, Sendable, CaseIterable {
    case mean, max, min, sum
}
