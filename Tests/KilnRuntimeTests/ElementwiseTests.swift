import KilnIR
import XCTest

@testable import KilnRuntime

/// Activations, broadcasting arithmetic and comparisons, the per-channel affine map, reductions, softmax and layer
/// normalization, against the interpreter's ops.
final class ElementwiseTests: XCTestCase {
    /// Each activation over counts with and without a vector tail, and in place.
    func testUnary() throws {
        var random = SeededGenerator(seed: 11)
        for f in RuntimeActivation.all + RuntimeActivation.math {
            for count in [1, 7, 8, 37] {
                let x = random.floats(count, in: f.name == "Sqrt" ? 0...4 : f.name == "Log" ? 0.01...4 : -3...3)
                var y = [Float](repeating: .nan, count: count)
                kilnUnary(f.kernel, x, &y, count)
                let expected = try reference(f.node("%x"), ["x": tensor([count], x)], result: [count])
                assertClose(y, expected.floats, "\(f.kernel) over \(count)")
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { kilnUnary(f.kernel, $0.baseAddress!, $0.baseAddress!, count) }
                assertClose(inPlace, expected.floats, "\(f.kernel) in place")
            }
        }
    }

    /// Operands that repeat whole along the leading dimensions: the same shape, a trailing block, or a
    /// scalar, on either side.
    func testBinaryRepeating() throws {
        var random = SeededGenerator(seed: 12)
        for (kind, name) in binaryOps {
            let m = random.oddSize(1...9), n = random.oddSize(1...30)
            for (aShape, bShape) in [
                ([m, n], [m, n]), ([m, n], [n]), ([n], [m, n]), ([m, n], [1, n]), ([1], [m, n]), ([m, n], [1]),
            ] {
                let a = operand(aShape, &random), b = operand(bShape, &random)
                var y = [Float](repeating: .nan, count: m * n)
                kilnBinary(kind, a, a.count, b, b.count, &y, m * n)
                let expected = try reference("\(name)(%a, %b)", ["a": tensor(aShape, a), "b": tensor(bShape, b)], result: [m, n])
                assertClose(y, expected.floats, "\(name) \(aShape) \(bShape)")
            }
        }
    }

    /// General NumPy broadcasting, with the batch (-1) in the kernel's shapes.
    func testBinaryStrided() throws {
        var random = SeededGenerator(seed: 13)
        for (kind, name) in binaryOps {
            for batch in [1, 3] {
                let cases: [(a: [Int], b: [Int], y: [Int])] = [
                    ([-1, 1, 5], [4, 1], [-1, 4, 5]), ([-1, 3, 1, 7], [-1, 1, 6, 1], [-1, 3, 6, 7]),
                    ([2, 1, 3], [-1, 1, 5, 1], [-1, 2, 5, 3]),
                ]
                for shapes in cases {
                    let concrete = { (shape: [Int]) in shape.map { $0 < 0 ? batch : $0 } }
                    let a = operand(concrete(shapes.a), &random), b = operand(concrete(shapes.b), &random)
                    let yShape = concrete(shapes.y)
                    var y = [Float](repeating: .nan, count: yShape.reduce(1, *))
                    kilnBinaryStrided(kind, a, shapes.a, b, shapes.b, &y, shapes.y, batch: batch)
                    let expected = try reference(
                        "\(name)(%a, %b)", ["a": tensor(concrete(shapes.a), a), "b": tensor(concrete(shapes.b), b)], result: yShape)
                    assertClose(y, expected.floats, "\(name) \(shapes) batch \(batch)")
                }
            }
        }
    }

    /// Comparisons give 1 or 0 (the executor's bools), over values that are often equal, with both kinds of
    /// broadcasting.
    func testCompare() throws {
        var random = SeededGenerator(seed: 18)
        for comparison in Comparison.allCases {
            let kind = try XCTUnwrap(compareKinds[comparison])
            for (aShape, bShape) in [([3, 5], [3, 5]), ([3, 5], [1]), ([5], [3, 5])] {
                let a = (0..<aShape.reduce(1, *)).map { _ in Float(Int.random(in: -1...2, using: &random)) }
                let b = (0..<bShape.reduce(1, *)).map { _ in Float(Int.random(in: -1...2, using: &random)) }
                var y = [Float](repeating: .nan, count: 15)
                kilnBinary(kind, a, a.count, b, b.count, &y, 15)
                let inputs = [("a", tensor(aShape, a)), ("b", tensor(bShape, b))]
                let expected = try reference("\(comparison.name)(%a, %b)", inputs, result: [3, 5], .bool)
                XCTAssertEqual(y, expected.floats, "\(comparison.name) \(aShape) \(bShape)")
                var strided = [Float](repeating: .nan, count: 15)
                kilnBinaryStrided(kind, a, aShape, b, bShape, &strided, [3, 5], batch: 1)
                XCTAssertEqual(strided, expected.floats, "\(comparison.name) strided \(aShape) \(bShape)")
            }
        }
    }

