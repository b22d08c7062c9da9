import Foundation
import KilnIR

/// Recognizes concepts written out as elementwise arithmetic, as graphs imported from other frameworks
/// arrive, and replaces each with the IR's own op.
///
/// - Swish: x * Sigmoid(x), in either order.
/// - GELU, tanh approximation: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x))), with the
///   factors in any order and grouping, the constants as scalars, and the inner polynomial written in any
///   form built from Add, Sub, Mul and division by a constant (e.g. a * x + b * x * x * x).
/// - LayerNorm: (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) [* gamma] [+ beta] over trailing
///   dimensions.
/// - A per-channel scale and shift, x * s + t with s and t one value per channel of the last axis: the
///   IR's per-channel affine form, a BatchNorm with mean 0, variance 1 and epsilon 0 (see fold-batchnorm).
///
/// Exact GELU needs erf, which the IR does not have, so it cannot be written out in the IR and is not
/// matched.
///
/// Rewrite:
///
///     %s = Sigmoid(%x) : f32[N,4]
///     %y = Mul(%x, %s) : f32[N,4]
///   ->
///     %y = Swish(%x) : f32[N,4]
public struct RecognizePatterns: RulePass {
    public static let name = "recognize-patterns"
    public static let summary = "replace Swish, tanh-GELU, LayerNorm and per-channel scale-shift written out as arithmetic with their ops"

    public init() {}

    public var rules: RuleTable {
        RuleTable([("layer-norm", Self.layerNorm), ("swish", Self.swish), ("gelu-tanh", Self.geluTanh), ("scale-shift", Self.scaleShift)])
    }

    static let swishPattern = Pattern.op(.binary(.mul), .value("x"), .op(.activation(.sigmoid), .value("x")))

    static let swish: RewriteRule = { node, context in
        guard node.outputType.dtype == .float32, let match = swishPattern.match(node.outputs[0].name, context) else { return nil }
        return .replace(with: Node(name: node.name, op: .activation(.swish), inputs: [match["x"]!], outputs: node.outputs))
    }

    /// 0.5 * x * (1 + Tanh(sqrt(2/pi) * x + sqrt(2/pi) * 0.044715 * x^3)), found by reading the arithmetic
    /// as a product of factors, sums and polynomials (any grouping and order).
    static let geluTanh: RewriteRule = { node, context in
        guard node.outputType.dtype == .float32, node.op == .binary(.mul) || node.op == .binary(.div) else { return nil }
        let expression = Expression(context: context)
        guard let (scale, factors) = expression.factors(node.outputs[0].name), factors.count == 2, close(scale, 0.5) else { return nil }
        for (x, other) in [(factors[0], factors[1]), (factors[1], factors[0])] {
            // 1 + Tanh(v), as a sum of the constant 1 and one Tanh.
            guard let terms = expression.terms(other), close(terms.constant, 1), terms.values.count == 1,
                let (op, v) = expression.unary(terms.values[0]), op == .activation(.tanh),
                let polynomial = expression.polynomial(v, in: x)
            else { continue }
            let a = (2 / Double.pi).squareRoot()
            let expected: [Int: Double] = [1: a, 3: a * 0.044715]
            guard Set(polynomial.filter { $0.value != 0 }.keys) == Set(expected.keys),
                expected.allSatisfy({ close(polynomial[$0.key] ?? 0, $0.value) }), context.type(x) == node.outputType
            else { continue }
            return .replace(with: Node(name: node.name, op: .activation(.gelu(approximate: true)), inputs: [x], outputs: node.outputs))
        }
        return nil
    }

    static let isMeanKeepingDims: @Sendable (Op) -> Bool = { if case .reduce(.mean, _, true) = $0 { true } else { false } }

    /// (x - mean(x)) / sqrt(mean((x - mean(x))^2) + epsilon).
    static let normalized = Pattern.op(
        .binary(.div),
        .op(.binary(.sub), .value("x"), .op(where: isMeanKeepingDims, .value("x"), as: "mean"), as: "centered"),
        .op(
            .activation(.sqrt),
            .op(
                .binary(.add), .op(where: isMeanKeepingDims, .op(.binary(.mul), .value("centered"), .value("centered")), as: "variance"),
                .scalar("epsilon"))
        ),
        as: "normalized")

    /// The forms of a layer normalization, longest first: with scale and bias, scale, bias, neither.
    static let layerNormForms = [
        Pattern.op(.binary(.add), .op(.binary(.mul), normalized, .constant("scale")), .constant("bias")),
        Pattern.op(.binary(.mul), normalized, .constant("scale")), Pattern.op(.binary(.add), normalized, .constant("bias")), normalized,
    ]

