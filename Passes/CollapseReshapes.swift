import KilnIR

/// Collapses a chain of shape-only ops (Reshape, Flatten) into one Reshape straight to the final shape.
///
/// Rewrite:
///
///     %a = Flatten(%x) {axis = 1} : f32[N,12]          // %x : f32[N,3,4]
///     %b = Reshape(%a) {shape = [0, 6, 2]} : f32[N,6,2]
///   ->
///     %b = Reshape(%x) {shape = [-1, 6, 2]} : f32[N,6,2]
public struct CollapseReshapes: RulePass {
    public static let name = "collapse-reshapes"
    public static let summary = "merge chains of Reshape and Flatten into one Reshape"

    public init() {}

    public var rules: RuleTable { RuleTable([("collapse-reshape-chain", Self.collapse)]) }

    static let collapse: RewriteRule = { node, context in
        guard node.op.isShapeOnly, let producer = context.producer(node.inputs[0]), producer.op.isShapeOnly,
            context.isOnlyRead(node.inputs[0], by: node), let source = context.type(producer.inputs[0]),
            let target = reshapeTarget(from: source, to: node.outputType)
        else { return nil }
        var collapsed = node
        collapsed.op = .reshape(shape: target)
        collapsed.inputs = producer.inputs
        return .replace(with: collapsed)
    }

    /// A Reshape target that turns `source` into `result`: fixed sizes, with -1 for at most one symbolic
    /// dimension. Nil when no single Reshape can express it.
    static func reshapeTarget(from source: TensorType, to result: TensorType) -> [Int]? {
        let symbolic = result.shape.dims.filter { $0.fixedValue == nil }.count
        guard symbolic <= 1 else { return nil }
        let target = result.shape.dims.map { $0.fixedValue ?? -1 }
        guard (try? Op.reshape(shape: target).inferTypes([source])) == [result] else { return nil }
        return target
    }
}
