import Foundation
import KilnIR

/// Recognizes activations written out as elementwise arithmetic and replaces each with its single op.
///
/// - Swish: x * Sigmoid(x), in either order.
/// - GELU, tanh approximation: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x))), with the
///   factors in any order and grouping, the constants as scalars, and the inner polynomial written in any
///   form built from Add, Sub, Mul and division by a constant (e.g. a * x + b * x * x * x).
///
/// - LayerNorm: (x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) [* gamma] [+ beta] over trailing
///   dimensions, as the Keras frontend writes LayerNormalization.
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
public struct RecognizePatterns: Pass {
    public static let name = "recognize-patterns"
    public static let summary = "replace Swish, tanh-GELU and LayerNorm written out as arithmetic with their ops"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            let node = graph.nodes[index]
            guard node.outputType.dtype == .float32 else { return false }
            if Self.recognizeLayerNorm(&graph, index, context) { return true }
            switch node.op {
            case .binary(.mul), .binary(.div): break
            default: return false
            }
            let expression = Expression(graph: graph, context: context)
            guard let (scale, factors) = expression.factors(node.outputs[0].name),
                let activation = Self.swish(scale, factors, expression) ?? Self.geluTanh(scale, factors, expression),
                context.types[activation.input] == node.outputType
            else { return false }
            graph.nodes[index] = Node(name: node.name, op: .activation(activation.function), inputs: [activation.input], outputs: node.outputs)
            graph.removeDeadCode()
            return true
        }
        return graph
    }

    /// x * Sigmoid(x).
    static func swish(_ scale: Double, _ factors: [String], _ expression: Expression) -> (function: Activation, input: String)? {
        guard scale == 1, factors.count == 2 else { return nil }
        for (a, b) in [(factors[0], factors[1]), (factors[1], factors[0])] {
            if let (op, input) = expression.unary(b), op == .activation(.sigmoid), input == a { return (.swish, a) }
        }
        return nil
    }

    /// 0.5 * x * (1 + Tanh(sqrt(2/pi) * x + sqrt(2/pi) * 0.044715 * x^3)).
    static func geluTanh(_ scale: Double, _ factors: [String], _ expression: Expression) -> (function: Activation, input: String)? {
        guard factors.count == 2, Self.close(scale, 0.5) else { return nil }
        for (x, other) in [(factors[0], factors[1]), (factors[1], factors[0])] {
            // 1 + Tanh(v), as a sum of the constant 1 and one Tanh.
            guard let terms = expression.terms(other), Self.close(terms.constant, 1), terms.values.count == 1,
                let (op, v) = expression.unary(terms.values[0]), op == .activation(.tanh),
                let polynomial = expression.polynomial(v, in: x)
            else { continue }
            let a = (2 / Double.pi).squareRoot()
            let expected: [Int: Double] = [1: a, 3: a * 0.044715]
            guard Set(polynomial.filter { $0.value != 0 }.keys) == Set(expected.keys),
                expected.allSatisfy({ Self.close(polynomial[$0.key] ?? 0, $0.value) })
            else { continue }
            return (.gelu(approximate: true), x)
        }
        return nil
    }

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
    static func recognizeLayerNorm(_ graph: inout Graph, _ index: Int, _ context: RewriteContext) -> Bool {
        let node = graph.nodes[index]
        let expression = Expression(graph: graph, context: context)
        let y = node.outputs[0].name
        guard let match = layerNorm(y, expression), context.types[match.x] == node.outputType else { return false }
        if context.uses[y] == 1, !graph.outputs.contains(y), let reader = graph.nodes.first(where: { $0.inputs.contains(y) }),
            let longer = layerNorm(reader.outputs[0].name, expression), longer.x == match.x
        {
            return false
        }
        var inputs = [match.x]
        if match.scale != nil || match.bias != nil {
            let sizes = match.bias?.shape ?? match.scale!.shape
            let scale = match.scale ?? Tensor(shape: sizes, floats: Array(repeating: 1, count: sizes.reduce(1, *)))
            inputs.append(graph.freshName("\(y).scale"))
            graph.constants.append(Constant(inputs[1], scale))
        }
        if let bias = match.bias {
            inputs.append(graph.freshName("\(y).bias"))
            graph.constants.append(Constant(inputs[2], bias))
        }
        graph.nodes[index] = Node(name: node.name, op: .layerNorm(axis: match.axis, epsilon: match.epsilon), inputs: inputs, outputs: node.outputs)
        graph.removeDeadCode()
        return true
    }

    /// (x - mean(x)) / sqrt(mean((x - mean(x))^2) + epsilon) [* scale] [+ bias], the means over the same
    /// trailing dimensions with kept dimensions, as the Keras frontend writes LayerNormalization.
    static func layerNorm(_ root: String, _ expression: Expression) -> LayerNormMatch? {
        var value = root
        var scale: Tensor?, bias: Tensor?
        func constantOperand(_ node: Node) -> (Tensor, String)? {
            for (c, other) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                if let tensor = expression.context.constants[c], tensor.dtype == .float32 { return (tensor, other) }
            }
            return nil
        }
        if let node = expression.producer(value), case .binary(.add) = node.op, let (tensor, other) = constantOperand(node) {
            bias = tensor
            value = other
        }
        if let node = expression.producer(value), case .binary(.mul) = node.op, let (tensor, other) = constantOperand(node) {
            scale = tensor
            value = other
        }
        guard let divide = expression.producer(value), case .binary(.div) = divide.op,
            let centered = expression.producer(divide.inputs[0]), case .binary(.sub) = centered.op,
            let mean = expression.producer(centered.inputs[1]), case .reduce(.mean, let axes, true) = mean.op,
            mean.inputs[0] == centered.inputs[0],
            let root = expression.producer(divide.inputs[1]), root.op == .activation(.sqrt),
            let shifted = expression.producer(root.inputs[0]), case .binary(.add) = shifted.op
        else { return nil }
        let x = centered.inputs[0]
        guard let (epsilonTensor, varianceValue) = constantOperand(shifted), epsilonTensor.count == 1,
            let variance = expression.producer(varianceValue), case .reduce(.mean, let varianceAxes, true) = variance.op,
            let squared = expression.producer(variance.inputs[0]), case .binary(.mul) = squared.op,
            squared.inputs == [divide.inputs[0], divide.inputs[0]],
            let type = expression.context.types[x]
        else { return nil }
        let rank = type.shape.rank
        let normalized = Set(axes.map { $0 < 0 ? $0 + rank : $0 })
        guard let first = normalized.min(), normalized == Set(first..<rank), first >= 1,
            Set(varianceAxes.map { $0 < 0 ? $0 + rank : $0 }) == normalized,
            type.shape.dims[first...].allSatisfy({ $0.fixedValue != nil })
        else { return nil }
        let shape = type.shape.dims[first...].compactMap(\.fixedValue)
        var match = LayerNormMatch(x: x, axis: first, epsilon: epsilonTensor.floats[0])
        if let scale {
            guard let expanded = broadcast(scale, to: shape) else { return nil }
            match.scale = expanded
        }
        if let bias {
            guard let expanded = broadcast(bias, to: shape) else { return nil }
            match.bias = expanded
        }
        return match
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
    let graph: Graph
    let context: RewriteContext

    /// The value of a constant with one element.
    func scalar(_ value: String) -> Double? {
        guard let tensor = context.constants[value], tensor.dtype == .float32, tensor.count == 1 else { return nil }
        return Double(tensor.floats[0])
    }

    func producer(_ value: String) -> Node? { context.producers[value].map { graph.nodes[$0] } }

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
