import KilnIR

/// A graph-to-graph rewrite. A pass that finds nothing to rewrite returns its input unchanged; it throws
/// only when the graph is one it cannot handle, and never prints.
public protocol Pass: Sendable {
    /// The name used in pipelines: `fold-constants`, `fold-batchnorm`…
    static var name: String { get }
    /// One line saying what the pass does.
    static var summary: String { get }

    func run(on graph: Graph) throws -> Graph
}

/// A pass made of local rules, run to a fixed point by the worklist driver (`Graph.rewrite(with:)`).
/// Conforming types declare their name, summary and rule table; the driver is the same for all.
public protocol RulePass: Pass {
    var rules: RuleTable { get }
}

extension RulePass {
    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        try graph.rewrite(with: rules)
        return graph
    }
}
