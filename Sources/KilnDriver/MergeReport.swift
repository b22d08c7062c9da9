import KilnIR

/// What merging did: where each model's outputs went, and parameters and operations per example before
/// (each model alone) and after (in the merged graph, split into what only that model uses and what
/// several share).
public struct MergeReport: Sendable {
    public struct ModelRow: Sendable {
        public var name: String
        public var outputs: [(source: String, merged: String)]
        public var parametersBefore: Int
        public var flopsBefore: Int
        /// Parameters and operations in the merged graph that only this model's outputs need.
        public var parametersOwn: Int
        public var flopsOwn: Int
    }

    public struct SharedRow: Sendable {
        /// The models (and ensembles) whose outputs all need this part.
        public var users: [String]
        public var parameters: Int
        public var flops: Int
    }

    public var models: [ModelRow]
    public var shared: [SharedRow]
    public var parametersBefore: Int
    public var flopsBefore: Int
    public var parametersAfter: Int
    public var flopsAfter: Int

    /// `sources` are the models as they would run alone (after the same passes as the merged graph).
    public init(sources: [MergeSource], result: MergeResult) {
        let graph = result.graph
        var ownerOfOutput: [String: String] = [:]
        for model in result.models { for (_, merged) in result.outputs[model] ?? [] { ownerOfOutput[merged] = model } }
        for (ensemble, outputs) in result.ensembleOutputs { for output in outputs { ownerOfOutput[output] = "\(ensemble) (ensemble)" } }

        // Which owners need each node and constant: walk back from each owner's outputs, stopping at other
        // models' outputs (what a piped or ensembled output needs belongs to the model it comes from).
        let modelOutputs = Set(result.models.flatMap { (result.outputs[$0] ?? []).map(\.merged) })
        let producers = graph.producers
        var nodeUsers = [Set<String>](repeating: [], count: graph.nodes.count)
        var constantUsers: [String: Set<String>] = [:]
        let constantNames = Set(graph.constants.map(\.name))
        for output in graph.outputs {
            guard let owner = ownerOfOutput[output] else { continue }
            var stack = [output]
            var seen = Set<String>()
            while let value = stack.popLast() {
                guard seen.insert(value).inserted, value == output || !modelOutputs.contains(value) else { continue }
                if constantNames.contains(value) { constantUsers[value, default: []].insert(owner) }
                guard let index = producers[value] else { continue }
                nodeUsers[index].insert(owner)
                stack += graph.nodes[index].inputs
            }
        }
        var parameters: [Set<String>: Int] = [:], flops: [Set<String>: Int] = [:]
        for constant in graph.constants { parameters[constantUsers[constant.name] ?? [], default: 0] += constant.tensor.count }
        for (index, cost) in GraphCost.nodeFLOPs(graph).enumerated() { flops[nodeUsers[index], default: 0] += cost }

        let before = Dictionary(uniqueKeysWithValues: sources.map { ($0.name, $0.graph) })
        models = result.models.map { model in
            let own: Set<String> = [model]
            return ModelRow(
                name: model, outputs: result.outputs[model] ?? [], parametersBefore: before[model]?.parameterCount ?? 0,
                flopsBefore: before[model].map(GraphCost.flops) ?? 0, parametersOwn: parameters[own] ?? 0, flopsOwn: flops[own] ?? 0)
        }
        let groups = Set(parameters.keys).union(flops.keys).filter { $0.count != 1 || !result.models.contains($0.first!) }
        shared = groups.map { users in
            SharedRow(users: users.sorted(), parameters: parameters[users] ?? 0, flops: flops[users] ?? 0)
        }.sorted { $0.users.lexicographicallyPrecedes($1.users) }
        parametersBefore = models.reduce(0) { $0 + $1.parametersBefore }
        flopsBefore = models.reduce(0) { $0 + $1.flopsBefore }
        parametersAfter = graph.parameterCount
        flopsAfter = GraphCost.flops(graph)
    }

    public func render() -> String {
        var out = "outputs in the merged graph:\n"
        for model in models {
            for (source, merged) in model.outputs { out += "  \(model.name).\(source) -> \(merged)\n" }
        }
        var rows: [[String]] = [["", "params before", "FLOPs before", "params after", "FLOPs after"]]
        for model in models {
            rows.append([
                model.name, Summary.grouped(model.parametersBefore), Summary.grouped(model.flopsBefore),
                Summary.grouped(model.parametersOwn), Summary.grouped(model.flopsOwn),
            ])
        }
        for row in shared {
            let label =
                row.users.isEmpty ? "(no output)" : row.users.count == 1 ? row.users[0] : "shared by " + row.users.joined(separator: ", ")
            rows.append([label, "", "", Summary.grouped(row.parameters), Summary.grouped(row.flops)])
        }
        rows.append([
            "total", Summary.grouped(parametersBefore), Summary.grouped(flopsBefore), Summary.grouped(parametersAfter),
            Summary.grouped(flopsAfter),
        ])
        let widths = (0..<5).map { c in rows.map { $0[c].count }.max() ?? 0 }
        out += "per example (FLOPs: a multiply-add is 2; 'after' splits the merged graph by which models need it):\n"
        for row in rows {
            out +=
                "  "
                + row.enumerated().map { c, cell in
                    c == 0
                        ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
                        : String(repeating: " ", count: widths[c] - cell.count) + cell
                }.joined(separator: "  ") + "\n"
        }
        out +=
            "saved: \(signed(parametersBefore - parametersAfter)) parameters (\(percent(parametersBefore - parametersAfter, of: parametersBefore))), "
        out += "\(signed(flopsBefore - flopsAfter)) FLOPs per example (\(percent(flopsBefore - flopsAfter, of: flopsBefore)))\n"
        return out
    }

    private func signed(_ n: Int) -> String { n < 0 ? "-" + Summary.grouped(-n) : Summary.grouped(n) }

    private func percent(_ part: Int, of whole: Int) -> String {
        guard whole != 0 else { return "0%" }
        let tenths = (Double(part) * 1000 / Double(whole)).rounded()
        return "\(tenths / 10)%"
    }
}
