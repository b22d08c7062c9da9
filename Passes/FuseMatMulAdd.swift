import KilnIR

/// Turns a rank-2 MatMul followed by the Add of a bias into one Gemm.
///
/// Rewrite:
///
///     %m = MatMul(%x, %w) : f32[N,8]
///     %y = Add(%m, %b) : f32[N,8]          // %b : f32[8]
///   ->
///     %y = Gemm(%x, %w, %b) {transB = false} : f32[N,8]
public struct FuseMatMulAdd: Pass {
    public static let name = "fuse-matmul-add"
    public static let summary = "MatMul followed by a bias Add becomes Gemm"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            let node = graph.nodes[index]
            guard case .binary(.add) = node.op else { return false }
            for (product, bias) in [(node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])] {
                guard let p = context.producers[product], case .matMul = graph.nodes[p].op, context.uses[product] == 1,
                    !graph.outputs.contains(product),
                    let a = context.types[graph.nodes[p].inputs[0]], let b = context.types[graph.nodes[p].inputs[1]],
                    a.shape.rank == 2, b.shape.rank == 2, let biasType = context.types[bias],
                    biasType.shape.rank <= 2, (try? Op.gemm(transB: false).inferTypes([a, b, biasType])) == [node.outputType]
                else { continue }
                graph.nodes[index] = Node(
                    name: node.name, op: .gemm(transB: false), inputs: graph.nodes[p].inputs + [bias], outputs: node.outputs)
                graph.nodes.remove(at: p)
                return true
            }
            return false
        }
        return graph
    }
}
