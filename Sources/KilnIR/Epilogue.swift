extension Op {
    /// The op without its fused epilogue: the product of `.fused`, any other op itself.
    public var withoutEpilogue: Op {
        if case .fused(let product, _) = self { return product }
        return self
    }
}

extension Graph {
    /// The same computation with each fused epilogue (`Op.fused`) written as its own activation node after
    /// the product, for engines that apply activations separately. The activation keeps the node's result
    /// names; the product's result gets a fresh name derived from it.
    public func splittingEpilogues() -> Graph {
        guard nodes.contains(where: { if case .fused = $0.op { true } else { false } }) else { return self }
        var taken = Set(valueTypes.keys)
        var graph = self
        graph.nodes = []
        for node in nodes {
            guard case .fused(let product, let epilogue) = node.op else {
                graph.nodes.append(node)
                continue
            }
            let result = node.outputs[0]
            var name = result.name + ".product"
            var i = 1
            while taken.contains(name) {
                name = "\(result.name).product.\(i)"
                i += 1
            }
            taken.insert(name)
            graph.nodes.append(Node(name: node.name, op: product, inputs: node.inputs, outputs: [Value(name, result.type)]))
            graph.nodes.append(Node(name: result.name + ".epilogue", op: .activation(epilogue), inputs: [name], outputs: node.outputs))
        }
        return graph
    }
}
