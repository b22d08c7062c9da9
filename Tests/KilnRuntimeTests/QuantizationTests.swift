import KilnIR
import XCTest

@testable import KilnRuntime

/// QuantizeLinear and DequantizeLinear on whole numbers held as floats, int8 weights widened at load, and
/// the one-row products that read int8 panels, against the interpreter's QuantizeLinear,
/// DequantizeLinear and Gemm.
final class QuantizationTests: XCTestCase {
    /// Per tensor (eight at a time, then one at a time) and per axis, to u8 and i8: ties round to even,
    /// values beyond the range (and infinities) saturate, NaN gives the zero point. Exact: these are integers.
    func testQuantize() throws {
        var random = SeededGenerator(seed: 51)
        for unsigned in [true, false] {
            let (low, high): (Float, Float) = unsigned ? (0, 255) : (-128, 127)
            let zeroType: DType = unsigned ? .uint8 : .int8
            let ties: [Float] = [0.125, 0.375, -0.125, -0.375, 2.625, -2.625, 1e10, -1e10, .nan, .infinity, -.infinity, 3e6]
            for scale: Float in [0.25, 0.0173] {
                let zero: Float = unsigned ? 128 : -5
                let x = random.floats(29, in: -40...40) + ties
                var y = [Float](repeating: .nan, count: x.count)
                kilnQuantize(x, &y, count: x.count, scales: [scale], zeros: [zero], size: 1, inner: 1, low: low, high: high)
                let expected = try reference(
                    "QuantizeLinear(%x, %s, %z) {axis = 0}",
                    ["x": tensor([x.count], x), "s": tensor([], [scale]), "z": integers([], [zero], zeroType)], result: [x.count], zeroType)
                XCTAssertEqual(y, expected.floats, "scale \(scale) \(zeroType)")
            }
            let shape = [3, 5, 7], scales = random.floats(5, in: 0.01...0.1)
            let zeros = (0..<5).map { _ in Float(Int.random(in: -20...20, using: &random)) + (unsigned ? 128 : 0) }
            let x = random.floats(shape.reduce(1, *), in: -15...15)
            var y = [Float](repeating: .nan, count: x.count)
            kilnQuantize(x, &y, count: x.count, scales: scales, zeros: zeros, size: 5, inner: 7, low: low, high: high)
            let expected = try reference(
                "QuantizeLinear(%x, %s, %z) {axis = 1}",
                ["x": tensor(shape, x), "s": tensor([5], scales), "z": integers([5], zeros, zeroType)], result: shape, zeroType)
            XCTAssertEqual(y, expected.floats, "per axis \(zeroType)")
        }
    }

    /// Per tensor and per axis, from u8 and i8.
    func testDequantize() throws {
        var random = SeededGenerator(seed: 52)
        for unsigned in [true, false] {
            let type: DType = unsigned ? .uint8 : .int8
            let range: ClosedRange<Int> = unsigned ? 0...255 : -128...127
            let shape = [3, 6, 5], count = shape.reduce(1, *)
            let q = (0..<count).map { _ in Float(Int.random(in: range, using: &random)) }
            for perAxis in [false, true] {
                let size = perAxis ? 6 : 1
                let scales = random.floats(size, in: 0.001...0.1),
                    zeros = (0..<size).map { _ in Float(Int.random(in: range, using: &random)) }
                var y = [Float](repeating: .nan, count: count)
                kilnDequantize(q, &y, count: count, scales: scales, zeros: zeros, size: size, inner: perAxis ? 5 : 1)
                let parameters = perAxis ? [6] : []
                let expected = try reference(
                    "DequantizeLinear(%q, %s, %z) {axis = 1}",
                    ["q": integers(shape, q, type), "s": tensor(parameters, scales), "z": integers(parameters, zeros, type)], result: shape)
                assertClose(y, expected.floats, "\(type) per axis \(perAxis)")
            }
        }
    }

    /// Int8 weights widened in their own layout, one scale for all or one per entry of an axis: exactly the
    /// values DequantizeLinear gives.
    func testWiden() throws {
        var random = SeededGenerator(seed: 53)
        let shape = [4, 6, 3], count = shape.reduce(1, *)
        let q = (0..<count).map { _ in Int8.random(in: -127...127, using: &random) }
        for (axis, size, inner) in [(nil, 1, count), (1, 6, 3), (2, 3, 1), (0, 4, 18)] as [(Int?, Int, Int)] {
            let scales = random.floats(size, in: 0.001...0.02)
            var y = [Float](repeating: .nan, count: count)
            kilnWiden(q, scales: scales, &y, count: count, inner: inner, size: size)
            let parameters = axis == nil ? [] : [size]
            let expected = try reference(
                "DequantizeLinear(%q, %s, %z) {axis = \(axis ?? 0)}",
                [
                    "q": Tensor(shape: shape, storage: .int8(q)), "s": tensor(parameters, scales),
                    "z": Tensor(shape: parameters, storage: .int8([Int8](repeating: 0, count: size))),
                ], result: shape)
            XCTAssertEqual(y, expected.floats, "axis \(String(describing: axis))")
        }
    }

