import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import XCTest

@testable import SwiftBackend

/// What the Swift emitter writes, without compiling it: names, the weights file layout, kernel selection
/// and the errors for graphs it cannot compile.
final class SwiftEmitterTests: XCTestCase {
    func testParameterNamesAreRecognizableUniqueIdentifiers() throws {
        var g = SwiftTestGraph(name: "names")
        for name in ["dense_1", "Dense_1", "in", "batchSize", "2x", "URLField", "a.b", "a_b"] { g.input(name, [2]) }
        g.output("dense_1", try g.node("out", .identity, ["in"]))
        let names = SwiftNames(graph: g.graph)
        XCTAssertEqual(names.inputs, ["dense_1", "dense_1_2", "in", "batchSize_2", "_2x", "urlField", "a_b", "a_b_2"])
        XCTAssertEqual(names.outputs, ["dense_1_3", "out"])
        XCTAssertEqual(SwiftNames.code("in"), "`in`")
        let source = try SwiftEmitter().emit(g.graph).source
        XCTAssertTrue(
            source.contains("public func predict(dense_1: [Float], dense_1_2: [Float], `in`: [Float], batchSize_2: [Float]"), source)
        XCTAssertTrue(source.contains("public var dense_1_3: [Float]"))
    }

    func testTypeNames() {
        XCTAssertEqual(SwiftEmitter.typeName(for: "mnist_mlp"), "MnistMlp")
        XCTAssertEqual(SwiftEmitter.typeName(for: "3d-net"), "Model3dNet")
        XCTAssertEqual(SwiftEmitter.typeName(for: "data"), "DataModel")
        XCTAssertEqual(SwiftEmitter.typeName(for: "__"), "Model")
        for bad in ["not valid", "class", "URL", "", "9lives"] {
            XCTAssertThrowsError(try SwiftEmitter().emit(Graph(name: "g"), typeName: bad)) { error in
                guard case SwiftEmitError.badTypeName(bad, _) = error else { return XCTFail("\(error)") }
            }
        }
    }

    func testWeightsFileHasAVersionedHeaderAndAlignedBlocks() throws {
        var g = SwiftTestGraph(name: "layout")
        let x = g.input("x", [3])
        let w = g.constant("w", [3, 5]), b = g.constant("b", [5]), c = g.constant("c", [5])
        g.output(try g.node("y", .binary(.add), [try g.node("g", .gemm(transB: false), [x, w, b]), c]))
        let emission = try SwiftEmitter().emit(g.graph)
        let bytes = emission.weights
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        }
        XCTAssertEqual(Array(bytes[0..<8]), Array("KILNWGTS".utf8))
        XCTAssertEqual(integer(8, UInt32.self), 1)
        XCTAssertEqual(integer(12, UInt32.self), 64)
        XCTAssertEqual(Int(integer(16, UInt64.self)), bytes.count - 64)
        XCTAssertTrue(emission.source.contains("0x" + String(integer(24, UInt64.self), radix: 16)))
        // B packed in one 16-column panel (3 x 16 floats), then b and c, each at a 64-byte boundary.
        let floats = bytes[64...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let wv = g.floats("w")
        XCTAssertEqual(Array(floats[0..<5]), Array(wv[0..<5]))
        XCTAssertEqual(Array(floats[5..<16]), Array(repeating: 0, count: 11))
        XCTAssertEqual(Array(floats[16..<21]), Array(wv[5..<10]))
        XCTAssertEqual(Array(floats[48..<53]), g.floats("b"))
        XCTAssertEqual(Array(floats[64..<69]), g.floats("c"))
        XCTAssertTrue(emission.source.contains("bias: w + 48"))
    }

    func testOnlyTheKernelsAGraphUsesAreEmitted() throws {
        var g = SwiftTestGraph(name: "small")
        g.output(try g.node("y", .activation(.tanh), [g.input("x", [4])]))
        let source = try SwiftEmitter().emit(g.graph).source
        XCTAssertTrue(source.contains("fileprivate func kilnUnary"))
        for absent in ["kilnGemm", "kilnMatMul", "kilnBinary", "kilnTranspose", "KilnWindow"] {
            XCTAssertFalse(source.contains(absent), absent)
        }
    }

