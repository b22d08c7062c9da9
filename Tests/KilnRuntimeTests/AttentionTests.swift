import KilnIR
import KilnInterpreter
import XCTest

@testable import KilnRuntime

/// The attention kernel against the interpreter's Attention: plain, causal (with more and with fewer keys than
/// queries), masks broadcast along each dimension with a row masked everywhere (uniform and zero), with and
/// without the weights, dot and additive scores.
final class AttentionTests: XCTestCase {
    func testKernelMatchesTheInterpreter() throws {
        var random = SeededGenerator(seed: 17)
        let (batch, heads, keyDepth, valueDepth) = (2, 3, 5, 4)
        let maskShapes: [[Int]?] = [nil, [batch, 1, 1], [1, 1, 1], nil]
        for (queries, keys) in [(4, 6), (5, 3), (1, 1)] {
            for maskShape in maskShapes + [[batch, queries, keys], [1, queries, keys], [batch, 1, keys]] {
                for (causal, rows, scores, additive) in [
                    (false, Attention.FullyMaskedRows.uniform, false, false), (true, .zero, true, false), (false, .uniform, true, true),
                    (true, .ones, false, false),
                ] {
                    let q = Tensor(shape: [batch, queries, heads, keyDepth], floats: random.floats(batch * queries * heads * keyDepth))
                    let k = Tensor(shape: [batch, keys, heads, keyDepth], floats: random.floats(batch * keys * heads * keyDepth))
                    let v = Tensor(shape: [batch, keys, heads, valueDepth], floats: random.floats(batch * keys * heads * valueDepth))
                    let w = Tensor(shape: [keyDepth], floats: random.floats(keyDepth))
                    var inputs = additive ? [q, k, v, w] : [q, k, v]
                    if let maskShape {
                        var mask = (0..<maskShape.reduce(1, *)).map { _ in Float(Int.random(in: 0...3, using: &random) == 0 ? 0 : 1) }
                        // A first row masked everywhere (every row when the mask has one).
                        if maskShape[1] > 1 || maskShape[2] == keys {
                            for j in 0..<maskShape[2] { mask[j] = 0 }
                        }
                        inputs.append(Tensor(shape: maskShape, floats: mask))
                    }
                    let attention = Attention(
                        scale: 0.4, score: additive ? .additive : .dot, causal: causal, fullyMaskedRows: rows, returnsScores: scores)
                    let types = try Op.attention(attention).inferTypes(inputs.map(\.type))
                    let node = Node(
                        name: "attention", op: .attention(attention), inputs: inputs.indices.map { "i\($0)" },
                        outputs: types.enumerated().map { Value("o\($0.offset)", $0.element) })
                    let expected = try Interpreter.evaluate(node, inputs)
                    var y = [Float](repeating: .nan, count: batch * queries * heads * valueDepth)
                    var weights = [Float](repeating: .nan, count: scores ? batch * heads * queries * keys : 0)
                    let hasMask = inputs.count > attention.maskIndex
                    let m = hasMask ? inputs[attention.maskIndex].shape : [1, 1, 1]
                    let strides = [m[0] == 1 ? 0 : m[1] * m[2], m[1] == 1 ? 0 : m[2], m[2] == 1 ? 0 : 1]
                    let maskValues = hasMask ? inputs[attention.maskIndex].floats : [0]
                    q.floats.withUnsafeBufferPointer { qp in
                        k.floats.withUnsafeBufferPointer { kp in
                            v.floats.withUnsafeBufferPointer { vp in
                                maskValues.withUnsafeBufferPointer { mp in
                                    w.floats.withUnsafeBufferPointer { ap in
                                        weights.withUnsafeMutableBufferPointer { wp in
                                            kilnAttention(
                                                qp.baseAddress!, kp.baseAddress!, vp.baseAddress!,
                                                additive: additive ? ap.baseAddress! : nil,
                                                mask: hasMask ? mp.baseAddress! : nil,
                                                maskBatch: strides[0], maskQuery: strides[1], maskKey: strides[2], &y,
                                                scores: scores ? wp.baseAddress! : nil, batch: batch, queries: queries, keys: keys,
                                                heads: heads,
                                                keyDepth: keyDepth, valueDepth: valueDepth, scale: 0.4, causal: causal,
                                                fullyMaskedWeight: rows == .uniform ? 1 / Float(keys) : rows == .zero ? 0 : 1)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    let label = "queries \(queries) keys \(keys) mask \(maskShape ?? []) causal \(causal) additive \(additive)"
                    assertClose(y, expected[0].floats, label)
                    if scores { assertClose(weights, expected[1].floats, label + " weights") }
                }
            }
        }
    }
}
