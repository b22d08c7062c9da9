import KilnIR
import KilnInterpreter
import XCTest

@testable import KilnRuntime

/// The recurrent kernel (RNN, both GRU forms, LSTM; forward, reverse, bidirectional; with and without initial
/// states; masked steps) against the interpreter's RNN, GRU and LSTM, with a hidden size over one 16-column panel.
final class RecurrentTests: XCTestCase {
    /// Runs `kilnRecurrent` as the Swift backend lays out its weights, for every direction of `r`.
    private func run(_ r: Recurrence, x: Tensor, w: Tensor, rw: Tensor, b: Tensor, initial: [Tensor], mask: [Float]? = nil) -> [[Float]] {
        let (batch, steps, inputSize) = (x.shape[0], x.shape[1], x.shape[2])
        let hidden = r.hiddenSize, width = r.gates * hidden, dirs = r.directions
        var y = [Float](repeating: .nan, count: batch * steps * dirs * hidden)
        var yh = [Float](repeating: .nan, count: batch * dirs * hidden), yc = yh
        var projections = [Float](repeating: .nan, count: batch * steps * width)
        let cell: KilnCell =
            switch r.cell {
            case .rnn: .rnn
            case .gru(let linearBeforeReset): linearBeforeReset ? .gruLinearBeforeReset : .gru
            case .lstm: .lstm
            }
        func transposed(_ m: ArraySlice<Float>, rows: Int, columns: Int) -> [Float] {
            let m = Array(m)
            return (0..<columns * rows).map { m[($0 % rows) * columns + $0 / rows] }
        }
        let activation: [Activation: KilnActivation] = [.sigmoid: .sigmoid, .tanh: .tanh, .relu: .relu, .softsign: .softsign]
        for d in 0..<dirs {
            let wd = transposed(w.floats[(d * width * inputSize)..<((d + 1) * width * inputSize)], rows: width, columns: inputSize)
            let rd = transposed(rw.floats[(d * width * hidden)..<((d + 1) * width * hidden)], rows: width, columns: hidden)
            let bias = Array(b.floats[(d * 2 * width)..<((d + 1) * 2 * width)])
            var inputBias = (0..<width).map { bias[$0] + bias[width + $0] }
            var recurrentBias: [Float]? = nil
            var packedR = packPanels(rd, k: hidden, n: width), packedRh: [Float]? = nil
            if cell == .gruLinearBeforeReset {
                for j in (2 * hidden)..<width { inputBias[j] = bias[j] }
                recurrentBias = [Float](repeating: 0, count: 2 * hidden) + bias[(width + 2 * hidden)...]
            } else if cell == .gru {
                // Rᵀ's z and r columns, then its h columns, each packed on its own.
                let zr = (0..<hidden).flatMap { row in rd[(row * width)..<(row * width + 2 * hidden)] }
                let h = (0..<hidden).flatMap { row in rd[(row * width + 2 * hidden)..<((row + 1) * width)] }
                packedR = packPanels(zr, k: hidden, n: 2 * hidden)
                packedRh = packPanels(h, k: hidden, n: hidden)
            }
            let functions = r.activations[(d * r.activationsPerDirection)...].map { activation[$0]! }
            let initialH = initial.first?.floats, initialC = initial.count > 1 ? initial[1].floats : nil
            let packedW = packPanels(wd, k: inputSize, n: width)
            yc.withUnsafeMutableBufferPointer { cellState in
                kilnRecurrent(
                    cell, x.floats, batch: batch, steps: steps, inputSize: inputSize, hidden: hidden, directions: dirs, direction: d,
                    reverse: r.direction == .reverse || d == 1, w: packedW, inputBias: inputBias, r: packedR, rh: packedRh,
                    recurrentBias: recurrentBias, initialH: initialH, initialC: initialC, &y, yh: &yh,
                    yc: r.cell == .lstm ? cellState.baseAddress : nil, projections: &projections, f: functions[0],
                    g: functions.count > 1 ? functions[1] : .none, h: functions.count > 2 ? functions[2] : .none, mask: mask,
                    repeatMasked: r.maskedOutput == .previous)
            }
        }
        return r.cell == .lstm ? [y, yh, yc] : [y, yh]
    }

