extension Graph {
    /// The graph with each per-channel scale and shift (a Mul then an Add by constants with one value per
    /// channel, as a BatchNorm with nothing to fold into becomes) written as one BatchNorm with mean 0,
    /// variance 1 and epsilon 0, which computes exactly x * scale + shift: for backends, where it is one
    /// ONNX BatchNormalization or one Swift affine pass instead of two.
    public func mergingScaleShifts() -> Graph {
        var graph = self
        let constants = graph.constantsByName
        var uses: [String: Int] = [:]
        for node in graph.nodes { for input in node.inputs { uses[input, default: 0] += 1 } }
        for output in graph.outputs { uses[output, default: 0] += 1 }
        var producers: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() { for output in node.outputs { producers[output.name] = index } }
        func perChannel(_ name: String, channels: Int) -> Tensor? {
            guard let tensor = constants[name], tensor.dtype == .float32, tensor.count == channels, tensor.shape.last == channels else { return nil }
            return Tensor(shape: [channels], storage: tensor.storage)
        }
        var removed: Set<Int> = []
        for (index, add) in graph.nodes.enumerated() where add.op == .binary(.add) {
            guard let m = producers[add.inputs[0]], graph.nodes[m].op == .binary(.mul), uses[add.inputs[0]] == 1, !removed.contains(m) else { continue }
            let mul = graph.nodes[m]
            let type = mul.outputs[0].type
            guard type.shape.rank >= 2, let channels = type.shape.dims.last?.fixedValue, add.outputs[0].type == type, mul.inputs.count == 2,
                graph.valueTypes[mul.inputs[0]] == type, let scale = perChannel(mul.inputs[1], channels: channels),
                let shift = perChannel(add.inputs[1], channels: channels)
            else { continue }
            let names = ["scale", "shift", "mean", "variance"].map { "\(add.outputs[0].name).batchnorm_\($0)" }
            let tensors = [scale, shift, Tensor(shape: [channels], floats: Array(repeating: 0, count: channels)), Tensor(shape: [channels], floats: Array(repeating: 1, count: channels))]
            guard names.allSatisfy({ constants[$0] == nil }) else { continue }
            for (name, tensor) in zip(names, tensors) { graph.constants.append(Constant(name, tensor)) }
            graph.nodes[index] = Node(name: add.name, op: .batchNorm(epsilon: 0, axis: -1), inputs: [mul.inputs[0]] + names, outputs: add.outputs)
            removed.insert(m)
        }
        graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        return graph
    }
}
