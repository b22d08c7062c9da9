import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import SwiftBackend
import XCTest

/// Every activation fused into a matrix product's epilogue, and the products whose bias or activation
/// cannot be fused, checked against reference loops written out here and against the interpreter. One
/// graph, compiled with `-O` and, where the host has FMA, with `SwiftToolchain.hostTunedFlags()` (the
/// `KILN_FMA` kernels). Batches of 1, 3, 13 and 32 exercise the 6- and 2-row tiles, their remainders and
/// the single-row path; 37 inputs leave a partial k-step, and 21 and 40 outputs partial 16-column panels
/// in pairs and alone.
final class SwiftEpilogueTests: XCTestCase {
    static let activations: [(name: String, activation: Activation)] = [
        ("relu", .relu), ("sigmoid", .sigmoid), ("tanh", .tanh), ("exp", .exp), ("softplus", .softplus),
        ("softsign", .softsign), ("elu", .elu(alpha: 0.7)), ("selu", .selu(alpha: Activation.seluAlpha, gamma: Activation.seluGamma)),
        ("gelu", .gelu(approximate: false)), ("gelu_tanh", .gelu(approximate: true)), ("swish", .swish),
        ("hard_sigmoid", .hardSigmoid(alpha: 0.2, beta: 0.5)), ("leaky_relu", .leakyRelu(alpha: 0.1)),
        ("clip", .clip(min: -0.5, max: 0.75)), ("sqrt", .sqrt), ("thresholded_relu", .thresholdedRelu(theta: 0.2)),
    ]
    static let k = 37, n = 21, wide = 40