    func testIndexExpressionsFoldAsTheyAreBuilt() {
        let o = SwiftIndex("o"), batch = SwiftIndex("batch")
        var offset = SwiftIndex(0)
        for _ in 0..<14 { offset = offset + SwiftIndex(4) }
        XCTAssertEqual((batch * 8 + o * 56 + offset).description, "8 * batch + 56 * o + 56")
        XCTAssertEqual((o * (batch * 4) + SwiftIndex(0)).description, "4 * batch * o")
        XCTAssertEqual((batch + SwiftIndex(3) + batch * -1).description, "3")
        XCTAssertEqual((SwiftIndex(2) + o * -3).description, "-3 * o + 2")
        XCTAssertEqual(SwiftIndex(0).description, "0")
        XCTAssertEqual(batch.description, "batch")
    }

    /// A Concatenate of many inputs once printed each offset as a sum of constants, `a + o * (56) + (4) + (4)
    /// + ...`, which swiftc took minutes to type-check. No statement of any fixture or op test holds
    /// arithmetic on two literals.
    func testGeneratedStatementsHoldNoArithmeticOnConstants() throws {
        let ops = TestPaths.testdata.appendingPathComponent("ops")
        let models: [(name: String, load: () throws -> Graph)] =
            try Fixture.all().map { fixture in (fixture.name, { try fixture.load() }) }
            + FileManager.default.contentsOfDirectory(atPath: ops.path).filter { $0.hasSuffix(".kir") }.map { file in
                (file, { try ModelLoader.load(ops.appendingPathComponent(file)) })
            }
        let constantArithmetic = try NSRegularExpression(pattern: #"(?<![\w.])\d+ [-+*/] \(?\d+\b|[-+*/] \(\d+\)|\bbatch [*/] \d"#)
        func holdsConstantArithmetic(_ line: String) -> Bool {
            constantArithmetic.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
        }
        XCTAssertTrue(holdsConstantArithmetic("(a + 48 * batch + o * (24) + (8)).update(from: a + o * (8), count: 8)"))
        XCTAssertTrue(holdsConstantArithmetic("kilnGemm(a, lda: 27, w, bias: nil, a, ldc: 2, m: 160 * batch / 2, n: 2)"))
        XCTAssertFalse(holdsConstantArithmetic("(a + 48 * batch + 24 * o + 16).update(from: a + 8 * o, count: 8)"))
        var concatenations = 0
        for model in models {
            let source = try SwiftEmitter().emit(try Backend.swift.legalize(try model.load())).source
            let body = try XCTUnwrap(source.range(of: "    private func run(batch: Int"), model.name)
            let statements = String(source[body.lowerBound...]).components(separatedBy: "\n    }\n")[0]
            concatenations += statements.components(separatedBy: "= Concat(").count - 1
            for line in statements.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                XCTAssertFalse(holdsConstantArithmetic(String(line)), "\(model.name): \(line)")
            }
        }
        XCTAssertGreaterThan(concatenations, 0)
    }

    func testUnsupportedGraphsAreTypedErrors() throws {
        var cast = SwiftTestGraph(name: "cast")
        let halves = try cast.node("halves", .cast(to: .float16), [cast.input("x", [4])])
        cast.output(try cast.node("y", .cast(to: .float32), [halves]))
        var batchedMatMul = SwiftTestGraph(name: "matmul")
        let a = batchedMatMul.input("a", [2, 3, 4])
        let b = batchedMatMul.input("b", [1, 4, 5])
        batchedMatMul.output(try batchedMatMul.node("y", .matMul, [a, b]))
        var intInput = SwiftTestGraph(name: "ints")
        intInput.output("i")
        var graph = intInput.graph
        graph.inputs = [Value("i", TensorType(.int64, Shape(["N", 2])))]
        var noBatch = SwiftTestGraph(name: "reduced")
        noBatch.output(try noBatch.node("total", .reduce(.sum, axes: [0, 1], keepDims: false), [noBatch.input("x", [4])]))
        var batchSecond = SwiftTestGraph(name: "transposed")
        batchSecond.output(try batchSecond.node("t", .transpose(perm: [1, 0]), [batchSecond.input("x", [4])]))
        for (model, expected) in [
            (cast.graph, "Cast from f32 to f16"), (batchedMatMul.graph, "broadcast batch dimensions"), (graph, "must be f32"),
            (noBatch.graph, "needs the batch N as its first dimension"),
            (batchSecond.graph, "f32[4,N] needs the batch N as its first dimension"),
        ] {
            XCTAssertThrowsError(try SwiftEmitter().emit(model)) { error in
                guard case SwiftEmitError.unsupported = error else { return XCTFail("\(error)") }
                XCTAssertTrue("\(error)".contains(expected), "\(error)")
            }
        }
    }
}
