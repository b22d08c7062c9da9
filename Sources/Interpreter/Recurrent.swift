import Foundation
import KilnIR

/// The reference kernel of the recurrent ops (RNN, GRU, LSTM): the equations `Recurrence` gives, one step at a
/// time, with every dot product accumulated in double precision and the states rounded to f32 after each step,
/// as the f32 tensors they are.
enum Recurrent {
    /// X [batch, seq, input], W, R, B, the mask M and the optional initial states as `Recurrence` documents them;
    /// returns Y [batch, seq, dirs, hidden], Y_h and, for LSTM, Y_c [batch, dirs, hidden].
    static func run(_ args: [Tensor], _ r: Recurrence) -> [Tensor] {
        let (batch, seq, inputSize) = (args[0].shape[0], args[0].shape[1], args[0].shape[2])
        let (hidden, dirs, gates) = (r.hiddenSize, r.directions, r.gates)
        let x = args[0].floats, w = args[1].floats, rw = args[2].floats, b = args[3].floats
        let mask = r.maskIndex.map { args[$0].floats }
        let stateIndex = r.initialStateIndex
        let initialH = args.count > stateIndex ? args[stateIndex].floats : nil
        let initialC = args.count > stateIndex + 1 ? args[stateIndex + 1].floats : nil
        var y = [Float](repeating: 0, count: batch * seq * dirs * hidden)
        var yh = [Float](repeating: 0, count: batch * dirs * hidden)
        var yc = yh
        let perDirection = r.activationsPerDirection
        for d in 0..<dirs {
            let reverse = r.direction == .reverse || d == 1
            let functions = r.activations[d * perDirection..<(d + 1) * perDirection].map(\.function)
            let wBase = d * gates * hidden * inputSize, rBase = d * gates * hidden * hidden, bBase = d * 2 * gates * hidden
            for n in 0..<batch {
                let stateOffset = (n * dirs + d) * hidden
                var h = (0..<hidden).map { Double(initialH?[stateOffset + $0] ?? 0) }
                var c = (0..<hidden).map { Double(initialC?[stateOffset + $0] ?? 0) }
                for step in 0..<seq {
                    let t = reverse ? seq - 1 - step : step
                    if let mask, mask[n * seq + t] == 0 {
                        // Skipped: the states stay; Y is zeros or Y of the step before (zeros for the first).
                        let previous = reverse ? t + 1 : t - 1
                        for j in 0..<hidden {
                            let index = ((n * seq + t) * dirs + d) * hidden + j
                            y[index] =
                                r.maskedOutput == .previous && step > 0 ? y[((n * seq + previous) * dirs + d) * hidden + j] : 0
                        }
                        continue
                    }
                    let xt = (n * seq + t) * inputSize
                    // Row g*hidden+j of X_t Wᵀ + Wb and of H Rᵀ + Rb, kept apart for GRU's reset gate.
                    func inputPart(_ row: Int) -> Double {
                        var sum = Double(b[bBase + row])
                        for k in 0..<inputSize { sum += Double(x[xt + k]) * Double(w[wBase + row * inputSize + k]) }
                        return sum
                    }
                    func recurrentPart(_ row: Int, _ state: [Double]) -> Double {
                        var sum = Double(b[bBase + gates * hidden + row])
                        for k in 0..<hidden { sum += state[k] * Double(rw[rBase + row * hidden + k]) }
                        return sum
                    }
                    var next = [Double](repeating: 0, count: hidden)
                    switch r.cell {
                    case .rnn:
                        for j in 0..<hidden { next[j] = functions[0](inputPart(j) + recurrentPart(j, h)) }
                    case .gru(let linearBeforeReset):
                        let z = (0..<hidden).map { functions[0](inputPart($0) + recurrentPart($0, h)) }
                        let reset = (0..<hidden).map { functions[0](inputPart(hidden + $0) + recurrentPart(hidden + $0, h)) }
                        let resetH = (0..<hidden).map { reset[$0] * h[$0] }
                        for j in 0..<hidden {
                            let row = 2 * hidden + j
                            let candidate =
                                linearBeforeReset
                                ? functions[1](inputPart(row) + reset[j] * recurrentPart(row, h))
                                : functions[1](inputPart(row) + recurrentPart(row, resetH))
                            next[j] = (1 - z[j]) * candidate + z[j] * h[j]
                        }
                    case .lstm:
                        // Gate rows in ONNX's order: i, o, f, c.
                        func gate(_ g: Int, _ j: Int) -> Double { inputPart(g * hidden + j) + recurrentPart(g * hidden + j, h) }
                        var cell = c
                        for j in 0..<hidden {
                            let i = functions[0](gate(0, j)), o = functions[0](gate(1, j)), f = functions[0](gate(2, j))
                            let candidate = functions[1](gate(3, j))
                            cell[j] = Double(Float(f * c[j] + i * candidate))
                            next[j] = o * functions[2](cell[j])
                        }
                        c = cell
                    }
                    h = next.map { Double(Float($0)) }
                    for j in 0..<hidden { y[((n * seq + t) * dirs + d) * hidden + j] = Float(h[j]) }
                }
                for j in 0..<hidden {
                    yh[stateOffset + j] = Float(h[j])
                    yc[stateOffset + j] = Float(c[j])
                }
            }
        }
        let stateShape = [batch, dirs, hidden]
        let results = [Tensor(shape: [batch, seq, dirs, hidden], floats: y), Tensor(shape: stateShape, floats: yh)]
        return r.cell == .lstm ? results + [Tensor(shape: stateShape, floats: yc)] : results
    }
}
