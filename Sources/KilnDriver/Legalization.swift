import KilnIR
import KilnPasses
import ONNXBackend
import SwiftBackend

/// A backend and the passes that make a graph legal for it. Backends read legalized IR and never rewrite
/// it, so what `--print-ir-after` shows after legalization is what each backend emits.
public enum Backend: String, CaseIterable, Sendable {
    case onnx, swift

    /// The fused epilogues the backend runs.
    public var epilogueSupport: EpilogueSupport {
        switch self {
        case .onnx: ONNXEmitter.epilogueSupport
        case .swift: SwiftEmitter.epilogueSupport
        }
    }

    /// The legalization pipeline, by pass: each fused epilogue the backend cannot run is split off; for Swift,
    /// whose kernel reduces one block of adjacent axes, reductions over other axes are split too.
    public var legalization: PassManager {
        switch self {
        case .onnx: PassManager(passes: [SplitEpilogues(keeping: epilogueSupport)], verifyEach: PassManager.isDebugBuild)
        case .swift:
            PassManager(passes: [SplitEpilogues(keeping: epilogueSupport), SplitReductions()], verifyEach: PassManager.isDebugBuild)
        }
    }

    /// The graph made legal for this backend; `observer` sees the IR after each legalization pass.
    public func legalize(_ graph: Graph, observer: (@Sendable (_ pass: String, _ graph: Graph) -> Void)? = nil) throws -> Graph {
        var pipeline = legalization
        pipeline.observer = observer
        return try pipeline.run(graph)
    }
}
