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

    @Option(help: "How calibration turns values into ranges: minmax or percentile (drops the outer 0.01% of each tail).")
    var calibrationMethod: String = "minmax"

    @Flag(help: "One scale per weight tensor instead of one per output channel.")
    var perTensor = false

    @Flag(help: "7-bit weights: exact in ONNX Runtime's integer kernels on x86 CPUs without VNNI, which saturate full-range int8.")
    var reduceRange = false

    @Option(help: "Activation type for static quantization: uint8 or int8.")
    var activations: String = "uint8"

    @Option(help: "Layers to keep in float, comma-separated.")
    var exclude: String?

    @Option(help: "Write the quantization report as JSON to this file.")
    var report: String?

    func apply(_ graph: Graph, labels: String? = nil) throws -> Graph {
        guard let quantize else {
            guard calibration == nil, report == nil else { throw ValidationError("--calibration and --report need --quantize") }
            return graph
        }
        let excluded = exclude.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? []
        var quantizer = try Quantizer(
            mode: quantize, calibration: calibrationMethod, perChannel: !perTensor, activations: activations, excluded: excluded)
        quantizer.reduceRange = reduceRange
        let inputs = try calibration.map { try Self.load($0, for: graph) }
        let quantized = try quantizer.quantize(graph, calibration: inputs)
        let evaluation = try inputs ?? Inputs.random(for: graph, batchSize: 32)
        let noise = try Quantizer.layerNoise(float: graph, quantized: quantized, inputs: evaluation)
        let interpreter = Interpreter()
        let reference = try interpreter.run(graph, inputs: evaluation), result = try interpreter.run(quantized, inputs: evaluation)
        var text = "quantization (\(quantize), \(perTensor ? "per tensor" : "per channel"), calibration \(calibrationMethod)):\n"
        text += "layer                   SQNR (dB, lowest first)\n"
        for (layer, sqnr) in noise { text += layer.padding(toLength: 24, withPad: " ", startingAt: 0) + String(format: "%.1f", sqnr) + "\n" }
        var errors: [String: Float] = [:]
        for name in graph.outputs {
            guard let a = reference[name]?.floats, let b = result[name]?.floats else { continue }
            errors[name] = zip(a, b).map { abs($0 - $1) }.max() ?? 0
            text += "output \(name): max abs error \(errors[name]!) against float\(inputs == nil ? " (random inputs)" : "")\n"
        }
        printErr(text)
        if let report {
            let json: [String: Any] = [
                "mode": quantize, "per_channel": !perTensor, "calibration": calibrationMethod,
                "layers": noise.map { ["layer": $0.layer, "sqnr_db": $0.sqnr.isFinite ? $0.sqnr : 999] },
                "output_max_abs_error": errors.mapValues { Double($0) },
            ]
            let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: report))
        }
        return quantized
    }

    /// A .npy file for a one-input model, or a directory of INPUT.npy files.
    static func load(_ path: String, for graph: Graph) throws -> [String: Tensor] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("--calibration \(path) does not exist")
        }
        if !isDirectory.boolValue { return try Inputs.load([path], for: graph) }
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".npy") }.sorted()
        return try Inputs.load(files.map { "\(($0 as NSString).deletingPathExtension)=\((path as NSString).appendingPathComponent($0))" }, for: graph)
    }
}
