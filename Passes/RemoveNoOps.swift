import KilnIR

/// Removes nodes that do nothing: Identity, Cast to the type it already has, Reshape or Flatten to the shape
/// it already has, Transpose by the identity permutation, Pad and Crop by nothing, a one-input Concat,
/// upsampling by 1; merges two Transposes in a row into one (which the first rule removes when they
/// cancel). A removed node that defines a graph output passes the name to the value it forwarded.
///
/// Rewrite:
///
///     %a = Identity(%x) : f32[N,4]
///     %b = Transpose(%a) {perm = [1, 0]} : f32[4,N]
///     %c = Transpose(%b) {perm = [1, 0]} : f32[N,4]
///     %y = Relu(%c) : f32[N,4]
///   ->
///     %y = Relu(%x) : f32[N,4]
public struct RemoveNoOps: RulePass {
    public static let name = "remove-noops"
    public static let summary = "remove Identity, same-type Cast, same-shape Reshape, cancelling Transposes"

    public init() {}

    public var rules: RuleTable { RuleTable([("pass-through", Self.passThrough), ("compose-transposes", Self.composeTransposes)]) }

    /// A node that returns its input unchanged is its input.
    static let passThrough: RewriteRule = { node, context in
        guard node.outputs.count == 1, let input = node.inputs.first, let inputType = context.type(input) else { return nil }
        let isNoOp: Bool
        switch node.op {
        case .identity: isNoOp = true
        case .cast, .reshape, .flatten: isNoOp = inputType == node.outputType
        case .transpose(let perm): isNoOp = perm == Array(perm.indices)
        case .pad(let pads, _), .crop(let pads): isNoOp = pads.allSatisfy { $0 == 0 }
        case .concat: isNoOp = node.inputs.count == 1
        case .upsample(let factors, _): isNoOp = factors.allSatisfy { $0 == 1 }
        default: isNoOp = false
        }
        return isNoOp ? .forward(to: input) : nil
    }

    /// Transpose(Transpose(x, inner), outer) = Transpose(x, p) with p[i] = inner[outer[i]].
    static let composeTransposes: RewriteRule = { node, context in
        guard case .transpose(let outer) = node.op, let producer = context.producer(node.inputs[0]),
            case .transpose(let inner) = producer.op
        else { return nil }
        var composed = node
        composed.op = .transpose(perm: outer.map { inner[$0] })
        composed.inputs = producer.inputs
        return .replace(with: composed)
    }
}