    /// A layer normalization found in the arithmetic.
    struct LayerNormMatch {
        var x: String
        var axis: Int
        var epsilon: Float
        var scale: Tensor?
        var bias: Tensor?
    }

    /// Replaces the decomposed layer normalization ending at the node, unless the node's only reader
    /// extends it (then that reader is the end).
    static let layerNorm: RewriteRule = { node, context in
        let y = node.outputs[0].name
        guard node.outputType.dtype == .float32, let match = layerNormMatch(y, context), context.type(match.x) == node.outputType else {
            return nil
        }
        if context.uses(y) == 1, !context.isOutput(y), let reader = context.readers(y).first,
            let longer = layerNormMatch(reader.outputs[0].name, context), longer.x == match.x
        {
            return nil
        }
        var inputs = [match.x]
        var constants: [Constant] = []
        if match.scale != nil || match.bias != nil {
            let sizes = match.bias?.shape ?? match.scale!.shape
            let scale = match.scale ?? Tensor(shape: sizes, floats: Array(repeating: 1, count: sizes.reduce(1, *)))
            constants.append(Constant(context.freshName("\(y).scale"), scale))
        }
        if let bias = match.bias { constants.append(Constant(context.freshName("\(y).bias"), bias)) }
        inputs += constants.map(\.name)
        return .replace(
            with: Node(name: node.name, op: .layerNorm(axis: match.axis, epsilon: match.epsilon), inputs: inputs, outputs: node.outputs),
            constants: constants)
    }

    /// The layer normalization whose result is `root`, the means over the same trailing dimensions with
    /// kept dimensions, scale and bias broadcast to those dimensions.
    static func layerNormMatch(_ root: String, _ context: RewriteContext) -> LayerNormMatch? {
        guard let match = layerNormForms.lazy.compactMap({ $0.match(root, context) }).first,
            let x = match["x"], let type = context.type(x),
            case .reduce(_, let axes, _) = match.nodes["mean"]?.op, case .reduce(_, let varianceAxes, _) = match.nodes["variance"]?.op,
            let epsilon = match.constants["epsilon"]
        else { return nil }
        let rank = type.shape.rank
        let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        guard let first = normalized.min(), normalized == Set(first..<rank), first >= 1,
            Set(varianceAxes.map { $0 < 0 ? $0 + rank : $0 }) == normalized,
            type.shape.dims[first...].allSatisfy({ $0.fixedValue != nil })
        else { return nil }
        let shape = type.shape.dims[first...].compactMap(\.fixedValue)
        var result = LayerNormMatch(x: x, axis: first, epsilon: epsilon.floats[0])
        if let scale = match.constants["scale"] {
            guard scale.dtype == .float32, let expanded = broadcast(scale, to: shape) else { return nil }
            result.scale = expanded
        }
        if let bias = match.constants["bias"] {
            guard bias.dtype == .float32, let expanded = broadcast(bias, to: shape) else { return nil }
            result.bias = expanded
        }
        return result
    }

    /// x * s + t with s and t one value per channel of x's last axis (rank 2 or more), as one BatchNorm
    /// with mean 0, variance 1 and epsilon 0: exactly x * s + t.
    static let scaleShiftPattern = Pattern.op(
        .binary(.add), .op(.binary(.mul), .value("x"), .constant("scale"), as: "scaled"), .constant("shift"))

    static let scaleShift: RewriteRule = { node, context in
        guard let match = scaleShiftPattern.match(node.outputs[0].name, context), let x = match["x"], let type = context.type(x),
            type == node.outputType, type.shape.rank >= 2, let channels = type.shape.dims.last?.fixedValue,
            context.isOnlyRead(match["scaled"]!, by: node),
            let scale = perChannel(match.constants["scale"]!, channels), let shift = perChannel(match.constants["shift"]!, channels)
        else { return nil }
        let y = node.outputs[0].name
        let constants = [
            Constant(context.freshName("\(y).scale"), scale), Constant(context.freshName("\(y).shift"), shift),
            Constant(context.freshName("\(y).zeros"), Tensor(shape: [channels], floats: Array(repeating: 0, count: channels))),
            Constant(context.freshName("\(y).ones"), Tensor(shape: [channels], floats: Array(repeating: 1, count: channels))),
        ]
        return .replace(
            with: Node(name: node.name, op: .batchNorm(epsilon: 0, axis: -1), inputs: [x] + constants.map(\.name), outputs: node.outputs),
            constants: constants)
    }

    /// A float constant with one value per channel along the last axis (shape [..., 1, C]), as [C].
    static func perChannel(_ tensor: Tensor, _ channels: Int) -> Tensor? {
        guard tensor.dtype == .float32, tensor.count == channels, tensor.shape.last == channels else { return nil }
        return Tensor(shape: [channels], storage: tensor.storage)
    }

