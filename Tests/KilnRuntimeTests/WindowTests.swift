import KilnIR
import XCTest

@testable import KilnRuntime

/// Convolutions (im2col and the packed product, direct, grouped, transposed) and pooling over channels-last
/// data, against the interpreter's Conv, ConvTranspose, MaxPool and AveragePool.
final class WindowTests: XCTestCase {
    /// im2col then the packed product, in 1, 2 and 3 spatial dimensions, with strides, dilations and
    /// padding; 2-d windows inside the image copy whole rows, the others go position by position.
    func testConvolutionAsProduct() throws {
        var random = SeededGenerator(seed: 31)
        let cases: [WindowCase] = [
            .init(sizes: [9], cin: 3, cout: 5, window: [3], strides: [1], dilations: [2], pads: [2, 1]),
            .init(sizes: [7, 6], cin: 3, cout: 17, window: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
            .init(sizes: [9, 11], cin: 5, cout: 7, window: [3, 2], strides: [2, 3], dilations: [1, 1], pads: [0, 1, 2, 0]),
            .init(sizes: [8, 7], cin: 2, cout: 33, window: [3, 3], strides: [1, 2], dilations: [2, 2], pads: [2, 2, 2, 2]),
            .init(sizes: [5, 5], cin: 13, cout: 3, window: [5, 5], strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0]),
            .init(
                sizes: [4, 5, 3], cin: 2, cout: 6, window: [2, 3, 2], strides: [1, 2, 1], dilations: [1, 1, 2], pads: [1, 0, 1, 0, 1, 1]),
        ]
        for c in cases {
            for batch in [1, 2] {
                let f = RuntimeActivation.all.randomElement(using: &random)!
                let x = random.floats(batch * c.sizes.reduce(1, *) * c.cin), w = c.weights(&random), bias = random.floats(c.cout)
                let columns = c.window.reduce(1, *) * c.cin, pixels = batch * c.output.reduce(1, *)
                var scratch = [Float](repeating: .nan, count: pixels * columns), y = [Float](repeating: .nan, count: pixels * c.cout)
                kilnIm2col(x, c.geometry, channels: c.cin, &scratch, batch: batch)
                kilnGemm(
                    scratch, lda: columns, packPanels(w, k: columns, n: c.cout), bias: bias, &y, ldc: c.cout, m: pixels, n: c.cout,
                    k: columns, activation: f.kernel)
                assertClose(y, try c.expected(x, w, bias, batch: batch, epilogue: f), "\(c) batch \(batch) \(f.kernel)")
            }
        }
    }

