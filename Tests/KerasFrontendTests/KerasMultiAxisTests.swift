import Foundation
import KilnIR
import KilnInterpreter
import XCTest

@testable import KerasFrontend

/// Softmax and BatchNormalization over several axes, and LayerNormalization as the IR's LayerNorm where it
/// can be one; numbers against the formulas computed here in Double (the fixtures check them against Keras).
final class KerasMultiAxisTests: XCTestCase {
    private let x = Tensor(shape: [2, 3, 2, 4], floats: (0..<48).map { Float(($0 * 37) % 23) * 0.25 - 2 })

    private func run(_ graph: Graph, _ output: String) throws -> [Float] {
        try XCTUnwrap(try Interpreter().run(graph, inputs: ["x": x])[output]).floats
    }

    private func assertClose(_ actual: [Float], _ expected: [Double], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertLessThanOrEqual(abs(Double(a) - e), 1e-6 + 1e-5 * abs(e), "\(a) vs \(e)", file: file, line: line)
        }
    }

    /// The flat index of [n, i, j, k] in x.
    private func index(_ n: Int, _ i: Int, _ j: Int, _ k: Int) -> Int { ((n * 3 + i) * 2 + j) * 4 + k }

    func testSoftmaxOverSeveralAxesSumsToOneOverThem() throws {
        var model = ModelConfigBuilder()
        model.input("x", [3, 2, 4])
        model.layer("Softmax", "sm", ["axis": [1, -1]], on: ["x"])
        model.outputs = ["sm"]
        let graph = try model.lower()
        XCTAssertEqual(
            graph.nodes.map(\.op),
            [
                .reduce(.max, axes: [1, 3], keepDims: true), .binary(.sub), .activation(.exp), .reduce(.sum, axes: [1, 3], keepDims: true),
                .binary(.div),
            ])
        var expected = [Double](repeating: 0, count: 48)
        for n in 0..<2 {
            for j in 0..<2 {
                let positions = (0..<3).flatMap { i in (0..<4).map { k in index(n, i, j, k) } }
                let sum = positions.map { exp(Double(x.floats[$0])) }.reduce(0, +)
                for p in positions { expected[p] = exp(Double(x.floats[p])) / sum }
            }
        }
        assertClose(try run(graph, "sm"), expected)

        var repeated = ModelConfigBuilder()
        repeated.input("x", [3, 2, 4])
        repeated.layer("Softmax", "sm", ["axis": [1, 1]], on: ["x"])
        repeated.outputs = ["sm"]
        assertMentions(loweringError(repeated), ["layer 'sm'", "Softmax", "distinct axes"])
    }

    func testBatchNormalizationOverSeveralAxes() throws {
        // Keras 2 stores the parameters of BatchNormalization(axis=[1, 3]) full rank: [1, 3, 1, 4].
        let shape = [1, 3, 1, 4]
        let gamma = (0..<12).map { 0.5 + Float($0) * 0.1 }, beta = (0..<12).map { Float($0) * 0.05 - 0.3 }
        let mean = (0..<12).map { Float($0 % 5) * 0.2 - 0.4 }, variance = (0..<12).map { 0.5 + Float($0 % 7) * 0.25 }
        var model = ModelConfigBuilder(.keras2)
        model.input("x", [3, 2, 4])
        model.layer("BatchNormalization", "bn", ["axis": [1, 3], "epsilon": 0.01], on: ["x"])
        model.outputs = ["bn"]
        model.setWeights("bn", [gamma, beta, mean, variance].map { Tensor(shape: shape, floats: $0) })
        let graph = try model.lower(version: "2.20.1")
        XCTAssertEqual(graph.nodes.map(\.op), [.binary(.mul), .binary(.add)])
        XCTAssertEqual(graph.constants.map(\.tensor.shape), [shape, shape])
        var expected = [Double](repeating: 0, count: 48)
        for n in 0..<2 {
            for i in 0..<3 {
                for j in 0..<2 {
                    for k in 0..<4 {
                        let c = i * 4 + k, p = index(n, i, j, k)
                        let normalized = (Double(x.floats[p]) - Double(mean[c])) / (Double(variance[c]) + 0.01).squareRoot()
                        expected[p] = normalized * Double(gamma[c]) + Double(beta[c])
                    }
                }
            }
        }
        assertClose(try run(graph, "bn"), expected)

        var unknown = model
        unknown.setWeights("bn", [gamma, beta, mean].map { Tensor(shape: shape, floats: $0) })
        assertMentions(loweringError(unknown, version: "2.20.1"), ["layer 'bn'", "gamma/beta/mean/variance of [1, 3, 1, 4]"])
    }

    func testLayerNormalizationIsLayerNormOverTrailingAxes() throws {
        func lowered(_ config: [String: Any], weights: [[Int]]) throws -> Graph {
            var model = ModelConfigBuilder()
            model.input("x", [3, 2, 4])
            model.layer("LayerNormalization", "ln", config, on: ["x"])
            model.outputs = ["ln"]
            model.setWeights("ln", weights.map { Tensor(shape: $0, floats: (0..<$0.reduce(1, *)).map { 0.5 + Float($0) * 0.1 }) })
            return try model.lower()
        }
        XCTAssertEqual(try lowered(["axis": -1], weights: [[4], [4]]).nodes.map(\.op), [.layerNorm(axis: 3, epsilon: 0.001)])
        let twoAxes = try lowered(["axis": [2, 3], "epsilon": 1e-5, "center": false], weights: [[2, 4]])
        XCTAssertEqual(twoAxes.nodes.map(\.op), [.layerNorm(axis: 2, epsilon: 1e-5)])
        XCTAssertEqual(twoAxes.nodes[0].inputs.count, 2, "x and scale")
        // A bias without a scale: a scale of ones stands in.
        let noScale = try lowered(["axis": [-1], "scale": false], weights: [[4]])
        XCTAssertEqual(noScale.nodes.map(\.op), [.layerNorm(axis: 3, epsilon: 0.001)])
        XCTAssertEqual(noScale.nodes[0].inputs, ["x", "ln.ones", "ln.0"])
        XCTAssertEqual(noScale.constants.first { $0.name == "ln.ones" }?.tensor.floats, [1, 1, 1, 1])
        // Axes LayerNorm cannot express stay decomposed, and match the formula.
        let middle = try lowered(["axis": 1], weights: [[3], [3]])
        XCTAssertFalse(middle.nodes.contains { $0.op == .layerNorm(axis: 1, epsilon: 0.001) })
        XCTAssertTrue(middle.nodes.contains { $0.op == .reduce(.mean, axes: [1], keepDims: true) })
        var expected = [Double](repeating: 0, count: 48)
        for n in 0..<2 {
            for j in 0..<2 {
                for k in 0..<4 {
                    let positions = (0..<3).map { index(n, $0, j, k) }
                    let values = positions.map { Double(x.floats[$0]) }
                    let mean = values.reduce(0, +) / 3
                    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3
                    for (i, p) in positions.enumerated() {
                        let gamma = 0.5 + Double(i) * 0.1, beta = 0.5 + Double(i) * 0.1
                        expected[p] = (values[i] - mean) / (variance + 0.001).squareRoot() * gamma + beta
                    }
                }
            }
        }
        assertClose(try run(middle, "ln"), expected)
        let rms = try lowered(["axis": -1, "rms_scaling": true], weights: [[4]])
        XCTAssertFalse(rms.nodes.contains { if case .layerNorm = $0.op { true } else { false } })
    }
}
