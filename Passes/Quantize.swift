import KilnIR

/// Int8 quantization in the QDQ form: each Dense (Gemm, MatMul) and Conv with a constant kernel reads its
/// kernel through a DequantizeLinear of int8 weights (symmetric, per output channel by default), so the
/// model stores a quarter of the bytes; with static quantization its input also goes through a
/// QuantizeLinear/DequantizeLinear pair whose scale and zero point come from calibration ranges.
/// Its bias then becomes int32 in steps of input scale x weight scale, the grid of the integer sums, as
/// ONNX's integer kernels (and ONNX Runtime, which otherwise rounds it so itself) keep it. Backends see
/// the exact arithmetic: the interpreter runs the pairs, ONNX Runtime fuses them into integer kernels.
///
/// Rewrite (static, per channel):
///
///     %y = Gemm(%x, %w, %b) {transB = false} : f32[N,4]
///   ->
///     %x.quantized = QuantizeLinear(%x, %x.scale, %x.zero_point) {axis = 1} : u8[N,8]
///     %x.dequantized = DequantizeLinear(%x.quantized, %x.scale, %x.zero_point) {axis = 1} : f32[N,8]
///     %w.dequantized = DequantizeLinear(%w.quantized, %w.scale, %w.zero_point) {axis = 1} : f32[8,4]
///     %b.dequantized = DequantizeLinear(%b.quantized, %b.scale, %b.zero_point) {axis = 0} : f32[4]
///     %y = Gemm(%x.dequantized, %w.dequantized, %b.dequantized) {transB = false} : f32[N,4]
public struct Quantize: Pass {
    public static let name = "quantize"
    public static let summary = "int8 weights (and, static, int8/uint8 activations) as QuantizeLinear/DequantizeLinear pairs"

    /// The real range each quantized activation covers, from calibration; empty for weights only (dynamic).
    public var ranges: [String: ClosedRange<Float>]
    public var perChannel: Bool
    /// u8 (asymmetric, ONNX Runtime's default for activations) or i8.
    public var activationType: DType
    public var excluded: Set<String>
    /// Weights use [-63, 63] instead of [-127, 127]: ONNX Runtime's u8 x s8 kernels on x86 CPUs without
    /// VNNI add pairs of products in 16 bits, which saturate with full-range weights.
    public var reduceRange: Bool

    public init(
        ranges: [String: ClosedRange<Float>] = [:], perChannel: Bool = true, activationType: DType = .uint8, excluded: Set<String> = [],
        reduceRange: Bool = false
    ) {
        self.ranges = ranges
        self.perChannel = perChannel
        self.activationType = activationType
        self.excluded = excluded
        self.reduceRange = reduceRange
    }

    /// The product inputs static quantization needs ranges for, in graph order.
    public static func activationsToCalibrate(in graph: Graph, excluding excluded: Set<String> = []) -> [String] {
        var seen: Set<String> = []
        return PrunableLayer.find(in: graph).filter { !excluded.contains($0.name) }.compactMap { layer in
            let input = graph.nodes[layer.node].inputs[0]
            return seen.insert(input).inserted ? input : nil
        }
    }

    /// Scale and zero point mapping `range` (widened to hold 0) onto the type's integers.
    public static func parameters(for range: ClosedRange<Float>, type: DType) -> (scale: Float, zeroPoint: Int) {
        let low = min(range.lowerBound, 0), high = max(range.upperBound, 0)
        let (qmin, qmax) = type == .uint8 ? (0, 255) : (-128, 127)
        let scale = high > low ? (high - low) / Float(qmax - qmin) : 1
        let zero = Int((Float(qmin) - low / scale).rounded(.toNearestOrEven))
        return (scale, min(max(zero, qmin), qmax))
    }

