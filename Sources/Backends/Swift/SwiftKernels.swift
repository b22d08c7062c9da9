/// The runtime kernels a generated executor carries, in sections so a file holds only what its graph uses.
/// Each section is one file of `Sources/KilnRuntime`, a target SwiftPM compiles and tests; the text comes from
/// `EmbeddedRuntime`, which `scripts/embed-runtime.sh` generates from those files with every top-level
/// declaration made `fileprivate`. To change a kernel, edit `Sources/KilnRuntime` and run the script.
enum SwiftKernels {
    /// A group of kernels, emitted in this order.
    enum Section: Int, CaseIterable, Comparable {
        case core, gemm, matMul, elementwise, layout, window, resample, gather, sparse, quantization, normalization, int8, int8Gemv,
            recurrent, attention

        static func < (lhs: Section, rhs: Section) -> Bool { lhs.rawValue < rhs.rawValue }

        var source: String {
            switch self {
            case .core: EmbeddedRuntime.core
            case .gemm: EmbeddedRuntime.gemm
            case .matMul: EmbeddedRuntime.matMul
            case .elementwise: EmbeddedRuntime.elementwise
            case .layout: EmbeddedRuntime.layout
            case .window: EmbeddedRuntime.window
            case .resample: EmbeddedRuntime.resample
            case .gather: EmbeddedRuntime.gather
            case .sparse: EmbeddedRuntime.sparse
            case .quantization: EmbeddedRuntime.quantization
            case .normalization: EmbeddedRuntime.normalization
            case .int8: EmbeddedRuntime.int8
            case .int8Gemv: EmbeddedRuntime.int8Gemv
            case .recurrent: EmbeddedRuntime.recurrent
            case .attention: EmbeddedRuntime.attention
            }
        }
    }

    /// The source of the given sections (the core always), in a fixed order.
    static func source(for sections: Set<Section>) -> String {
        (sections.union([.core])).sorted().map(\.source).joined(separator: "\n")
    }
}
