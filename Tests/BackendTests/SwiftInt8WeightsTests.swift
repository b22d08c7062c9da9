import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import SwiftBackend
import XCTest

/// Int8 weights in the generated Swift: the weights file holds them as int8 (a quarter of the float bytes),
/// the executor widens them when it loads, and with `KILN_FMA` one-row products read the int8 panels
/// directly. Every product kind that takes a quantized kernel, per channel and per tensor, must compute
/// what the interpreter computes on the quantized graph, with `-O` and (where the host has FMA) with the
/// host-tuned flags; batches of 1, 3 and 32 take the one-row and the tiled paths. Static quantization
/// (quantized inputs) takes the integer path.
final class SwiftInt8WeightsTests: XCTestCase {
    static let k = 37

    /// Dense layers (21 columns: a partial panel; 40 transposed: three panels, the last alone), a rank-3
    /// MatMul, an im2col convolution (3x3x16 window) and a direct one (3x3x3 window), each with a bias.
    static func floatModel() throws -> Graph {
        var g = SwiftTestGraph(name: "int8_weights")
        let x = g.input("x", [k])
        let x3 = g.input("x3", [4, k])
        let image = g.input("image", [6, 6, 3])
        let dense = try g.node(
            "dense", .gemm(transB: false), [x, g.constant("dense.w", [k, 21], scale: 0.3), g.constant("dense.b", [21], scale: 0.3)])
        g.output(try g.node("dense.relu", .activation(.relu), [dense]))
        g.output(
            try g.node(
                "transposed", .gemm(transB: true), [x, g.constant("t.w", [40, k], scale: 0.3), g.constant("t.b", [40], scale: 0.3)]))
        g.output(try g.node("rank3", .matMul, [x3, g.constant("m.w", [k, 18], scale: 0.3)]))
        let same = Convolution(strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1])
        let direct = try g.node(
            "direct", .conv(same), [image, g.constant("direct.w", [3, 3, 3, 16], scale: 0.3), g.constant("direct.b", [16], scale: 0.1)])
        g.output(direct)
        g.output(
            try g.node(
                "im2col", .conv(same),
                [direct, g.constant("im2col.w", [3, 3, 16, 12], scale: 0.2), g.constant("im2col.b", [12], scale: 0.1)]))
        return g.graph
    }

    func testInt8WeightsFileIsAQuarterAndEveryProductMatchesTheInterpreter() throws {
        let float = try Self.floatModel()
        let floatBytes = try SwiftEmitter().emit(float).weights.count
        var failures: [String] = []
        let calibration = try Inputs.random(for: float, batchSize: 16, seed: 99)
        let modes = [("dynamic", true), ("dynamic", false), ("static", true)]
        var graphs: [Graph] = []
        for (mode, perChannel) in modes {
            let quantized = try Quantizer(mode: mode, perChannel: perChannel).quantize(float, calibration: calibration)
            let emission = try SwiftEmitter().emit(quantized)
            // Biases stay f32 and the scales add a little, so a bit over a quarter of the float file.
            let ratio = Double(emission.weights.count) / Double(floatBytes)
            XCTAssertLessThan(ratio, 0.4, "\(mode), per channel \(perChannel): \(emission.weights.count) bytes against \(floatBytes)")
            XCTAssertTrue(emission.source.contains("kilnWidenPanels("))
            XCTAssertTrue(
                emission.source.contains("kilnWiden(UnsafeRawPointer"), "the direct convolution's kernel is widened in its own layout")
            // One-row products: int8 weights widened in registers, or integer products for quantized inputs.
            XCTAssertTrue(emission.source.contains(mode == "static" ? "kilnGemvInt32(" : "kilnGemvInt8("), mode)
            graphs.append(quantized)
        }
        let tuned = SwiftToolchain.hostTunedFlags()
        for flags in tuned.contains("KILN_FMA") ? [["-O"], tuned] : [["-O"]] {
            // The three quantized graphs compiled together, by one swiftc.
            let executors = try CompiledSwiftModels(graphs: graphs, flags: flags)
            defer { executors.remove() }
            for ((mode, perChannel), (quantized, compiled)) in zip(modes, zip(graphs, executors.models)) {
                let compiled = try compiled.get()
                for batch in [1, 3, 32] {
                    let inputs = try Inputs.random(for: quantized, batchSize: batch, seed: UInt64(200 + batch))
                    failures += swiftOutputFailures(
                        actual: try compiled.run(inputs), expected: try Interpreter().run(quantized, inputs: inputs),
                        context: "\(mode), per channel \(perChannel), \(flags.joined(separator: " ")), batch \(batch):")
                }
            }
        }
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
    }

    /// Dequantized constants the executor cannot hold as int8 (a nonzero zero point) are stored as floats,
    /// and still computed as the interpreter computes them.
    func testWeightsWithZeroPointsStayFloat() throws {
        var g = SwiftTestGraph(name: "zero_points")
        let x = g.input("x", [4])
        let q = g.constant("w.q", Tensor(shape: [4, 3], storage: .int8([-128, -3, 0, 5, 9, 127, -70, 1, 2, 3, 4, 5])))
        let scale = g.constant("w.scale", Tensor(shape: [3], floats: [0.5, 0.25, 0.125]))
        let zero = g.constant("w.zero", Tensor(shape: [3], storage: .int8([1, 0, -2])))
        let w = try g.node("w", .dequantizeLinear(axis: 1), [q, scale, zero])
        g.output(try g.node("y", .gemm(transB: false), [x, w]))
        let emission = try SwiftEmitter().emit(g.graph)
        XCTAssertFalse(emission.source.contains("kilnWiden"))
        let compiled = try CompiledSwiftModel(graph: g.graph)
        defer { compiled.remove() }
        let inputs = try Inputs.random(for: g.graph, batchSize: 2)
        XCTAssertEqual(
            swiftOutputFailures(actual: try compiled.run(inputs), expected: try Interpreter().run(g.graph, inputs: inputs), context: ""), []
        )
    }

    /// QuantizeLinear's eight-at-a-time path (one scale) rounds half to even and saturates as the
    /// interpreter does: ties, values past the type's range and past 2^22, NaN (which quantizes to the
    /// zero point).
    func testQuantizeRoundsHalfToEvenAndSaturatesLikeTheInterpreter() throws {
        let graph = try TextParser.parse(
            """
            graph @ties {
              input %x : f32[N,16]
              const %s : f32[] = [0.5]
              const %z : u8[] = [10]
              const %zi : i8[] = [-3]
              %q = QuantizeLinear(%x, %s, %z) {axis = 1} : u8[N,16]
              %d = DequantizeLinear(%q, %s, %z) {axis = 1} : f32[N,16]
              %qi = QuantizeLinear(%x, %s, %zi) {axis = 1} : i8[N,16]
              %di = DequantizeLinear(%qi, %s, %zi) {axis = 1} : f32[N,16]
              output %d, %di
            }
            """)
        let values: [Float] = [1.25, 0.75, -0.25, 0.25, -1.25, 2.75, -9, 200, 1e9, -1e9, 3e6, -3e6, .nan, 60.25, -62.75, 0]
        let inputs = ["x": Tensor(shape: [2, 16], floats: values + values.map { -$0 })]
        let expected = try Interpreter().run(graph, inputs: inputs)
        // x / 0.5 + 10 (u8): 1.25 -> 2.5 -> 2 -> 12; 0.75 -> 1.5 -> 2 -> 12; -0.25 -> -0.5 -> -0 -> 10.
        XCTAssertEqual(Array(expected["d"]!.floats[0..<7]), [1, 1, 0, 0, -1, 3, -5])
        let compiled = try CompiledSwiftModel(graph: graph)
        defer { compiled.remove() }
        let actual = try compiled.run(inputs)
        for name in ["d", "di"] {
            XCTAssertEqual(actual[name]!.floats, expected[name]!.floats, name)
        }
    }
}
