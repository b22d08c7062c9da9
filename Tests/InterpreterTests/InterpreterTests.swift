import Foundation
import KilnIR
import KilnInterpreter
import XCTest

/// The reference interpreter against values worked out by hand.
final class InterpreterTests: XCTestCase {
    private func run(_ text: String, _ inputs: [String: Tensor]) throws -> [String: Tensor] {
        try Interpreter().run(try TextParser.parse(text), inputs: inputs)
    }

    func testGemmWithBiasAndTransposedB() throws {
        let text = """
            graph @g {
              input %x : f32[N,2]
              const %w : f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
              const %b : f32[3] = [0.5, 0.0, -0.5]
              %y = Gemm(%x, %w, %b) {transB = true} : f32[N,3]
              output %y
            }
            """
        let y = try run(text, ["x": Tensor(shape: [2, 2], floats: [1, 1, 2, -1])])["y"]!
        XCTAssertEqual(y.shape, [2, 3])
        XCTAssertEqual(y.floats, [3.5, 7, 10.5, 0.5, 2, 3.5])
    }

    func testRecurrentStepsFollowONNXsEquationsInBothDirections() throws {
        // One unit, one input, Relu: h_t = relu(2 x_t + 0.5 h_{t-1} + 1 + 0), from h_0 = 1.
        let text = """
            graph @g {
              input %x : f32[N,T,1]
              input %h0 : f32[N,1,1]
              const %w : f32[1,1,1] = [2.0]
              const %r : f32[1,1,1] = [0.5]
              const %b : f32[1,2] = [1.0, 0.0]
              %y, %h = RNN(%x, %w, %r, %b, %h0) {hiddenSize = 1, direction = forward, activations = [Relu]} : f32[N,T,1,1], f32[N,1,1]
              %ry, %rh = RNN(%x, %w, %r, %b, %h0) {hiddenSize = 1, direction = reverse, activations = [Relu]} : f32[N,T,1,1], f32[N,1,1]
              output %y, %h, %ry, %rh
            }
            """
        let results = try run(text, ["x": Tensor(shape: [1, 3, 1], floats: [1, -2, 3]), "h0": Tensor(shape: [1, 1, 1], floats: [1])])
        // Forward: relu(2 + 0.5 + 1) = 3.5, relu(-4 + 1.75 + 1) = 0, relu(6 + 0 + 1) = 7.
        XCTAssertEqual(results["y"]!.floats, [3.5, 0, 7])
        XCTAssertEqual(results["h"]!.floats, [7])
        // Reverse, each output at its input's position: t=2: relu(6 + 0.5 + 1) = 7.5, t=1: relu(-4 + 3.75 + 1) = 0.75,
        // t=0: relu(2 + 0.375 + 1) = 3.375; the final state is the one after t=0.
        XCTAssertEqual(results["ry"]!.floats, [3.375, 0.75, 7.5])
        XCTAssertEqual(results["rh"]!.floats, [3.375])
    }

    func testLSTMGatesAreInONNXsOrderIOFC() throws {
        // Weights 0, biases pick each gate's value: i = sigmoid(0) = 0.5, o = sigmoid(ln 3) = 0.75,
        // f = sigmoid(big) = 1, c = tanh(0.5); from c_0 = 2: c_1 = 2 + 0.5 tanh(0.5), h_1 = 0.75 tanh(c_1).
        let text = """
            graph @g {
              input %x : f32[N,1,1]
              input %h0 : f32[N,1,1]
              input %c0 : f32[N,1,1]
              const %w : f32[1,4,1] = [0.0, 0.0, 0.0, 0.0]
              const %r : f32[1,4,1] = [0.0, 0.0, 0.0, 0.0]
              const %b : f32[1,8] = [0.0, 1.0986123, 40.0, 0.25, 0.0, 0.0, 0.0, 0.25]
              %y, %h, %c = LSTM(%x, %w, %r, %b, %h0, %c0) {hiddenSize = 1, direction = forward} : f32[N,1,1,1], f32[N,1,1], f32[N,1,1]
              output %h, %c
            }
            """
        let results = try run(
            text,
            [
                "x": Tensor(shape: [1, 1, 1], floats: [5]), "h0": Tensor(shape: [1, 1, 1], floats: [0]),
                "c0": Tensor(shape: [1, 1, 1], floats: [2]),
            ])
        let c1 = 2 + 0.5 * Foundation.tanh(0.5)
        XCTAssertEqual(Double(results["c"]!.floats[0]), c1, accuracy: 1e-6)
        XCTAssertEqual(Double(results["h"]!.floats[0]), 0.75 * Foundation.tanh(c1), accuracy: 1e-6)
    }

