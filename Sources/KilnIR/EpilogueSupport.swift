/// Which products a backend runs with a fused activation epilogue (`Op.fused`), so the IR fuses exactly
/// what the backend's kernels run: the fuse-activation pass fuses only these, and the split-epilogues pass
/// (each backend's legalization) splits any other epilogue into its own activation node.
public struct EpilogueSupport: Hashable, Sendable {
    /// The product ops, by name (`Conv`, `ConvTranspose`, `Gemm`, `MatMul`), that take any activation as
    /// an epilogue.
    public var products: Set<String>
    /// The smallest rank of the product's result the kernels fuse into.
    public var minimumRank: Int

    public init(products: Set<String>, minimumRank: Int = 0) {
        self.products = products
        self.minimumRank = minimumRank
    }

    /// Every product the IR allows (`Op.acceptsEpilogue`), at any rank.
    public static let all = EpilogueSupport(products: ["Conv", "ConvTranspose", "Gemm", "MatMul"])
    /// No fused epilogues: every activation is its own node.
    public static let none = EpilogueSupport(products: [])

    /// Whether `product` (without an epilogue), whose result has `rank` dimensions, runs `activation` as
    /// its epilogue.
    public func accepts(_ product: Op, rank: Int, activation: Activation) -> Bool {
        product.acceptsEpilogue && products.contains(product.name) && rank >= minimumRank
    }
}
