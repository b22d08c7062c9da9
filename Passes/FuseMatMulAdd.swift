import KilnIR

/// Turns a rank-2 MatMul followed by the Add of a bias into one Gemm.
///
/// Rewrite:
///
///     %m = MatMul(%x, %w) : f32[N,8]
///     %y = Add(%m, %b) : f32[N,8]          // %b : f32[8]
///   ->
///     %y = Gemm(%x, %w, %b) {transB = false} : f32[N,8]
public struct FuseMatMulAdd: RulePass {
    public static let name = "fuse-matmul-add"
    public static let summary = "MatMul followed by a bias Add becomes Gemm"

    public init() {}

    public var rules: RuleTable { RuleTable([("matmul-add-to-gemm", Self.gemm)]) }

    static let pattern = Pattern.op(.binary(.add), .op(.matMul, .value("a"), .value("b"), as: "product"), .value("bias"))

    static let gemm: RewriteRule = { node, context in
        guard let match = pattern.match(node.outputs[0].name, context), let product = match.nodes["product"],
            context.isOnlyRead(product.outputs[0].name, by: node),
            let a = context.type(match["a"]!), let b = context.type(match["b"]!), let bias = context.type(match["bias"]!),
            a.shape.rank == 2, b.shape.rank == 2, bias.shape.rank <= 2,
            (try? Op.gemm(transB: false).inferTypes([a, b, bias])) == [node.outputType]
        else { return nil }
        return .replace(
            with: Node(name: node.name, op: .gemm(transB: false), inputs: product.inputs + [match["bias"]!], outputs: node.outputs))
    }
}
