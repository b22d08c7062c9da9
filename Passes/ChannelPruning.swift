import KilnIR

/// Structured pruning: removes the output channels (Conv) or units (Dense) whose kernel columns have the
/// smallest L2 norm, a fraction of each chosen layer, and shrinks everything that reads them so the model
/// really gets smaller in every engine: the layer's bias, per-channel ops on the way (BatchNorm, a bias
/// Add, Mul or Sub by a per-channel constant; activations, pooling, padding, cropping, upsampling and
/// reductions over other axes pass the channels through; a Flatten spreads them over positions) and the
/// input rows or channels of the next Dense or Conv. A layer whose channels reach a merge (Add, Concat...),
/// several readers or a graph output is left whole.
///
/// Rewrite (channels:0.5 on the first of two Dense layers):
///
///     %h = Gemm(%x, %k1, %b1) {transB = false} : f32[N,4]
///     %r = Relu(%h) : f32[N,4]
///     %y = Gemm(%r, %k2, %b2) {transB = false} : f32[N,3]
///   ->
///     %h = Gemm(%x, %k1, %b1) {transB = false} : f32[N,2]     // the 2 columns of k1 with the largest norm
///     %r = Relu(%h) : f32[N,2]
///     %y = Gemm(%r, %k2, %b2) {transB = false} : f32[N,3]     // k2 keeps the matching 2 rows
public struct ChannelPruning: Pass {
    public static let name = "prune-channels"
    public static let summary = "remove the output channels with the smallest L2 norm and shrink their readers"

    public var fraction: Double
    public var excluded: Set<String>
    public var includeEnds: Bool

    public init(fraction: Double, excluded: Set<String> = [], includeEnds: Bool = false) {
        self.fraction = fraction
        self.excluded = excluded
        self.includeEnds = includeEnds
    }

    public func run(on graph: Graph) throws -> Graph {
        guard fraction >= 0, fraction < 1 else { throw PruningError.invalidSparsity(fraction) }
        try checkExcluded(excluded, in: graph)
        var graph = graph
        let names = PrunableLayer.selected(in: graph, excluding: excluded, includeEnds: includeEnds).map(\.name)
        for name in names {
            // Indices and shapes change after each layer; find the layer again.
            guard let layer = PrunableLayer.find(in: graph).first(where: { $0.name == name }),
                let plan = Self.plan(layer, in: graph)
            else { continue }
            let removed = Int((fraction * Double(layer.outputs)).rounded(.down))
            guard removed > 0, removed < layer.outputs else { continue }
            let kernel = graph.constantsByName[layer.kernel]!.floats
            let norms = (0..<layer.outputs).map { o in
                (0..<layer.reduction).reduce(Float(0)) { $0 + kernel[layer.index($1, o)] * kernel[layer.index($1, o)] }
            }
            let dropped = Set((0..<layer.outputs).sorted { norms[$0] != norms[$1] ? norms[$0] < norms[$1] : $0 > $1 }.prefix(removed))
            let kept = (0..<layer.outputs).filter { !dropped.contains($0) }
            try apply(plan, keeping: kept, of: layer, to: &graph)
        }
        return graph
    }

    /// Where a layer's channels go: the constants to shrink along their channel axis, the reader whose input
    /// rows or channels follow, and how many positions each channel is spread over by a Flatten.
    struct Plan {
        /// (constant, axis) pairs holding one entry per channel.
        var perChannel: [(String, Int)]
        /// The reading layer's kernel and the axis of its input channels.
        var reader: (kernel: String, axis: Int)
        /// Positions per channel after a Flatten of [N, positions..., C] (1 without one).
        var positions: Int
    }

