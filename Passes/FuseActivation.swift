import KilnIR

/// Fuses an activation into the Conv, ConvTranspose, Gemm or MatMul before it as the product's epilogue,
/// when nothing else reads the product's result. Backends apply the epilogue while the results are still
/// in registers (Swift) or as the standard activation ops after the product (ONNX).
///
/// Rewrite:
///
///     %g = Gemm(%x, %w, %b) {transB = false} : f32[N,8]
///     %y = LeakyRelu(%g) {alpha = 0.2} : f32[N,8]
///   ->
///     %y = Gemm(%x, %w, %b) {transB = false, epilogue = LeakyRelu(alpha = 0.2)} : f32[N,8] loc("g")
public struct FuseActivation: Pass {
    public static let name = "fuse-activation"
    public static let summary = "fuse an activation into the Conv, ConvTranspose, Gemm or MatMul before it"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            let node = graph.nodes[index]
            guard case .activation(let activation) = node.op, let p = context.producers[node.inputs[0]],
                graph.nodes[p].op.acceptsEpilogue, graph.nodes[p].outputs.count == 1, context.uses[node.inputs[0]] == 1,
                !graph.outputs.contains(node.inputs[0])
            else { return false }
            graph.nodes[p].op = .fused(graph.nodes[p].op, epilogue: activation)
            graph.nodes[p].outputs = node.outputs
            graph.nodes.remove(at: index)
            return true
        }
        return graph
    }
}
