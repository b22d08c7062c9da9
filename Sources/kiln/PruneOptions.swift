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

    @Option(name: .customLong("eval-input"), help: "Inputs to measure the pruned outputs' error on, as [NAME=]FILE.npy (default: random).")
    var evalInputs: [String] = []

    @Option(help: "Labels (.npy, one class per example of --eval-input) for top-1 accuracy before and after.")
    var labels: String?

    var pruner: Pruner? {
        get throws {
            guard let prune else { return nil }
            let excluded = pruneExclude.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
            return try Pruner(spec: prune, scope: pruneScope, excluded: excluded, includeEnds: pruneFirstLast)
        }
    }

    /// Prunes `graph` when asked and prints the report to stderr; returns the graph unchanged otherwise.
    func apply(_ graph: Graph) throws -> Graph {
        guard let pruner = try pruner else {
            guard evalInputs.isEmpty, labels == nil else { throw ValidationError("--eval-input and --labels need --prune") }
            return graph
        }
        let pruned = try pruner.prune(graph)
        printErr("pruning (\(prune!)):\n" + Pruner.render(Pruner.records(before: graph, after: pruned), graphBefore: graph, graphAfter: pruned))
        let inputs = evalInputs.isEmpty ? try Inputs.random(for: graph, batchSize: 32) : try Inputs.load(evalInputs, for: graph)
        let interpreter = Interpreter()
        let reference = try interpreter.run(graph, inputs: inputs), result = try interpreter.run(pruned, inputs: inputs)
        for name in graph.outputs {
            guard let a = reference[name]?.floats, let b = result[name]?.floats else { continue }
            let error = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            printErr("output \(name): max abs error \(error) against the unpruned model\(evalInputs.isEmpty ? " (random inputs)" : "")\n")
        }
        if let labels {
            let truth = try NPY.read(contentsOf: URL(fileURLWithPath: labels)).int64s
            guard let output = graph.outputs.first, let before = reference[output], let after = result[output] else { return pruned }
            let accuracyBefore = try Self.top1(before, truth), accuracyAfter = try Self.top1(after, truth)
            printErr("top-1 accuracy on \(truth.count) examples: \(Self.percent(accuracyBefore)) unpruned, \(Self.percent(accuracyAfter)) pruned\n")
        }
        return pruned
    }

    /// The fraction of rows whose largest score is at the label's class.
    static func top1(_ scores: Tensor, _ labels: [Int64]) throws -> Double {
        guard let classes = scores.shape.last, classes > 0, scores.count / classes == labels.count else {
            throw ValidationError("--labels holds \(labels.count) labels for outputs of shape \(scores.shape)")
        }
        let values = scores.floats
        var correct = 0
        for (row, label) in labels.enumerated() {
            let slice = values[(row * classes)..<((row + 1) * classes)]
            if let best = slice.indices.max(by: { slice[$0] < slice[$1] }), Int64(best - row * classes) == label { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }

    static func percent(_ value: Double) -> String {
        let hundredths = Int((value * 10000).rounded())
        return "\(hundredths / 100).\(String(format: "%02d", hundredths % 100))%"
    }
}
