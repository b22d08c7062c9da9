import KilnIR

/// Small whole-graph edits shared by passes and the driver, each O(nodes + constants).
extension Graph {
    /// How many times each value is read by a node or returned as a graph output.
    public var useCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for node in nodes { for input in node.inputs { counts[input, default: 0] += 1 } }
        for output in outputs { counts[output, default: 0] += 1 }
        return counts
    }

    /// The index in `nodes` of the node defining each node-produced value.
    public var producers: [String: Int] {
        var result: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { for output in node.outputs { result[output.name] = index } }
        return result
    }

    /// Removes the node at `index`, whose single result equals `source`, and makes its readers read
    /// `source`. A graph output keeps its name: `source` is renamed to it when `source` comes from another
    /// node and is not an output itself. Returns false, changing nothing, when that is impossible (the
    /// output would become a graph input or constant, or an output twice).
    @discardableResult
    public mutating func bypass(nodeAt index: Int, with source: String) -> Bool {
        let result = nodes[index].outputs[0].name
        if outputs.contains(result) {
            guard let producer = producers[source], producer != index, !outputs.contains(source) else { return false }
            nodes.remove(at: index)
            rename(source, to: result)
            return true
        }
        nodes.remove(at: index)
        for i in nodes.indices { nodes[i].inputs = nodes[i].inputs.map { $0 == result ? source : $0 } }
        return true
    }

    /// Renames a node-produced value everywhere it is defined or read.
    public mutating func rename(_ old: String, to new: String) {
        for i in nodes.indices {
            nodes[i].inputs = nodes[i].inputs.map { $0 == old ? new : $0 }
            nodes[i].outputs = nodes[i].outputs.map { $0.name == old ? Value(new, $0.type) : $0 }
        }
        outputs = outputs.map { $0 == old ? new : $0 }
    }

    /// Removes the nodes no graph output depends on and the constants nothing reads, in one backward sweep.
    public mutating func removeDeadCode() {
        var live = Set(outputs)
        var kept: [Bool] = Array(repeating: false, count: nodes.count)
        for index in nodes.indices.reversed() where nodes[index].outputs.contains(where: { live.contains($0.name) }) {
            kept[index] = true
            live.formUnion(nodes[index].inputs)
        }
        if kept.contains(false) { nodes = nodes.indices.filter { kept[$0] }.map { nodes[$0] } }
        constants.removeAll { !live.contains($0.name) }
    }

    /// A value name not yet used in the graph, derived from `base`. O(graph): for one-off edits; rules get
    /// fresh names from their `RewriteContext`.
    public func freshName(_ base: String) -> String {
        let taken = Set(valueTypes.keys)
        if !taken.contains(base) { return base }
        var i = 1
        while taken.contains("\(base).\(i)") { i += 1 }
        return "\(base).\(i)"
    }
}
