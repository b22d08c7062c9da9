import KilnIR

/// Fuses an activation into the Conv, ConvTranspose, Gemm or MatMul before it as the product's epilogue,
/// when nothing else reads the product's result and the target backend runs that epilogue
/// (`EpilogueSupport`; the Swift backend's by default in the driver). Backends apply the epilogue while
/// the results are still in registers (Swift) or as the standard activation ops after the product (ONNX,
/// after split-epilogues).
///
/// Rewrite:
///
///     %g = Gemm(%x, %w, %b) {transB = false} : f32[N,8]
///     %y = LeakyRelu(%g) {alpha = 0.2} : f32[N,8]
///   ->
///     %y = Gemm(%x, %w, %b) {transB = false, epilogue = LeakyRelu(alpha = 0.2)} : f32[N,8] loc("g")
public struct FuseActivation: RulePass {
    public static let name = "fuse-activation"
    public static let summary = "fuse an activation into the Conv, ConvTranspose, Gemm or MatMul before it"

    /// The epilogues the target backend runs.
    public var support: EpilogueSupport

    public init(support: EpilogueSupport = .all) { self.support = support }

    public var rules: RuleTable {
        let support = support
        return RuleTable([
            (
                "fuse-epilogue",
                { node, context in
                    guard case .activation(let activation) = node.op, let product = context.producer(node.inputs[0]),
                        product.outputs.count == 1, context.isOnlyRead(node.inputs[0], by: node),
                        support.accepts(product.op, rank: product.outputType.shape.rank, activation: activation)
                    else { return nil }
                    var fused = product
                    fused.op = .fused(product.op, epilogue: activation)
                    fused.outputs = node.outputs
                    return .replace(with: fused)
                }
            )
        ])
    }
}