    func testUpsampleLinearUsesHalfPixelCentersClampedAtTheEdges() throws {
        let text = """
            graph @g {
              input %x : f32[N,2,1,1]
              %y = UpsampleLinear(%x) {factors = [2, 3]} : f32[N,4,3,1]
              %z = UpsampleNearest(%x) {factors = [2, 3]} : f32[N,4,3,1]
              output %y, %z
            }
            """
        let z = try run(text, ["x": Tensor(shape: [1, 2, 1, 1], floats: [0, 8])])["z"]!
        XCTAssertEqual(z.floats, [0, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8, 8])
        // Rows read 0 - 0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1); the single column repeats.
        let y = try run(text, ["x": Tensor(shape: [1, 2, 1, 1], floats: [0, 8])])["y"]!
        XCTAssertEqual(y.shape, [1, 4, 3, 1])
        XCTAssertEqual(y.floats, [0, 0, 0, 2, 2, 2, 6, 6, 6, 8, 8, 8])
    }

    func testGatherPicksRowsAndRejectsIndicesOutsideTheTable() throws {
        let text = """
            graph @g {
              input %i : i32[N,3]
              const %table : f32[3,2] = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0]
              %y = Gather(%table, %i) {axis = 0} : f32[N,3,2]
              output %y
            }
            """
        let y = try run(text, ["i": Tensor(shape: [1, 3], storage: .int32([2, 0, 2]))])["y"]!
        XCTAssertEqual(y.shape, [1, 3, 2])
        XCTAssertEqual(y.floats, [20, 21, 0, 1, 20, 21])
        for bad: Int32 in [3, -1] {
            XCTAssertThrowsError(try run(text, ["i": Tensor(shape: [1, 3], storage: .int32([0, bad, 1]))])) { error in
                XCTAssertEqual("\(error)", "node 'y' (Gather): index \(bad) is outside [0, 3)")
            }
        }
    }

    func testQuantizeRoundsHalfToEvenSaturatesAndDequantizesPerAxis() throws {
        let text = """
            graph @g {
              input %x : f32[N,2]
              const %s : f32[] = [0.5]
              const %z : u8[] = [10]
              const %sa : f32[2] = [0.5, 2.0]
              const %za : i8[2] = [0, -3]
              %q = QuantizeLinear(%x, %s, %z) {axis = 1} : u8[N,2]
              %d = DequantizeLinear(%q, %s, %z) {axis = 1} : f32[N,2]
              %qa = QuantizeLinear(%x, %sa, %za) {axis = 1} : i8[N,2]
              %da = DequantizeLinear(%qa, %sa, %za) {axis = 1} : f32[N,2]
              output %q, %d, %qa, %da
            }
            """
        // x / 0.5: 1.25 -> 2.5 rounds to 2; 0.75 -> 1.5 rounds to 2; -9 -> -18 saturates at 0 after + 10; 200 -> 255.
        let outputs = try run(text, ["x": Tensor(shape: [4, 2], floats: [1.25, 0.75, -9, 200, 0.25, -0.25, 300, -300])])
        XCTAssertEqual(outputs["q"]!.int64s, [12, 12, 0, 255, 10, 10, 255, 0])
        XCTAssertEqual(outputs["d"]!.floats, [1, 1, -5, 122.5, 0, 0, 122.5, -5])
        // Per axis: column 0 scale 0.5 zero 0, column 1 scale 2 zero -3 (0.75 / 2 = 0.375 -> 0, -3).
        XCTAssertEqual(outputs["qa"]!.int64s, [2, -3, -18, 97, 0, -3, 127, -128])
        XCTAssertEqual(outputs["da"]!.floats, [1, 0, -9, 200, 0, 0, 63.5, -250])
    }

