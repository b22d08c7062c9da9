/// Types of the attention op, whose layout `Attention` documents.
extension Op {
    /// query [B, Tq, H, dk], key [B, Tk, H, dk], value [B, Tk, H, dv] of f32 with equal B and H, key's dk equal
    /// to query's, the additive score's weights [dk], and an optional mask (bool or f32) that broadcasts to
    /// [B, Tq, Tk]. Results: [B, Tq, H, dv]
    /// and, with `returnsScores`, [B, H, Tq, Tk].
    func inferAttention(_ inputs: [TensorType], _ attention: Attention) throws(TypeError) -> [TensorType] {
        let (query, key, value) = (inputs[0], inputs[1], inputs[2])
        for (label, input) in [("query", query), ("key", key), ("value", value)] {
            try requireFloat(input)
            guard input.shape.rank == 4 else { throw TypeError(op: name, "\(label) must be [batch, seq, heads, depth], got \(input)") }
        }
        let q = query.shape.dims, k = key.shape.dims, v = value.shape.dims
        guard k[0] == q[0], v[0] == q[0], k[2] == q[2], v[2] == q[2] else {
            throw TypeError(op: name, "query \(query), key \(key) and value \(value) must have the same batch and heads")
        }
        guard k[3] == q[3] else { throw TypeError(op: name, "key \(key) must have the depth of query \(query)") }
        guard v[1] == k[1] else { throw TypeError(op: name, "value \(value) must have the length of key \(key)") }
        if attention.score == .additive {
            let weights = inputs[3]
            try requireFloat(weights)
            guard weights.shape == Shape([q[3]]) else {
                throw TypeError(op: name, "the additive weights must be [\(q[3])], got \(weights)")
            }
        }
        if inputs.count > attention.maskIndex {
            let mask = inputs[attention.maskIndex]
            guard mask.dtype == .bool || mask.dtype == .float32, mask.shape.rank == 3 else {
                throw TypeError(op: name, "the mask must be bool or f32 [batch, Tq, Tk], got \(mask)")
            }
            for (dim, target) in zip(mask.shape.dims, [q[0], q[1], k[1]]) where dim != target && dim != .fixed(1) {
                throw TypeError(op: name, "the mask \(mask) does not broadcast to [\(q[0]), \(q[1]), \(k[1])]")
            }
        }
        guard attention.scale.isFinite else { throw TypeError(op: name, "scale must be finite, got \(attention.scale)") }
        let result = TensorType(.float32, [q[0], q[1], q[2], v[3]])
        return attention.returnsScores ? [result, TensorType(.float32, [q[0], q[2], q[1], k[1]])] : [result]
    }
}
