import KilnIR

/// Large graphs made of fine-grained nodes, as frontends for TensorFlow and ONNX graphs produce them, for
/// benchmarking and testing the passes at scale.
public enum SyntheticGraphs {
    /// A residual stack of blocks, each eleven nodes that -O2 rewrites almost entirely:
    ///
    ///     a = Identity(x)                        removed (remove-noops)
    ///     m = MatMul(a, w); s = Add(m, b)        one Gemm (fuse-matmul-add)
    ///     r = Relu(s)                            the Gemm's epilogue (fuse-activation)
    ///     t = Transpose(Transpose(r))            cancel (remove-noops)
    ///     n = BatchNorm(t, ...)                  per-channel affine form (fold-batchnorm)
    ///     f = Reshape(Flatten(n))                one Reshape, then none (collapse-reshapes, remove-noops)
    ///     h = Mul(n2, 0.5); y = Add(h, x)        kept: the residual
    ///
    /// with `width` features and seeded weights; about `nodes` nodes in all (a multiple of 11).
    public static func residualStack(nodes: Int, width: Int = 16, seed: UInt64 = 1) -> Graph {
        var random = SplitMix64(seed: seed)
        func tensor(_ shape: [Int], _ range: ClosedRange<Float>) -> Tensor {
            Tensor(shape: shape, floats: (0..<shape.reduce(1, *)).map { _ in Float.random(in: range, using: &random) })
        }
        let type = TensorType(.float32, Shape([.symbolic("N"), .fixed(width)]))
        let transposed = TensorType(.float32, Shape([.fixed(width), .symbolic("N")]))
        var graph = Graph(name: "residual_stack", inputs: [Value("x", type)])
        var x = "x"
        let half = Constant("half", Tensor(shape: [], floats: [0.5]))
        graph.constants.append(half)
        for block in 0..<max(1, nodes / 11) {
            let p = "b\(block)"
            let constants = [
                Constant("\(p).w", tensor([width, width], -0.5...0.5)), Constant("\(p).b", tensor([width], -0.1...0.1)),
                Constant("\(p).gamma", tensor([width], 0.5...1.5)), Constant("\(p).beta", tensor([width], -0.1...0.1)),
                Constant("\(p).mean", tensor([width], -0.1...0.1)), Constant("\(p).var", tensor([width], 0.5...1.5)),
            ]
            graph.constants += constants
            func node(_ name: String, _ op: Op, _ inputs: [String], _ type: TensorType) -> String {
                graph.nodes.append(Node(name: "\(p).\(name)", op: op, inputs: inputs, outputs: [Value("\(p).\(name)", type)]))
                return "\(p).\(name)"
            }
            let a = node("a", .identity, [x], type)
            let m = node("m", .matMul, [a, "\(p).w"], type)
            let s = node("s", .binary(.add), [m, "\(p).b"], type)
            let r = node("r", .activation(.relu), [s], type)
            let t1 = node("t1", .transpose(perm: [1, 0]), [r], transposed)
            let t2 = node("t2", .transpose(perm: [1, 0]), [t1], type)
            let n = node("n", .batchNorm(epsilon: 0.001, axis: -1), [t2] + constants[2...].map(\.name), type)
            let f = node("f", .flatten(axis: 1), [n], type)
            let n2 = node("n2", .reshape(shape: [-1, width]), [f], type)
            let h = node("h", .binary(.mul), [n2, half.name], type)
            x = node("y", .binary(.add), [h, x], type)
        }
        graph.outputs = [x]
        return graph
    }
}
