import KilnIR

/// A graph-to-graph rewrite. A pass that finds nothing to rewrite returns its input unchanged; it throws
/// only when the graph is one it cannot handle, and never prints.
public protocol Pass: Sendable {
    /// The name used in pipelines: `fold-constants`, `fuse-batchnorm`…
    static var name: String { get }
    /// One line saying what the pass does.
    static var summary: String { get }

    func run(on graph: Graph) throws -> Graph
}
