import KilnIR
import XCTest

final class VerifierTests: XCTestCase {
    private func verifying(_ text: String) throws {
        try TextParser.parse(text).verify()
    }

    private func assertRejects(_ body: String, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = "graph @g {\n  input %x : f32[N,4]\n  const %w : f32[4,3] = [1,2,3,4,5,6,7,8,9,10,11,12]\n\(body)\n}\n"
        XCTAssertThrowsError(try verifying(text), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(message), "\(error) should contain \(message)", file: file, line: line)
        }
    }

    func testAcceptsAWellFormedGraph() throws {
        try verifying("graph @g {\n  input %x : f32[N,4]\n  %y = Relu(%x) : f32[N,4]\n  output %y\n}")
    }

    func testChecksFusedEpilogues() throws {
        try verifying(
            "graph @g {\n  input %x : f32[N,4]\n  const %w : f32[4,3] = [1,2,3,4,5,6,7,8,9,10,11,12]\n  %y = Gemm(%x, %w) {transB = false, epilogue = Relu} : f32[N,3]\n  output %y\n}"
        )
        assertRejects(
            "  %y = Gemm(%x, %w) {transB = false, epilogue = Relu} : f32[N,4]\n  output %y",
            "declared f32[N,4] but the op produces f32[N,3]")
        // Built in code, an epilogue on an op that takes none is a type error, not a crash.
        let graph = Graph(
            name: "g", inputs: [Value("x", TensorType(.float32, Shape([.symbolic("N"), 4])))],
            nodes: [
                Node(
                    name: "y", op: .fused(.binary(.add), epilogue: .relu), inputs: ["x", "x"],
                    outputs: [Value("y", TensorType(.float32, Shape([.symbolic("N"), 4])))])
            ],
            outputs: ["y"])
        XCTAssertThrowsError(try graph.verify()) { error in
            XCTAssertTrue("\(error)".contains("Add cannot take an epilogue"), "\(error)")
        }
    }

    func testRejectsDoubleDefinition() {
        assertRejects("  %y = Relu(%x) : f32[N,4]\n  %y = Tanh(%x) : f32[N,4]\n  output %y", "%y is defined more than once")
        assertRejects("  %x = Relu(%x) : f32[N,4]\n  output %x", "%x is defined more than once")
    }

    func testRejectsUseBeforeDefinition() {
        assertRejects("  %z = Relu(%y) : f32[N,4]\n  %y = Relu(%x) : f32[N,4]\n  output %z", "uses %y before it is defined")
        assertRejects("  %z = Relu(%nowhere) : f32[N,4]\n  output %z", "uses %nowhere")
    }

    func testRejectsWrongDeclaredType() {
        assertRejects("  %y = MatMul(%x, %w) : f32[N,4]\n  output %y", "declared f32[N,4] but the op produces f32[N,3]")
        assertRejects("  %y = Relu(%x) : f32[4,4]\n  output %y", "declared f32[4,4] but the op produces f32[N,4]")
    }

    func testRejectsOpsThatCannotAcceptTheirInputs() {
        assertRejects("  %y = MatMul(%w, %x) : f32[4,4]\n  output %y", "inner dimensions differ")
        assertRejects("  %y = Add(%x, %w) : f32[N,4]\n  output %y", "do not broadcast")
        assertRejects("  %y = Relu(%x, %w) : f32[N,4]\n  output %y", "takes 1 inputs, got 2")
        assertRejects("  %y = Transpose(%x) {perm = [0, 0]} : f32[N,N]\n  output %y", "is not a permutation")
        assertRejects("  %y = Softmax(%x) {axis = 2} : f32[N,4]\n  output %y", "axis 2 out of range")
        assertRejects("  %y = Reshape(%x) {shape = [5, -1]} : f32[5,N]\n  output %y", "cannot reshape [N,4] to [5, -1]")
        assertRejects("  %y = Reshape(%x) {shape = [2, -1]} : f32[2,N]\n  output %y", "cannot infer the -1")
    }

    func testRecurrentOpsTypeTheirResultsAndRejectMisshapenWeights() throws {
        let x = TensorType(.float32, ["N", "T", 3])
        let lstm = Op.recurrent(
            Recurrence(
                cell: .lstm, direction: .bidirectional, hiddenSize: 2, activations: [.sigmoid, .tanh, .tanh] + [.sigmoid, .tanh, .tanh]))
        let weights = [TensorType(.float32, [2, 8, 3]), TensorType(.float32, [2, 8, 2]), TensorType(.float32, [2, 16])]
        let state = TensorType(.float32, ["N", 2, 2])
        XCTAssertEqual(try lstm.inferTypes([x] + weights + [state, state]), [TensorType(.float32, ["N", "T", 2, 2]), state, state])
        XCTAssertThrowsError(try lstm.inferTypes([x, weights[1], weights[1], weights[2]])) { error in
            XCTAssertTrue("\(error)".contains("W must be [2,8,3], got f32[2,8,2]"), "\(error)")
        }
        let gru = Op.recurrent(
            Recurrence(cell: .gru(linearBeforeReset: false), direction: .forward, hiddenSize: 2, activations: [.sigmoid]))
        XCTAssertThrowsError(try gru.inferTypes([x, weights[0], weights[1], weights[2]])) { error in
            XCTAssertTrue("\(error)".contains("needs 2 activations (2 per direction), got 1"), "\(error)")
        }
        let rnn = Op.recurrent(Recurrence(cell: .rnn, direction: .forward, hiddenSize: 2, activations: [.tanh]))
        let rnnWeights = [TensorType(.float32, [1, 2, 3]), TensorType(.float32, [1, 2, 2]), TensorType(.float32, [1, 4])]
        XCTAssertThrowsError(try rnn.inferTypes([x] + rnnWeights + [state])) { error in
            XCTAssertTrue("\(error)".contains("initial_h must be [N,1,2]"), "\(error)")
        }
        XCTAssertThrowsError(try rnn.inferTypes([x] + rnnWeights + [state, state]), "RNN has no initial_c") { error in
            XCTAssertTrue("\(error)".contains("takes 4 to 5 inputs, got 6"), "\(error)")
        }
        XCTAssertThrowsError(try rnn.inferTypes([TensorType(.float32, ["N", "T", "C"])] + rnnWeights)) { error in
            XCTAssertTrue("\(error)".contains("known input size"), "\(error)")
        }
        assertRejects(
            "  %y, %h = RNN(%x, %w, %w, %w) {hiddenSize = 2, direction = sideways} : f32[N,4], f32[N,4]\n  output %y",
            "forward, reverse or bidirectional")
    }

    func testAttentionTypesItsResultsAndRejectsMismatchedOperands() throws {
        let query = TensorType(.float32, ["N", "T", 2, 4]), key = TensorType(.float32, ["N", "S", 2, 4])
        let value = TensorType(.float32, ["N", "S", 2, 3])
        let plain = Op.attention(Attention(scale: 0.5))
        XCTAssertEqual(try plain.inferTypes([query, key, value]), [TensorType(.float32, ["N", "T", 2, 3])])
        let scored = Op.attention(Attention(scale: 0.5, causal: true, returnsScores: true))
        let mask = TensorType(.bool, [1, "T", "S"])
        XCTAssertEqual(
            try scored.inferTypes([query, key, value, mask]),
            [TensorType(.float32, ["N", "T", 2, 3]), TensorType(.float32, ["N", 2, "T", "S"])])
        let cases: [([TensorType], String)] = [
            ([query, TensorType(.float32, ["N", "S", 2, 3]), value], "must have the depth of query"),
            ([query, key, TensorType(.float32, ["N", "T", 2, 3])], "must have the length of key"),
            ([query, key, TensorType(.float32, ["N", "S", 3, 3])], "the same batch and heads"),
            ([TensorType(.float32, ["N", "T", 8]), key, value], "query must be [batch, seq, heads, depth]"),
            ([query, key, value, TensorType(.float32, ["N", 2, "T", "S"])], "the mask must be bool or f32 [batch, Tq, Tk]"),
            ([query, key, value, TensorType(.int32, ["N", "T", "S"])], "the mask must be bool or f32"),
            ([query, key, value, TensorType(.bool, ["N", 3, "S"])], "does not broadcast to [N, T, S]"),
            ([query, key, TensorType(.int32, ["N", "S", 2, 3])], "needs f32 input"),
        ]
        for (inputs, message) in cases {
            XCTAssertThrowsError(try plain.inferTypes(inputs), message) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        let additive = Op.attention(Attention(scale: 1, score: .additive))
        XCTAssertEqual(
            try additive.inferTypes([query, key, value, TensorType(.float32, [4]), mask]), [TensorType(.float32, ["N", "T", 2, 3])])
        XCTAssertThrowsError(try additive.inferTypes([query, key, value, TensorType(.float32, [3])])) { error in
            XCTAssertTrue("\(error)".contains("the additive weights must be [4]"), "\(error)")
        }
        XCTAssertThrowsError(try Op.attention(Attention(scale: .infinity)).inferTypes([query, key, value])) { error in
            XCTAssertTrue("\(error)".contains("scale must be finite"), "\(error)")
        }
        assertRejects(
            "  %y = Attention(%x, %x, %x) {scale = 1.0, fullyMaskedRows = none} : f32[N,4]\n  output %y", "uniform, zero or ones")
    }

    func testSliceFollowsONNXClampingAndRejectsWhatItCannotType() throws {
        let x = TensorType(.float32, [.symbolic("N"), 8, 5])
        func sliced(_ axes: [Int], _ starts: [Int], _ ends: [Int], _ steps: [Int]) throws -> TensorType {
            try Op.slice(axes: axes, starts: starts, ends: ends, steps: steps).inferTypes([x])[0]
        }
        XCTAssertEqual(try sliced([1], [1], [7], [2]), TensorType(.float32, ["N", 3, 5]))
        XCTAssertEqual(try sliced([1, 2], [-100, -1], [100, Int.min], [1, -1]), TensorType(.float32, ["N", 8, 5]))
        XCTAssertEqual(try sliced([-2], [100], [-100], [-3]), TensorType(.float32, ["N", 3, 5]), "starts beyond the end clamp to size - 1")
        // ONNX clamps a start before the beginning to 0 also for a negative step (Python would take nothing).
        XCTAssertEqual(SliceRange(start: -20, end: -20, step: -1, size: 8), SliceRange(start: 0, end: -9, step: -1, size: 8))
        XCTAssertEqual(SliceRange(start: -20, end: -20, step: -1, size: 8).count, 1)
        XCTAssertEqual(SliceRange(start: 7, end: Int.min, step: Int.min, size: 8).count, 1)
        assertRejects("  %y = Slice(%x) {axes = [0], starts = [0], ends = [1], steps = [1]} : f32[1,4]\n  output %y", "symbolic dimension")
        assertRejects("  %y = Slice(%x) {axes = [1], starts = [3], ends = [1], steps = [1]} : f32[N,0]\n  output %y", "keeps no element")
        assertRejects("  %y = Slice(%x) {axes = [1], starts = [0], ends = [1], steps = [0]} : f32[N,1]\n  output %y", "step of axis 1 is 0")
        assertRejects(
            "  %y = Slice(%x) {axes = [1, -1], starts = [0, 0], ends = [1, 1], steps = [1, 1]} : f32[N,1]\n  output %y", "named twice")
        assertRejects(
            "  %y = Slice(%x) {axes = [1], starts = [0], ends = [], steps = [1]} : f32[N,1]\n  output %y",
            "one start, end and step per axis")
    }

    func testComparisonsGiveBoolsOfOperandsOfOneType() throws {
        XCTAssertEqual(
            try Op.compare(.less).inferTypes([TensorType(.int32, [.symbolic("N"), 5]), TensorType(.int32, [])]),
            [TensorType(.bool, ["N", 5])])
        assertRejects("  %y = Greater(%x, %w) : bool[N,4]\n  output %y", "do not broadcast")
        XCTAssertThrowsError(try Op.compare(.equal).inferTypes([TensorType(.int32, [2]), TensorType(.float32, [2])])) { error in
            XCTAssertTrue("\(error)".contains("element types differ"), "\(error)")
        }
    }

    func testRejectsMissingAndUndefinedOutputs() {
        assertRejects("  %y = Relu(%x) : f32[N,4]", "has no outputs")
        assertRejects("  %y = Relu(%x) : f32[N,4]\n  output %q", "output %q")
    }

    func testShapeInferenceWithSymbolicBatch() throws {
        let input = TensorType(.float32, [.symbolic("N"), 28, 28])
        XCTAssertEqual(try Op.flatten(axis: 1).inferTypes([input]), [TensorType(.float32, ["N", 784])])
        XCTAssertEqual(try Op.reshape(shape: [-1, 784]).inferTypes([input]), [TensorType(.float32, ["N", 784])])
        XCTAssertEqual(try Op.reshape(shape: [0, 14, 56]).inferTypes([input]), [TensorType(.float32, ["N", 14, 56])])
        XCTAssertEqual(
            try Op.matMul.inferTypes([input, TensorType(.float32, [28, 5])]), [TensorType(.float32, ["N", 28, 5])])
    }
}
