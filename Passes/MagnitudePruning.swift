import KilnIR

/// Unstructured magnitude pruning: zeroes the weights of smallest magnitude until each chosen layer (scope
/// `layer`) or all chosen layers together (scope `global`) reach the sparsity asked for, exactly:
/// round(sparsity x count) weights become zero, ties broken by position. Shapes do not change; the Swift
/// backend stores sparse kernels compactly, ONNX keeps them dense.
///
/// Rewrite (sparsity 0.5, scope layer):
///
///     const %d.kernel : f32[2,2] = [0.1, -2.0, 0.3, -0.05]
///   ->
///     const %d.kernel : f32[2,2] = [0.0, -2.0, 0.3, 0.0]
public struct MagnitudePruning: Pass {
    public static let name = "prune-magnitude"
    public static let summary = "zero the smallest-magnitude weights to a target sparsity"

    public enum Scope: String, Sendable, CaseIterable { case layer, global }

    public var sparsity: Double
    public var scope: Scope
    public var excluded: Set<String>
    public var includeEnds: Bool

    public init(sparsity: Double, scope: Scope = .layer, excluded: Set<String> = [], includeEnds: Bool = false) {
        self.sparsity = sparsity
        self.scope = scope
        self.excluded = excluded
        self.includeEnds = includeEnds
    }

    public func run(on graph: Graph) throws -> Graph {
        guard sparsity >= 0, sparsity < 1 else { throw PruningError.invalidSparsity(sparsity) }
        try checkExcluded(excluded, in: graph)
        var graph = graph
        let layers = PrunableLayer.selected(in: graph, excluding: excluded, includeEnds: includeEnds)
        let constants = graph.constantsByName
        var kernels = layers.map { constants[$0.kernel]!.floats }
        // (layer, element) pairs ordered by magnitude, then by position.
        func zeroSmallest(_ candidates: [(layer: Int, element: Int)], count: Int) {
            let ordered = candidates.sorted { a, b in
                let x = abs(kernels[a.layer][a.element]), y = abs(kernels[b.layer][b.element])
                return x != y ? x < y : (a.layer, a.element) < (b.layer, b.element)
            }
            for pick in ordered.prefix(count) { kernels[pick.layer][pick.element] = 0 }
        }
        switch scope {
        case .layer:
            for index in layers.indices {
                let count = kernels[index].count
                zeroSmallest((0..<count).map { (index, $0) }, count: Int((sparsity * Double(count)).rounded()))
            }
        case .global:
            let candidates = layers.indices.flatMap { index in kernels[index].indices.map { (index, $0) } }
            zeroSmallest(candidates, count: Int((sparsity * Double(candidates.count)).rounded()))
        }
        for (layer, values) in zip(layers, kernels) {
            let old = constants[layer.kernel]!
            graph.replaceConstant(layer.kernel, with: Tensor(shape: old.shape, floats: values))
        }
        return graph
    }
}
