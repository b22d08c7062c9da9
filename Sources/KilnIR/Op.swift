/// An elementwise activation function. Each is an op of its own in the IR (`%y = Relu(%x)`), and later
/// a fused epilogue of a Gemm or Conv.
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
    /// Elementwise arithmetic with NumPy broadcasting.
    case add, sub, mul, div
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
}
