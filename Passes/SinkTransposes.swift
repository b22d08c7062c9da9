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
public struct SinkTransposes: Pass {
    public static let name = "sink-transposes"
    public static let summary = "move Transposes through elementwise ops so they merge or cancel"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var result = graph
        result.rewriteUntilStable { graph, index, context in
            Self.removeOrCompose(&graph, index, context) || Self.sinkThroughUnary(&graph, index, context)
                || Self.sinkThroughBinary(&graph, index, context)
        }
        result.removeDeadCode()
        return Self.transposeCount(result) < Self.transposeCount(graph) ? result : graph
    }

    static func transposeCount(_ graph: Graph) -> Int {
        graph.nodes.filter { if case .transpose = $0.op { true } else { false } }.count
    }

    /// The permutation of a Transpose that only `reader` reads (and that is not a graph output).
    private static func soleTranspose(_ value: String, readBy reader: Node, _ graph: Graph, _ context: RewriteContext) -> (perm: [Int], input: String)? {
        guard let p = context.producers[value], case .transpose(let perm) = graph.nodes[p].op, !graph.outputs.contains(value),
            context.uses[value] == reader.inputs.filter({ $0 == value }).count
        else { return nil }
        return (perm, graph.nodes[p].inputs[0])
    }

    private static func removeOrCompose(_ graph: inout Graph, _ index: Int, _ context: RewriteContext) -> Bool {
        let node = graph.nodes[index]
        guard case .transpose(let outer) = node.op else { return false }
        if outer == Array(outer.indices) { return graph.bypass(nodeAt: index, with: node.inputs[0]) }
        guard let p = context.producers[node.inputs[0]], case .transpose(let inner) = graph.nodes[p].op else { return false }
        // Output dimension i is x's dimension inner[outer[i]].
        graph.nodes[index].op = .transpose(perm: outer.map { inner[$0] })
        graph.nodes[index].inputs = graph.nodes[p].inputs
        graph.removeDeadCode()
        return true
    }

    /// op(Transpose(x)) -> Transpose(op'(x)) for ops that act on each element or along axes that can follow
    /// the permutation.
    private static func sinkThroughUnary(_ graph: inout Graph, _ index: Int, _ context: RewriteContext) -> Bool {
        let node = graph.nodes[index]
        guard let first = node.inputs.first, let (perm, x) = soleTranspose(first, readBy: node, graph, context) else { return false }
        if case .batchNorm(let epsilon, let axis) = node.op {
            // The parameters are per channel; the channel axis follows the permutation.
            let a = axis < 0 ? axis + perm.count : axis
            return replace(&graph, index, context, op: .batchNorm(epsilon: epsilon, axis: perm[a]), inputs: [x] + node.inputs.dropFirst(), perm: perm)
        }
        guard node.inputs.count == 1 else { return false }
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
        case .identity, .binary, .matMul, .gemm, .flatten, .reshape, .transpose, .conv, .convTranspose,
            .pool, .batchNorm, .layerNorm, .concat, .pad, .crop, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .fused:
            return false
        }
        return replace(&graph, index, context, op: moved, inputs: [x], perm: after)
    }

    /// a op b with one operand a Transpose and the other a constant (permuted to match) or a Transpose by the
    /// same permutation.
    private static func sinkThroughBinary(_ graph: inout Graph, _ index: Int, _ context: RewriteContext) -> Bool {
        let node = graph.nodes[index]
        switch node.op {
        case .binary: break
        case .identity, .activation, .matMul, .gemm, .softmax, .flatten, .reshape, .transpose, .cast, .conv, .convTranspose, .pool,
            .reduce, .batchNorm, .layerNorm, .concat, .pad, .crop, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .fused:
            return false
        }
        let a = soleTranspose(node.inputs[0], readBy: node, graph, context)
        let b = soleTranspose(node.inputs[1], readBy: node, graph, context)
        if let a, let b, a.perm == b.perm {
            return replace(&graph, index, context, op: node.op, inputs: [a.input, b.input], perm: a.perm)
        }
        for (side, transposed) in [(0, a), (1, b)] {
            guard let transposed, let constant = context.constants[node.inputs[1 - side]], constant.dtype == .float32,
                constant.shape.count <= transposed.perm.count
            else { continue }
            let permuted = Self.permuted(constant, toMatch: transposed.perm)
            let name = graph.freshName("\(node.inputs[1 - side]).t")
            var inputs = [transposed.input, transposed.input]
            inputs[1 - side] = name
            graph.constants.append(Constant(name, permuted))
            if replace(&graph, index, context, op: node.op, inputs: inputs, perm: transposed.perm) { return true }
            graph.constants.removeLast()
        }
        return false
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

    /// Replaces the node at `index` with `op(inputs)` followed by a Transpose by `perm` that defines the
    /// node's result, if the types work out.
    private static func replace(_ graph: inout Graph, _ index: Int, _ context: RewriteContext, op: Op, inputs: [String], perm: [Int]) -> Bool {
        let node = graph.nodes[index]
        let types = graph.valueTypes
        guard node.outputs.count == 1, let inputTypes = Optional(inputs.compactMap { types[$0] }), inputTypes.count == inputs.count,
            let inferred = try? op.inferTypes(inputTypes), inferred.count == 1,
            (try? Op.transpose(perm: perm).inferTypes(inferred)) == [node.outputType]
        else { return false }
        let y = node.outputs[0].name
        let moved = graph.freshName("\(y).t")
        graph.nodes[index] = Node(name: "\(node.name).transpose", op: .transpose(perm: perm), inputs: [moved], outputs: node.outputs)
        graph.nodes.insert(Node(name: node.name, op: op, inputs: inputs, outputs: [Value(moved, inferred[0])]), at: index)
        graph.removeDeadCode()
        return true
    }
}