    func testBroadcastingArithmetic() throws {
        let text = """
            graph @g {
              input %x : f32[N,2,1]
              const %row : f32[3] = [1.0, 2.0, 3.0]
              %y = Sub(%x, %row) : f32[N,2,3]
              output %y
            }
            """
        let y = try run(text, ["x": Tensor(shape: [1, 2, 1], floats: [10, 20])])["y"]!
        XCTAssertEqual(y.floats, [9, 8, 7, 19, 18, 17])
    }

    func testSoftmaxAlongAnAxisSumsToOne() throws {
        let text = """
            graph @g {
              input %x : f32[N,3,2]
              %y = Softmax(%x) {axis = 1} : f32[N,3,2]
              output %y
            }
            """
        let y = try run(text, ["x": Tensor(shape: [1, 3, 2], floats: [1, 1000, 2, 1000, 3, 1000])])["y"]!.floats
        XCTAssertEqual(y[0] + y[2] + y[4], 1, accuracy: 1e-6)
        XCTAssertEqual(y[1], 1.0 / 3, accuracy: 1e-6, "large logits do not overflow")
        XCTAssertEqual(y[4] / y[2], Float(M_E), accuracy: 1e-5)
    }

    func testTransposeAndReshape() throws {
        let text = """
            graph @g {
              input %x : f32[N,2,3]
              %t = Transpose(%x) {perm = [0, 2, 1]} : f32[N,3,2]
              %r = Reshape(%t) {shape = [0, -1]} : f32[N,6]
              output %r
            }
            """
        let y = try run(text, ["x": Tensor(shape: [1, 2, 3], floats: [1, 2, 3, 4, 5, 6])])["r"]!
        XCTAssertEqual(y.shape, [1, 6])
        XCTAssertEqual(y.floats, [1, 4, 2, 5, 3, 6])
    }

    func testActivationsAtKnownPoints() throws {
        let cases: [(String, Float, Float)] = [
            ("HardSigmoid {alpha = 0.2, beta = 0.5}", 1, 0.7), ("HardSigmoid {alpha = 0.2, beta = 0.5}", 3, 1),
            ("Elu {alpha = 1.0}", -1, -0.63212055), ("Softplus", 0, 0.6931472), ("Softsign", 3, 0.75),
            ("Swish", 1, 0.7310586), ("LeakyRelu {alpha = 0.1}", -2, -0.2), ("Clip {min = 0.0, max = 6.0}", 7, 6),
            ("Gelu {approximate = false}", 1, 0.8413447), ("Gelu {approximate = true}", 1, 0.8411920),
            ("Selu", -1, -1.1113307),
        ]
        for (op, x, expected) in cases {
            let parts = op.split(separator: " ", maxSplits: 1)
            let text =
                "graph @g {\n  input %x : f32[N]\n  %y = \(parts[0])(%x) \(parts.count > 1 ? String(parts[1]) : "") : f32[N]\n  output %y\n}"
            let y = try run(text, ["x": Tensor(shape: [1], floats: [x])])["y"]!.floats[0]
            XCTAssertEqual(y, expected, accuracy: 1e-6, op)
        }
    }

    func testRejectsWrongInputs() throws {
        let text = "graph @g {\n  input %x : f32[N,2]\n  %y = Relu(%x) : f32[N,2]\n  output %y\n}"
        XCTAssertThrowsError(try run(text, ["x": Tensor(shape: [1, 3], floats: [1, 2, 3])])) { error in
            XCTAssertTrue("\(error)".contains("must be f32[N,2]"), "\(error)")
        }
        XCTAssertThrowsError(try run(text, [:])) { error in XCTAssertTrue("\(error)".contains("no value given for input 'x'")) }
    }
}