    /// A constant that broadcasts against the trailing dimensions `shape`, expanded to exactly that shape;
    /// nil when it would also vary along earlier dimensions or does not broadcast.
    static func broadcast(_ tensor: Tensor, to shape: [Int]) -> Tensor? {
        var dims = tensor.shape
        while dims.count > shape.count, dims.first == 1 { dims.removeFirst() }
        guard dims.count <= shape.count else { return nil }
        dims = Array(repeating: 1, count: shape.count - dims.count) + dims
        guard zip(dims, shape).allSatisfy({ $0 == 1 || $0 == $1 }) else { return nil }
        let values = tensor.floats, count = shape.reduce(1, *)
        var out = [Float](repeating: 0, count: count)
        for i in 0..<count {
            // The source element: the output index with broadcast dimensions at 0.
            var rest = i, offset = 0, step = 1
            for d in (0..<shape.count).reversed() {
                let position = rest % shape[d]
                rest /= shape[d]
                if dims[d] != 1 { offset += position * step }
                step *= dims[d]
            }
            out[i] = values[offset]
        }
        return Tensor(shape: shape, floats: out)
    }

    /// Equal to within the rounding of constants written with a few digits fewer than float precision.
    static func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-5 * abs(b) }
}

/// Reads arithmetic over scalar constants out of the graph.
struct Expression {
    let context: RewriteContext

    /// The value of a constant with one element.
    func scalar(_ value: String) -> Double? {
        guard let tensor = context.constant(value), tensor.dtype == .float32, tensor.count == 1 else { return nil }
        return Double(tensor.floats[0])
    }

    func producer(_ value: String) -> Node? { context.producer(value) }

    /// The op and input of a one-input node.
    func unary(_ value: String) -> (Op, String)? {
        guard let node = producer(value), node.inputs.count == 1 else { return nil }
        return (node.op, node.inputs[0])
    }

    /// A product as a scalar times the non-constant factors (the tree of Mul and division by constants
    /// flattened).
    func factors(_ value: String, depth: Int = 0) -> (scale: Double, values: [String])? {
        if let c = scalar(value) { return (c, []) }
        guard depth < 16, let node = producer(value) else { return (1, [value]) }
        switch node.op {
        case .binary(.mul):
            guard let a = factors(node.inputs[0], depth: depth + 1), let b = factors(node.inputs[1], depth: depth + 1) else { return nil }
            return (a.scale * b.scale, a.values + b.values)
        case .binary(.div):
            guard let c = scalar(node.inputs[1]), c != 0, let a = factors(node.inputs[0], depth: depth + 1) else { return (1, [value]) }
            return (a.scale / c, a.values)
        default:
            return (1, [value])
        }
    }

    /// A sum as a constant plus the non-constant terms (the Add tree flattened).
    func terms(_ value: String, depth: Int = 0) -> (constant: Double, values: [String])? {
        if let c = scalar(value) { return (c, []) }
        guard depth < 16, let node = producer(value), case .binary(.add) = node.op else { return (0, [value]) }
        guard let a = terms(node.inputs[0], depth: depth + 1), let b = terms(node.inputs[1], depth: depth + 1) else { return nil }
        return (a.constant + b.constant, a.values + b.values)
    }

    /// `value` as a polynomial in `x` (power -> coefficient) when it is built from x and scalar constants
    /// by Add, Sub, Mul and division by a constant; nil otherwise.
    func polynomial(_ value: String, in x: String, depth: Int = 0) -> [Int: Double]? {
        if value == x { return [1: 1] }
        if let c = scalar(value) { return [0: c] }
        guard depth < 16, let node = producer(value), node.inputs.count == 2,
            let a = polynomial(node.inputs[0], in: x, depth: depth + 1)
        else { return nil }
        if case .binary(.div) = node.op {
            guard let c = scalar(node.inputs[1]), c != 0 else { return nil }
            return a.mapValues { $0 / c }
        }
        guard let b = polynomial(node.inputs[1], in: x, depth: depth + 1) else { return nil }
        switch node.op {
        case .binary(.add): return a.merging(b, uniquingKeysWith: +)
        case .binary(.sub): return a.merging(b.mapValues { -$0 }, uniquingKeysWith: +)
        case .binary(.mul):
            var product: [Int: Double] = [:]
            for (p, u) in a { for (q, v) in b { product[p + q, default: 0] += u * v } }
            guard product.keys.allSatisfy({ $0 <= 8 }) else { return nil }
            return product
        default: return nil
        }
    }
}
