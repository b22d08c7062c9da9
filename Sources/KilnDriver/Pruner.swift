import KilnIR
import KilnInterpreter
import KilnPasses

/// Post-training pruning from a command-line specification, and what it changed.
///
/// Specifications: `magnitude:S` (unstructured, sparsity S in [0, 1)), `nm:N:M` (N of every M weights along
/// the reduction) and `channels:F` (structured: a fraction F of each layer's output channels removed).
public struct Pruner: Sendable {
    public enum Method: Sendable, Equatable {
        case magnitude(Double)
        case nm(Int, Int)
        case channels(Double)
    }

    public var method: Method
    public var scope: MagnitudePruning.Scope
    public var excluded: Set<String>
    public var includeEnds: Bool

    public init(spec: String, scope: String = "layer", excluded: [String] = [], includeEnds: Bool = false) throws {
        let parts = spec.split(separator: ":").map(String.init)
        func number(_ text: String) throws -> Double {
            guard let value = Double(text), value >= 0, value < 1 else {
                throw InputError("'\(text)' in --prune \(spec) must be a fraction in [0, 1)")
            }
            return value
        }
        switch (parts.first, parts.count) {
        case ("magnitude", 2): method = .magnitude(try number(parts[1]))
        case ("channels", 2): method = .channels(try number(parts[1]))
        case ("nm", 3):
            guard let n = Int(parts[1]), let m = Int(parts[2]), n > 0, n <= m else {
                throw InputError("--prune \(spec): N and M must be whole numbers with 0 < N <= M")
            }
            method = .nm(n, m)
        default:
            throw InputError("unknown --prune '\(spec)'; use magnitude:SPARSITY, nm:N:M or channels:FRACTION (e.g. magnitude:0.8)")
        }
        guard let parsedScope = MagnitudePruning.Scope(rawValue: scope) else {
            throw InputError("unknown --prune-scope '\(scope)'; use layer or global")
        }
        self.scope = parsedScope
        self.excluded = Set(excluded)
        self.includeEnds = includeEnds
    }

    /// The pass that carries out the specification.
    public var pass: any Pass {
        switch method {
        case .magnitude(let sparsity): MagnitudePruning(sparsity: sparsity, scope: scope, excluded: excluded, includeEnds: includeEnds)
        case .nm(let n, let m): NMPruning(n: n, m: m, excluded: excluded, includeEnds: includeEnds)
        case .channels(let fraction): ChannelPruning(fraction: fraction, excluded: excluded, includeEnds: includeEnds)
        }
    }

    /// Prunes `graph` and verifies the result.
    public func prune(_ graph: Graph) throws -> Graph {
        let pruned = try pass.run(on: graph)
        try pruned.verify()
        return pruned
    }

    /// Per prunable layer of `before`: parameters and zero weights in its kernel before and after.
    public static func records(before: Graph, after: Graph) -> [PruningRecord] {
        let old = before.constantsByName, new = after.constantsByName
        let afterLayers = Dictionary(PrunableLayer.find(in: after).map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var records: [PruningRecord] = []
        var seen: Set<String> = []
        for layer in PrunableLayer.find(in: before) where !seen.contains(layer.name) {
            seen.insert(layer.name)
            guard let kernel = old[layer.kernel], let match = afterLayers[layer.name], let pruned = new[match.kernel] else { continue }
            func parameters(_ graph: Graph, _ index: Int, _ constants: [String: Tensor]) -> Int {
                graph.nodes[index].inputs.dropFirst().compactMap { constants[$0]?.count }.reduce(0, +)
            }
            records.append(
                PruningRecord(
                    layer: layer.name, parametersBefore: parameters(before, layer.node, old),
                    parametersAfter: parameters(after, match.node, new),
                    kernelBefore: kernel.count, kernelAfter: pruned.count, zerosBefore: kernel.floats.filter { $0 == 0 }.count,
                    zerosAfter: pruned.floats.filter { $0 == 0 }.count))
        }
        return records
    }

    /// A table of the records, then the totals.
    public static func render(_ records: [PruningRecord], graphBefore: Graph, graphAfter: Graph) -> String {
        func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(1, width - text.count)) }
        func percent(_ fraction: Double) -> String {
            let tenths = Int((fraction * 1000).rounded())
            return "\(tenths / 10).\(tenths % 10)%"
        }
        var out = pad("layer", 24) + pad("parameters", 22) + "kernel sparsity\n"
        for r in records {
            let (before, after) = (r.parametersBefore, r.parametersAfter)
            out += pad(r.layer, 24) + pad(before == after ? "\(before)" : "\(before) -> \(after)", 22)
            out += "\(percent(r.sparsityBefore)) -> \(percent(r.sparsityAfter))\n"
        }
        let zerosBefore = graphBefore.constants.map { $0.tensor.floats.filter { $0 == 0 }.count }.reduce(0, +)
        let zerosAfter = graphAfter.constants.map { $0.tensor.floats.filter { $0 == 0 }.count }.reduce(0, +)
        out += "total: \(graphBefore.parameterCount) -> \(graphAfter.parameterCount) parameters, "
        out += "\(graphBefore.parameterCount - zerosBefore) -> \(graphAfter.parameterCount - zerosAfter) nonzero\n"
        let recurrent = graphBefore.recurrentLayerSummaries
        if !recurrent.isEmpty { out += "recurrent layers are not pruned: \(recurrent.joined(separator: ", "))\n" }
        return out
    }
}