    func testEveryCellAndDirectionMatchesTheInterpreter() throws {
        var random = SeededGenerator(seed: 13)
        let cells: [(Recurrence.Cell, [Activation])] = [
            (.rnn, [.relu]), (.gru(linearBeforeReset: false), [.sigmoid, .tanh]), (.gru(linearBeforeReset: true), [.sigmoid, .softsign]),
            (.lstm, [.sigmoid, .tanh, .tanh]),
        ]
        for (cell, activations) in cells {
            for direction in Recurrence.Direction.allCases {
                for (batch, steps, withStates) in [(1, 5, false), (3, 4, true), (2, 1, true)] {
                    let dirs = direction == .bidirectional ? 2 : 1
                    let r = Recurrence(
                        cell: cell, direction: direction, hiddenSize: 19, activations: dirs == 2 ? activations + activations : activations)
                    let (inputSize, width) = (5, r.gates * 19)
                    let x = Tensor(shape: [batch, steps, inputSize], floats: random.floats(batch * steps * inputSize))
                    let w = Tensor(shape: [dirs, width, inputSize], floats: random.floats(dirs * width * inputSize, in: -0.5...0.5))
                    let rw = Tensor(shape: [dirs, width, 19], floats: random.floats(dirs * width * 19, in: -0.3...0.3))
                    let b = Tensor(shape: [dirs, 2 * width], floats: random.floats(dirs * 2 * width))
                    let states =
                        withStates
                        ? (0..<(cell == .lstm ? 2 : 1)).map { _ in
                            Tensor(shape: [batch, dirs, 19], floats: random.floats(batch * dirs * 19))
                        } : []
                    let node = Node(
                        name: "r", op: .recurrent(r), inputs: ["x", "w", "r", "b", "h", "c"].prefix(4 + states.count).map { $0 },
                        outputs: try Op.recurrent(r).inferTypes(([x, w, rw, b] + states).map(\.type)).enumerated().map {
                            Value("o\($0.offset)", $0.element)
                        })
                    let expected = try Interpreter.evaluate(node, [x, w, rw, b] + states)
                    let actual = run(r, x: x, w: w, rw: rw, b: b, initial: states)
                    for (a, e) in zip(actual, expected) {
                        assertClose(a, e.floats, "\(node.op.name) \(direction) batch \(batch) steps \(steps)")
                    }
                }
            }
        }
    }

