import KilnIR
import KilnPasses
import ONNXBackend

/// The merged graph and where each source model's values went.
public struct MergeResult: Sendable {
    public var graph: Graph
    /// Source models in command-line order.
    public var models: [String]
    /// Each model's outputs: its own name, then the name in the merged graph.
    public var outputs: [String: [(source: String, merged: String)]]
    /// Ensemble outputs added to the merged graph, by ensemble name: the graph outputs it defines.
    public var ensembleOutputs: [String: [String]]
}

/// Joins several models into one graph that computes all of their outputs.
///
/// Every value and node of a model is renamed with its prefix (`NAME_` unless given), so nothing collides.
/// Inputs that are shared (by `--share-inputs auto`, equal name, element type and shape, or by explicit
/// pairs) become one input, which keeps its name when all of them had the same one. A piped input
/// disappears: its readers read the other model's output. With deduplication, identical constants are
/// stored once and identical nodes over the same values computed once (the `cse` pass), so models that
/// share a frozen backbone and an input run the backbone once.
public enum ModelMerger {
    public static func merge(_ sources: [MergeSource], name: String, options: MergeOptions = MergeOptions()) throws -> MergeResult {
        guard sources.count >= 2 else { throw MergeError.tooFewModels(sources.count) }
        var byName: [String: Graph] = [:]
        for source in sources {
            guard !source.name.isEmpty, source.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw MergeError.badModelName(source.name)
            }
            guard byName[source.name] == nil else { throw MergeError.duplicateModel(source.name) }
            byName[source.name] = source.graph
        }
        let names = sources.map(\.name)
        func graph(_ model: String) throws(MergeError) -> Graph {
            guard let graph = byName[model] else { throw .unknownModel(model, known: names) }
            return graph
        }
        func inputType(_ ref: ValueReference) throws(MergeError) -> TensorType {
            let g = try graph(ref.model)
            guard let input = g.inputs.first(where: { $0.name == ref.value }) else { throw .unknownInput(ref, known: g.inputs.map(\.name)) }
            return input.type
        }
        func outputType(_ ref: ValueReference) throws(MergeError) -> TensorType {
            let g = try graph(ref.model)
            guard g.outputs.contains(ref.value), let type = g.valueTypes[ref.value] else {
                throw .unknownOutput(ref, known: g.outputs)
            }
            return type
        }
        for model in options.prefixes.keys where byName[model] == nil { throw MergeError.unknownModel(model, known: names) }
        func prefix(_ model: String) -> String { options.prefixes[model] ?? "\(model)_" }

        // Inputs that become one: a union-find over every model's inputs.
        let allInputs = sources.flatMap { source in source.graph.inputs.map { (ValueReference(model: source.name, value: $0.name), $0.type) } }
        var parent: [ValueReference: ValueReference] = [:]
        func root(_ ref: ValueReference) -> ValueReference {
            var r = ref
            while let p = parent[r], p != r { r = p }
            return r
        }
        func union(_ a: ValueReference, _ b: ValueReference) {
            let ra = root(a), rb = root(b)
            if ra != rb { parent[rb] = ra }
        }
        if options.shareInputs == .auto {
            var first: [String: ValueReference] = [:]
            for (ref, type) in allInputs {
                let key = "\(ref.value)\u{0}\(type)"
                if let earlier = first[key] { union(earlier, ref) } else { first[key] = ref }
            }
        }
        for (a, b) in options.shares {
            let (ta, tb) = (try inputType(a), try inputType(b))
            guard ta == tb else { throw MergeError.typeMismatch("share", a, ta, b, tb) }
            union(a, b)
        }

        // Pipes: each feeds one input, which must not also be shared.
        var piped: [ValueReference: ValueReference] = [:]
        var dependsOn: [String: Set<String>] = [:]
        for (output, input) in options.pipes {
            let (to, ti) = (try outputType(output), try inputType(input))
            guard to == ti else { throw MergeError.typeMismatch("pipe", output, to, input, ti) }
            guard piped[input] == nil else { throw MergeError.pipedTwice(input) }
            guard output.model != input.model else { throw MergeError.pipeCycle([output.model]) }
            piped[input] = output
            dependsOn[input.model, default: []].insert(output.model)
        }
        for (ref, _) in allInputs where piped[ref] != nil {
            if allInputs.contains(where: { $0.0 != ref && root($0.0) == root(ref) }) { throw MergeError.sharedAndPiped(ref) }
        }
        let order = try executionOrder(names, dependsOn: dependsOn)

