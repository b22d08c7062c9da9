import KilnIR

/// N:M structured sparsity: along each output's reduction axis, in every group of M consecutive weights,
/// keeps the N of largest magnitude and zeroes the rest (ties keep the earlier weight). A last group
/// shorter than M keeps at most N.
///
/// Rewrite (nm:1:2 on a [4, 1] Dense kernel):
///
///     const %d.kernel : f32[4,1] = [0.1, -2.0, 0.3, -0.05]
///   ->
///     const %d.kernel : f32[4,1] = [0.0, -2.0, 0.3, 0.0]
public struct NMPruning: Pass {
    public static let name = "prune-nm"
    public static let summary = "keep the N largest of every M consecutive weights along the reduction"

    public var n: Int
    public var m: Int
    public var excluded: Set<String>
    public var includeEnds: Bool

    public init(n: Int, m: Int, excluded: Set<String> = [], includeEnds: Bool = false) {
        self.n = n
        self.m = m
        self.excluded = excluded
        self.includeEnds = includeEnds
    }

    public func run(on graph: Graph) throws -> Graph {
        guard n > 0, n <= m else { throw PruningError.invalidPattern(n: n, m: m) }
        try checkExcluded(excluded, in: graph)
        var graph = graph
        let constants = graph.constantsByName
        for layer in PrunableLayer.selected(in: graph, excluding: excluded, includeEnds: includeEnds) {
            let kernel = constants[layer.kernel]!
            var values = kernel.floats
            for output in 0..<layer.outputs {
                var start = 0
                while start < layer.reduction {
                    let group = (start..<min(start + m, layer.reduction)).map { layer.index($0, output) }
                    let keep = Set(
                        group.sorted { abs(values[$0]) != abs(values[$1]) ? abs(values[$0]) > abs(values[$1]) : $0 < $1 }.prefix(n))
                    for element in group where !keep.contains(element) { values[element] = 0 }
                    start += m
                }
            }
            graph.replaceConstant(layer.kernel, with: Tensor(shape: kernel.shape, floats: values))
        }
        return graph
    }
}
