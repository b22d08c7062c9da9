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
    /// The merged graph of `sources`, named `name`: the models and the options naming their inputs and
    /// outputs are checked first, then each model is copied in pipe order and the ensembles are added.
    public static func merge(_ sources: [MergeSource], name: String, options: MergeOptions = MergeOptions()) throws -> MergeResult {
        let models = try SourceModels(sources, prefixes: options.prefixes)
        let inputs = try SharedInputs(models, sharing: options.shareInputs, shares: options.shares)
        let (piped, dependsOn) = try checkedPipes(options.pipes, models: models, inputs: inputs)
        let order = try executionOrder(models.names, dependsOn: dependsOn)
        var merged = MergedGraph(graph: Graph(name: name))
        for model in order { try merged.append(model, of: models, inputs: inputs, piped: piped) }
        let outputs = merged.appendOutputs(of: models)
        let ensembleOutputs = try merged.appendEnsembles(options.ensembles, of: models)

        var graph = merged.graph
        graph.metadata = provenance(sources: sources, order: order)
        do {
            try graph.verify()
        } catch {
            throw MergeError.invalidResult(error)
        }
        if options.deduplicate { graph = try deduplicate(graph) }
        return MergeResult(graph: graph, models: models.names, outputs: outputs, ensembleOutputs: ensembleOutputs)
    }

    /// The checked pipes: which output feeds each piped input, and which models each model needs to run
    /// first. A piped input must not also be shared, since it then would have two sources.
    private static func checkedPipes(
        _ pipes: [(output: ValueReference, input: ValueReference)], models: SourceModels, inputs: SharedInputs
    ) throws(MergeError) -> (piped: [ValueReference: ValueReference], dependsOn: [String: Set<String>]) {
        var piped: [ValueReference: ValueReference] = [:]
        var dependsOn: [String: Set<String>] = [:]
        for (output, input) in pipes {
            let (to, ti) = (try models.outputType(output), try models.inputType(input))
            guard to == ti else { throw .typeMismatch("pipe", output, to, input, ti) }
            guard piped[input] == nil else { throw .pipedTwice(input) }
            guard output.model != input.model else { throw .pipeCycle([output.model]) }
            piped[input] = output
            dependsOn[input.model, default: []].insert(output.model)
        }
        for (ref, _) in models.allInputs where piped[ref] != nil {
            if models.allInputs.contains(where: { $0.0 != ref && inputs.root($0.0) == inputs.root(ref) }) { throw .sharedAndPiped(ref) }
        }
        return (piped, dependsOn)
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

/// The models to merge, checked once: at least two, each with a name that can prefix its values and no name
/// twice, and every model a `--prefix` names among them. Looks up the inputs and outputs options name.
private struct SourceModels {
    /// Model names in command-line order.
    let names: [String]
    let graphs: [String: Graph]
    let prefixes: [String: String]
    /// Every model's inputs and their types, model by model in command-line order.
    let allInputs: [(ValueReference, TensorType)]

    init(_ sources: [MergeSource], prefixes: [String: String]) throws(MergeError) {
        guard sources.count >= 2 else { throw .tooFewModels(sources.count) }
        var graphs: [String: Graph] = [:]
        for source in sources {
            guard !source.name.isEmpty, source.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw .badModelName(source.name)
            }
            guard graphs[source.name] == nil else { throw .duplicateModel(source.name) }
            graphs[source.name] = source.graph
        }
        names = sources.map(\.name)
        self.graphs = graphs
        self.prefixes = prefixes
        allInputs = sources.flatMap { source in source.graph.inputs.map { (ValueReference(model: source.name, value: $0.name), $0.type) } }
        for model in prefixes.keys where graphs[model] == nil { throw .unknownModel(model, known: names) }
    }

    func graph(_ model: String) throws(MergeError) -> Graph {
        guard let graph = graphs[model] else { throw .unknownModel(model, known: names) }
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

    /// What the model's values are prefixed with in the merged graph.
    func prefix(_ model: String) -> String { prefixes[model] ?? "\(model)_" }
}

/// Inputs that become one: a union-find over every model's inputs, joined by `--share-inputs auto` (equal
/// name, element type and shape) and by explicit `--share` pairs, and the merged name of each group.
private struct SharedInputs {
    private var parent: [ValueReference: ValueReference] = [:]
    /// The merged name of every group by its root: the common name if all members share it, else the first
    /// member's prefixed name.
    private var groupNames: [ValueReference: String] = [:]

    init(_ models: SourceModels, sharing: MergeOptions.InputSharing, shares: [(ValueReference, ValueReference)]) throws(MergeError) {
        if sharing == .auto {
            var first: [String: ValueReference] = [:]
            for (ref, type) in models.allInputs {
                let key = "\(ref.value)\u{0}\(type)"
                if let earlier = first[key] { union(earlier, ref) } else { first[key] = ref }
            }
        }
        for (a, b) in shares {
            let (ta, tb) = (try models.inputType(a), try models.inputType(b))
            guard ta == tb else { throw .typeMismatch("share", a, ta, b, tb) }
            union(a, b)
        }
        var groups: [ValueReference: [ValueReference]] = [:]
        for (ref, _) in models.allInputs { groups[root(ref), default: []].append(ref) }
        for (rootRef, members) in groups {
            let sameName = Set(members.map(\.value)).count == 1
            groupNames[rootRef] = members.count > 1 && sameName ? members[0].value : models.prefix(members[0].model) + members[0].value
        }
    }

    /// The input standing for the input's group.
    func root(_ ref: ValueReference) -> ValueReference {
        var r = ref
        while let p = parent[r], p != r { r = p }
        return r
    }

    /// The name of the input's group in the merged graph.
    func mergedName(_ ref: ValueReference) -> String { groupNames[root(ref)]! }

    private mutating func union(_ a: ValueReference, _ b: ValueReference) {
        let ra = root(a), rb = root(b)
        if ra != rb { parent[rb] = ra }
    }
}

/// The merged graph as it is built, with which model defined each value so that a collision names both.
private struct MergedGraph {
    var graph: Graph
    /// The model (or ensemble) that defined each value of the merged graph.
    private var definedBy: [String: String] = [:]
    /// The shared-input group each merged input stands for, by the input's merged name.
    private var inputGroups: [String: ValueReference] = [:]
    /// The merged name of each value of the models appended so far.
    private var renamed: [String: [String: String]] = [:]

    init(graph: Graph) { self.graph = graph }

    private mutating func define(_ value: String, by model: String) throws(MergeError) {
        if let other = definedBy[value], other != model { throw .nameCollision(value, models: [other, model]) }
        definedBy[value] = model
    }

    /// Copies a model's inputs, constants and nodes under their merged names. A piped input reads the output
    /// feeding it, so the model producing that output must have been appended before.
    mutating func append(_ model: String, of models: SourceModels, inputs: SharedInputs, piped: [ValueReference: ValueReference])
        throws(MergeError)
    {
        let g = models.graphs[model]!
        let prefix = models.prefix(model)
        var map: [String: String] = [:]
        for input in g.inputs {
            let ref = ValueReference(model: model, value: input.name)
            if let source = piped[ref] {
                // The producing model comes earlier in `order`, so its names are known.
                map[input.name] = renamed[source.model]![source.value]!
                continue
            }
            let mergedName = inputs.mergedName(ref)
            map[input.name] = mergedName
            if let group = inputGroups[mergedName] {
                guard group == inputs.root(ref) else { throw .nameCollision(mergedName, models: [group.model, model]) }
            } else {
                inputGroups[mergedName] = inputs.root(ref)
                try define(mergedName, by: model)
                graph.inputs.append(Value(mergedName, input.type))
            }
        }
        for constant in g.constants {
            map[constant.name] = prefix + constant.name
            try define(prefix + constant.name, by: model)
            graph.constants.append(Constant(prefix + constant.name, constant.tensor))
        }
        for node in g.nodes {
            for output in node.outputs {
                map[output.name] = prefix + output.name
                try define(prefix + output.name, by: model)
            }
            graph.nodes.append(
                Node(
                    name: prefix + node.name, op: node.op, inputs: node.inputs.map { map[$0] ?? $0 },
                    outputs: node.outputs.map { Value(map[$0.name]!, $0.type) }))
        }
        renamed[model] = map
    }

    /// Makes every model's outputs outputs of the merged graph, in command-line order, each once; returns
    /// each model's outputs with their merged names.
    mutating func appendOutputs(of models: SourceModels) -> [String: [(source: String, merged: String)]] {
        var outputs: [String: [(source: String, merged: String)]] = [:]
        for model in models.names {
            let map = renamed[model]!
            outputs[model] = models.graphs[model]!.outputs.map { ($0, map[$0] ?? $0) }
            for (_, mergedName) in outputs[model]! where !graph.outputs.contains(mergedName) { graph.outputs.append(mergedName) }
        }
        return outputs
    }

    /// Adds each ensemble's nodes and outputs, over the outputs it names or else every model's only output;
    /// returns the outputs each ensemble added, by its name.
    mutating func appendEnsembles(_ ensembles: [EnsembleSpec], of models: SourceModels) throws(MergeError) -> [String: [String]] {
        var ensembleOutputs: [String: [String]] = [:]
        for (number, spec) in ensembles.enumerated() {
            var members = spec.outputs
            if members.isEmpty {
                for model in models.names {
                    let g = models.graphs[model]!
                    guard g.outputs.count == 1 else {
                        throw .ensemble(spec.name, reason: "\(model) has \(g.outputs.count) outputs; name the outputs to combine")
                    }
                    members.append(ValueReference(model: model, value: g.outputs[0]))
                }
            }
            for member in members { _ = try models.outputType(member) }
            let values = members.map { renamed[$0.model]![$0.value]! }
            guard ensembleOutputs[spec.name] == nil else {
                throw .ensemble(spec.name, reason: "two ensembles have this name; name them apart with NAME=KIND")
            }
            let added = try Ensemble.append(spec, over: values, to: &graph)
            ensembleOutputs[spec.name] = added
            for output in added where definedBy[output] != nil {
                throw .nameCollision(output, models: [definedBy[output]!, "ensemble \(spec.name)"])
            }
            for output in added { definedBy[output] = "ensemble #\(number + 1)" }
        }
        return ensembleOutputs
    }
}
