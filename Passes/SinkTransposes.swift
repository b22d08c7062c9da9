import KilnIR

/// Moves Transposes later in the graph, through ops that do not care about the order of dimensions, so
/// they meet other Transposes and merge with them or cancel out.
///
/// A Transpose moves below an activation or Cast, a Softmax or BatchNorm (its axis follows) and a
/// reduction (its axes follow), and below a binary elementwise op whose other operand is a constant (permuted to match) or a
/// Transpose by the same permutation (two Transposes become one). Two Transposes in a row compose into one,
/// and a Transpose by the identity permutation disappears. The pass keeps its result only when it has fewer
/// Transposes than the input; otherwise it returns the graph unchanged.
///
/// Rewrite:
///
///     %t = Transpose(%x) {perm = [0, 2, 1]} : f32[N,3,2]       // %x : f32[N,2,3]
///     %r = Relu(%t) : f32[N,3,2]
///     %s = Add(%r, %c) : f32[N,3,2]                             // %c : f32[2] = [...]
///     %y = Transpose(%s) {perm = [0, 2, 1]} : f32[N,2,3]
///   ->
///     %r.t = Relu(%x) : f32[N,2,3]
///     %y = Add(%r.t, %c.t) : f32[N,2,3]                         // %c.t : f32[1,2,1]
public struct SinkTransposes: RulePass {
    public static let name = "sink-transposes"
    public static let summary = "move Transposes through elementwise ops so they merge or cancel"

    public init() {}

    public var rules: RuleTable {
        RuleTable([
            ("identity-transpose", Self.identityTranspose), ("compose-transposes", RemoveNoOps.composeTransposes),
            ("sink-through-unary", Self.sinkThroughUnary), ("sink-through-binary", Self.sinkThroughBinary),
        ])
    }

    public func run(on graph: Graph) throws -> Graph {
        var result = graph
        try result.rewrite(with: rules)
        return Self.transposeCount(result) < Self.transposeCount(graph) ? result : graph
    }

    static func transposeCount(_ graph: Graph) -> Int {
        graph.nodes.filter { if case .transpose = $0.op { true } else { false } }.count
    }

    static let identityTranspose: RewriteRule = { node, _ in
        guard case .transpose(let perm) = node.op, perm == Array(perm.indices) else { return nil }
        return .forward(to: node.inputs[0])
    }

    /// The permutation and input of a Transpose that only `reader` reads (and that is not a graph output).
    private static func soleTranspose(_ value: String, readBy reader: Node, _ context: RewriteContext) -> (perm: [Int], input: String)? {
        guard let producer = context.producer(value), case .transpose(let perm) = producer.op, context.isOnlyRead(value, by: reader)
        else { return nil }
        return (perm, producer.inputs[0])
    }

    /// op(Transpose(x)) -> Transpose(op'(x)) for ops that act on each element or along axes that can follow
    /// the permutation.
    static let sinkThroughUnary: RewriteRule = { node, context in
        guard let first = node.inputs.first, let (perm, x) = soleTranspose(first, readBy: node, context) else { return nil }
        if case .batchNorm(let epsilon, let axis) = node.op {
            // The parameters are per channel; the channel axis follows the permutation.
            let a = axis < 0 ? axis + perm.count : axis
            return replace(
                node, context, op: .batchNorm(epsilon: epsilon, axis: perm[a]), inputs: [x] + node.inputs.dropFirst(), perm: perm)
        }
        guard node.inputs.count == 1 else { return nil }
        let moved: Op, after: [Int]
        switch node.op {
        case .activation, .cast:
            (moved, after) = (node.op, perm)
        case .softmax(let axis):
            let a = axis < 0 ? axis + perm.count : axis
            (moved, after) = (.softmax(axis: perm[a]), perm)
        case .reduce(let reduction, let axes, let keepDims):
            let reduced = Set(axes.map { perm[$0 < 0 ? $0 + perm.count : $0] })
            if keepDims {
                (moved, after) = (.reduce(reduction, axes: reduced.sorted(), keepDims: true), perm)
            } else {
                // The kept dimensions of x, numbered in x's order, in the order the transposed result had them.
                let kept = perm.filter { !reduced.contains($0) }
                let rank = kept.sorted()
                (moved, after) = (.reduce(reduction, axes: reduced.sorted(), keepDims: false), kept.map { rank.firstIndex(of: $0)! })
            }
        default:
            return nil
        }
        return replace(node, context, op: moved, inputs: [x], perm: after)
    }

    /// a op b with one operand a Transpose and the other a constant (permuted to match) or a Transpose by the
    /// same permutation.
    static let sinkThroughBinary: RewriteRule = { node, context in
        guard case .binary = node.op else { return nil }
        let a = soleTranspose(node.inputs[0], readBy: node, context)
        let b = soleTranspose(node.inputs[1], readBy: node, context)
        if let a, let b, a.perm == b.perm {
            return replace(node, context, op: node.op, inputs: [a.input, b.input], perm: a.perm)
        }
        for (side, transposed) in [(0, a), (1, b)] {
            guard let transposed, let constant = context.constant(node.inputs[1 - side]), constant.dtype == .float32,
                constant.shape.count <= transposed.perm.count
            else { continue }
            // Checked with a placeholder name first, so a failed attempt reserves no name.
            let tensor = Self.permuted(constant, toMatch: transposed.perm), placeholder = "\u{0}"
            var inputs = [transposed.input, transposed.input]
            inputs[1 - side] = placeholder
            guard
                var rewrite = replace(node, context, op: node.op, inputs: inputs, perm: transposed.perm, extra: [placeholder: tensor.type])
            else { continue }
            let name = context.freshName("\(node.inputs[1 - side]).t")
            rewrite.nodes[0].inputs[1 - side] = name
            rewrite.constants.append(Constant(name, tensor))
            return rewrite
        }
        return nil
    }

    /// The constant c' with Transpose(c', perm) == c broadcast to the rank of perm (leading 1s added).
    static func permuted(_ constant: Tensor, toMatch perm: [Int]) -> Tensor {
        let rank = perm.count
        let padded = Array(repeating: 1, count: rank - constant.shape.count) + constant.shape
        var inverse = [Int](repeating: 0, count: rank)
        for (i, p) in perm.enumerated() { inverse[p] = i }
        // c' dimension j is c's dimension inverse[j].
        return Tensor(shape: padded, storage: constant.storage).transposed(inverse)
    }

    /// The node replaced by `op(inputs)` followed by a Transpose by `perm` that defines the node's result,
    /// if the types work out. `extra` types values the rewrite adds.
    private static func replace(
        _ node: Node, _ context: RewriteContext, op: Op, inputs: [String], perm: [Int], extra: [String: TensorType] = [:]
    ) -> Rewrite? {
        let inputTypes = inputs.compactMap { extra[$0] ?? context.type($0) }
        guard node.outputs.count == 1, inputTypes.count == inputs.count, let inferred = try? op.inferTypes(inputTypes), inferred.count == 1,
            (try? Op.transpose(perm: perm).inferTypes(inferred)) == [node.outputType]
        else { return nil }
        let moved = context.freshName("\(node.outputs[0].name).t")
        return Rewrite(nodes: [
            Node(name: node.name, op: op, inputs: inputs, outputs: [Value(moved, inferred[0])]),
            Node(name: "\(node.name).transpose", op: .transpose(perm: perm), inputs: [moved], outputs: node.outputs),
        ])
    }
}
