import KilnIR

/// Removes nodes that do nothing: Identity, Cast to the type it already has, Reshape or Flatten to the shape
/// it already has, Transpose by the identity permutation; merges two Transposes in a row into one (or none,
/// when they cancel).
///
/// Rewrite:
///
///     %a = Identity(%x) : f32[N,4]
///     %b = Transpose(%a) {perm = [1, 0]} : f32[4,N]
///     %c = Transpose(%b) {perm = [1, 0]} : f32[N,4]
///     %y = Relu(%c) : f32[N,4]
///   ->
///     %y = Relu(%x) : f32[N,4]
public struct RemoveNoOps: Pass {
    public static let name = "remove-noops"
    public static let summary = "remove Identity, same-type Cast, same-shape Reshape, cancelling Transposes"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            let node = graph.nodes[index]
            if let source = Self.passThrough(node, types: context.types), graph.bypass(nodeAt: index, with: source) {
                return true
            }
            guard case .transpose(let outer) = node.op, let p = context.producers[node.inputs[0]],
                case .transpose(let inner) = graph.nodes[p].op
            else { return false }
            // y = transpose(transpose(x, inner), outer): output dim i is x's dim inner[outer[i]].
            graph.nodes[index].op = .transpose(perm: outer.map { inner[$0] })
            graph.nodes[index].inputs = graph.nodes[p].inputs
            graph.removeDeadCode()
            return true
        }
        return graph
    }

    /// The input a node merely passes through, if it is a no-op.
    static func passThrough(_ node: Node, types: [String: TensorType]) -> String? {
        guard node.outputs.count == 1, let input = node.inputs.first, let inputType = types[input] else { return nil }
        switch node.op {
        case .identity:
            return input
        case .cast, .reshape, .flatten:
            return inputType == node.outputType ? input : nil
        case .transpose(let perm):
            return perm == Array(perm.indices) ? input : nil
        case .pad(let pads, _):
            return pads.allSatisfy { $0 == 0 } ? input : nil
        case .crop(let pads):
            return pads.allSatisfy { $0 == 0 } ? input : nil
        case .concat:
            return node.inputs.count == 1 ? input : nil
        case .upsample(let factors, _):
            return factors.allSatisfy { $0 == 1 } ? input : nil
        case .activation, .binary, .matMul, .gemm, .softmax, .conv, .pool, .reduce, .batchNorm,
            .convTranspose, .gather, .quantizeLinear, .dequantizeLinear, .fused, .layerNorm:
            return nil
        }
    }
}
