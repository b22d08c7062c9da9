import KilnIR

/// Small graph edits shared by passes.
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

    /// Removes nodes whose results nobody reads, and constants nobody reads, until none is left.
    public mutating func removeDeadCode() {
        while true {
            let counts = useCounts
            let before = nodes.count
            nodes.removeAll { node in node.outputs.allSatisfy { counts[$0.name, default: 0] == 0 } }
            if nodes.count == before { break }
        }
        let counts = useCounts
        constants.removeAll { counts[$0.name, default: 0] == 0 }
    }

    /// A value name not yet used in the graph, derived from `base`.
    public func freshName(_ base: String) -> String {
        let taken = Set(valueTypes.keys)
        if !taken.contains(base) { return base }
        var i = 1
        while taken.contains("\(base).\(i)") { i += 1 }
        return "\(base).\(i)"
    }
}

/// What a local rewrite rule may look at, computed once per sweep over the graph.
public struct RewriteContext {
    public let types: [String: TensorType]
    /// The index of the node defining each node-produced value.
    public let producers: [String: Int]
    public let uses: [String: Int]
    public let constants: [String: Tensor]
}

extension Graph {
    /// Offers every node, in order, to `rule`, which returns whether it changed the graph. After a change the
    /// sweep starts again, until a whole sweep changes nothing.
    public mutating func rewriteUntilStable(_ rule: (inout Graph, _ index: Int, RewriteContext) throws -> Bool) rethrows {
        var changed = true
        while changed {
            changed = false
            let context = RewriteContext(types: valueTypes, producers: producers, uses: useCounts, constants: constantsByName)
            for index in nodes.indices where try rule(&self, index, context) {
                changed = true
                break
            }
        }
    }
}
