import KilnIR

/// A tree of ops to find in a graph, for rules that match several nodes (tinygrad's UPat, MLIR's PDLL).
/// Leaves bind values by name; a name used twice must bind the same value. Binary ops whose operands
/// commute are tried in both orders.
///
///     // x * Sigmoid(x), in either order
///     let swish = Pattern.op(.binary(.mul), .value("x"), .op(.activation(.sigmoid), .value("x")))
///     if let match = swish.match(node.outputs[0].name, context) { ... match["x"] ... }
public indirect enum Pattern: Sendable {
    /// Any value, bound to `name`.
    case value(String)
    /// A constant whose contents satisfy `condition`, bound to `name`.
    case constant(String, @Sendable (Tensor) -> Bool)
    /// The result of a node whose op satisfies `condition` and whose inputs match `operands`; the node is
    /// bound to `name` when one is given, and its result to `name` too.
    case node(String?, @Sendable (Op) -> Bool, [Pattern], commutative: Bool)

    /// The result of a node with exactly this op; commutative binary ops match either operand order.
    public static func op(_ op: Op, _ operands: Pattern..., as name: String? = nil) -> Pattern {
        let commutative = if case .binary(let binary) = op { binary.isCommutative } else { false }
        return .node(name, { $0 == op }, operands, commutative: commutative)
    }

    /// The result of a node whose op satisfies `condition`.
    public static func op(where condition: @escaping @Sendable (Op) -> Bool, _ operands: Pattern..., as name: String? = nil) -> Pattern {
        .node(name, condition, operands, commutative: false)
    }

    /// Any constant.
    public static func constant(_ name: String) -> Pattern { .constant(name) { _ in true } }

    /// A float constant with one element, bound to `name`.
    public static func scalar(_ name: String) -> Pattern { .constant(name) { $0.count == 1 && $0.dtype == .float32 } }

    /// Matches the pattern at `value`: the bindings, or nil.
    public func match(_ value: String, _ context: RewriteContext) -> PatternMatch? {
        matching(value, context, PatternMatch()) { $0 }
    }

    /// Matches at `value` with `bindings` so far, and hands each way of matching to `rest` until one of
    /// them completes (backtracking over operand orders).
    private func matching(
        _ value: String, _ context: RewriteContext, _ bindings: PatternMatch, _ rest: (PatternMatch) -> PatternMatch?
    ) -> PatternMatch? {
        switch self {
        case .value(let name):
            guard let bound = bindings.bind(name, value) else { return nil }
            return rest(bound)
        case .constant(let name, let condition):
            guard let tensor = context.constant(value), condition(tensor), var bound = bindings.bind(name, value) else { return nil }
            bound.constants[name] = tensor
            return rest(bound)
        case .node(let name, let condition, let operands, let commutative):
            guard let node = context.producer(value), condition(node.op), node.inputs.count == operands.count else { return nil }
            var bound = bindings
            if let name {
                guard let withValue = bound.bind(name, value) else { return nil }
                bound = withValue
                bound.nodes[name] = node
            }
            let orders = commutative && operands.count == 2 ? [node.inputs, node.inputs.reversed()] : [node.inputs]
            for inputs in orders {
                if let result = Self.matchingAll(Array(zip(operands, inputs)), context, bound, rest) { return result }
            }
            return nil
        }
    }

    private static func matchingAll(
        _ pairs: [(Pattern, String)], _ context: RewriteContext, _ bindings: PatternMatch, _ rest: (PatternMatch) -> PatternMatch?
    ) -> PatternMatch? {
        guard let (pattern, value) = pairs.first else { return rest(bindings) }
        return pattern.matching(value, context, bindings) { matchingAll(Array(pairs.dropFirst()), context, $0, rest) }
    }
}

/// What a pattern bound: values, and the nodes and constants behind them.
public struct PatternMatch {
    public var values: [String: String] = [:]
    public var nodes: [String: Node] = [:]
    public var constants: [String: Tensor] = [:]

    /// The value bound to `name`.
    public subscript(name: String) -> String? { values[name] }

    fileprivate func bind(_ name: String, _ value: String) -> PatternMatch? {
        if let existing = values[name] { return existing == value ? self : nil }
        var result = self
        result.values[name] = value
        return result
    }
}

extension Graph {
    /// Matches a pattern at a value of the graph, outside any rule (for tools and tests). O(graph).
    public func match(_ pattern: Pattern, at value: String) -> PatternMatch? {
        let state = RewriterState(self)
        return withExtendedLifetime(state) { pattern.match(value, RewriteContext(state: state)) }
    }
}
