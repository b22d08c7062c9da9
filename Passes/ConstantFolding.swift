import KilnIR

/// Evaluates nodes whose inputs are all constants and stores their results as constants, as long as that
/// does not make the model bigger.
///
/// The evaluation is injected (the driver passes the reference interpreter's kernels), so folding computes
/// exactly what running the graph would.
///
/// Rewrite:
///
///     const %a : f32[2] = [1.0, 2.0]
///     const %b : f32[2] = [3.0, 4.0]
///     %c = Add(%a, %b) : f32[2]
///     %y = Mul(%x, %c) : f32[N,2]
///   ->
///     const %c : f32[2] = [4.0, 6.0]
///     %y = Mul(%x, %c) : f32[N,2]
public struct ConstantFolding: Pass {
    public static let name = "fold-constants"
    public static let summary = "precompute nodes whose inputs are all constants, without growing the model"

    /// Computes a node's results from its constant inputs.
    public typealias Evaluator = @Sendable (_ node: Node, _ inputs: [Tensor]) throws -> [Tensor]

    /// Results up to this many elements are always folded; larger ones only if the constants they replace
    /// are at least as large.
    public var smallLimit: Int
    public var evaluate: Evaluator

    public init(smallLimit: Int = 64, evaluate: @escaping Evaluator) {
        self.smallLimit = smallLimit
        self.evaluate = evaluate
    }

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        var constants = graph.constantsByName
        var uses = graph.useCounts
        var folded: [Constant] = []
        var kept: [Node] = []
        for node in graph.nodes {
            let inputs = node.inputs.compactMap { constants[$0] }
            guard inputs.count == node.inputs.count, !node.inputs.isEmpty else {
                kept.append(node)
                continue
            }
            let resultSize = node.outputs.reduce(0) { $0 + ($1.type.shape.elementCount ?? .max) }
            // Inputs read only by this node disappear with it.
            let freed = Set(node.inputs).filter { input in uses[input] == node.inputs.filter { $0 == input }.count }
                .reduce(0) { $0 + (constants[$1]?.count ?? 0) }
            guard resultSize <= smallLimit || resultSize <= freed,
                let results = try? evaluate(node, inputs), results.count == node.outputs.count
            else {
                kept.append(node)
                continue
            }
            for input in node.inputs { uses[input, default: 1] -= 1 }
            for (output, tensor) in zip(node.outputs, results) {
                constants[output.name] = tensor
                folded.append(Constant(output.name, tensor))
            }
        }
        guard !folded.isEmpty else { return graph }
        graph.nodes = kept
        graph.constants += folded
        graph.removeDeadCode()
        // A folded graph output must stay an output; the verifier accepts constants as outputs.
        return graph
    }
}
