import Foundation
import KilnIR

/// Recognizes activations written out as elementwise arithmetic and replaces each with its single op.
///
/// - Swish: x * Sigmoid(x), in either order.
/// - GELU, tanh approximation: 0.5 * x * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x * x * x))), with the
///   factors in any order and grouping, the constants as scalars, and the inner polynomial written in any
///   form built from Add, Sub, Mul and division by a constant (e.g. a * x + b * x * x * x).
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
    public static let summary = "replace Swish and tanh-GELU written out as arithmetic with their ops"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            let node = graph.nodes[index]
            switch node.op {
            case .mul, .div: break
            default: return false
            }
            guard node.outputType.dtype == .float32 else { return false }
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
        case .mul:
            guard let a = factors(node.inputs[0], depth: depth + 1), let b = factors(node.inputs[1], depth: depth + 1) else { return nil }
            return (a.scale * b.scale, a.values + b.values)
        case .div:
            guard let c = scalar(node.inputs[1]), c != 0, let a = factors(node.inputs[0], depth: depth + 1) else { return (1, [value]) }
            return (a.scale / c, a.values)
        default:
            return (1, [value])
        }
    }

    /// A sum as a constant plus the non-constant terms (the Add tree flattened).
    func terms(_ value: String, depth: Int = 0) -> (constant: Double, values: [String])? {
        if let c = scalar(value) { return (c, []) }
        guard depth < 16, let node = producer(value), case .add = node.op else { return (0, [value]) }
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
        if case .div = node.op {
            guard let c = scalar(node.inputs[1]), c != 0 else { return nil }
            return a.mapValues { $0 / c }
        }
        guard let b = polynomial(node.inputs[1], in: x, depth: depth + 1) else { return nil }
        switch node.op {
        case .add: return a.merging(b, uniquingKeysWith: +)
        case .sub: return a.merging(b.mapValues { -$0 }, uniquingKeysWith: +)
        case .mul:
            var product: [Int: Double] = [:]
            for (p, u) in a { for (q, v) in b { product[p + q, default: 0] += u * v } }
            guard product.keys.allSatisfy({ $0 <= 8 }) else { return nil }
            return product
        default: return nil
        }
    }
}