    /// The direct 2-d convolution: output channels in blocks of 16 and 8, pairs of output pixels inside and
    /// at the edges of the image, an odd last pixel, vectorized and libm activations.
    func testDirectConvolution() throws {
        var random = SeededGenerator(seed: 32)
        let cases: [WindowCase] = [
            .init(sizes: [7, 9], cin: 3, cout: 8, window: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
            .init(sizes: [6, 7], cin: 1, cout: 24, window: [5, 5], strides: [1, 1], dilations: [1, 1], pads: [2, 2, 2, 2]),
            .init(sizes: [9, 11], cin: 3, cout: 16, window: [3, 3], strides: [2, 2], dilations: [1, 1], pads: [0, 0, 1, 1]),
            .init(sizes: [8, 9], cin: 2, cout: 40, window: [3, 2], strides: [1, 2], dilations: [2, 1], pads: [2, 0, 1, 1]),
            .init(sizes: [5, 5], cin: 4, cout: 8, window: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [0, 0, 0, 0]),
        ]
        for c in cases {
            for batch in [1, 3] {
                let f = RuntimeActivation.all.randomElement(using: &random)!
                let x = random.floats(batch * c.sizes.reduce(1, *) * c.cin), w = c.weights(&random)
                let bias = batch == 1 ? nil : random.floats(c.cout)
                var y = [Float](repeating: .nan, count: batch * c.output.reduce(1, *) * c.cout)
                withPointer(bias) { bias in
                    kilnDirectConv2D(
                        x, c.geometry, w, bias: bias, &y, inChannels: c.cin, outChannels: c.cout, batch: batch, activation: f.kernel)
                }
                assertClose(y, try c.expected(x, w, bias, batch: batch, epilogue: f), "\(c) batch \(batch) \(f.kernel)")
            }
        }
    }

    /// Grouped convolutions: depthwise (one input channel a group, with a multiplier) and two groups.
    func testGroupedConvolution() throws {
        var random = SeededGenerator(seed: 33)
        let cases: [WindowCase] = [
            .init(sizes: [7, 6], cin: 5, cout: 5, window: [3, 3], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], groups: 5),
            .init(sizes: [8, 9], cin: 3, cout: 6, window: [3, 3], strides: [2, 2], dilations: [1, 1], pads: [0, 0, 1, 1], groups: 3),
            .init(sizes: [9], cin: 4, cout: 6, window: [3], strides: [1], dilations: [2], pads: [2, 2], groups: 2),
        ]
        for c in cases {
            for batch in [1, 2] {
                let f = RuntimeActivation.all.randomElement(using: &random)!
                let x = random.floats(batch * c.sizes.reduce(1, *) * c.cin), w = c.weights(&random), bias = random.floats(c.cout)
                var y = [Float](repeating: .nan, count: batch * c.output.reduce(1, *) * c.cout)
                kilnGroupedConv(
                    x, c.geometry, w, bias: bias, &y, inChannels: c.cin, outChannels: c.cout, groups: c.groups, batch: batch,
                    activation: f.kernel)
                assertClose(y, try c.expected(x, w, bias, batch: batch, epilogue: f), "\(c) batch \(batch) \(f.kernel)")
            }
        }
    }

    /// Transposed convolutions in 1 and 2 dimensions: strides, dilation, padding cropped off, and a negative
    /// end pad that adds output positions no input reaches (they hold the bias).
    func testTransposedConvolution() throws {
        var random = SeededGenerator(seed: 34)
        let cases: [(sizes: [Int], cin: Int, cout: Int, window: [Int], strides: [Int], dilations: [Int], pads: [Int])] = [
            ([5], 3, 4, [3], [2], [1], [1, 0]),
            ([4, 5], 3, 5, [3, 3], [2, 2], [1, 1], [1, 1, 1, 1]),
            ([3, 4], 2, 7, [2, 3], [1, 2], [2, 1], [0, 1, 0, -1]),
        ]
        for c in cases {
            for batch in [1, 2] {
                let spatial = c.sizes.count
                let output = (0..<spatial).map { (d: Int) -> Int in
                    let reach = (c.sizes[d] - 1) * c.strides[d] + c.dilations[d] * (c.window[d] - 1) + 1
                    return reach - c.pads[d] - c.pads[spatial + d]
                }
                let x = random.floats(batch * c.sizes.reduce(1, *) * c.cin)
                let w = random.floats(c.window.reduce(1, *) * c.cout * c.cin), bias = random.floats(c.cout)
                // The geometry of the forward convolution from the output back to x.
                let g = KilnWindow(
                    input: [-1] + output + [c.cout], window: c.window, strides: c.strides, dilations: c.dilations, pads: c.pads,
                    output: c.sizes)
                var y = [Float](repeating: .nan, count: batch * output.reduce(1, *) * c.cout)
                kilnConvTranspose(x, g, w, bias: bias, &y, inChannels: c.cin, outChannels: c.cout, batch: batch)
                let expected = try reference(
                    "ConvTranspose(%x, %w, %b) {strides = \(c.strides), dilations = \(c.dilations), pads = \(c.pads), groups = 1}",
                    [
                        "x": tensor([batch] + c.sizes + [c.cin], x), "w": tensor(c.window + [c.cout, c.cin], w),
                        "b": tensor([c.cout], bias),
                    ], result: [batch] + output + [c.cout])
                assertClose(y, expected.floats, "\(c) batch \(batch)")
            }
        }
    }

