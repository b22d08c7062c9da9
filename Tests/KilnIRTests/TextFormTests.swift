import KilnIR
import XCTest

final class TextFormTests: XCTestCase {
    let mlp = """
        graph @mlp {
          meta "source" = "hand \\"written\\""
          input %input : f32[N,2,3]
          const %dense.kernel : f32[6,4] = [1.0, -2.5, 0.125, 3.0, 1e-07, -0.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0, 18.0, 19.0, 20.0, 21.0]
          const %dense.bias : f32[4] = [0.5, -1.0, 0.25, 0.0]
          const %shape : i64[2] = [-1, 4]
          %flatten = Flatten(%input) {axis = 1} : f32[N,6]
          %dense.gemm = Gemm(%flatten, %dense.kernel, %dense.bias) {transB = false} : f32[N,4] loc("dense")
          %dense = LeakyRelu(%dense.gemm) {alpha = 0.2} : f32[N,4]
          %probs = Softmax(%dense) {axis = -1} : f32[N,4]
          %t = Transpose(%probs) {perm = [1, 0]} : f32[4,N]
          %h = HardSigmoid(%t) {alpha = 0.16666667, beta = 0.5} : f32[4,N]
          output %probs, %h
        }

        """

    func testRoundTripIsExact() throws {
        let graph = try TextParser.parse(mlp)
        try graph.verify()
        let printed = TextPrinter(inlineLimit: 100).print(graph)
        XCTAssertEqual(printed, mlp)
        XCTAssertEqual(try TextParser.parse(printed), graph)
        XCTAssertEqual(graph.nodes[1].name, "dense")
        XCTAssertEqual(graph.metadata["source"], "hand \"written\"")
    }

