import KilnIR

/// Legalization: writes each fused epilogue (`Op.fused`) that the target backend does not run as its own
/// activation node after the product. The activation keeps the node's result; the product's result gets
/// a fresh name derived from it. ONNX runs none (its standard ops have no epilogues); the Swift backend
/// splits what its kernels cannot fuse.
///
/// Rewrite (for a backend without epilogues):
///
///     %y = Conv(%x, %k, %b) {..., epilogue = Relu} : f32[N,8,8,4]
///   ->
///     %y.product = Conv(%x, %k, %b) {...} : f32[N,8,8,4]
///     %y = Relu(%y.product) : f32[N,8,8,4]
public struct SplitEpilogues: RulePass {
    public static let name = "split-epilogues"
    public static let summary = "write fused epilogues the backend cannot run as activation nodes"

    /// The epilogues the backend runs; every other one is split.
    public var support: EpilogueSupport

    public init(keeping support: EpilogueSupport = .none) { self.support = support }

    public var rules: RuleTable {
        let support = support
        return RuleTable([
            (
                "split-epilogue",
                { node, context in
                    guard case .fused(let product, let epilogue) = node.op, node.outputs.count == 1,
                        !support.accepts(product, rank: node.outputType.shape.rank, activation: epilogue)
                    else { return nil }
                    let result = node.outputs[0]
                    let inner = context.freshName(result.name + ".product")
                    return Rewrite(nodes: [
                        Node(name: node.name, op: product, inputs: node.inputs, outputs: [Value(inner, result.type)]),
                        Node(name: result.name + ".epilogue", op: .activation(epilogue), inputs: [inner], outputs: node.outputs),
                    ])
                }
            )
        ])
    }
}