    static func plan(_ layer: PrunableLayer, in graph: Graph) -> Plan? {
        let node = graph.nodes[layer.node]
        if case .conv(let c) = node.op.withoutEpilogue, c.groups != 1 { return nil }
        let constants = graph.constantsByName
        var uses: [String: Int] = [:]
        for n in graph.nodes { for input in n.inputs { uses[input, default: 0] += 1 } }
        for output in graph.outputs { uses[output, default: 0] += 1 }
        // The layer's own kernel and bias must be its alone.
        guard uses[layer.kernel] == 1 else { return nil }
        var perChannel: [(String, Int)] = [(layer.kernel, layer.outputsFirst ? 0 : constants[layer.kernel]!.shape.count - 1)]
        if node.inputs.count == 3 {
            guard uses[node.inputs[2]] == 1, let bias = constants[node.inputs[2]], bias.count == layer.outputs else { return nil }
            perChannel.append((node.inputs[2], bias.shape.count - 1))
        }
        let channels = layer.outputs
        var value = node.outputs[0].name
        var positions = 1
        var readers: [String: [Int]] = [:]
        for (index, n) in graph.nodes.enumerated() { for input in n.inputs { readers[input, default: []].append(index) } }
        while true {
            guard uses[value] == 1, !graph.outputs.contains(value), let next = readers[value]?.first else { return nil }
            let reader = graph.nodes[next]
            let rank = reader.outputs[0].type.shape.rank
            switch reader.op {
            case .activation, .identity, .pool, .upsample:
                guard positions == 1 else { return nil }
            case .pad(let pads, _), .crop(let pads):
                // Only spatial padding or cropping keeps the channels.
                guard positions == 1, pads[rank - 1] == 0, pads[2 * rank - 1] == 0 else { return nil }
            case .batchNorm(_, let axis):
                guard positions == 1, axis == -1 || axis == rank - 1, reader.inputs[0] == value else { return nil }
                for parameter in reader.inputs.dropFirst() {
                    guard uses[parameter] == 1, let tensor = constants[parameter], tensor.count == channels else { return nil }
                    perChannel.append((parameter, tensor.shape.count - 1))
                }
            case .binary:
                // With a constant that is one number, or one per channel along the last axis.
                guard positions == 1, let other = reader.inputs.first(where: { $0 != value }), reader.inputs.contains(value),
                    let tensor = constants[other]
                else { return nil }
                if tensor.count == 1 { break }
                guard uses[other] == 1, tensor.shape.last == channels, tensor.count == channels else { return nil }
                perChannel.append((other, tensor.shape.count - 1))
            case .reduce(_, let axes, let keepDims):
                let inputRank = graph.valueTypes[value]!.shape.rank
                guard positions == 1, !axes.contains(-1), !axes.contains(inputRank - 1), keepDims || !axes.isEmpty else { return nil }
            case .flatten(let axis):
                let dims = graph.valueTypes[value]!.shape.dims
                guard positions == 1, axis == 1,
                    let inner = dims.dropFirst().dropLast().map(\.fixedValue).reduce(
                        Optional(1),
                        { a, b in
                            a.flatMap { x in b.map { x * $0 } }
                        })
                else { return nil }
                positions = inner
            case .gemm(let transB):
                guard reader.inputs[0] == value, let kernel = constants[reader.inputs[1]], kernel.shape.count == 2,
                    uses[reader.inputs[1]] == 1
                else {
                    return nil
                }
                return Plan(perChannel: perChannel, reader: (reader.inputs[1], transB ? 1 : 0), positions: positions)
            case .matMul:
                guard reader.inputs[0] == value, let kernel = constants[reader.inputs[1]], kernel.shape.count == 2,
                    uses[reader.inputs[1]] == 1
                else {
                    return nil
                }
                return Plan(perChannel: perChannel, reader: (reader.inputs[1], 0), positions: positions)
            case .conv(let c):
                guard positions == 1, c.groups == 1, reader.inputs[0] == value, let kernel = constants[reader.inputs[1]],
                    uses[reader.inputs[1]] == 1
                else { return nil }
                return Plan(perChannel: perChannel, reader: (reader.inputs[1], kernel.shape.count - 2), positions: 1)
            default:
                return nil
            }
            value = reader.outputs[0].name
        }
    }

    private func apply(_ plan: Plan, keeping kept: [Int], of layer: PrunableLayer, to graph: inout Graph) throws {
        let constants = graph.constantsByName
        for (name, axis) in plan.perChannel {
            graph.replaceConstant(name, with: Self.select(constants[name]!, axis: axis, indices: kept))
        }
        // The reader's rows: a Flatten lays out [positions..., C] as position * C + channel.
        let channels = layer.outputs
        let rows = (0..<plan.positions).flatMap { position in kept.map { position * channels + $0 } }
        graph.replaceConstant(plan.reader.kernel, with: Self.select(constants[plan.reader.kernel]!, axis: plan.reader.axis, indices: rows))
        try graph.reinferTypes()
    }

    /// The slices of `tensor` at `indices` along `axis`.
    static func select(_ tensor: Tensor, axis: Int, indices: [Int]) -> Tensor {
        let shape = tensor.shape
        let outer = shape[..<axis].reduce(1, *), size = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        let values = tensor.floats
        var out: [Float] = []
        out.reserveCapacity(outer * indices.count * inner)
        for a in 0..<outer {
            for index in indices {
                let start = (a * size + index) * inner
                out += values[start..<start + inner]
            }
        }
        var newShape = shape
        newShape[axis] = indices.count
        return Tensor(shape: newShape, floats: out)
    }
}
