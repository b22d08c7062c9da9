import ArgumentParser
import Foundation
import KilnDriver
import KilnIR

/// `--eval-input` and `--labels`, shared by pruning and quantization in `convert` and `bench`: the examples
/// their reports measure the error on, and with labels top-1 accuracy before and after.
struct EvaluationOptions: ParsableArguments {
    @Option(
        name: .customLong("eval-input"),
        help:
            "Inputs to measure pruning's and quantization's error on, as [NAME=]FILE.npy (default: random; for --quantize, the calibration inputs)."
    )
    var evalInputs: [String] = []

    @Option(help: "Labels (.npy of class indices, one per example of --eval-input, or of --calibration without it) for top-1 accuracy.")
    var labels: String?

    /// Refuses evaluation options that nothing would use, and labels with no examples to label.
    func check(pruning: Bool, quantization: Bool, calibration: Bool) throws {
        guard !evalInputs.isEmpty || labels != nil else { return }
        guard pruning || quantization else {
            throw ValidationError("--eval-input and --labels need --prune or --quantize (they measure what those change)")
        }
        guard labels != nil, evalInputs.isEmpty else { return }
        if pruning { throw ValidationError("--labels with --prune needs --eval-input: the examples the labels are for") }
        if !calibration {
            throw ValidationError("--labels needs --eval-input (or, with --quantize, --calibration): the examples the labels are for")
        }
    }

    /// The --eval-input files for `graph`, or nil when none are given.
    func inputs(for graph: Graph) throws -> [String: Tensor]? {
        evalInputs.isEmpty ? nil : try Inputs.load(evalInputs, for: graph)
    }

    /// The --labels, if given, after checking there is one per example of `inputs` (named by `source`).
    func labels(for inputs: [String: Tensor], from source: String) throws -> [Int64]? {
        guard let labels else { return nil }
        let values = try NPY.read(contentsOf: URL(fileURLWithPath: labels)).int64s
        let examples = inputs.values.first?.shape.first ?? 0
        guard values.count == examples else {
            throw ValidationError(
                "--labels \(labels) holds \(values.count) labels but \(source) has \(examples) examples; give one label per example")
        }
        return values
    }
}
