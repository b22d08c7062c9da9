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
                    kilnUnary(f, q, hRow, hidden)
                    for j in 0..<hidden { out[j] = hRow[j] }
                case .lstm:
                    for j in 0..<width { q[j] += p[j] }
                    kilnUnary(f, q, q, 3 * hidden)
                    kilnUnary(g, q + 3 * hidden, q + 3 * hidden, hidden)
                    let c = cellState! + n * stateStride
                    for j in 0..<hidden { c[j] = q[2 * hidden + j] * c[j] + q[j] * q[3 * hidden + j] }
                    kilnUnary(h, c, q + 3 * hidden, hidden)
                    for j in 0..<hidden {
                        hRow[j] = q[hidden + j] * q[3 * hidden + j]
                        out[j] = hRow[j]
                    }
                case .gruLinearBeforeReset:
                    for j in 0..<(2 * hidden) { q[j] += p[j] }
                    kilnUnary(f, q, q, 2 * hidden)
                    for j in 0..<hidden { q[2 * hidden + j] = p[2 * hidden + j] + q[hidden + j] * q[2 * hidden + j] }
                    kilnUnary(g, q + 2 * hidden, q + 2 * hidden, hidden)
                    for j in 0..<hidden {
                        let z = q[j]
                        hRow[j] = (1 - z) * q[2 * hidden + j] + z * hRow[j]
                        out[j] = hRow[j]
                    }
                case .gru:
                    for j in 0..<(2 * hidden) { q[j] += p[j] }
                    kilnUnary(f, q, q, 2 * hidden)
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
                kilnUnary(g, q + 2 * hidden, q + 2 * hidden, hidden)
                for j in 0..<hidden {
                    let z = q[j]
                    hRow[j] = (1 - z) * q[2 * hidden + j] + z * hRow[j]
                    out[j] = hRow[j]
                }
            }
        }
    }
}