    /// Max and average pooling (averages over the real elements only): the 2-d kernel and the general one
    /// in 1 and 3 dimensions.
    func testPooling() throws {
        var random = SeededGenerator(seed: 35)
        let cases: [WindowCase] = [
            .init(sizes: [7, 9], cin: 5, cout: 5, window: [2, 2], strides: [2, 2], dilations: [1, 1], pads: [0, 0, 1, 1]),
            .init(sizes: [6, 7], cin: 3, cout: 3, window: [3, 3], strides: [2, 1], dilations: [1, 1], pads: [1, 1, 1, 1]),
            .init(sizes: [11], cin: 9, cout: 9, window: [3], strides: [2], dilations: [1], pads: [1, 1]),
            .init(
                sizes: [4, 5, 5], cin: 2, cout: 2, window: [2, 3, 2], strides: [2, 2, 1], dilations: [1, 1, 1], pads: [0, 1, 1, 1, 1, 0]),
        ]
        for c in cases {
            for batch in [1, 2] {
                let x = random.floats(batch * c.sizes.reduce(1, *) * c.cin, in: -3...3)
                for isMax in [true, false] {
                    var y = [Float](repeating: .nan, count: batch * c.output.reduce(1, *) * c.cin)
                    kilnPool(x, c.geometry, channels: c.cin, isMax: isMax, &y, batch: batch)
                    let expected = try reference(
                        "\(isMax ? "MaxPool" : "AveragePool")(%x) {window = \(c.window), strides = \(c.strides), pads = \(c.pads)}",
                        ["x": tensor([batch] + c.sizes + [c.cin], x)], result: [batch] + c.output + [c.cin])
                    assertClose(y, expected.floats, "\(c) batch \(batch) max \(isMax)")
                }
            }
        }
    }
}

/// A convolution's (or pooling's) shapes and attributes, its geometry as the Swift backend declares it, and
/// its reference result.
private struct WindowCase: CustomStringConvertible {
    var sizes: [Int]
    var cin: Int
    var cout: Int
    var window: [Int]
    var strides: [Int]
    var dilations: [Int]
    var pads: [Int]
    var groups = 1

    /// The output's spatial sizes.
    var output: [Int] {
        (0..<sizes.count).map {
            (sizes[$0] + pads[$0] + pads[sizes.count + $0] - dilations[$0] * (window[$0] - 1) - 1) / strides[$0] + 1
        }
    }

    /// The input's dimensions with -1 for the batch, as the backend writes them.
    var geometry: KilnWindow {
        KilnWindow(input: [-1] + sizes + [cin], window: window, strides: strides, dilations: dilations, pads: pads, output: output)
    }

    var description: String { "\(sizes)x\(cin) -> \(cout), window \(window) strides \(strides) dilations \(dilations) pads \(pads)" }

    /// Keras's kernel [window..., cin / groups, cout], scaled by 1/sqrt(fan-in) as initializers do.
    func weights(_ random: inout SeededGenerator) -> [Float] {
        let fanIn = window.reduce(1, *) * cin / groups
        return random.floats(fanIn * cout).map { $0 / Float(fanIn).squareRoot() }
    }

    func expected(_ x: [Float], _ w: [Float], _ bias: [Float]?, batch: Int, epilogue: RuntimeActivation) throws -> [Float] {
        var inputs: [(String, Tensor)] = [("x", tensor([batch] + sizes + [cin], x)), ("w", tensor(window + [cin / groups, cout], w))]
        if let bias { inputs.append(("b", tensor([cout], bias))) }
        let attributes =
            "strides = \(strides), dilations = \(dilations), pads = \(pads), groups = \(groups), epilogue = \(epilogue.epilogue)"
        return try reference(
            "Conv(\(inputs.map { "%" + $0.0 }.joined(separator: ", "))) {\(attributes)}", inputs, result: [batch] + output + [cout]
        ).floats
    }
}