    func testEveryOpRoundTrips() throws {
        let ops: [Op] = [
            .identity, .binary(.add), .binary(.sub), .binary(.mul), .binary(.div), .matMul, .gemm(transB: true), .softmax(axis: 1),
            .flatten(axis: 2),
            .reshape(shape: [0, -1]), .transpose(perm: [2, 0, 1]), .cast(to: .int64),
            .activation(.relu), .activation(.sigmoid), .activation(.tanh), .activation(.exp), .activation(.softplus),
            .activation(.softsign), .activation(.elu(alpha: 0.5)),
            .activation(.selu(alpha: Activation.seluAlpha, gamma: Activation.seluGamma)),
            .activation(.gelu(approximate: true)), .activation(.gelu(approximate: false)), .activation(.swish),
            .activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)), .activation(.leakyRelu(alpha: 0.3)),
            .activation(.clip(min: 0, max: 6)), .activation(.sqrt), .activation(.thresholdedRelu(theta: 0.5)), .binary(.max), .binary(.min),
            .conv(Convolution(strides: [1, 2], dilations: [1, 1], pads: [0, 1, 0, 1], groups: 2)),
            .pool(Pooling(kind: .max, window: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0])),
            .pool(Pooling(kind: .average, window: [3], strides: [1], pads: [1, 1])),
            .reduce(.mean, axes: [1, 2], keepDims: false), .reduce(.max, axes: [1], keepDims: true),
            .reduce(.min, axes: [-1], keepDims: false), .reduce(.sum, axes: [0], keepDims: true),
            .batchNorm(epsilon: 0.001, axis: -1), .concat(axis: 3), .pad(pads: [0, 1, 0, 2], value: 0.5), .crop(pads: [0, 1, 0, 2]),
            .convTranspose(Convolution(strides: [2], dilations: [1], pads: [1, -1])), .upsample(factors: [2, 3], mode: .linear),
            .upsample(factors: [1, 2, 2], mode: .nearest),
            .quantizeLinear(axis: 1), .dequantizeLinear(axis: 0), .gather(axis: 1),
            .layerNorm(axis: -2, epsilon: 1e-5), .binary(.pow), .activation(.log), .activation(.abs), .activation(.neg), .activation(.erf),
            .activation(.reciprocal), .compare(.equal), .compare(.notEqual), .compare(.greater), .compare(.greaterOrEqual), .compare(.less),
            .compare(.lessOrEqual), .slice(axes: [1, -1], starts: [0, -1], ends: [3, Int.min], steps: [2, -1]),
            .recurrent(Recurrence(cell: .rnn, direction: .reverse, hiddenSize: 3, activations: [.relu])),
            .recurrent(
                Recurrence(cell: .gru(linearBeforeReset: true), direction: .forward, hiddenSize: 2, activations: [.sigmoid, .tanh])),
            .recurrent(
                Recurrence(
                    cell: .lstm, direction: .bidirectional, hiddenSize: 4,
                    activations: [.hardSigmoid(alpha: 0.2, beta: 0.5), .tanh, .tanh, .sigmoid, .softsign, .tanh])),
            .attention(Attention(scale: 0.5)), .attention(Attention(scale: 2, score: .additive, causal: true)),
            .attention(Attention(scale: 0.25, causal: true, fullyMaskedRows: .zero, returnsScores: true)),
            .fused(.gemm(transB: true), epilogue: .leakyRelu(alpha: 0.2)), .fused(.matMul, epilogue: .gelu(approximate: true)),
            .fused(.conv(Convolution(strides: [1], dilations: [2], pads: [1, 1])), epilogue: .clip(min: 0, max: 6)),
            .fused(.convTranspose(Convolution(strides: [2], dilations: [1], pads: [0, 0])), epilogue: .relu),
        ]
        for op in ops {
            let attributes = Dictionary(uniqueKeysWithValues: op.attributes.map { ($0.name, $0.value) })
            XCTAssertEqual(try Op(name: op.name, attributes: attributes), op, "\(op.name)")
        }
        XCTAssertEqual(Set(ops.map(\.name)), Set(Op.allNames))
    }

    func testLargeConstantsPrintByHashAndResolveFromWeights() throws {
        let kernel = Tensor(shape: [6, 4], floats: (0..<24).map { Float($0) * 0.25 - 1 })
        var graph = try TextParser.parse(mlp)
        graph.constants[0].tensor = kernel
        let text = graph.text
        XCTAssertTrue(text.contains("const %dense.kernel : f32[6,4] = blob \"sha256:\(kernel.contentHash)\""))
        XCTAssertThrowsError(try TextParser.parse(text)) { error in
            XCTAssertTrue("\(error)".contains("weights blob"), "\(error)")
        }
        let weights = try WeightsFile(decoding: WeightsFile(graph: graph).encoded())
        XCTAssertEqual(try TextParser.parse(text, resolveBlob: weights.resolver), graph)
    }

    func testContentHashIsSHA256OfTypeAndBytes() {
        // Hash of "f32" + "2" + NUL + the bytes of [1.0, 2.0] (little-endian), from Python's hashlib.
        let tensor = Tensor(shape: [2], floats: [1, 2])
        XCTAssertEqual(tensor.contentHash.count, 64)
        XCTAssertNotEqual(tensor.contentHash, Tensor(shape: [2], storage: .int32([1065353216, 1073741824])).contentHash)
        XCTAssertNotEqual(tensor.contentHash, Tensor(shape: [1, 2], floats: [1, 2]).contentHash)
    }

    func testParseErrorsPointAtTheProblem() {
        let cases: [(String, String)] = [
            ("graph @g {\n  input %x : f99[N]\n}", "2:14: unknown element type 'f99'"),
            ("graph @g {\n  input %x : f32[N]\n  %y = Frobnicate(%x) : f32[N]\n  output %y\n}", "3:8: unknown op 'Frobnicate'"),
            (
                "graph @g {\n  input %x : f32[N]\n  %y = Softmax(%x) {axis = true} : f32[N]\n  output %y\n}",
                "Softmax attribute 'axis' must be an integer"
            ),
            ("graph @g {\n  const %c : f32[3] = [1.0, 2.0]\n}", "f32[3] needs 3 elements, found 2"),
            ("graph @g {\n  input %x : f32[N]\n  %y = Relu(%x) {} : f32[N]\n  output %y\n", "5:1: expected '}' to close graph @g"),
            (
                "graph @g {\n  input %x : f32[N,2]\n  %y = Add(%x, %x) {epilogue = Relu} : f32[N,2]\n  output %y\n}",
                "Add has no attribute(s) epilogue"
            ),
            (
                "graph @g {\n  input %x : f32[N,2]\n  %y = MatMul(%x, %x) {epilogue = 1} : f32[N,2]\n  output %y\n}",
                "MatMul attribute 'epilogue' must be an activation"
            ),
            (
                "graph @g {\n  input %x : f32[N,2]\n  %y = MatMul(%x, %x) {epilogue = Frob} : f32[N,2]\n  output %y\n}",
                "unknown attribute value 'Frob'"
            ),
            (
                "graph @g {\n  input %x : f32[N,2]\n  %y = MatMul(%x, %x) {epilogue = LeakyRelu(beta = 1.0)} : f32[N,2]\n  output %y\n}",
                "LeakyRelu has no attribute(s) beta"
            ),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try TextParser.parse(text)) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error) should contain \(message)")
            }
        }
    }
}
