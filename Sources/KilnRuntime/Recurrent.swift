// The recurrent layers (ONNX's RNN, GRU and LSTM, batch-major): the input projection of every step as one
// packed matrix product, then per step the recurrent product on packed weights and the gates fused row by row.
import Foundation

/// The cell of a recurrent layer; `gruLinearBeforeReset` is ONNX's `linear_before_reset = 1`.
enum KilnCell { case rnn, gru, gruLinearBeforeReset, lstm }

/// One direction of a recurrent layer over x [batch, steps, inputSize], as ONNX's operators compute it (gate
/// orders: GRU z, r, h; LSTM i, o, f, c).
///
/// - `w`: Wᵀ [inputSize, gates * hidden] packed for `kilnGemm`; `inputBias` [gates * hidden] is Wb + Rb, but for
///   the h gate of `gruLinearBeforeReset`, where Rb stays inside the reset (in `recurrentBias`, zero elsewhere).
/// - `r`: Rᵀ [hidden, gates * hidden] packed; for `gru` only its z and r columns, with `rh` the h gate's
///   [hidden, hidden], which reads r ⊙ H.
/// - States and outputs: `yh` (and `yc`) [batch, directions, hidden] hold the running state of direction
///   `direction`, read from `initialH`/`initialC` (same layout) or zeros; `y` [batch, steps, directions, hidden]
///   gets every step's hidden state at its input's position.
/// - `projections`: scratch of batch * steps * gates * hidden floats.
/// - `mask` [batch, steps] (1 or 0), optional: a step of a row whose mask is 0 is skipped, as Keras's masked
///   `backend.rnn` does: the states stay, and its y is zeros or, with `repeatMasked`, the y of the step processed
///   before it (zeros for the first step processed).
///
/// The only allocation is one scratch for the gates per call, none per step.
func kilnRecurrent(
    _ cell: KilnCell, _ x: UnsafePointer<Float>, batch: Int, steps: Int, inputSize: Int, hidden: Int, directions: Int, direction: Int,
    reverse: Bool, w: UnsafePointer<Float>, inputBias: UnsafePointer<Float>, r: UnsafePointer<Float>, rh: UnsafePointer<Float>?,
    recurrentBias: UnsafePointer<Float>?, initialH: UnsafePointer<Float>?, initialC: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, yh: UnsafeMutablePointer<Float>, yc: UnsafeMutablePointer<Float>?,
    projections: UnsafeMutablePointer<Float>, f: KilnActivation, g: KilnActivation, h: KilnActivation,
    mask: UnsafePointer<Float>? = nil, repeatMasked: Bool = false
) {
    let gates: Int
    switch cell {
    case .rnn: gates = 1
    case .gru, .gruLinearBeforeReset: gates = 3
    case .lstm: gates = 4
    }
    let width = gates * hidden, stateStride = directions * hidden
    let state = yh + direction * hidden, cellState = yc.map { $0 + direction * hidden }
    for n in 0..<batch {
        for j in 0..<hidden {
            state[n * stateStride + j] = initialH?[n * stateStride + direction * hidden + j] ?? 0
            cellState?[n * stateStride + j] = initialC?[n * stateStride + direction * hidden + j] ?? 0
        }
    }
    guard steps > 0 else { return }
    // X Wᵀ + biases for every step of every row at once.
    kilnGemm(x, lda: inputSize, w, bias: inputBias, projections, ldc: width, m: batch * steps, n: width, k: inputSize, activation: .none)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: batch * (width + hidden)) { buffer in
        let products = buffer.baseAddress!, resetState = products + batch * width
        for step in 0..<steps {
            let t = reverse ? steps - 1 - step : step
            // The recurrent product of every row: H Rᵀ (only z and r for a GRU that resets before it).
            let columns = cell == .gru ? 2 * hidden : width
            kilnGemm(
                state, lda: stateStride, r, bias: recurrentBias, products, ldc: width, m: batch, n: columns, k: hidden, activation: .none)
            for n in 0..<batch {
                let p = projections + (n * steps + t) * width, q = products + n * width
                let hRow = state + n * stateStride, out = y + ((n * steps + t) * directions + direction) * hidden
                if let mask, mask[n * steps + t] == 0 {
                    let previous = y + ((n * steps + (reverse ? t + 1 : t - 1)) * directions + direction) * hidden
                    for j in 0..<hidden { out[j] = repeatMasked && step > 0 ? previous[j] : 0 }
                    continue
                }
                switch cell {
                case .rnn:
                    for j in 0..<hidden { q[j] += p[j] }
                    kilnCellActivation(f, q, hRow, hidden)
                    for j in 0..<hidden { out[j] = hRow[j] }
                case .lstm:
                    for j in 0..<width { q[j] += p[j] }
                    kilnCellActivation(f, q, q, 3 * hidden)
                    kilnCellActivation(g, q + 3 * hidden, q + 3 * hidden, hidden)
                    let c = cellState! + n * stateStride
                    for j in 0..<hidden { c[j] = q[2 * hidden + j] * c[j] + q[j] * q[3 * hidden + j] }
                    kilnCellActivation(h, c, q + 3 * hidden, hidden)
                    for j in 0..<hidden {
                        hRow[j] = q[hidden + j] * q[3 * hidden + j]
                        out[j] = hRow[j]
                    }
                case .gruLinearBeforeReset:
                    for j in 0..<(2 * hidden) { q[j] += p[j] }
                    kilnCellActivation(f, q, q, 2 * hidden)
                    for j in 0..<hidden { q[2 * hidden + j] = p[2 * hidden + j] + q[hidden + j] * q[2 * hidden + j] }
                    kilnCellActivation(g, q + 2 * hidden, q + 2 * hidden, hidden)
                    for j in 0..<hidden {
                        let z = q[j]
                        hRow[j] = (1 - z) * q[2 * hidden + j] + z * hRow[j]
                        out[j] = hRow[j]
                    }
                case .gru:
                    for j in 0..<(2 * hidden) { q[j] += p[j] }
                    kilnCellActivation(f, q, q, 2 * hidden)
                    for j in 0..<hidden { resetState[n * hidden + j] = q[hidden + j] * hRow[j] }
                }
            }
            guard cell == .gru, let rh else { continue }
            // The h gate reads r ⊙ H, known only now for every row.
            kilnGemm(
                resetState, lda: hidden, rh, bias: nil, products + 2 * hidden, ldc: width, m: batch, n: hidden, k: hidden, activation: .none
            )
            for n in 0..<batch {
                if let mask, mask[n * steps + t] == 0 { continue }
                let p = projections + (n * steps + t) * width, q = products + n * width
                let hRow = state + n * stateStride, out = y + ((n * steps + t) * directions + direction) * hidden
                for j in 0..<hidden { q[2 * hidden + j] += p[2 * hidden + j] }
                kilnCellActivation(g, q + 2 * hidden, q + 2 * hidden, hidden)
                for j in 0..<hidden {
                    let z = q[j]
                    hRow[j] = (1 - z) * q[2 * hidden + j] + z * hRow[j]
                    out[j] = hRow[j]
                }
            }
        }
    }
}

