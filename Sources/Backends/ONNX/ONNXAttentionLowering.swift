import KilnIR
import ONNXProto

/// The attention op as standard ONNX operators (opset 13 on), in the form ONNX Runtime's attention fusions
/// look for: Transposes to [batch, heads, seq, depth], MatMul, Where, Softmax, MatMul, Transpose back.
extension ONNXGraphBuilder {
    /// The large negative that replaces masked logits: Keras 3's `_get_large_negative` (-0.7 * 3.38953e38 in
    /// f32, keras/src/backend/tensorflow/nn.py), so a fully masked row has equal logits and uniform weights. With
    /// `fullyMaskedRows == .zero` the weights are then multiplied by the mask, as Keras 3's Softmax layer does.
    static let maskedLogit: Float = -0.7 * 3.38953e38

    mutating func lowerAttention(_ a: Attention, _ node: Node) throws(ONNXEmitError) {
        let x = node.inputs, y = node.outputs.map(\.name), name = node.name
        let result = y[0]
        let query = intermediate("Transpose", [x[0]], result, "query", [ints("perm", [0, 2, 1, 3])])
        var logits: String
        switch a.score {
        case .dot:
            let scaled = intermediate("Mul", [query, scalar("\(result).scale", a.scale, .float32)], result, "scaled_query")
            let key = intermediate("Transpose", [x[1]], result, "key", [ints("perm", [0, 2, 3, 1])])
            logits = intermediate("MatMul", [scaled, key], result, "logits")
        case .additive:
            // [B, H, Tq, 1, dk] + [B, H, 1, Tk, dk], tanh, times the weights, summed over dk.
            let rows = intermediate("Unsqueeze", [query, int64s("\(result).key_axis", [3])], result, "query_rows")
            let key = intermediate("Transpose", [x[1]], result, "key", [ints("perm", [0, 2, 1, 3])])
            let columns = intermediate("Unsqueeze", [key, int64s("\(result).query_axis", [2])], result, "key_columns")
            let sum = intermediate("Add", [rows, columns], result, "pairs")
            let squashed = intermediate("Tanh", [sum], result, "tanh")
            let weighted = intermediate("Mul", [squashed, x[3]], result, "weighted")
            let reduced = intermediate(
                "ReduceSum", [weighted, int64s("\(result).depth_axis", [-1])], result, "additive", [int("keepdims", 0)])
            logits = intermediate("Mul", [reduced, scalar("\(result).scale", a.scale, .float32)], result, "logits")
        }
        // The positions that may be attended, broadcasting to [batch, heads, Tq, Tk].
        var allowed: String?
        if x.count > a.maskIndex {
            var mask = x[a.maskIndex]
            if try type(of: mask, in: node).dtype != .bool {
                mask = intermediate("Cast", [mask], result, "mask", [int("to", Int(ONNXEmitter.elementType(.bool)))])
            }
            allowed = intermediate("Unsqueeze", [mask, int64s("\(result).head_axis", [1])], result, "head_mask")
        }
        if a.causal {
            // Row i may see column j when i >= j; the lengths are read at run time, so any length works.
            let zero = constant("\(result).zero", Tensor(shape: [], storage: .int64([0])))
            let one = constant("\(result).one", Tensor(shape: [], storage: .int64([1])))
            let seqAxis = constant("\(result).seq_axis", Tensor(shape: [], storage: .int64([1])))
            func positions(_ input: String, _ role: String) -> String {
                let shape = intermediate("Shape", [input], result, "\(role)_shape")
                let length = intermediate("Gather", [shape, seqAxis], result, "\(role)_length", [int("axis", 0)])
                return intermediate("Range", [zero, length, one], result, "\(role)_positions")
            }
            let rows = intermediate("Unsqueeze", [positions(x[0], "query"), int64s("\(result).column_axis", [1])], result, "rows")
            let causal = intermediate("GreaterOrEqual", [rows, positions(x[1], "key")], result, "causal")
            allowed = allowed.map { intermediate("And", [$0, causal], result, "allowed") } ?? causal
        }
        if let allowed {
            logits = intermediate(
                "Where", [allowed, logits, scalar("\(result).masked", Self.maskedLogit, .float32)], result, "masked_logits")
        }
        var weights = a.returnsScores && (allowed == nil || a.fullyMaskedRows == .uniform) ? y[1] : fresh("\(result).weights")
        add("Softmax", [logits], [weights], name, [int("axis", -1)])
        if let allowed, a.fullyMaskedRows != .uniform {
            let gate = intermediate("Cast", [allowed], result, "gate", [int("to", Int(ONNXEmitter.elementType(.float32)))])
            let gated = a.returnsScores ? y[1] : fresh("\(result).gated_weights")
            if a.fullyMaskedRows == .zero {
                add("Mul", [weights, gate], [gated], name)
            } else {
                // Rows with no allowed position get weight 1 everywhere.
                let any: String
                if opset >= 18 {
                    any = intermediate(
                        "ReduceMax", [gate, int64s("\(result).key_axis", [-1])], result, "any_allowed", [int("keepdims", 1)])
                } else {
                    any = intermediate("ReduceMax", [gate], result, "any_allowed", [ints("axes", [-1]), int("keepdims", 1)])
                }
                let rows = intermediate("Cast", [any], result, "attended_rows", [int("to", Int(ONNXEmitter.elementType(.bool)))])
                add("Where", [rows, weights, scalar("\(result).one", 1, .float32)], [gated], name)
            }
            weights = gated
        }
        let value = intermediate("Transpose", [x[2]], result, "value", [ints("perm", [0, 2, 1, 3])])
        let context = intermediate("MatMul", [weights, value], result, "context")
        add("Transpose", [context], [result], name, [ints("perm", [0, 2, 1, 3])])
    }
}