        // The merged name of every shared-input group: the common name if all members share it, else the
        // first member's prefixed name.
        var groupName: [ValueReference: String] = [:]
        var groups: [ValueReference: [ValueReference]] = [:]
        for (ref, _) in allInputs { groups[root(ref), default: []].append(ref) }
        for (rootRef, members) in groups {
            let sameName = Set(members.map(\.value)).count == 1
            groupName[rootRef] = members.count > 1 && sameName ? members[0].value : prefix(members[0].model) + members[0].value
        }

        var merged = Graph(name: name)
        var definedBy: [String: String] = [:]
        func define(_ value: String, by model: String) throws(MergeError) {
            if let other = definedBy[value], other != model { throw .nameCollision(value, models: [other, model]) }
            definedBy[value] = model
        }
        var inputGroup: [String: ValueReference] = [:]
        var outputs: [String: [(source: String, merged: String)]] = [:]
        var renamed: [String: [String: String]] = [:]
        for model in order {
            let g = byName[model]!
            var map: [String: String] = [:]
            for input in g.inputs {
                let ref = ValueReference(model: model, value: input.name)
                if let source = piped[ref] {
                    // The producing model comes earlier in `order`, so its names are known.
                    map[input.name] = renamed[source.model]![source.value]!
                    continue
                }
                let mergedName = groupName[root(ref)]!
                map[input.name] = mergedName
                if let group = inputGroup[mergedName] {
                    guard group == root(ref) else { throw MergeError.nameCollision(mergedName, models: [group.model, model]) }
                } else {
                    inputGroup[mergedName] = root(ref)
                    try define(mergedName, by: model)
                    merged.inputs.append(Value(mergedName, input.type))
                }
            }
            for constant in g.constants {
                map[constant.name] = prefix(model) + constant.name
                try define(prefix(model) + constant.name, by: model)
                merged.constants.append(Constant(prefix(model) + constant.name, constant.tensor))
            }
            for node in g.nodes {
                for output in node.outputs {
                    map[output.name] = prefix(model) + output.name
                    try define(prefix(model) + output.name, by: model)
                }
                merged.nodes.append(
                    Node(
                        name: prefix(model) + node.name, op: node.op, inputs: node.inputs.map { map[$0] ?? $0 },
                        outputs: node.outputs.map { Value(map[$0.name]!, $0.type) }))
            }
            renamed[model] = map
        }
        for model in names {
            let map = renamed[model]!
            outputs[model] = byName[model]!.outputs.map { ($0, map[$0] ?? $0) }
            for (_, mergedName) in outputs[model]! where !merged.outputs.contains(mergedName) { merged.outputs.append(mergedName) }
        }

        var ensembleOutputs: [String: [String]] = [:]
        for (number, spec) in options.ensembles.enumerated() {
            var members = spec.outputs
            if members.isEmpty {
                for model in names {
                    let g = byName[model]!
                    guard g.outputs.count == 1 else {
                        throw MergeError.ensemble(spec.name, reason: "\(model) has \(g.outputs.count) outputs; name the outputs to combine")
                    }
                    members.append(ValueReference(model: model, value: g.outputs[0]))
                }
            }
            for member in members { _ = try outputType(member) }
            let values = members.map { renamed[$0.model]![$0.value]! }
            guard ensembleOutputs[spec.name] == nil else { throw MergeError.ensemble(spec.name, reason: "two ensembles have this name; name them apart with NAME=KIND") }
            let added = try Ensemble.append(spec, over: values, to: &merged)
            ensembleOutputs[spec.name] = added
            for output in added where definedBy[output] != nil { throw MergeError.nameCollision(output, models: [definedBy[output]!, "ensemble \(spec.name)"]) }
            for output in added { definedBy[output] = "ensemble #\(number + 1)" }
        }

