import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import SwiftBackend
import XCTest

/// Several generated executors in one module and one program (`CompiledSwiftModels`, as the tests compile
/// the fixtures): their kernels are `fileprivate`, so two files that use the same kernels coexist, and the
/// harness declares its helpers once and one entry per executor. A source that does not compile fails
/// alone; the others are compiled again without it.
final class SwiftProgramTests: XCTestCase {
    func testExecutorsOfOneProgramRunApartAndABrokenOneFailsAlone() throws {
        // Two graphs of the same name using the same kernels (products, elementwise ops, softmax).
        var a = SwiftTestGraph(name: "net", seed: 1)
        let x = a.input("x", [6])
        let dense = try a.node("dense", .gemm(transB: false), [x, a.constant("w", [6, 4]), a.constant("b", [4])])
        a.output(try a.node("probs", .softmax(axis: -1), [try a.node("relu", .activation(.relu), [dense])]))
        var b = SwiftTestGraph(name: "net", seed: 2)
        let image = b.input("x", [3, 5])
        let product = try b.node("product", .matMul, [image, b.constant("w", [5, 2])])
        let shifted = try b.node("shifted", .binary(.add), [product, b.constant("shift", [3, 2])])
        b.output(try b.node("probs", .softmax(axis: 1), [shifted]))

        let first = try SwiftEmitter().emit(a.graph, typeName: "First")
        let second = try SwiftEmitter().emit(b.graph, typeName: "Second")
        var broken = try SwiftEmitter().emit(a.graph, typeName: "Broken")
        broken.source += "\nfileprivate func kilnBroken() -> Int { \"not an Int\" }\n"
        // Not a test of the optimizer: -Onone compiles (twice, with the broken source and without) quickest.
        let executors = try CompiledSwiftModels(
            emissions: [.success(first), .success(second), .success(broken)], graphs: [a.graph, b.graph, a.graph], flags: ["-Onone"])
        defer { executors.remove() }

        for (index, graph) in [a.graph, b.graph].enumerated() {
            let compiled = try executors.models[index].get()
            for batch in [1, 5] {
                let inputs = try Inputs.random(for: graph, batchSize: batch, seed: UInt64(batch))
                XCTAssertEqual(
                    swiftOutputFailures(
                        actual: try compiled.run(inputs), expected: try Interpreter().run(graph, inputs: inputs),
                        context: "\(index) batch \(batch)"),
                    [])
            }
            XCTAssertGreaterThan(executors.compileSeconds[index] ?? 0, 0, "swiftc's time for executor \(index)")
        }
        XCTAssertThrowsError(try executors.models[2].get()) { error in
            XCTAssertTrue("\(error)".contains("swiftc failed to compile Broken.swift"), "\(error)")
        }
        XCTAssertNil(executors.compileSeconds[2])
    }
}
