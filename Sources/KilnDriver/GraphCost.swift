import KilnIR

/// An estimate of the arithmetic a graph does per example (symbolic dimensions such as the batch `N`
/// count as 1): a multiply-add counts as two operations, any other arithmetic on an element as one, an
/// activation or normalization a few, and moving data (reshape, transpose, concat, pad...) as none.
public enum GraphCost {
    /// The operations of each node, in node order.
    public static func nodeFLOPs(_ graph: Graph) -> [Int] {
        let types = graph.valueTypes
        func elements(_ name: String) -> Int { types[name].map(GraphCost.elements(of:)) ?? 0 }
        return graph.nodes.map { node in
            let out = node.outputs.reduce(0) { $0 + GraphCost.elements(of: $1.type) }
            let bias = node.inputs.count > 2 ? out : 0
            func operations(_ op: Op) -> Int {
                switch op {
                case .identity, .flatten, .reshape, .transpose, .cast, .concat, .pad, .crop, .slice, .gather, .upsample(_, .nearest):
                    return 0
                case .upsample(let factors, .linear):
                    // Two multiply-adds per interpolated dimension.
                    return 4 * out * factors.filter { $0 > 1 }.count
                case .binary, .compare, .quantizeLinear, .dequantizeLinear:
                    return out
                case .activation:
                    return out
                case .softmax:
                    return 3 * out
                case .batchNorm:
                    return 2 * out
                case .layerNorm:
                    // A mean, a variance, then a scale and a shift of each element.
                    return 6 * out
                case .matMul, .gemm:
                    // The shared dimension is A's last one.
                    let k = types[node.inputs[0]]?.shape.dims.last.map { $0.fixedValue ?? 1 } ?? 0
                    return 2 * k * out + bias
                case .conv:
                    // Kernel [spatial..., Cin/groups, Cout]: one multiply-add per kernel element but the last axis.
                    let kernel = types[node.inputs[1]].map { Array(fixed($0).dropLast()).reduce(1, *) } ?? 0
                    return 2 * kernel * out + bias
                case .convTranspose:
                    // Kernel [spatial..., Cout, Cin]: every input element meets every kernel element but the last axis.
                    let kernel = types[node.inputs[1]].map { Array(fixed($0).dropLast()).reduce(1, *) } ?? 0
                    return 2 * kernel * elements(node.inputs[0]) + bias
                case .pool(let pooling):
                    return out * pooling.window.reduce(1, *)
                case .reduce:
                    return elements(node.inputs[0])
                case .recurrent(let r):
                    // Per step and hidden unit: a multiply-add per input and hidden element for each gate, and
                    // a few operations to combine the gates.
                    let steps = GraphCost.elements(of: node.outputs[0].type)
                    let inputSize = types[node.inputs[0]]?.shape.dims.last.map { $0.fixedValue ?? 1 } ?? 0
                    return steps * r.gates * (2 * (inputSize + r.hiddenSize) + 4)
                case .attention:
                    // Per query row and head: a multiply-add per key position and key depth element, a softmax,
                    // and a multiply-add per key position and value depth element.
                    let q = types[node.inputs[0]].map(fixed) ?? [], v = types[node.inputs[2]].map(fixed) ?? []
                    guard q.count == 4, v.count == 4 else { return 0 }
                    return q[1] * q[2] * v[1] * (2 * q[3] + 3 + 2 * v[3])
                case .fused(let product, _):
                    // The product, then the activation on each result.
                    return operations(product) + out
                }
            }
            return operations(node.op)
        }
    }

    /// The operations of the whole graph per example.
    public static func flops(_ graph: Graph) -> Int { nodeFLOPs(graph).reduce(0, +) }

    static func fixed(_ type: TensorType) -> [Int] { type.shape.dims.map { $0.fixedValue ?? 1 } }

    static func elements(of type: TensorType) -> Int { fixed(type).reduce(1, *) }
}