    public func run(on graph: Graph) throws -> Graph {
        guard activationType == .uint8 || activationType == .int8 else { throw QuantizationError.unsupportedType(activationType) }
        let known = PrunableLayer.find(in: graph).map(\.name)
        let unknown = excluded.subtracting(known).sorted()
        guard unknown.isEmpty else { throw QuantizationError.unknownLayers(unknown, known: known) }
        var graph = graph
        let constants = graph.constantsByName
        var quantizedInputs: [String: String] = [:]
        var newNodes: [Int: [Node]] = [:]
        var dequantizedKernels: [String: String] = [:]
        var kernelScales: [String: [Float]] = [:]
        var inputScales: [String: Float] = [:]
        for layer in PrunableLayer.find(in: graph) where !excluded.contains(layer.name) {
            let node = graph.nodes[layer.node]
            var before: [Node] = []
            // The kernel, once however many products read it.
            if let existing = dequantizedKernels[layer.kernel] {
                graph.nodes[layer.node].inputs[1] = existing
            } else {
                let (dequantize, scales) = quantizeKernel(layer, constants[layer.kernel]!, nodeName: node.name, in: &graph)
                kernelScales[layer.kernel] = scales
                before.append(dequantize)
                dequantizedKernels[layer.kernel] = dequantize.outputs[0].name
                graph.nodes[layer.node].inputs[1] = dequantize.outputs[0].name
            }
            // The input, once however many products read it, when calibration gave it a range.
            let input = node.inputs[0]
            if let existing = quantizedInputs[input] {
                graph.nodes[layer.node].inputs[0] = existing
            } else if let range = ranges[input], let type = graph.valueTypes[input] {
                let (pair, scale) = quantizeInput(input, type, range: range, nodeName: node.name, in: &graph)
                inputScales[input] = scale
                before += pair
                quantizedInputs[input] = pair[1].outputs[0].name
                graph.nodes[layer.node].inputs[0] = pair[1].outputs[0].name
            }
            // The bias of a product of two quantized operands.
            if let inputScale = inputScales[input], let scales = kernelScales[layer.kernel], node.inputs.count == 3,
                let bias = constants[node.inputs[2]], bias.dtype == .float32, bias.count == layer.outputs, bias.shape.last == layer.outputs
            {
                let biasScales = (0..<layer.outputs).map { inputScale * scales[perChannel ? $0 : 0] }
                let dequantize = quantizeBias(node.inputs[2], bias, scales: biasScales, nodeName: node.name, in: &graph)
                before.append(dequantize)
                graph.nodes[layer.node].inputs[2] = dequantize.outputs[0].name
            }
            newNodes[layer.node] = before
        }
        var nodes: [Node] = []
        for (index, node) in graph.nodes.enumerated() {
            nodes += newNodes[index] ?? []
            nodes.append(node)
        }
        graph.nodes = nodes
        graph.removeDeadCode()
        return graph
    }

    /// Adds the layer's kernel as symmetric int8 constants (zero points 0) with one scale per output channel
    /// (or one for all), each scale mapping the largest magnitude to the top of the range; returns the
    /// DequantizeLinear node the product reads instead of the f32 kernel, and the scales, which the bias
    /// needs.
    private func quantizeKernel(_ layer: PrunableLayer, _ kernel: Tensor, nodeName: String, in graph: inout Graph) -> (Node, [Float]) {
        let values = kernel.floats
        let axis = layer.outputsFirst ? 0 : kernel.shape.count - 1
        let groups = perChannel ? layer.outputs : 1
        let limit: Float = reduceRange ? 63 : 127
        var scales: [Float]
        if perChannel {
            scales = (0..<layer.outputs).map { o in
                (0..<layer.reduction).reduce(Float(0)) { max($0, abs(values[layer.index($1, o)])) } / limit
            }
        } else {
            scales = [values.reduce(Float(0)) { max($0, abs($1)) } / limit]
        }
        scales = scales.map { $0 > 0 ? $0 : 1 }
        var quantized = [Int8](repeating: 0, count: values.count)
        for o in 0..<layer.outputs {
            let scale = scales[perChannel ? o : 0]
            for r in 0..<layer.reduction {
                let i = layer.index(r, o)
                quantized[i] = Int8(min(max((values[i] / scale).rounded(.toNearestOrEven), -limit), limit))
            }
        }
        let shape: [Int] = perChannel ? [groups] : []
        let q = graph.freshName("\(layer.kernel).quantized")
        graph.constants.append(Constant(q, Tensor(shape: kernel.shape, storage: .int8(quantized))))
        let s = graph.freshName("\(layer.kernel).scale")
        graph.constants.append(Constant(s, Tensor(shape: shape, floats: scales)))
        let z = graph.freshName("\(layer.kernel).zero_point")
        graph.constants.append(Constant(z, Tensor(shape: shape, storage: .int8([Int8](repeating: 0, count: groups)))))
        let dequantized = graph.freshName("\(layer.kernel).dequantized")
        let dequantize = Node(
            name: nodeName, op: .dequantizeLinear(axis: axis), inputs: [q, s, z],
            outputs: [Value(dequantized, TensorType(.float32, Shape(fixed: kernel.shape)))])
        return (dequantize, scales)
    }

