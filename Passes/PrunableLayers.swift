import KilnIR

/// The weight matrices pruning works on: the constant kernel of each Gemm, MatMul and Conv (with or without
/// a fused epilogue), seen as a matrix of `reduction` rows (what one output sums over) by `outputs` columns
/// (output channels or units).
public struct PrunableLayer: Sendable, Equatable {
    /// The node's name (the Keras layer's name).
    public var name: String
    /// The node's index in the graph.
    public var node: Int
    /// The constant holding the kernel.
    public var kernel: String
    public var reduction: Int
    public var outputs: Int
    /// Whether the kernel is stored [outputs, reduction] (Gemm with transB) rather than [reduction, outputs].
    public var outputsFirst: Bool

    /// The flat index of element (row r of the reduction, output o) in the kernel's storage.
    @inline(__always)
    public func index(_ r: Int, _ o: Int) -> Int { outputsFirst ? o * reduction + r : r * outputs + o }

    /// Every layer with a constant f32 kernel, in graph order.
    public static func find(in graph: Graph) -> [PrunableLayer] {
        let constants = graph.constantsByName
        var layers: [PrunableLayer] = []
        for (index, node) in graph.nodes.enumerated() {
            guard node.inputs.count >= 2, let kernel = constants[node.inputs[1]], kernel.dtype == .float32 else { continue }
            let shape = kernel.shape
            // A product with a fused epilogue has the same kernel.
            switch node.op.withoutEpilogue {
            case .gemm(let transB) where shape.count == 2:
                layers.append(
                    PrunableLayer(
                        name: node.name, node: index, kernel: node.inputs[1], reduction: transB ? shape[1] : shape[0],
                        outputs: transB ? shape[0] : shape[1], outputsFirst: transB))
            case .matMul where shape.count == 2:
                layers.append(
                    PrunableLayer(
                        name: node.name, node: index, kernel: node.inputs[1], reduction: shape[0], outputs: shape[1], outputsFirst: false))
            case .conv where shape.count >= 3:
                let outputs = shape[shape.count - 1]
                layers.append(
                    PrunableLayer(
                        name: node.name, node: index, kernel: node.inputs[1], reduction: kernel.count / max(outputs, 1), outputs: outputs,
                        outputsFirst: false))
            default:
                continue
            }
        }
        return layers
    }

    /// The layers a pruning pass may change: not excluded by name and, unless `includeEnds`, neither the
    /// first nor the last layer (which usually cost the most accuracy for the least size). A kernel shared
    /// by several layers is pruned once.
    public static func selected(in graph: Graph, excluding excluded: Set<String>, includeEnds: Bool) -> [PrunableLayer] {
        let all = find(in: graph)
        var chosen: [PrunableLayer] = []
        var kernels: Set<String> = []
        for (position, layer) in all.enumerated() {
            if !includeEnds && (position == 0 || position == all.count - 1) { continue }
            if excluded.contains(layer.name) || kernels.contains(layer.kernel) { continue }
            kernels.insert(layer.kernel)
            chosen.append(layer)
        }
        return chosen
    }
}

/// What pruning did to one layer, for reports.
public struct PruningRecord: Sendable, Equatable {
    public var layer: String
    /// Kernel and bias elements before and after.
    public var parametersBefore: Int
    public var parametersAfter: Int
    /// Kernel elements, and how many of them are zero, before and after.
    public var kernelBefore: Int
    public var kernelAfter: Int
    public var zerosBefore: Int
    public var zerosAfter: Int

    public init(
        layer: String, parametersBefore: Int, parametersAfter: Int, kernelBefore: Int, kernelAfter: Int, zerosBefore: Int, zerosAfter: Int
    ) {
        self.layer = layer
        self.parametersBefore = parametersBefore
        self.parametersAfter = parametersAfter
        self.kernelBefore = kernelBefore
        self.kernelAfter = kernelAfter
        self.zerosBefore = zerosBefore
        self.zerosAfter = zerosAfter
    }

    public var sparsityBefore: Double { kernelBefore == 0 ? 0 : Double(zerosBefore) / Double(kernelBefore) }
    public var sparsityAfter: Double { kernelAfter == 0 ? 0 : Double(zerosAfter) / Double(kernelAfter) }
}

/// Errors a pruning pass throws for a specification it cannot meet.
public enum PruningError: Error, CustomStringConvertible, Equatable {
    case invalidSparsity(Double)
    case invalidPattern(n: Int, m: Int)
    case unknownLayers([String], known: [String])

    public var description: String {
        switch self {
        case .invalidSparsity(let value): "sparsity must be in [0, 1), got \(value)"
        case .invalidPattern(let n, let m): "an N:M pattern needs 0 < N <= M, got \(n):\(m)"
        case .unknownLayers(let names, let known):
            "no prunable layer named \(names.joined(separator: ", ")); prunable layers: \(known.joined(separator: ", "))"
        }
    }
}

extension Graph {
    /// Replaces the constant `name`'s tensor.
    mutating func replaceConstant(_ name: String, with tensor: Tensor) {
        guard let index = constants.firstIndex(where: { $0.name == name }) else { return }
        constants[index].tensor = tensor
    }

    /// Recomputes every node's output types from its inputs, in order, after constants changed shape.
    mutating func reinferTypes() throws {
        var types = Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.type) } + constants.map { ($0.name, $0.tensor.type) })
        for index in nodes.indices {
            let inferred = try nodes[index].op.inferTypes(nodes[index].inputs.map { types[$0]! })
            for (position, type) in inferred.enumerated() where position < nodes[index].outputs.count {
                nodes[index].outputs[position].type = type
                types[nodes[index].outputs[position].name] = type
            }
        }
    }
}

/// Checks the names a pruning specification excludes against the graph's prunable layers.
func checkExcluded(_ excluded: Set<String>, in graph: Graph) throws(PruningError) {
    let known = PrunableLayer.find(in: graph).map(\.name)
    let unknown = excluded.subtracting(known).sorted()
    if !unknown.isEmpty { throw .unknownLayers(unknown, known: known) }
}
