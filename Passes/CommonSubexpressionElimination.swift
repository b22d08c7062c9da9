import KilnIR

/// Computes identical work once: constants with equal type and contents are stored once, and nodes with
/// the same op and the same inputs are merged.
///
/// Rewrite:
///
///     const %w1 : f32[2] = [1.0, 2.0]
///     const %w2 : f32[2] = [1.0, 2.0]
///     %a = Mul(%x, %w1) : f32[N,2]
///     %b = Mul(%x, %w2) : f32[N,2]
///     %c = Add(%a, %b) : f32[N,2]
///   ->
///     const %w1 : f32[2] = [1.0, 2.0]
///     %a = Mul(%x, %w1) : f32[N,2]
///     %c = Add(%a, %a) : f32[N,2]
public struct CommonSubexpressionElimination: Pass {
    public static let name = "cse"
    public static let summary = "store identical constants once and compute identical nodes once"

    public init() {}

    public func run(on graph: Graph) throws -> Graph {
        var graph = graph
        var alias: [String: String] = [:]

        // Keyed by the bytes, so 0.0 and -0.0 (equal as floats) stay apart.
        var firstConstant: [ConstantKey: String] = [:]
        let outputs = Set(graph.outputs)
        graph.constants.removeAll { constant in
            let key = ConstantKey(constant.tensor)
            if let first = firstConstant[key], !outputs.contains(constant.name) {
                alias[constant.name] = first
                return true
            }
            if firstConstant[key] == nil { firstConstant[key] = constant.name }
            return false
        }

        struct Key: Hashable {
            var op: Op
            var inputs: [String]
        }
        var firstNode: [Key: [String]] = [:]
        var kept: [Node] = []
        for var node in graph.nodes {
            node.inputs = node.inputs.map { alias[$0] ?? $0 }
            let key = Key(op: node.op, inputs: node.inputs)
            // A duplicate that defines a graph output stays, so the output keeps its own name.
            if let earlier = firstNode[key], node.outputs.allSatisfy({ !graph.outputs.contains($0.name) }) {
                for (output, existing) in zip(node.outputs, earlier) { alias[output.name] = existing }
                continue
            }
            if firstNode[key] == nil { firstNode[key] = node.outputs.map(\.name) }
            kept.append(node)
        }
        graph.nodes = kept
        return graph
    }
}

/// A constant's type and exact bytes, for finding equal constants.
private struct ConstantKey: Hashable {
    var dtype: DType
    var shape: [Int]
    var bytes: [UInt8]

    init(_ tensor: Tensor) {
        dtype = tensor.dtype
        shape = tensor.shape
        bytes = tensor.bytes
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(dtype)
        hasher.combine(shape)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
