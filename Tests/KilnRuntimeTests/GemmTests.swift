import KilnIR
import XCTest

@testable import KilnRuntime

/// The packed matrix product (every register tile, the one-row path, row blocks, the fused bias and
/// activation) and the unpacked MatMul, against the interpreter's Gemm and MatMul.
final class GemmTests: XCTestCase {
    /// Row counts that reach each tile: 1 is the one-row path alone, 2 and 3 the 2x16 tile (and a last row),
    /// 6, 7 and 13 the 6x16 tile built with KILN_FMA; column counts with odd and even numbers of panels, the
    /// last one partial or full.
    func testPackedProductOverTileShapes() throws {
        var random = SeededGenerator(seed: 1)
        for m in [1, 2, 3, 6, 7, 13] {
            for n in [5, 16, 17, 33, 48, 50] {
                let k = random.oddSize(1...90)
                try checkGemm(m: m, n: n, k: k, bias: m % 2 == 1, activation: .none, "", &random)
            }
        }
    }

    /// Random odd shapes with random epilogues, with and without a bias.
    func testPackedProductOverRandomShapes() throws {
        var random = SeededGenerator(seed: 2)
        for index in 0..<40 {
            let m = index < 8 ? 1 : random.oddSize(1...41), n = random.oddSize(1...80), k = random.oddSize(1...200)
            let f = RuntimeActivation.all.randomElement(using: &random)!
            try checkGemm(m: m, n: n, k: k, bias: Bool.random(using: &random), activation: f.kernel, f.epilogue, &random)
        }
    }

    /// Every activation as the epilogue of full 16-column tiles (applied in vectors where it can be) and of a
    /// partial last tile, for several rows and for one.
    func testEveryEpilogue() throws {
        var random = SeededGenerator(seed: 3)
        for f in RuntimeActivation.all {
            try checkGemm(m: 5, n: 40, k: 23, bias: true, activation: f.kernel, f.epilogue, &random)
            try checkGemm(m: 1, n: 40, k: 23, bias: false, activation: f.kernel, f.epilogue, &random)
        }
    }

    /// The test target and the runtime are built alike: with KILN_FMA (`KILN_FMA=1 swift build`) the tile
    /// is 6 rows and the int8 one-row products exist; without, 2 rows.
    func testTileMatchesBuild() {
        #if KILN_FMA
        XCTAssertEqual(kilnTileRows, 6)
        #else
        XCTAssertEqual(kilnTileRows, 2)
        #endif
    }

    /// A long k makes the rows go in blocks of 16 (the block's slice of A stays in L2), with a last block of 5.
    func testRowBlocks() throws {
        var random = SeededGenerator(seed: 4)
        try checkGemm(m: 37, n: 35, k: 3001, bias: true, activation: .relu, "Relu", &random)
    }

    /// lda and ldc wider than k and n: the product reads and writes only its columns.
    func testStridedOperands() throws {
        var random = SeededGenerator(seed: 5)
        let m = 7, n = 19, k = 13, lda = 20, ldc = 24
        let a = random.floats(m * lda), b = random.floats(k * n), bias = random.floats(n)
        var c = [Float](repeating: 42, count: m * ldc)
        kilnGemm(a, lda: lda, packPanels(b, k: k, n: n), bias: bias, &c, ldc: ldc, m: m, n: n, k: k, activation: .none)
        let rowsOfA = (0..<m).flatMap { a[($0 * lda)..<($0 * lda + k)] }
        let expected = try reference(
            "Gemm(%a, %b, %c) {transB = false}", ["a": tensor([m, k], rowsOfA), "b": tensor([k, n], b), "c": tensor([n], bias)],
            result: [m, n])
        assertClose((0..<m).flatMap { c[($0 * ldc)..<($0 * ldc + n)] }, expected.floats)
        XCTAssertEqual((0..<m).flatMap { c[($0 * ldc + n)..<($0 * ldc + ldc)] }, [Float](repeating: 42, count: m * (ldc - n)))
    }

    /// MatMul of computed operands: one B for every row, B per batch entry, and B transposed.
    func testMatMul() throws {
        var random = SeededGenerator(seed: 6)
        for _ in 0..<8 {
            let batch = random.oddSize(1...5), m = random.oddSize(1...11), n = random.oddSize(1...37), k = random.oddSize(1...45)
            let a = random.floats(batch * m * k), b = random.floats(batch * k * n), shared = random.floats(k * n)
            var y = [Float](repeating: .nan, count: batch * m * n)

            kilnMatMul(a, strideA: m * k, b, strideB: k * n, &y, batch: batch, m: m, n: n, k: k, transposeB: false)
            let batched = try reference(
                "MatMul(%a, %b)", ["a": tensor([batch, m, k], a), "b": tensor([batch, k, n], b)], result: [batch, m, n])
            assertClose(y, batched.floats, "batched \(batch)x\(m)x\(k) x \(k)x\(n)")

            kilnMatMul(a, strideA: m * k, shared, strideB: 0, &y, batch: batch, m: m, n: n, k: k, transposeB: false)
            let broadcast = try reference(
                "MatMul(%a, %b)", ["a": tensor([batch, m, k], a), "b": tensor([k, n], shared)], result: [batch, m, n])
            assertClose(y, broadcast.floats, "B broadcast over \(batch)")

            kilnMatMul(a, strideA: 0, shared, strideB: 0, &y, batch: 1, m: batch * m, n: n, k: k, transposeB: true)
            let transposed = try reference(
                "Gemm(%a, %b) {transB = true}", ["a": tensor([batch * m, k], a), "b": tensor([n, k], shared)], result: [batch * m, n])
            assertClose(Array(y[0..<(batch * m * n)]), transposed.floats, "B transposed")
        }
    }

    /// C = f(A x B + bias) through the packed kernel against Gemm with the same epilogue.
    private func checkGemm(
        m: Int, n: Int, k: Int, bias hasBias: Bool, activation f: KilnActivation, _ epilogue: String, _ random: inout SeededGenerator,
        file: StaticString = #filePath, line: UInt = #line
    ) throws {
        // Weights scaled by 1/sqrt(k), as trained layers' are, keep the sums near 1 whatever k is.
        let a = random.floats(m * k), b = random.floats(k * n, in: -1...1).map { $0 / Float(k).squareRoot() }
        let bias = hasBias ? random.floats(n) : nil
        var c = [Float](repeating: .nan, count: m * n)
        withPointer(bias) { bias in
            kilnGemm(a, lda: k, packPanels(b, k: k, n: n), bias: bias, &c, ldc: n, m: m, n: n, k: k, activation: f)
        }
        var inputs: [(String, Tensor)] = [("a", tensor([m, k], a)), ("b", tensor([k, n], b))]
        if let bias { inputs.append(("c", tensor([n], bias))) }
        let operands = inputs.map { "%" + $0.0 }.joined(separator: ", ")
        let attributes = epilogue.isEmpty ? "transB = false" : "transB = false, epilogue = \(epilogue)"
        let expected = try reference("Gemm(\(operands)) {\(attributes)}", inputs, result: [m, n], file: file, line: line)
        assertClose(c, expected.floats, "m \(m) n \(n) k \(k) bias \(hasBias) \(f)", file: file, line: line)
    }
}
