import KilnIR

/// Collapses a chain of shape-only ops (Reshape, Flatten) into one Reshape straight to the final shape.
///
/// Rewrite:
///
///     %a = Flatten(%x) {axis = 1} : f32[N,12]          // %x : f32[N,3,4]
///     %b = Reshape(%a) {shape = [0, 6, 2]} : f32[N,6,2]
///   ->
///     %b = Reshape(%x) {shape = [-1, 6, 2]} : f32[N,6,2]
public struct CollapseReshapes: Pass {
    public static let name = "collapse-reshapes"
    public static let summary = "merge chains of Reshape and Flatten into one Reshape"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.rewriteUntilStable { graph, index, context in
            let node = graph.nodes[index]
            guard node.op.isShapeOnly, let p = context.producers[node.inputs[0]], graph.nodes[p].op.isShapeOnly,
                context.uses[node.inputs[0]] == 1, !graph.outputs.contains(node.inputs[0]),
                let source = context.types[graph.nodes[p].inputs[0]],
                let target = Self.reshapeTarget(from: source, to: node.outputType)
            else { return false }
            graph.nodes[index].op = .reshape(shape: target)
            graph.nodes[index].inputs = graph.nodes[p].inputs
            graph.nodes.remove(at: p)
            return true
        }
        return graph
    }

    /// A Reshape target that turns `source` into `result`: fixed sizes, with -1 for at most one symbolic
    /// dimension. Nil when no single Reshape can express it.
    static func reshapeTarget(from source: TensorType, to result: TensorType) -> [Int]? {
        let symbolic = result.shape.dims.filter { $0.fixedValue == nil }.count
        guard symbolic <= 1 else { return nil }
        let target = result.shape.dims.map { $0.fixedValue ?? -1 }
        guard (try? Op.reshape(shape: target).inferTypes([source])) == [result] else { return nil }
        return target
    }
}
