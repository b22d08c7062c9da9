// Scaled dot-product attention.
import Foundation

/// Scaled dot-product attention in Keras's multi-head layout, as `Attention` (KilnIR) defines it:
/// q [batch, queries, heads, keyDepth], k [batch, keys, heads, keyDepth], v [batch, keys, heads, valueDepth],
/// y [batch, queries, heads, valueDepth], and, when `scores` is given, the weights [batch, heads, queries, keys].
/// Position j of query row i is masked where `mask` (1 or 0, read at b * maskBatch + i * maskQuery + j * maskKey;
/// a stride of 0 repeats a dimension of size 1) is 0, and with `causal` where j > i; a row masked everywhere gets
/// `fullyMaskedWeight` for every key (1 / keys, 0 or 1, as `Attention.FullyMaskedRows` says). With `additive` weights w [keyDepth] the logits are
/// scale * sum over d of w[d] * tanh(q[d] + k[j, d]) instead of the dot product of the scaled query and key j.
/// One query row at a time: its logits, softmax and value product use a buffer of `keys` floats, never a whole
/// [queries, keys] block.
func kilnAttention(
    _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>, additive: UnsafePointer<Float>? = nil,
    mask: UnsafePointer<Float>?, maskBatch: Int,
    maskQuery: Int, maskKey: Int, _ y: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>?, batch: Int, queries: Int,
    keys: Int, heads: Int, keyDepth: Int, valueDepth: Int, scale: Float, causal: Bool, fullyMaskedWeight: Float
) {
    let weights = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(keys, 1))
    let scaled = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(keyDepth, 1))
    defer {
        weights.deallocate()
        scaled.deallocate()
    }
    let keyStride = heads * keyDepth, valueStride = heads * valueDepth
    for b in 0..<batch {
        for h in 0..<heads {
            let keyBase = k + b * keys * keyStride + h * keyDepth
            let valueBase = v + b * keys * valueStride + h * valueDepth
            for i in 0..<queries {
                let queryRow = q + ((b * queries + i) * heads + h) * keyDepth
                for d in 0..<keyDepth { scaled[d] = queryRow[d] * scale }
                let limit = causal ? Swift.min(keys, i + 1) : keys
                var maximum = -Float.infinity
                for j in 0..<keys {
                    if j >= limit || (mask.map { $0[b * maskBatch + i * maskQuery + j * maskKey] == 0 } ?? false) {
                        weights[j] = -Float.infinity
                        continue
                    }
                    let keyRow = keyBase + j * keyStride
                    var dot: Float = 0
                    if let additive {
                        for d in 0..<keyDepth { dot += additive[d] * Foundation.tanh(queryRow[d] + keyRow[d]) }
                        dot *= scale
                    } else {
                        for d in 0..<keyDepth { dot += scaled[d] * keyRow[d] }
                    }
                    weights[j] = dot
                    maximum = Swift.max(maximum, dot)
                }
                if maximum == -Float.infinity {
                    for j in 0..<keys { weights[j] = fullyMaskedWeight }
                } else {
                    var sum: Float = 0
                    for j in 0..<keys {
                        let e = Foundation.exp(weights[j] - maximum)
                        weights[j] = e
                        sum += e
                    }
                    for j in 0..<keys { weights[j] /= sum }
                }
                let out = y + ((b * queries + i) * heads + h) * valueDepth
                for d in 0..<valueDepth { out[d] = 0 }
                for j in 0..<keys where weights[j] != 0 {
                    let weight = weights[j], valueRow = valueBase + j * valueStride
                    for d in 0..<valueDepth { out[d] += weight * valueRow[d] }
                }
                if let scores {
                    let row = scores + ((b * heads + h) * queries + i) * keys
                    for j in 0..<keys { row[j] = weights[j] }
                }
            }
        }
    }
}
