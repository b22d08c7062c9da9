import KilnIR

/// Legalization: a reduction over axes that are not adjacent becomes one reduction per run of adjacent axes,
/// the last run first so that the earlier axes keep their positions, for a backend whose kernel reduces one
/// block of adjacent axes (the Swift executor). A sum of sums is the sum, a max of maxes the max, and a mean
/// of means over groups of one size the mean; only the order of the float additions changes. Keras layers
/// reduce adjacent axes; `tf.reduce_sum(x, [1, 3])` does not.
///
/// Rewrite:
///
///     %y = ReduceSum(%x) {axes = [1, 3], keepDims = false} : f32[N,6]     // %x : f32[N,2,6,4]
///   ->
///     %y.3 = ReduceSum(%x) {axes = [3], keepDims = false} : f32[N,2,6]
///     %y = ReduceSum(%y.3) {axes = [1], keepDims = false} : f32[N,6]
public struct SplitReductions: RulePass {
    public static let name = "split-reductions"
    public static let summary = "split a reduction over axes that are not adjacent into one per run of adjacent axes"

    public init() {}

    public var rules: RuleTable { RuleTable([("split-reduction", Self.split)]) }

    static let split: RewriteRule = { node, context in
        guard case .reduce(let reduction, let axes, let keepDims) = node.op, node.outputs.count == 1,
            var type = context.type(node.inputs[0])
        else { return nil }
        let rank = type.shape.rank
        var runs: [[Int]] = []
        for axis in Set(axes.map { $0 < 0 ? $0 + rank : $0 }).sorted() {
            if let last = runs.last?.last, last + 1 == axis { runs[runs.count - 1].append(axis) } else { runs.append([axis]) }
        }
        guard runs.count > 1 else { return nil }
        let result = node.outputs[0]
        var nodes: [Node] = []
        var value = node.inputs[0]
        for (index, run) in runs.reversed().enumerated() {
            let op = Op.reduce(reduction, axes: run, keepDims: keepDims)
            guard let reduced = try? op.inferTypes([type])[0] else { return nil }
            let last = index == runs.count - 1
            let output = last ? result : Value(context.freshName("\(result.name).\(run[0])"), reduced)
            nodes.append(Node(name: node.name, op: op, inputs: [value], outputs: [output]))
            (value, type) = (output.name, reduced)
        }
        return Rewrite(nodes: nodes)
    }
}
