import Foundation
import KilnIR
import KilnInterpreter
import KilnPasses

/// What quantization cost, measured on evaluation inputs: for each layer its signal-to-quantization-noise ratio
/// and quantization parameters, for each output the largest error against float, and with labels top-1 float
/// against quantized. Layers come lowest SQNR first, so the ones worth `--exclude`-ing lead.
public struct QuantizationReport: Sendable {
    /// Where the evaluation inputs came from.
    public enum Source: String, Sendable {
        case evalInput = "eval-input", calibration, random
    }

    public struct Layer: Sendable, Equatable {
        public var name: String
        /// The value the layer's product defines (names can repeat: a SeparableConv2D is two products).
        public var output: String
        /// dB, float against quantized output of the layer (with the noise of every layer before it); infinite
        /// when they are equal.
        public var sqnr: Double
        /// dB, the same with only this layer quantized (every other one float): the noise it adds by itself.
        /// Nil for an excluded layer.
        public var sqnrAlone: Double?
        /// int8 for a quantized kernel, float32 for an excluded layer.
        public var weightType: DType
        /// The smallest and largest of the kernel's scales (one per output channel, or a single one).
        public var weightScales: ClosedRange<Float>?
        public var weightScaleCount = 0
        /// uint8 or int8 for static quantization, float32 otherwise.
        public var activationType: DType
        public var activationScale: Float?
        public var activationZeroPoint: Int?
    }

    public var mode: Quantizer.Mode
    public var perChannel: Bool
    public var calibration: Calibration
    public var reduceRange: Bool
    public var source: Source
    public var examples: Int
    public var layers: [Layer]
    /// Per model output, in graph order.
    public var outputErrors: [(output: String, maxAbsError: Float)]
    /// Top-1 accuracy of the first output, float and quantized, when labels were given.
    public var top1: (float: Double, quantized: Double)?
    /// The recurrent layers (RNN, GRU, LSTM ops), which quantization leaves in float32, each with its op.
    public var floatRecurrentLayers: [String] = []

    /// Runs `float` and `quantized` on `inputs` and measures the difference; `labels` (one per example) add top-1.
    public init(
        float: Graph, quantized: Graph, quantizer: Quantizer, inputs: [String: Tensor], source: Source, labels: [Int64]? = nil
    ) throws {
        mode = quantizer.mode
        perChannel = quantizer.perChannel
        calibration = quantizer.calibration
        reduceRange = quantizer.reduceRange
        self.source = source
        examples = inputs.values.first?.shape.first ?? 0
        floatRecurrentLayers = float.recurrentLayerSummaries
        let found = PrunableLayer.find(in: float).map { (name: $0.name, output: float.nodes[$0.node].outputs[0].name) }
        let producers = Dictionary(quantized.nodes.flatMap { node in node.outputs.map { ($0.name, node) } }) { first, _ in first }
        let shared = found.filter { producers[$0.output] != nil }
        let names = shared.map(\.output) + float.outputs.filter { name in !shared.contains { $0.output == name } }
        let reference = try Quantizer.values(of: names, in: float, inputs: inputs)
        let result = try Quantizer.values(of: names, in: quantized, inputs: inputs)
        let constants = quantized.constantsByName
        layers = []
        for (name, output) in shared {
            guard let a = reference[output]?.floats, let b = result[output]?.floats, let node = producers[output] else { continue }
            var layer = Layer(name: name, output: output, sqnr: Self.sqnr(a, b), weightType: .float32, activationType: .float32)
            // The kernel and the input each read through a DequantizeLinear whose scale (and zero point) are constants.
            if node.inputs.count > 1, let kernel = producers[node.inputs[1]], case .dequantizeLinear = kernel.op,
                let scales = constants[kernel.inputs[1]]?.floats, let low = scales.min(), let high = scales.max()
            {
                layer.weightType = constants[kernel.inputs[0]]?.dtype ?? .int8
                layer.weightScales = low...high
                layer.weightScaleCount = scales.count
            }
            if let input = producers[node.inputs[0]], case .dequantizeLinear = input.op, input.inputs.count > 2,
                let scale = constants[input.inputs[1]]?.floats.first, let zero = constants[input.inputs[2]]
            {
                layer.activationType = zero.dtype
                layer.activationScale = scale
                layer.activationZeroPoint = zero.int64s.first.map { Int($0) }
            }
            layers.append(layer)
        }
        // Each quantized layer alone: the quantized graph with every other layer reading its float operands.
        // Products are matched by their output value: several nodes can carry a layer's name.
        let floatProducts = Dictionary(float.nodes.map { ($0.outputs[0].name, $0) }) { first, _ in first }
        for index in layers.indices where layers[index].weightScales != nil {
            let own = layers[index].output
            var alone = quantized
            for (position, node) in alone.nodes.enumerated() {
                guard let output = node.outputs.first?.name, output != own, shared.contains(where: { $0.output == output }),
                    let original = floatProducts[output]
                else { continue }
                alone.nodes[position].inputs = original.inputs
            }
            let present = Set(alone.constants.map(\.name))
            alone.constants += float.constants.filter { !present.contains($0.name) }
            alone.removeDeadCode()
            if let a = reference[own]?.floats, let b = try Quantizer.values(of: [own], in: alone, inputs: inputs)[own]?.floats {
                layers[index].sqnrAlone = Self.sqnr(a, b)
            }
        }
        layers.sort { $0.sqnr < $1.sqnr }
        outputErrors = float.outputs.compactMap { name in
            guard let a = reference[name]?.floats, let b = result[name]?.floats else { return nil }
            return (name, zip(a, b).map { abs($0 - $1) }.max() ?? 0)
        }
        if let labels, let output = float.outputs.first, let a = reference[output], let b = result[output] {
            top1 = (try Accuracy.top1(a, labels), try Accuracy.top1(b, labels))
        }
    }

