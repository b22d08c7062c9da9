import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter

/// `--prune` and its companions, shared by `convert` and `bench`. Pruning runs on the IR as read, before
/// the optimization passes (so before BatchNorm folding and fusion).
struct PruningOptions: ParsableArguments {
    @Option(help: "Prune before optimizing: magnitude:SPARSITY (e.g. magnitude:0.8), nm:N:M (e.g. nm:2:4) or channels:FRACTION.")
    var prune: String?

    @Option(help: "Scope of magnitude pruning: layer (every layer reaches the sparsity) or global (all layers together).")
    var pruneScope: String = "layer"

    @Option(help: "Layers to leave whole, comma-separated.")
    var pruneExclude: String?

    @Flag(help: "Also prune the first and last prunable layers (left whole by default).")
    var pruneFirstLast = false

    var pruner: Pruner? {
        get throws {
            guard let prune else { return nil }
            let excluded = pruneExclude.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
            return try Pruner(spec: prune, scope: pruneScope, excluded: excluded, includeEnds: pruneFirstLast)
        }
    }

    /// Prunes `graph` when asked and prints the report to stderr, measured on `evaluation`'s inputs (or random
    /// ones); returns the graph unchanged otherwise.
    func apply(_ graph: Graph, evaluation: EvaluationOptions) throws -> Graph {
        guard let pruner = try pruner else { return graph }
        let evalInputs = try evaluation.inputs(for: graph)
        let inputs = try evalInputs ?? Inputs.random(for: graph, batchSize: 32)
        let truth = try evaluation.labels(for: inputs, from: "--eval-input")
        let pruned = try pruner.prune(graph)
        printErr(
            "pruning (\(prune!)):\n" + Pruner.render(Pruner.records(before: graph, after: pruned), graphBefore: graph, graphAfter: pruned))
        let interpreter = Interpreter()
        let reference = try interpreter.run(graph, inputs: inputs), result = try interpreter.run(pruned, inputs: inputs)
        for name in graph.outputs {
            guard let a = reference[name]?.floats, let b = result[name]?.floats else { continue }
            let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            printErr("output \(name): max abs error \(error) against the unpruned model\(evalInputs == nil ? " (random inputs)" : "")\n")
        }
        if let truth, let output = graph.outputs.first, let before = reference[output], let after = result[output] {
            let accuracyBefore = try Accuracy.top1(before, truth), accuracyAfter = try Accuracy.top1(after, truth)
            printErr(
                "top-1 accuracy on \(truth.count) examples: \(Accuracy.percent(accuracyBefore)) unpruned, \(Accuracy.percent(accuracyAfter)) pruned\n"
            )
        }
        return pruned
    }
}
