import KilnIR
import ONNXProto

/// Activations as ONNX nodes. Those ONNX lacks at the emitted opset are written with standard ops:
/// Swish as x * Sigmoid(x) (ONNX's Swish arrives in opset 24), and Gelu before opset 20 as its formula.
extension ONNXGraphBuilder {
    /// Appends nodes computing `y = activation(x)`; helper constants have x's element type.
    mutating func lower(_ activation: Activation, _ x: String, _ y: String, _ dtype: DType, _ name: String) {
        switch activation {
        case .relu: add("Relu", [x], [y], name)
        case .sigmoid: add("Sigmoid", [x], [y], name)
        case .tanh: add("Tanh", [x], [y], name)
        case .exp: add("Exp", [x], [y], name)
        case .softplus: add("Softplus", [x], [y], name)
        case .softsign: add("Softsign", [x], [y], name)
        case .sqrt: add("Sqrt", [x], [y], name)
        case .log: add("Log", [x], [y], name)
        case .abs: add("Abs", [x], [y], name)
        case .neg: add("Neg", [x], [y], name)
        case .erf: add("Erf", [x], [y], name)
        case .reciprocal: add("Reciprocal", [x], [y], name)
        case .elu(let alpha): add("Elu", [x], [y], name, [float("alpha", alpha)])
        case .selu(let alpha, let gamma): add("Selu", [x], [y], name, [float("alpha", alpha), float("gamma", gamma)])
        case .leakyRelu(let alpha): add("LeakyRelu", [x], [y], name, [float("alpha", alpha)])
        case .hardSigmoid(let alpha, let beta): add("HardSigmoid", [x], [y], name, [float("alpha", alpha), float("beta", beta)])
        case .thresholdedRelu(let theta): add("ThresholdedRelu", [x], [y], name, [float("alpha", theta)])
        case .clip(let lower, let upper):
            // Since opset 11 the bounds are inputs of x's type.
            add("Clip", [x, scalar("\(name).min", lower, dtype), scalar("\(name).max", upper, dtype)], [y], name)
        case .swish:
            let gate = fresh("\(y).sigmoid")
            add("Sigmoid", [x], [gate], "\(name).sigmoid")
            add("Mul", [x, gate], [y], name)
        case .gelu(let approximate):
            if opset >= 20 {
                add("Gelu", [x], [y], name, [string("approximate", approximate ? "tanh" : "none")])
            } else if approximate {
                lowerTanhGelu(x, y, dtype, name)
            } else {
                lowerExactGelu(x, y, dtype, name)
            }
        }
    }

    /// y = 0.5 * x * (1 + erf(x / sqrt(2)))
    private mutating func lowerExactGelu(_ x: String, _ y: String, _ dtype: DType, _ name: String) {
        let scaled = intermediate("Div", [x, scalar("\(name).sqrt_2", Float(2.0.squareRoot()), dtype)], y, "scaled")
        let erf = intermediate("Erf", [scaled], y, "erf")
        halfTimesOnePlus(x, erf, y, dtype, name)
    }

    /// y = 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
    private mutating func lowerTanhGelu(_ x: String, _ y: String, _ dtype: DType, _ name: String) {
        let square = intermediate("Mul", [x, x], y, "square")
        let cube = intermediate("Mul", [x, square], y, "cube")
        let scaledCube = intermediate("Mul", [cube, scalar("\(name).coefficient", 0.044715, dtype)], y, "scaled_cube")
        let inner = intermediate("Add", [x, scaledCube], y, "inner")
        let sqrt2OverPi = scalar("\(name).sqrt_2_over_pi", Float((2 / Double.pi).squareRoot()), dtype)
        let scaled = intermediate("Mul", [inner, sqrt2OverPi], y, "scaled")
        let tanh = intermediate("Tanh", [scaled], y, "tanh")
        halfTimesOnePlus(x, tanh, y, dtype, name)
    }

    /// y = (0.5 * x) * (1 + t), the last node under the IR node's name.
    private mutating func halfTimesOnePlus(_ x: String, _ t: String, _ y: String, _ dtype: DType, _ name: String) {
        let onePlus = intermediate("Add", [t, scalar("\(name).one", 1, dtype)], y, "one_plus")
        let halfX = intermediate("Mul", [x, scalar("\(name).half", 0.5, dtype)], y, "half_x")
        add("Mul", [halfX, onePlus], [y], name)
    }
}