    /// The graph, and a function computing its outputs with the reference loops.
    static func model() throws -> (Graph, (_ inputs: [String: Tensor], _ batch: Int) -> [String: Tensor]) {
        var g = SwiftTestGraph(name: "epilogues")
        let x = g.input("x", [k])
        let x3 = g.input("x3", [4, k])
        for (name, activation) in activations {
            // Sqrt's product is kept positive: |x . w| < 37 * 0.1, below every bias.
            let isSqrt = activation == .sqrt
            let w = g.constant("\(name).w", [k, n], scale: isSqrt ? 0.1 : 0.3)
            let b =
                isSqrt
                ? g.constant("\(name).b", Tensor(shape: [n], floats: (0..<n).map { 4 + Float($0) / 10 }))
                : g.constant("\(name).b", [n], scale: 0.3)
            g.output(try g.node(name, .activation(activation), [try g.node("\(name).gemm", .gemm(transB: false), [x, w, b])]))
        }
        // Transposed B with a bias, fused LeakyRelu; 40 columns are three panels, the last one partial.
        let wt = g.constant("t.w", [wide, k], scale: 0.3), bt = g.constant("t.b", [1, wide], scale: 0.3)
        g.output(try g.node("transposed", .activation(.leakyRelu(alpha: 0.2)), [try g.node("t.gemm", .gemm(transB: true), [x, wt, bt])]))
        // A scalar C is added after the product, then the activation runs on its own.
        let scalar = g.constant("s.c", Tensor(shape: [], floats: [0.25]))
        g.output(try g.node("scalar_bias", .activation(.tanh), [try g.node("s.gemm", .gemm(transB: false), [x, "relu.w", scalar])]))
        // A product of two computed values, then Sigmoid.
        let x3t = try g.node("x3t", .transpose(perm: [0, 2, 1]), [x3])
        g.output(try g.node("gram", .activation(.sigmoid), [try g.node("gram.matmul", .matMul, [x3, x3t])]))
        // Rank-3 A times a constant B, fused Gelu.
        let wm = g.constant("m.w", [k, 18], scale: 0.3)
        g.output(try g.node("rank3", .activation(.gelu(approximate: false)), [try g.node("m.matmul", .matMul, [x3, wm])]))
        // A constant of another type cast to f32, broadcast over the rows.
        let offsets = g.constant("offsets", Tensor(shape: [n], storage: .int64((0..<n).map { Int64($0) - 10 })))
        let cast = try g.node("offsets.f32", .cast(to: .float32), [offsets])
        g.output(try g.node("shifted", .binary(.add), ["relu", cast]))
        // A reshape of an output is an alias of it.
        g.output(try g.node("reshaped", .reshape(shape: [0, 3, 7]), ["relu"]))

        let graph = g.graph
        let reference = { (inputs: [String: Tensor], batch: Int) -> [String: Tensor] in
            let xv = inputs["x"]!.floats, x3v = inputs["x3"]!.floats
            var result: [String: Tensor] = [:]
            func dense(_ w: String, _ b: String?, transposed: Bool = false) -> [Float] {
                SwiftReference.dense(xv, rows: batch, k: k, g.floats(w), n: n, bias: b.map(g.floats), transposed: transposed)
            }
            for (name, activation) in activations {
                let z = dense("\(name).w", "\(name).b")
                result[name] = Tensor(shape: [batch, n], floats: z.map { SwiftReference.activate(activation, $0) })
            }
            let transposed = SwiftReference.dense(xv, rows: batch, k: k, g.floats("t.w"), n: wide, bias: g.floats("t.b"), transposed: true)
            result["transposed"] = Tensor(
                shape: [batch, wide], floats: transposed.map { SwiftReference.activate(.leakyRelu(alpha: 0.2), $0) })
            result["scalar_bias"] = Tensor(shape: [batch, n], floats: dense("relu.w", "s.c").map { SwiftReference.activate(.tanh, $0) })
            var gram = [Float](repeating: 0, count: batch * 16)
            for e in 0..<batch {
                for i in 0..<4 {
                    for j in 0..<4 {
                        var sum = 0.0
                        for l in 0..<k { sum += Double(x3v[(e * 4 + i) * k + l]) * Double(x3v[(e * 4 + j) * k + l]) }
                        gram[(e * 4 + i) * 4 + j] = SwiftReference.activate(.sigmoid, Float(sum))
                    }
                }
            }
            result["gram"] = Tensor(shape: [batch, 4, 4], floats: gram)
            let rank3 = SwiftReference.dense(x3v, rows: batch * 4, k: k, g.floats("m.w"), n: 18)
            result["rank3"] = Tensor(shape: [batch, 4, 18], floats: rank3.map { SwiftReference.activate(.gelu(approximate: false), $0) })
            let relu = result["relu"]!.floats
            result["shifted"] = Tensor(shape: [batch, n], floats: relu.indices.map { relu[$0] + Float($0 % n - 10) })
            result["reshaped"] = Tensor(shape: [batch, 3, 7], floats: relu)
            return result
        }
        return (graph, reference)
    }

    func testEveryActivationFusedAndUnfusedProductsMatchReferenceLoops() throws {
        let (unfused, reference) = try Self.model()
        // fuse-activation with the Swift backend's epilogues, as -O2 runs it.
        let graph = try Optimizer.pipeline(passes: ["fuse-activation"]).run(unfused)
        let emission = try SwiftEmitter().emit(graph)
        // Every activation after a product is fused: no standalone pass over a product's output.
        for (name, _) in Self.activations {
            XCTAssertTrue(emission.source.contains("= Gemm(%x, %\(name).w, %\(name).b) with "), "\(name) is not fused")
        }
        var failures: [String] = []
        let tuned = SwiftToolchain.hostTunedFlags()
        for flags in tuned.contains("KILN_FMA") ? [["-O"], tuned] : [["-O"]] {
            let compiled = try CompiledSwiftModel(graph: graph, flags: flags)
            defer { compiled.remove() }
            for batch in [1, 3, 13, 32] {
                let inputs = try Inputs.random(for: graph, batchSize: batch, seed: UInt64(100 + batch))
                let actual = try compiled.run(inputs)
                let context = "\(flags.joined(separator: " ")) batch \(batch)"
                failures += swiftOutputFailures(actual: actual, expected: reference(inputs, batch), context: "\(context) vs loops:")
                failures += swiftOutputFailures(
                    actual: actual, expected: try Interpreter().run(graph, inputs: inputs), context: "\(context) vs interpreter:")
            }
        }
        XCTAssertEqual(failures, [], failures.joined(separator: "\n"))
    }
}