/// f applied elementwise inside a cell: Sigmoid and Tanh eight at a time (`kilnSigmoid`, `kilnTanh`), the others
/// as `kilnUnary` computes them. x and y may be the same buffer.
@inline(__always)
func kilnCellActivation(_ f: KilnActivation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    let sigmoid: Bool
    switch f {
    case .sigmoid: sigmoid = true
    case .tanh: sigmoid = false
    default:
        kilnUnary(f, x, y, count)
        return
    }
    var i = 0
    while i + 8 <= count {
        let v = kilnLoad(x + i)
        kilnStore(sigmoid ? kilnSigmoid(v) : kilnTanh(v), y + i)
        i += 8
    }
    guard i < count else { return }
    var rest = KilnVector(repeating: 0)
    for j in 0..<(count - i) { rest[j] = x[i + j] }
    rest = sigmoid ? kilnSigmoid(rest) : kilnTanh(rest)
    for j in 0..<(count - i) { y[i + j] = rest[j] }
}

/// e^x of eight floats: Cephes's `expf` (S. L. Moshier, Cephes Math Library): x = n ln 2 + r with ln 2 in two
/// parts, e^r by a degree-7 polynomial, 2^n written into the exponent bits. Within 2 ulp of e^x; x is clamped
/// to [-87, 88] first, so the result stays a normal float (e^-87 for less, e^88 for more). n is rounded by
/// adding and subtracting 1.5 * 2^23 (plain vector adds; the float's low bits then hold n), as SSE2 has no
/// vector floor.
@inline(__always)
func kilnExp(_ x: KilnVector) -> KilnVector {
    let x = x.replacing(with: 88, where: x .> 88).replacing(with: -87, where: x .< -87)
    let shifted = x * 1.44269504088896341 + 12_582_912
    let n = shifted - 12_582_912
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    var p = KilnVector(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let e = p * (r * r) + r + 1
    let exponent = (unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    return e * unsafeBitCast(exponent, to: KilnVector.self)
}

/// 1 / (1 + e^-x) of eight floats (`kilnExp`).
@inline(__always)
func kilnSigmoid(_ x: KilnVector) -> KilnVector { 1 / (1 + kilnExp(-x)) }

/// tanh of eight floats: Cephes's `tanhf` (S. L. Moshier, Cephes Math Library): an odd polynomial for |x| < 0.625,
/// else sign(x) (1 - 2 / (e^2|x| + 1)) (`kilnExp`). Within a few ulp of tanh x.
@inline(__always)
func kilnTanh(_ x: KilnVector) -> KilnVector {
    let magnitude = x.replacing(with: -x, where: x .< 0)
    let large = 1 - 2 / (kilnExp(magnitude + magnitude) + 1)
    let z = x * x
    var p = KilnVector(repeating: -5.70498872745e-3)
    p = p * z + 2.06390887954e-2
    p = p * z - 5.37397155531e-2
    p = p * z + 1.33314422036e-1
    p = p * z - 3.33332819422e-1
    let small = p * z * x + x
    return large.replacing(with: -large, where: x .< 0).replacing(with: small, where: magnitude .< 0.625)
}
