import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnPasses
import KilnTestSupport
import XCTest

/// The quantize pass with the options the `// RUN:` pass cases cannot give it (calibrated activation ranges,
/// per-tensor scales, 7-bit weights, int8 activations, excluded layers), on small hand-written graphs whose
/// rewritten IR is the golden `testdata/goldens/quantize-static.kir`. Each case is also run in the
/// interpreter, which must accept what the pass wrote.
final class QuantizeGoldenTests: XCTestCase {
    struct Case {
        var comment: String
        var pass: Quantize
        var source: String
    }

    static let cases: [Case] = [
        Case(
            comment: "static, per channel: x calibrated to [-1, 3] maps onto u8 with scale 4/255 and zero point 64 (63.75 rounded)",
            pass: Quantize(ranges: ["x": -1...3]),
            source: """
                graph @g {
                  input %x : f32[N,2]
                  const %w : f32[2,3] = [127.0, -127.0, 64.0, 3.0, 5.0, -127.0]
                  const %b : f32[3] = [0.5, 0.0, -0.5]
                  %y = Gemm(%x, %w, %b) {transB = false} : f32[N,3] loc("dense")
                  output %y
                }
                """),
        Case(
            comment:
                "per tensor, 7-bit: one scale for the kernel, its largest magnitude over 63; ties round half to even (0.5 -> 0, 1.5 -> 2)",
            pass: Quantize(perChannel: false, reduceRange: true),
            source: """
                graph @g {
                  input %x : f32[N,2]
                  const %w : f32[2,2] = [63.0, 0.5, 1.5, -2.5]
                  %y = MatMul(%x, %w) : f32[N,2] loc("dense")
                  output %y
                }
                """),
        Case(
            comment: "int8 activations: two layers reading %h share one QuantizeLinear/DequantizeLinear pair; the excluded layer stays f32",
            pass: Quantize(ranges: ["x": -2...2, "h": 0...6], activationType: .int8, excluded: ["head_c"]),
            source: """
                graph @g {
                  input %x : f32[N,2]
                  const %w : f32[2,2] = [1.0, -2.0, 0.5, 2.0]
                  const %wa : f32[2,1] = [1.0, -1.0]
                  const %wb : f32[2,1] = [0.25, 0.5]
                  const %wc : f32[2,1] = [3.0, 1.0]
                  %h0 = Gemm(%x, %w) {transB = false} : f32[N,2] loc("hidden")
                  %h = Relu(%h0) : f32[N,2]
                  %a = Gemm(%h, %wa) {transB = false} : f32[N,1] loc("head_a")
                  %b = Gemm(%h, %wb) {transB = false} : f32[N,1] loc("head_b")
                  %c = Gemm(%h, %wc) {transB = false} : f32[N,1] loc("head_c")
                  output %a, %b, %c
                }
                """),
        Case(
            comment: "a Conv: per output channel along the kernel's last axis; the input's range widens to hold 0 ([0.5, 2] -> [0, 2])",
            pass: Quantize(ranges: ["x": 0.5...2]),
            source: """
                graph @g {
                  input %x : f32[N,2,2,1]
                  const %k : f32[1,1,1,2] = [-0.5, 2.0]
                  %y = Conv(%x, %k) {strides = [1, 1], dilations = [1, 1], pads = [0, 0, 0, 0], groups = 1} : f32[N,2,2,2] loc("conv")
                  output %y
                }
                """),
    ]

    func testQuantizeCasesMatchTheGolden() throws {
        var rendered: [String] = []
        for (index, testCase) in Self.cases.enumerated() {
            let graph = try TextParser.parse(testCase.source)
            let quantized = try testCase.pass.run(on: graph)
            try quantized.verify()
            _ = try Interpreter().run(quantized, inputs: try Inputs.random(for: quantized, batchSize: 2, seed: UInt64(index + 1)))
            rendered.append("// \(testCase.comment)\n" + TextPrinter(inlineLimit: .max).print(quantized))
        }
        if let failure = Golden.check(rendered.joined(separator: "\n// -----\n"), against: "quantize-static.kir") { XCTFail(failure) }
    }
}
