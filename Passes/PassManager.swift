import KilnIR

/// Runs a named list of passes in order, verifying the graph after each one when asked.
public struct PassManager: Sendable {
    /// Every pass Kiln has, by pipeline name. Constant folding evaluates nodes with `evaluator`;
    /// fuse-activation fuses the epilogues of `epilogues` (the target backend's); split-epilogues splits every
    /// epilogue (the ONNX legalization).
    public static func registry(evaluator: @escaping ConstantFolding.Evaluator, epilogues: EpilogueSupport = .all) -> [String: any Pass] {
        let passes: [any Pass] = [
            DeadCodeElimination(), CommonSubexpressionElimination(), ConstantFolding(evaluate: evaluator), RemoveNoOps(),
            FuseMatMulAdd(), CollapseReshapes(), FoldBatchNorm(), Quantize(), FuseActivation(support: epilogues), FoldPad(),
            SinkTransposes(),
            RecognizePatterns(), SplitEpilogues(keeping: .none), SplitReductions(),
        ]
        return Dictionary(uniqueKeysWithValues: passes.map { (type(of: $0).name, $0) })
    }

    /// Named pipelines: `O0` runs nothing, `O1` cleans up, `O2` cleans up and fuses.
    public static let presets: [String: [String]] = [
        "O0": [],
        "O1": ["remove-noops", "fold-constants", "cse", "dce"],
        "O2": [
            "remove-noops", "fold-constants", "cse", "recognize-patterns", "sink-transposes", "collapse-reshapes", "fuse-matmul-add",
            "fold-pad", "fold-batchnorm", "fuse-activation", "remove-noops", "dce",
        ],
    ]

    public var passes: [any Pass]
    /// Verify the graph after every pass (on in debug builds and tests).
    public var verifyEach: Bool
    /// Called after each pass with its name and result, e.g. to print the IR after it.
    public var observer: (@Sendable (_ pass: String, _ graph: Graph) -> Void)?

    public init(passes: [any Pass], verifyEach: Bool = PassManager.isDebugBuild, observer: (@Sendable (String, Graph) -> Void)? = nil) {
        self.passes = passes
        self.verifyEach = verifyEach
        self.observer = observer
    }

    /// A pipeline from pass names, e.g. `["fold-constants", "dce"]`.
    public init(
        pipeline names: [String], evaluator: @escaping ConstantFolding.Evaluator, epilogues: EpilogueSupport = .all,
        verifyEach: Bool = PassManager.isDebugBuild
    ) throws(PassError) {
        let registry = Self.registry(evaluator: evaluator, epilogues: epilogues)
        var passes: [any Pass] = []
        for name in names {
            guard let pass = registry[name] else { throw PassError.unknownPass(name, known: registry.keys.sorted()) }
            passes.append(pass)
        }
        self.init(passes: passes, verifyEach: verifyEach)
    }

    public func run(_ graph: Graph) throws -> Graph {
        try runTracing(graph).graph
    }

    /// Runs the pipeline and records what each pass changed.
    public func runTracing(_ graph: Graph) throws -> (graph: Graph, trace: [PassRecord]) {
        var graph = graph
        var trace: [PassRecord] = []
        for pass in passes {
            let name = type(of: pass).name
            let before = graph
            graph = try pass.run(on: graph)
            trace.append(PassRecord(pass: name, before: before, after: graph))
            if verifyEach {
                do {
                    try graph.verify()
                } catch {
                    throw PassError.brokeGraph(pass: name, error)
                }
            }
            observer?(name, graph)
        }
        return (graph, trace)
    }

    public static var isDebugBuild: Bool {
        #if DEBUG
        true
        #else
        false
        #endif
    }
}

public enum PassError: Error, CustomStringConvertible {
    case unknownPass(String, known: [String])
    case brokeGraph(pass: String, VerificationError)

    public var description: String {
        switch self {
        case .unknownPass(let name, let known):
            "unknown pass '\(name)'"
                + (known.isEmpty ? "; no passes are registered yet" : "; known passes: \(known.joined(separator: ", "))")
        case .brokeGraph(let pass, let error): "pass \(pass) produced an invalid graph: \(error)"
        }
    }
}

/// What one pass changed.
public struct PassRecord: Sendable {
    public var pass: String
    public var nodesBefore: Int, nodesAfter: Int
    public var constantsBefore: Int, constantsAfter: Int
    public var parametersBefore: Int, parametersAfter: Int
    public var changed: Bool

    init(pass: String, before: Graph, after: Graph) {
        self.pass = pass
        nodesBefore = before.nodes.count
        nodesAfter = after.nodes.count
        constantsBefore = before.constants.count
        constantsAfter = after.constants.count
        parametersBefore = before.parameterCount
        parametersAfter = after.parameterCount
        changed = before != after
    }
}