    /// Adds the calibrated scale and zero point of an activation; returns the QuantizeLinear/DequantizeLinear
    /// pair the product reads it through, and the scale, which the bias needs.
    private func quantizeInput(
        _ input: String, _ type: TensorType, range: ClosedRange<Float>, nodeName: String, in graph: inout Graph
    ) -> ([Node], Float) {
        let (scale, zero) = Self.parameters(for: range, type: activationType)
        let s = graph.freshName("\(input).scale")
        graph.constants.append(Constant(s, Tensor(shape: [], floats: [scale])))
        let z = graph.freshName("\(input).zero_point")
        let zeroStorage: TensorStorage = activationType == .uint8 ? .uint8([UInt8(zero)]) : .int8([Int8(zero)])
        graph.constants.append(Constant(z, Tensor(shape: [], storage: zeroStorage)))
        let q = graph.freshName("\(input).quantized"), d = graph.freshName("\(input).dequantized")
        let pair = [
            Node(
                name: nodeName, op: .quantizeLinear(axis: 1), inputs: [input, s, z],
                outputs: [Value(q, TensorType(activationType, type.shape))]),
            Node(name: nodeName, op: .dequantizeLinear(axis: 1), inputs: [q, s, z], outputs: [Value(d, type)]),
        ]
        return (pair, scale)
    }

    /// Adds the bias as int32 in steps of input scale x weight scale, the grid the integer sums are on (as
    /// ONNX's integer kernels and quantization tools keep it), clamped to the largest floats int32 holds so the
    /// conversion cannot trap; returns the DequantizeLinear node the product reads instead.
    private func quantizeBias(_ name: String, _ bias: Tensor, scales biasScales: [Float], nodeName: String, in graph: inout Graph) -> Node {
        let outputs = biasScales.count
        let values = bias.floats
        let integers = (0..<outputs).map { o in
            Int32(min(max((values[o] / biasScales[o]).rounded(.toNearestOrEven), -2_147_483_520), 2_147_483_520))
        }
        let q = graph.freshName("\(name).quantized"), s = graph.freshName("\(name).scale"), z = graph.freshName("\(name).zero_point")
        graph.constants.append(Constant(q, Tensor(shape: bias.shape, storage: .int32(integers))))
        graph.constants.append(Constant(s, Tensor(shape: [outputs], floats: biasScales)))
        graph.constants.append(Constant(z, Tensor(shape: [outputs], storage: .int32([Int32](repeating: 0, count: outputs)))))
        let dequantized = graph.freshName("\(name).dequantized")
        return Node(
            name: nodeName, op: .dequantizeLinear(axis: bias.shape.count - 1), inputs: [q, s, z],
            outputs: [Value(dequantized, TensorType(.float32, Shape(fixed: bias.shape)))])
    }
}

public enum QuantizationError: Error, CustomStringConvertible, Equatable {
    case unsupportedType(DType)
    case unknownLayers([String], known: [String])

    public var description: String {
        switch self {
        case .unsupportedType(let type): "activations quantize to u8 or i8, not \(type.textName)"
        case .unknownLayers(let names, let known):
            "no quantizable layer named \(names.joined(separator: ", ")); quantizable layers: \(known.joined(separator: ", "))"
        }
    }
}
