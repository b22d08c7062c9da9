import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter

/// `--quantize` and its companions, shared by `convert` and `bench`. Quantization runs last, on the
/// optimized IR (so BatchNorms are already folded into the weights it quantizes).
struct QuantizationOptions: ParsableArguments {
    @Option(help: "Quantize to int8: dynamic (weights) or static (weights and the activations they read, calibrated).")
    var quantize: String?

    @Option(help: "Calibration inputs for static quantization: a .npy file (one-input models) or a directory of INPUT.npy files.")
    var calibration: String?

    @Option(
        help:
            "How calibration turns values into ranges: minmax, percentile (drops the outer 0.01% of each tail) or entropy (the KL-divergence threshold)."
    )
    var calibrationMethod: String = "minmax"

    /// `--per-channel` (the default) or `--per-tensor`.
    enum WeightScales: String, EnumerableFlag {
        case perChannel, perTensor

        static func help(for value: WeightScales) -> ArgumentHelp? {
            switch value {
            case .perChannel: "One weight scale per output channel (the default)."
            case .perTensor: "One weight scale per weight tensor."
            }
        }
    }

    @Flag var weightScales: WeightScales = .perChannel

    var perTensor: Bool { weightScales == .perTensor }

    @Flag(help: "7-bit weights: exact in ONNX Runtime's integer kernels on x86 CPUs without VNNI, which saturate full-range int8.")
    var reduceRange = false

    @Option(help: "Activation type for static quantization: uint8 or int8.")
    var activations: String = "uint8"

    @Option(help: "Layers to keep in float, comma-separated.")
    var exclude: String?

    @Option(help: "Write the quantization report as JSON to this file.")
    var report: String?

    /// Quantizes `graph` when asked and prints the report to stderr (and writes it as JSON with --report),
    /// measured on --eval-input, else the calibration inputs, else random ones; returns the graph unchanged otherwise.
    func apply(_ graph: Graph, evaluation: EvaluationOptions) throws -> Graph {
        let (quantized, reportFile) = try quantize(graph, evaluation: evaluation)
        if let reportFile { try Artifacts.write([reportFile]) }
        return quantized
    }

    /// `apply` without writing the --report file: returns it instead (its directory and the file), for a
    /// command to write together with its other output, so that a failure leaves neither behind.
    func quantize(_ graph: Graph, evaluation: EvaluationOptions) throws -> (graph: Graph, report: (directory: URL, artifacts: Artifacts)?) {
        guard let quantize else {
            guard calibration == nil, report == nil else { throw ValidationError("--calibration and --report need --quantize") }
            return (graph, nil)
        }
        let excluded = exclude.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        var quantizer = try Quantizer(
            mode: quantize, calibration: calibrationMethod, perChannel: !perTensor, activations: activations, excluded: excluded)
        quantizer.reduceRange = reduceRange
        let inputs = try calibration.map { try Self.load($0, for: graph) }
        let source: QuantizationReport.Source
        let evaluationInputs: [String: Tensor]
        if let given = try evaluation.inputs(for: graph) {
            (source, evaluationInputs) = (.evalInput, given)
        } else if let inputs {
            (source, evaluationInputs) = (.calibration, inputs)
        } else {
            (source, evaluationInputs) = (.random, try Inputs.random(for: graph, batchSize: 32))
        }
        let labels = try evaluation.labels(for: evaluationInputs, from: source == .evalInput ? "--eval-input" : "--calibration")
        let quantized = try quantizer.quantize(graph, calibration: inputs)
        let result = try QuantizationReport(
            float: graph, quantized: quantized, quantizer: quantizer, inputs: evaluationInputs, source: source, labels: labels)
        printErr(result.text)
        guard let report else { return (quantized, nil) }
        // Through Artifacts: a directory or anything else Kiln did not write is never replaced.
        let url = URL(fileURLWithPath: report)
        var artifacts = Artifacts()
        artifacts.add(url.lastPathComponent, [UInt8](try result.json))
        return (quantized, (url.deletingLastPathComponent(), artifacts))
    }

    /// A .npy file for a one-input model, or a directory of INPUT.npy files.
    static func load(_ path: String, for graph: Graph) throws -> [String: Tensor] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("--calibration \(path) does not exist")
        }
        if !isDirectory.boolValue { return try Inputs.load([path], for: graph) }
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".npy") }.sorted()
        return try Inputs.load(
            files.map { "\(($0 as NSString).deletingPathExtension)=\((path as NSString).appendingPathComponent($0))" }, for: graph)
    }
}