        merged.metadata = provenance(sources: sources, order: order)
        do {
            try merged.verify()
        } catch {
            throw MergeError.invalidResult(error)
        }
        if options.deduplicate { merged = try deduplicate(merged) }
        return MergeResult(graph: merged, models: names, outputs: outputs, ensembleOutputs: ensembleOutputs)
    }

    /// Models ordered so that each comes after those piping into it; otherwise in the given order.
    static func executionOrder(_ names: [String], dependsOn: [String: Set<String>]) throws(MergeError) -> [String] {
        var order: [String] = []
        var placed = Set<String>()
        while order.count < names.count {
            guard let next = names.first(where: { !placed.contains($0) && dependsOn[$0, default: []].isSubset(of: placed) }) else {
                throw .pipeCycle(names.filter { !placed.contains($0) })
            }
            order.append(next)
            placed.insert(next)
        }
        return order
    }

    /// Each source's metadata under its model name (`head_a.source = keras 3.12.0`), the models in
    /// execution order, and the highest ONNX opset any source was made for.
    static func provenance(sources: [MergeSource], order: [String]) -> [String: String] {
        var metadata: [String: String] = [:]
        var described: [String] = []
        for source in sources {
            for (key, value) in source.graph.metadata { metadata["\(source.name).\(key)"] = value }
            described.append(source.graph.metadata["source"].map { "\(source.name) (\($0))" } ?? source.name)
        }
        metadata["source"] = "kiln merge of " + described.joined(separator: ", ")
        metadata["merge.models"] = order.joined(separator: ",")
        if let opset = requiredOpset(sources) { metadata["onnx_opset"] = String(opset.opset) }
        return metadata
    }

    /// The highest `onnx_opset` any source records (a merged `.kir` records the opset it was made for).
    public static func requiredOpset(_ sources: [MergeSource]) -> (opset: Int, model: String)? {
        sources.compactMap { source in source.graph.metadata["onnx_opset"].flatMap(Int.init).map { ($0, source.name) } }
            .max { $0.0 < $1.0 }
    }

    /// Stores identical constants once and computes identical nodes once. Outputs are first read through
    /// an Identity so that the `cse` pass may merge the nodes behind them too; afterwards each Identity is
    /// removed again wherever its output can take the producer's place.
    public static func deduplicate(_ graph: Graph) throws -> Graph {
        var graph = graph
        var wrappers = Set<String>()
        let producers = graph.producers
        for output in graph.outputs where producers[output] != nil && !wrappers.contains(output) {
            let inner = graph.freshName(output + ".value")
            let type = graph.valueTypes[output]!
            graph.rename(output, to: inner)
            graph.outputs = graph.outputs.map { $0 == inner ? output : $0 }
            graph.nodes.append(Node(name: output, op: .identity, inputs: [inner], outputs: [Value(output, type)]))
            wrappers.insert(output)
        }
        graph = try CommonSubexpressionElimination().run(on: graph)
        var index = 0
        while index < graph.nodes.count {
            let node = graph.nodes[index]
            if node.op == .identity, wrappers.contains(node.outputs[0].name), graph.bypass(nodeAt: index, with: node.inputs[0]) {
                continue
            }
            index += 1
        }
        graph.removeDeadCode()
        do {
            try graph.verify()
        } catch {
            throw MergeError.invalidResult(error)
        }
        return graph
    }
}

extension ModelMerger {
    /// The ONNX opset of the merged model: the one requested, which must not be below any source's, or else
    /// the highest of the sources' and the default.
    public static func onnxOpset(requested: Int?, sources: [MergeSource]) throws(MergeError) -> Int {
        let needed = requiredOpset(sources)
        if let requested {
            if let needed, requested < needed.opset { throw .opsetTooLow(requested: requested, needed: needed.opset, model: needed.model) }
            return requested
        }
        return max(ONNXEmitter.defaultOpset, needed?.opset ?? 0)
    }
}