    static func sqnr(_ signal: [Float], _ noisy: [Float]) -> Double {
        let power = signal.reduce(0.0) { $0 + Double($1) * Double($1) }
        let noise = zip(signal, noisy).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        return noise == 0 ? .infinity : 10 * log10(power / noise)
    }

    /// The layers to try `--exclude` on first: the quantized layer with the lowest SQNR and any within 3 dB of it,
    /// at most three and at most half of them (naming every layer would not help).
    public var excludeCandidates: [String] {
        let quantized = layers.filter { $0.weightScales != nil }
        guard let worst = quantized.first?.sqnr, worst.isFinite else { return [] }
        return quantized.prefix(max(1, min(3, quantized.count / 2))).filter { $0.sqnr < worst + 3 }.map(\.name)
    }

    /// The table printed on stderr.
    public var text: String {
        var text =
            "quantization (\(mode), \(perChannel ? "per channel" : "per tensor"), calibration \(calibration)) on \(sourceDescription):\n"
        let header = ["layer", "type", "SQNR dB", "alone dB", "weight scale (min..max)", "act. scale", "zero point"]
        var rows = [header]
        for layer in layers {
            let scales = layer.weightScales.map { scales in
                layer.weightScaleCount == 1
                    ? Self.number(scales.lowerBound)
                    : Self.number(scales.lowerBound) + ".." + Self.number(scales.upperBound) + " (\(layer.weightScaleCount))"
            }
            let type =
                layer.weightScales == nil
                ? "float32 (excluded)"
                : "\(Self.typeName(layer.weightType, bits: reduceRange ? 7 : 8)) x \(Self.typeName(layer.activationType))"
            rows.append([
                layer.name, type,
                Self.decibels(layer.sqnr), layer.sqnrAlone.map(Self.decibels) ?? "-", scales ?? "-",
                layer.activationScale.map(Self.number) ?? "-", layer.activationZeroPoint.map(String.init) ?? "-",
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max()! }
        for row in rows {
            text +=
                row.indices.map { row[$0].padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined()
                .trimmingCharacters(in: .whitespaces) + "\n"
        }
        if !floatRecurrentLayers.isEmpty {
            text += "recurrent layers stay float32 (not quantized): \(floatRecurrentLayers.joined(separator: ", "))\n"
        }
        for (output, error) in outputErrors { text += "output \(output): max abs error \(error) against float\n" }
        if let top1 {
            text +=
                "top-1 accuracy on \(examples) examples: \(Accuracy.percent(top1.float)) float, \(Accuracy.percent(top1.quantized)) quantized\n"
        }
        let candidates = excludeCandidates
        if let worst = layers.first(where: { $0.name == candidates.first }) {
            let one = candidates.count == 1, sqnr = String(format: "%.1f", worst.sqnr)
            text += "hint: \(candidates.joined(separator: ", ")) lose\(one ? "s" : "") the most (\(sqnr) dB); if accuracy suffers, "
            text += "try --exclude \(candidates.joined(separator: ",")) to keep \(one ? "it" : "them") in float\n"
        }
        return text
    }

    var sourceDescription: String {
        switch source {
        case .evalInput: "\(examples) examples of --eval-input"
        case .calibration: "\(examples) examples of --calibration (no --eval-input)"
        case .random: "\(examples) random examples (no --eval-input or --calibration)"
        }
    }

    /// The report as JSON: `mode`, `per_channel`, `calibration`, `layers` (each `layer`, `sqnr_db`, types,
    /// scales and zero point), `output_max_abs_error`, `evaluation`, `top1` with labels, `exclude_candidates`.
    public var json: Data {
        get throws {
            let layerObjects = layers.map { layer -> [String: Any] in
                var object: [String: Any] = [
                    "layer": layer.name, "sqnr_db": layer.sqnr.isFinite ? layer.sqnr : 999,
                    "sqnr_alone_db": layer.sqnrAlone.map { $0.isFinite ? $0 : 999 } as Any,
                    "weight_type": Self.typeName(layer.weightType), "activation_type": Self.typeName(layer.activationType),
                ]
                if let scales = layer.weightScales {
                    object["weight_bits"] = reduceRange ? 7 : 8
                    object["weight_scale_min"] = Double(scales.lowerBound)
                    object["weight_scale_max"] = Double(scales.upperBound)
                    object["weight_scale_count"] = layer.weightScaleCount
                }
                if let scale = layer.activationScale { object["activation_scale"] = Double(scale) }
                if let zero = layer.activationZeroPoint { object["activation_zero_point"] = zero }
                return object
            }
            var object: [String: Any] = [
                "mode": mode.rawValue, "per_channel": perChannel, "calibration": calibration.rawValue, "reduce_range": reduceRange,
                "layers": layerObjects,
                "output_max_abs_error": Dictionary(outputErrors.map { ($0.output, Double($0.maxAbsError)) }) { first, _ in first },
                "evaluation": ["inputs": source.rawValue, "examples": examples],
                "exclude_candidates": excludeCandidates,
            ]
            if let top1 { object["top1"] = ["float": top1.float, "quantized": top1.quantized, "examples": examples] }
            return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        }
    }

    static func typeName(_ type: DType, bits: Int = 8) -> String {
        switch type {
        case .int8: bits == 8 ? "int8" : "int\(bits)"
        case .uint8: "uint8"
        default: "float32"
        }
    }

    static func number(_ value: Float) -> String { String(format: "%.3g", value) }

    static func decibels(_ value: Double) -> String { value.isFinite ? String(format: "%.1f", value) : "exact" }
}

extension Graph {
    /// "name (LSTM)" for every layer with a recurrent op, once each in graph order: what pruning and quantization
    /// leave as is.
    var recurrentLayerSummaries: [String] {
        var seen: Set<String> = []
        return nodes.compactMap { node in
            guard case .recurrent = node.op else { return nil }
            let summary = "\(node.name) (\(node.op.name))"
            return seen.insert(summary).inserted ? summary : nil
        }
    }
}
