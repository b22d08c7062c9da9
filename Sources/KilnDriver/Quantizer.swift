import Foundation
import KilnIR
import KilnInterpreter
import KilnPasses

/// Int8 quantization from command-line options: calibration on given inputs, the QDQ rewrite, and a report
/// of what it costs in accuracy, layer by layer.
public struct Quantizer: Sendable {
    public enum Mode: String, Sendable, CaseIterable { case dynamic, `static` }

    public var mode: Mode
    public var calibration: Calibration
    public var perChannel: Bool
    public var activationType: DType
    public var excluded: Set<String>
    /// 7-bit weights, for ONNX Runtime's integer kernels on x86 CPUs without VNNI (see `Quantize.reduceRange`).
    public var reduceRange = false
    /// The percentile of each tail dropped by `percentile` calibration (0.01 drops the lowest and highest 0.01%).
    public var percentile: Double = 0.01

    public init(
        mode: String, calibration: String = "minmax", perChannel: Bool = true, activations: String = "uint8", excluded: [String] = []
    ) throws {
        guard let mode = Mode(rawValue: mode) else { throw InputError("unknown --quantize '\(mode)'; use dynamic or static") }
        guard let calibration = Calibration(rawValue: calibration) else {
            throw InputError("unknown --calibration-method '\(calibration)'; use minmax, percentile or entropy")
        }
        let types: [String: DType] = ["uint8": .uint8, "int8": .int8]
        guard let activationType = types[activations] else { throw InputError("unknown --activations '\(activations)'; use uint8 or int8") }
        self.mode = mode
        self.calibration = calibration
        self.perChannel = perChannel
        self.activationType = activationType
        self.excluded = Set(excluded)
    }

    /// The real range of every activation static quantization reads, over the calibration inputs.
    public func ranges(_ graph: Graph, calibration inputs: [String: Tensor]) throws -> [String: ClosedRange<Float>] {
        let names = Quantize.activationsToCalibrate(in: graph, excluding: excluded)
        let values = try Self.values(of: names, in: graph, inputs: inputs)
        var ranges: [String: ClosedRange<Float>] = [:]
        for name in names {
            guard let tensor = values[name], let range = calibration.range(of: tensor.floats, percentile: percentile) else { continue }
            ranges[name] = range
        }
        return ranges
    }

    /// Quantizes `graph`; static quantization calibrates on `calibration` first.
    public func quantize(_ graph: Graph, calibration inputs: [String: Tensor]?) throws -> Graph {
        let layers = PrunableLayer.find(in: graph).map(\.name)
        guard layers.contains(where: { !excluded.contains($0) }) else {
            throw InputError(
                layers.isEmpty
                    ? "nothing to quantize: --quantize rewrites Dense (Gemm, MatMul) and Conv layers with constant kernels, and this model has none"
                    : "nothing to quantize: --exclude names every quantizable layer (\(layers.joined(separator: ", ")))")
        }
        var ranges: [String: ClosedRange<Float>] = [:]
        if mode == .static {
            guard let inputs else {
                throw InputError("--quantize static needs --calibration FILE.npy or DIR (inputs to measure ranges on)")
            }
            ranges = try self.ranges(graph, calibration: inputs)
        }
        let quantized = try Quantize(
            ranges: ranges, perChannel: perChannel, activationType: activationType, excluded: excluded, reduceRange: reduceRange
        ).run(on: graph)
        try quantized.verify()
        return quantized
    }

    /// Values of the given names (graph values or outputs) on `inputs`, by running a copy whose outputs they are.
    static func values(of names: [String], in graph: Graph, inputs: [String: Tensor]) throws -> [String: Tensor] {
        guard !names.isEmpty else { return [:] }
        var probe = graph
        probe.outputs = names
        return try Interpreter().run(probe, inputs: inputs)
    }

    /// Per quantized layer: the signal-to-quantization-noise ratio (dB) of its output, float against quantized,
    /// on `inputs`; lowest first, so the layers to `--exclude` come first.
    public static func layerNoise(float: Graph, quantized: Graph, inputs: [String: Tensor]) throws -> [(layer: String, sqnr: Double)] {
        let layers = PrunableLayer.find(in: float)
        let outputs = layers.map { float.nodes[$0.node].outputs[0].name }.filter { name in
            quantized.nodes.contains { $0.outputs[0].name == name }
        }
        let reference = try values(of: outputs, in: float, inputs: inputs), result = try values(of: outputs, in: quantized, inputs: inputs)
        var rows: [(String, Double)] = []
        for layer in layers {
            let name = float.nodes[layer.node].outputs[0].name
            guard let a = reference[name]?.floats, let b = result[name]?.floats else { continue }
            rows.append((layer.name, QuantizationReport.sqnr(a, b)))
        }
        return rows.sorted { $0.1 < $1.1 }
    }
}
