import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import SwiftBackend
import XCTest

/// Integer index inputs in the generated API: an embedding lookup through `[Int32]`, the buffer and
/// by-name entries, and the errors for an index outside the table and a fractional index given as a float.
final class SwiftIndexInputTests: XCTestCase {
    static let model = """
        graph @lookup {
          input %tokens : i32[N,3]
          const %table : f32[4,2] = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 31.0]
          %rows = Gather(%table, %tokens) {axis = 0} : f32[N,3,2]
          %flat = Flatten(%rows) {axis = 1} : f32[N,6]
          output %flat
        }
        """

    static let main = #"""
        import Foundation

        func report(_ label: String, _ body: () throws -> Void) {
            do {
                try body()
            } catch {
                print("\(label): \(error)")
            }
        }

        let model = try Lookup(weightsAt: URL(fileURLWithPath: CommandLine.arguments[1]))
        let typed = try model.predict(tokens: [3, 0, 1, 2, 2, 0] as [Int32], batchSize: 2)
        print("typed: \(typed.flat)")
        let byName = try model.predict(inputs: ["tokens": [1, 1, 3]], batchSize: 1)
        print("by name: \(byName["flat"]!)")
        var out = [Float](repeating: 0, count: 6)
        let tokens: [Int32] = [0, 3, 0]
        try tokens.withUnsafeBufferPointer { source in
            try out.withUnsafeMutableBufferPointer { try model.predict(tokens: source, batchSize: 1, flat: $0) }
        }
        print("buffers: \(out)")
        report("outside", { _ = try model.predict(tokens: [0, 4, 1] as [Int32], batchSize: 1) })
        report("negative", { _ = try model.predict(tokens: [-1, 0, 1] as [Int32], batchSize: 1) })
        report("fraction", { _ = try model.predict(inputs: ["tokens": [0, 1.5, 1]], batchSize: 1) })
        // A failed run leaves the model usable.
        print("after: \(try model.predict(tokens: [2, 2, 2] as [Int32], batchSize: 1).flat)")
        """#

    func testIndexInputsThroughEveryEntryAndTheirErrors() throws {
        let graph = try TextParser.parse(Self.model)
        let emission = try SwiftEmitter().emit(graph)
        XCTAssertTrue(emission.source.contains("public func predict(tokens: [Int32], batchSize: Int) throws -> Output"))
        XCTAssertTrue(emission.source.contains("tokens: UnsafeBufferPointer<Int32>"))

        let (directory, remove) = try swiftTemporaryDirectory()
        defer { remove() }
        let weights = directory.appendingPathComponent("Lookup.weights")
        try Data(emission.weights).write(to: weights)
        let sources = [directory.appendingPathComponent("main.swift"), directory.appendingPathComponent("Lookup.swift")]
        try Data(Self.main.utf8).write(to: sources[0])
        try Data(emission.source.utf8).write(to: sources[1])
        let toolchain = try SwiftToolchain()
        let executable = directory.appendingPathComponent("lookup")
        try toolchain.compile(sources, into: executable)
        let lines = try toolchain.run(executable, arguments: [weights.path]).stdout.split(separator: "\n").map(String.init)

        // The interpreter computes the same rows.
        let reference = try Interpreter().run(graph, inputs: ["tokens": Tensor(shape: [2, 3], storage: .int32([3, 0, 1, 2, 2, 0]))])
        XCTAssertEqual(reference["flat"]?.floats, [30, 31, 0, 1, 10, 11, 20, 21, 20, 21, 0, 1])
        XCTAssertEqual(
            lines,
            [
                "typed: [30.0, 31.0, 0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 20.0, 21.0, 0.0, 1.0]",
                "by name: [10.0, 11.0, 10.0, 11.0, 30.0, 31.0]",
                "buffers: [0.0, 1.0, 30.0, 31.0, 0.0, 1.0]",
                "outside: rows: index 4 is outside [0, 4)",
                "negative: rows: index -1 is outside [0, 4)",
                "fraction: 'tokens' takes whole-number indices, got 1.5",
                "after: [20.0, 21.0, 20.0, 21.0, 20.0, 21.0]",
            ])
    }
}
