import KilnIR

/// Removes nodes and constants that no graph output depends on.
///
/// Rewrite:
///
///     %a = Relu(%x) : f32[N,4]
///     %b = Tanh(%x) : f32[N,4]        // never read
///     output %a
///   ->
///     %a = Relu(%x) : f32[N,4]
///     output %a
public struct DeadCodeElimination: Pass {
    public static let name = "dce"
    public static let summary = "remove nodes and constants no output depends on"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        graph.removeDeadCode()
        return graph
    }
}