    /// BatchNorm along the channel axis, as the scale and shift the Swift backend computes from its constants.
    func testAffine() throws {
        var random = SeededGenerator(seed: 14)
        for (outer, channels, inner) in [(1, 5, 1), (3, 7, 1), (2, 3, 11), (1, 9, 13)] {
            let x = random.floats(outer * channels * inner, in: -3...3)
            let gamma = random.floats(channels, in: 0.5...1.5), beta = random.floats(channels)
            let mean = random.floats(channels), variance = random.floats(channels, in: 0.2...2)
            let epsilon: Float = 0.001
            let scale = (0..<channels).map { gamma[$0] / (variance[$0] + epsilon).squareRoot() }
            let shift = (0..<channels).map { beta[$0] - mean[$0] * scale[$0] }
            var y = [Float](repeating: .nan, count: x.count)
            kilnAffine(x, scale, shift, &y, outer: outer, channels: channels, inner: inner)
            let expected = try reference(
                "BatchNorm(%x, %g, %b, %m, %v) {epsilon = 0.001, axis = 1}",
                [
                    "x": tensor([outer, channels, inner], x), "g": tensor([channels], gamma), "b": tensor([channels], beta),
                    "m": tensor([channels], mean), "v": tensor([channels], variance),
                ], result: [outer, channels, inner])
            assertClose(y, expected.floats, "\(outer)x\(channels)x\(inner)")
        }
    }

    /// Sum, max, min and mean over one axis and over adjacent axes.
    func testReduce() throws {
        var random = SeededGenerator(seed: 15)
        for (kind, name) in [(0, "ReduceSum"), (1, "ReduceMax"), (2, "ReduceMin"), (3, "ReduceMean")] {
            for (shape, axes) in [([1, 9], [1]), ([3, 7, 5], [1]), ([2, 3, 4, 5], [1, 2]), ([5, 3], [0]), ([2, 11, 3], [2])] {
                let x = random.floats(shape.reduce(1, *), in: -3...3)
                let outer = shape[..<axes[0]].reduce(1, *), size = axes.map { shape[$0] }.reduce(1, *)
                let inner = shape[(axes.last! + 1)...].reduce(1, *)
                var y = [Float](repeating: .nan, count: outer * inner)
                kilnReduce(x, &y, outer: outer, size: size, inner: inner, kind: kind)
                let kept = shape.indices.filter { !axes.contains($0) }.map { shape[$0] }
                let expected = try reference(
                    "\(name)(%x) {axes = \(axes), keepDims = false}", ["x": tensor(shape, x)], result: kept)
                assertClose(y, expected.floats, "\(name) \(shape) over \(axes)")
            }
        }
    }

    /// Softmax over the last axis and over a middle one.
    func testSoftmax() throws {
        var random = SeededGenerator(seed: 16)
        for (shape, axis) in [([1, 10], 1), ([3, 17], -1), ([2, 5, 3], 1), ([4, 3, 7], 0)] {
            let x = random.floats(shape.reduce(1, *), in: -5...5)
            let a = axis < 0 ? axis + shape.count : axis
            var y = [Float](repeating: .nan, count: x.count)
            kilnSoftmax(x, &y, outer: shape[..<a].reduce(1, *), size: shape[a], inner: shape[(a + 1)...].reduce(1, *))
            let expected = try reference("Softmax(%x) {axis = \(axis)}", ["x": tensor(shape, x)], result: shape)
            assertClose(y, expected.floats, "\(shape) axis \(axis)")
        }
    }

    /// Layer normalization over the trailing dimensions, with a scale and bias, a scale alone, and neither.
    func testLayerNorm() throws {
        var random = SeededGenerator(seed: 17)
        for (shape, axis) in [([1, 13], 1), ([3, 4, 5], 1), ([2, 3, 9], 2), ([5, 31], -1)] {
            let a = axis < 0 ? axis + shape.count : axis
            let normalized = Array(shape[a...]), size = normalized.reduce(1, *), outer = shape[..<a].reduce(1, *)
            let x = random.floats(outer * size, in: -2...4), scale = random.floats(size), bias = random.floats(size)
            let inputs: [(String, Tensor)] = [("x", tensor(shape, x)), ("s", tensor(normalized, scale)), ("b", tensor(normalized, bias))]
            for operands in 1...3 {
                var y = [Float](repeating: .nan, count: x.count)
                withPointer(operands >= 2 ? scale : nil) { scale in
                    withPointer(operands == 3 ? bias : nil) { bias in
                        kilnLayerNorm(x, scale, bias, &y, outer: outer, size: size, epsilon: 0.001)
                    }
                }
                let used = Array(inputs[0..<operands])
                let expected = try reference(
                    "LayerNorm(\(used.map { "%" + $0.0 }.joined(separator: ", "))) {axis = \(axis), epsilon = 0.001}", used, result: shape)
                assertClose(y, expected.floats, "\(shape) axis \(axis), \(operands) operands")
            }
        }
    }

    private let binaryOps: [(KilnBinary, String)] = [
        (.add, "Add"), (.sub, "Sub"), (.mul, "Mul"), (.div, "Div"), (.max, "Max"), (.min, "Min"), (.pow, "Pow"),
    ]

    private let compareKinds: [Comparison: KilnBinary] = [
        .equal: .equal, .notEqual: .notEqual, .greater: .greater, .greaterOrEqual: .greaterOrEqual, .less: .less,
        .lessOrEqual: .lessOrEqual,
    ]

    /// Values of either sign kept away from zero, so that division stays tame.
    private func operand(_ shape: [Int], _ random: inout SeededGenerator) -> [Float] {
        random.floats(shape.reduce(1, *), in: 0.25...2).map { Bool.random(using: &random) ? $0 : -$0 }
    }
}