    /// Int8 panels widened with their column scales: the float panels of the dequantized weights.
    func testWidenPanels() throws {
        var random = SeededGenerator(seed: 54)
        for (k, n) in [(1, 5), (7, 16), (13, 17), (30, 45)] {
            let (q, scales) = weights(k: k, n: n, &random)
            let packed = packPanels(q, k: k, n: n)
            var y = [Float](repeating: .nan, count: packed.count)
            kilnWidenPanels(packed, scales: padded(scales), &y, count: packed.count, panelFloats: k * 16)
            XCTAssertEqual(y, packPanels(try dequantized(q, scales, k: k, n: n), k: k, n: n), "\(k)x\(n)")
        }
    }

    /// One row times int8 panels widened in registers, the panel sums scaled once.
    func testOneRowInt8Product() throws {
        #if KILN_FMA
        var random = SeededGenerator(seed: 55)
        for n in [5, 16, 17, 33, 48, 50] {
            let k = random.oddSize(1...150), f = RuntimeActivation.all.randomElement(using: &random)!
            let (q, scales) = weights(k: k, n: n, &random)
            let a = random.floats(k), bias = n % 2 == 1 ? random.floats(n) : nil
            var y = [Float](repeating: .nan, count: n)
            withPointer(bias) { bias in
                kilnGemvInt8(a, packPanels(q, k: k, n: n), scales: padded(scales), bias: bias, &y, n: n, k: k, activation: f.kernel)
            }
            let expected = try product(a, try dequantized(q, scales, k: k, n: n), bias, k: k, n: n, epilogue: f)
            assertClose(y, expected, "\(k)x\(n) \(f.kernel)")
        }
        #else
        throw XCTSkip("kilnGemvInt8 is built only with KILN_FMA (KILN_FMA=1 swift build)")
        #endif
    }

    /// One row of a quantized activation (whole multiples of its scale) times int8 panels, summed exactly
    /// in int32 and scaled once.
    func testOneRowInt32Product() throws {
        #if KILN_FMA
        var random = SeededGenerator(seed: 56)
        for n in [5, 16, 17, 33, 48, 50] {
            let k = random.oddSize(1...150), f = RuntimeActivation.all.randomElement(using: &random)!
            let (q, scales) = weights(k: k, n: n, &random)
            let inputScale: Float = 0.0213
            let a = (0..<k).map { _ in Float(Int.random(in: -128...127, using: &random)) * inputScale }
            let bias = n % 2 == 1 ? random.floats(n) : nil
            var y = [Float](repeating: .nan, count: n)
            withPointer(bias) { bias in
                kilnGemvInt32(
                    a, inputScale: inputScale, packPanels(q, k: k, n: n), scales: padded(scales), bias: bias, &y, n: n, k: k,
                    activation: f.kernel)
            }
            let expected = try product(a, try dequantized(q, scales, k: k, n: n), bias, k: k, n: n, epilogue: f)
            assertClose(y, expected, "\(k)x\(n) \(f.kernel)")
        }
        #else
        throw XCTSkip("kilnGemvInt32 is built only with KILN_FMA (KILN_FMA=1 swift build)")
        #endif
    }

    /// Symmetric int8 weights [k, n] with one scale per column, sized so the products' sums stay near 1.
    private func weights(k: Int, n: Int, _ random: inout SeededGenerator) -> ([Int8], [Float]) {
        let q = (0..<(k * n)).map { _ in Int8.random(in: -127...127, using: &random) }
        let limit = 2 / (127 * Float(k).squareRoot())
        return (q, random.floats(n, in: (limit / 4)...limit))
    }

    /// The column scales zero-padded to whole panels, as the weights writer stores them.
    private func padded(_ scales: [Float]) -> [Float] {
        scales + [Float](repeating: 0, count: (scales.count + 15) / 16 * 16 - scales.count)
    }

    /// What DequantizeLinear makes of int8 weights [k, n] with per-column scales.
    private func dequantized(_ q: [Int8], _ scales: [Float], k: Int, n: Int) throws -> [Float] {
        try reference(
            "DequantizeLinear(%q, %s, %z) {axis = 1}",
            [
                "q": Tensor(shape: [k, n], storage: .int8(q)), "s": tensor([n], scales),
                "z": Tensor(shape: [n], storage: .int8([Int8](repeating: 0, count: n))),
            ], result: [k, n]
        ).floats
    }

    /// f(a x w + bias) by the interpreter's Gemm, for one row.
    private func product(_ a: [Float], _ w: [Float], _ bias: [Float]?, k: Int, n: Int, epilogue f: RuntimeActivation) throws -> [Float] {
        var inputs: [(String, Tensor)] = [("a", tensor([1, k], a)), ("w", tensor([k, n], w))]
        if let bias { inputs.append(("c", tensor([n], bias))) }
        return try reference(
            "Gemm(\(inputs.map { "%" + $0.0 }.joined(separator: ", "))) {transB = false, epilogue = \(f.epilogue)}", inputs, result: [1, n]
        ).floats
    }

    /// Whole numbers as a u8 or i8 tensor.
    private func integers(_ shape: [Int], _ values: [Float], _ dtype: DType) -> Tensor {
        Tensor(shape: shape, storage: dtype == .uint8 ? .uint8(values.map { UInt8($0) }) : .int8(values.map { Int8($0) }))
    }
}