    func testMaskedStepsMatchTheInterpreter() throws {
        var random = SeededGenerator(seed: 17)
        let cells: [(Recurrence.Cell, [Activation])] = [
            (.rnn, [.tanh]), (.gru(linearBeforeReset: false), [.sigmoid, .tanh]), (.gru(linearBeforeReset: true), [.sigmoid, .tanh]),
            (.lstm, [.sigmoid, .tanh, .tanh]),
        ]
        // Row 0: gaps, starting masked; row 1: trailing padding; row 2: padding only.
        let (batch, steps, inputSize, hidden) = (3, 5, 4, 17)
        let mask: [Bool] = [false, true, false, true, true, true, true, true, false, false, false, false, false, false, false]
        for (cell, activations) in cells {
            for direction in Recurrence.Direction.allCases {
                for masked in Recurrence.MaskedOutput.allCases {
                    let dirs = direction == .bidirectional ? 2 : 1
                    let r = Recurrence(
                        cell: cell, direction: direction, hiddenSize: hidden,
                        activations: dirs == 2 ? activations + activations : activations,
                        maskedOutput: masked)
                    let width = r.gates * hidden
                    let x = Tensor(shape: [batch, steps, inputSize], floats: random.floats(batch * steps * inputSize))
                    let w = Tensor(shape: [dirs, width, inputSize], floats: random.floats(dirs * width * inputSize, in: -0.5...0.5))
                    let rw = Tensor(shape: [dirs, width, hidden], floats: random.floats(dirs * width * hidden, in: -0.3...0.3))
                    let b = Tensor(shape: [dirs, 2 * width], floats: random.floats(dirs * 2 * width))
                    let m = Tensor(shape: [batch, steps], storage: .bool(mask))
                    let states = (0..<(cell == .lstm ? 2 : 1)).map { _ in
                        Tensor(shape: [batch, dirs, hidden], floats: random.floats(batch * dirs * hidden))
                    }
                    let args = [x, w, rw, b, m] + states
                    let node = Node(
                        name: "r", op: .recurrent(r), inputs: ["x", "w", "r", "b", "m", "h", "c"].prefix(args.count).map { $0 },
                        outputs: try Op.recurrent(r).inferTypes(args.map(\.type)).enumerated().map { Value("o\($0.offset)", $0.element) })
                    let expected = try Interpreter.evaluate(node, args)
                    let actual = run(r, x: x, w: w, rw: rw, b: b, initial: states, mask: mask.map { $0 ? 1 : 0 })
                    for (a, e) in zip(actual, expected) { assertClose(a, e.floats, "\(node.op.name) \(direction) \(masked)") }
                    // Row 2 has no real step: zeros out, initial states kept.
                    let yRow2 = Array(expected[0].floats[(2 * steps * dirs * hidden)...])
                    XCTAssertEqual(yRow2, [Float](repeating: 0, count: steps * dirs * hidden))
                    XCTAssertEqual(Array(expected[1].floats[(2 * dirs * hidden)...]), Array(states[0].floats[(2 * dirs * hidden)...]))
                }
            }
        }
    }

    /// The cells' vectorized Sigmoid and Tanh against double precision, from -100 to 100 (every 1/1024 up to 20,
    /// subnormal and tiny inputs included): within 4 units in the last place of the float result (relative
    /// 2.4e-7), or 1e-38 absolute where the result underflows.
    func testVectorizedSigmoidAndTanhAreWithinFourULPs() {
        var inputs: [Float] = (-20 * 1024...20 * 1024).map { Float($0) / 1024 }
        inputs += [-100, -90, -88.5, -87.5, -30, 30, 87.5, 88.5, 90, 100, 1e-30, -1e-30, 1e-40, 0, -0.0, 0.6249, 0.6251, -0.625]
        var worst = (sigmoid: Float(0), tanh: Float(0))
        for start in stride(from: 0, to: inputs.count, by: 8) {
            var v = KilnVector(repeating: 0)
            let count = min(8, inputs.count - start)
            for j in 0..<count { v[j] = inputs[start + j] }
            let (s, t) = (kilnSigmoid(v), kilnTanh(v))
            for j in 0..<count {
                let x = Double(inputs[start + j])
                let (es, et) = (1 / (1 + Foundation.exp(-x)), Foundation.tanh(x))
                func ulps(_ a: Float, _ e: Double) -> Float {
                    abs(e) < 1e-38 ? (abs(Double(a) - e) <= 1e-38 ? 0 : .infinity) : Float(abs(Double(a) - e) / abs(e) / 1.1920929e-7)
                }
                worst.sigmoid = max(worst.sigmoid, ulps(s[j], es))
                worst.tanh = max(worst.tanh, ulps(t[j], et))
            }
        }
        XCTAssertLessThanOrEqual(worst.sigmoid, 4, "sigmoid")
        XCTAssertLessThanOrEqual(worst.tanh, 4, "tanh")
        print("RecurrentTests: vectorized sigmoid within \(worst.sigmoid) ulp, tanh within \(worst.tanh) ulp")
    }
}
