import KilnIR
import XCTest

@testable import KilnRuntime

/// Upsampling, Gather, the truncating Cast and the sparse matrix product, against the interpreter's
/// UpsampleNearest, UpsampleLinear, Gather, Cast and Gemm.
final class LookupTests: XCTestCase {
    func testUpsampling() throws {
        var random = SeededGenerator(seed: 41)
        let cases: [(sizes: [Int], factors: [Int], channels: Int)] = [
            ([5], [3], 3), ([3, 4], [2, 2], 5), ([4, 3], [3, 1], 1), ([2, 3, 2], [2, 1, 3], 2),
        ]
        for c in cases {
            for batch in [1, 2] {
                let x = random.floats(batch * c.sizes.reduce(1, *) * c.channels)
                let outSizes = zip(c.sizes, c.factors).map { $0 * $1 }
                let shape = [batch] + outSizes + [c.channels]
                for linear in [false, true] {
                    var y = [Float](repeating: .nan, count: shape.reduce(1, *))
                    if linear {
                        kilnUpsampleLinear(x, c.sizes, c.factors, channels: c.channels, &y, batch: batch)
                    } else {
                        kilnUpsampleNearest(x, c.sizes, c.factors, channels: c.channels, &y, batch: batch)
                    }
                    let expected = try reference(
                        "\(linear ? "UpsampleLinear" : "UpsampleNearest")(%x) {factors = \(c.factors)}",
                        ["x": tensor([batch] + c.sizes + [c.channels], x)], result: shape)
                    assertClose(y, expected.floats, "\(c) batch \(batch) linear \(linear)")
                }
            }
        }
    }

    /// Slices along the first, a middle and the last axis, picked by i32 and i64 indices (held as floats by
    /// the executor), repeated and in any order.
    func testGather() throws {
        var random = SeededGenerator(seed: 42)
        let cases: [(data: [Int], axis: Int, indices: [Int])] = [
            ([11, 5], 0, [7]), ([11, 5], 0, [2, 3]), ([3, 9, 4], 1, [5]), ([2, 3, 7], 2, [4, 2]),
        ]
        for c in cases {
            let data = random.floats(c.data.reduce(1, *)), size = c.data[c.axis]
            let indices = (0..<c.indices.reduce(1, *)).map { _ in Int.random(in: 0..<size, using: &random) }
            let outer = c.data[..<c.axis].reduce(1, *), inner = c.data[(c.axis + 1)...].reduce(1, *)
            let shape = Array(c.data[..<c.axis]) + c.indices + Array(c.data[(c.axis + 1)...])
            var y = [Float](repeating: .nan, count: shape.reduce(1, *))
            let bad = kilnGather(data, outer: outer, size: size, inner: inner, indices.map(Float.init), count: indices.count, &y)
            XCTAssertNil(bad)
            for table in [TensorStorage.int32(indices.map { Int32($0) }), .int64(indices.map { Int64($0) })] {
                let expected = try reference(
                    "Gather(%data, %indices) {axis = \(c.axis)}",
                    ["data": tensor(c.data, data), "indices": Tensor(shape: c.indices, storage: table)], result: shape)
                assertClose(y, expected.floats, "\(c) \(table.dtype)")
            }
        }
    }

    /// An index outside the table is reported (the first one; a non-finite one as Int.min) and its slice
    /// zeroed, where the interpreter throws; the good slices are still copied.
    func testGatherOutOfRange() {
        let data: [Float] = [1, 2, 3, 4, 5, 6] // [3, 2]
        var y = [Float](repeating: .nan, count: 8)
        XCTAssertEqual(kilnGather(data, outer: 1, size: 3, inner: 2, [2, 3, -1, 0], count: 4, &y), 3)
        XCTAssertEqual(y, [5, 6, 0, 0, 0, 0, 1, 2])
        XCTAssertEqual(kilnGather(data, outer: 1, size: 3, inner: 2, [.infinity], count: 1, &y), Int.min)
        XCTAssertEqual(kilnGather(data, outer: 1, size: 3, inner: 2, [.nan], count: 1, &y), Int.min)
        XCTAssertEqual(y[0..<2], [0, 0])
    }

    /// Cast from f32 to an integer type truncates toward zero.
    func testTruncate() throws {
        var random = SeededGenerator(seed: 43)
        let x = random.floats(37, in: -300...300) + [2.5, -2.5, 0.99, -0.99, 7, -7]
        var y = [Float](repeating: .nan, count: x.count)
        kilnTruncate(x, &y, x.count)
        let expected = try reference("Cast(%x) {to = i32}", ["x": tensor([x.count], x)], result: [x.count], .int32)
        XCTAssertEqual(y, expected.floats)
    }

    /// The sparse product in blocks of 8 rows and the rows left over, with rows of A that are zero after a
    /// Relu skipped, with and without a bias, and with an activation.
    func testSparseProduct() throws {
        var random = SeededGenerator(seed: 44)
        for m in [1, 7, 8, 9, 21] {
            let n = random.oddSize(1...40), k = random.oddSize(1...70)
            let a = random.floats(m * k).map { Swift.max($0, 0) }
            let b = random.floats(k * n).map { abs($0) < 0.7 ? 0 : $0 }
            let f = RuntimeActivation.all.randomElement(using: &random)!
            let bias = m % 2 == 1 ? random.floats(n) : nil
            let (sparse, nonzeros) = sparseRows(b, k: k, n: n)
            var y = [Float](repeating: .nan, count: m * n), scratch = [Float](repeating: .nan, count: k * 8 + n * 8)
            withPointer(bias) { bias in
                kilnSparseGemm(
                    a, lda: k, sparse, nonzeros: nonzeros, bias: bias, &y, ldc: n, m: m, n: n, k: k, scratch: &scratch, activation: f.kernel
                )
            }
            var inputs: [(String, Tensor)] = [("a", tensor([m, k], a)), ("b", tensor([k, n], b))]
            if let bias { inputs.append(("c", tensor([n], bias))) }
            let expected = try reference(
                "Gemm(\(inputs.map { "%" + $0.0 }.joined(separator: ", "))) {transB = false, epilogue = \(f.epilogue)}", inputs,
                result: [m, n])
            assertClose(y, expected.floats, "m \(m) n \(n) k \(k) \(nonzeros) nonzeros \(f.kernel)")
        }
    }

    /// B [k, n] stored sparse by row as the Swift backend's weights writer lays it out: k + 1 row starts, the
    /// column of every nonzero, then their values; starts and columns are UInt32 bit patterns.
    private func sparseRows(_ b: [Float], k: Int, n: Int) -> ([Float], nonzeros: Int) {
        var starts: [UInt32] = [0], columns: [UInt32] = [], values: [Float] = []
        for row in 0..<k {
            for column in 0..<n where b[row * n + column] != 0 {
                columns.append(UInt32(column))
                values.append(b[row * n + column])
            }
            starts.append(UInt32(values.count))
        }
        return (starts.map { Float(bitPattern: $0) } + columns.map { Float(bitPattern: $0) } + values, values.count)
    }
}
