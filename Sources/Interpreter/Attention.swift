import Foundation
import KilnIR

/// The reference kernel of the attention op: the definition `Attention` gives, one query row at a
/// time, with the scaled query rounded to f32 (Keras scales the f32 query before its product), the logits
/// and the weights rounded to f32 as Keras's tensors are, and every sum accumulated in double precision.
enum AttentionKernel {
    /// query [B, Tq, H, dk], key [B, Tk, H, dk], value [B, Tk, H, dv], optional mask broadcasting to
    /// [B, Tq, Tk]; returns [B, Tq, H, dv] and, with `returnsScores`, the weights [B, H, Tq, Tk].
    static func run(_ args: [Tensor], _ a: Attention) -> [Tensor] {
        let (batch, tq, heads, dk) = (args[0].shape[0], args[0].shape[1], args[0].shape[2], args[0].shape[3])
        let (tk, dv) = (args[1].shape[1], args[2].shape[3])
        let q = args[0].floats, k = args[1].floats, v = args[2].floats
        let additive = a.score == .additive ? args[3].floats : nil
        let hasMask = args.count > a.maskIndex
        let mask = hasMask ? args[a.maskIndex].floats : nil
        // A mask dimension of size 1 repeats: its stride is 0.
        let maskShape = hasMask ? args[a.maskIndex].shape : [1, 1, 1]
        let maskStrides = [
            maskShape[0] == 1 ? 0 : maskShape[1] * maskShape[2], maskShape[1] == 1 ? 0 : maskShape[2], maskShape[2] == 1 ? 0 : 1,
        ]
        var output = [Float](repeating: 0, count: batch * tq * heads * dv)
        var scores = [Float](repeating: 0, count: a.returnsScores ? batch * heads * tq * tk : 0)
        var weights = [Double](repeating: 0, count: tk)
        for b in 0..<batch {
            for h in 0..<heads {
                for i in 0..<tq {
                    let queryRow = ((b * tq + i) * heads + h) * dk
                    let scaled = (0..<dk).map { Double(q[queryRow + $0] * a.scale) }
                    var allowed = [Bool](repeating: true, count: tk)
                    for j in 0..<tk {
                        if a.causal && j > i { allowed[j] = false }
                        if let mask, mask[b * maskStrides[0] + i * maskStrides[1] + j * maskStrides[2]] == 0 { allowed[j] = false }
                    }
                    if allowed.contains(true) {
                        var maximum = -Double.infinity
                        for j in 0..<tk where allowed[j] {
                            let keyRow = ((b * tk + j) * heads + h) * dk
                            var sum = 0.0
                            if let additive {
                                // Keras adds the f32 query and key, then takes tanh.
                                for d in 0..<dk { sum += Double(additive[d]) * tanh(Double(q[queryRow + d] + k[keyRow + d])) }
                                sum *= Double(a.scale)
                            } else {
                                for d in 0..<dk { sum += scaled[d] * Double(k[keyRow + d]) }
                            }
                            weights[j] = Double(Float(sum))
                            maximum = max(maximum, weights[j])
                        }
                        var total = 0.0
                        for j in 0..<tk {
                            weights[j] = allowed[j] ? exp(weights[j] - maximum) : 0
                            total += weights[j]
                        }
                        for j in 0..<tk { weights[j] = Double(Float(weights[j] / total)) }
                    } else {
                        let fill: Double =
                            switch a.fullyMaskedRows {
                            case .uniform: Double(Float(1 / Double(tk)))
                            case .zero: 0
                            case .ones: 1
                            }
                        for j in 0..<tk { weights[j] = fill }
                    }
                    let outputRow = ((b * tq + i) * heads + h) * dv
                    for d in 0..<dv {
                        var sum = 0.0
                        for j in 0..<tk where weights[j] != 0 { sum += weights[j] * Double(v[((b * tk + j) * heads + h) * dv + d]) }
                        output[outputRow + d] = Float(sum)
                    }
                    if a.returnsScores {
                        let scoreRow = ((b * heads + h) * tq + i) * tk
                        for j in 0..<tk { scores[scoreRow + j] = Float(weights[j]) }
                    }
                }
            }
        }
        let result = Tensor(shape: [batch, tq, heads, dv], floats: output)
        return a.returnsScores ? [result, Tensor(shape: [batch, heads, tq, tk], floats: scores)] : [result]
    }
}
