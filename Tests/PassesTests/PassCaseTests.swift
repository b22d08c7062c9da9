import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnPasses
import KilnTestSupport
import XCTest

/// MLIR-style pass tests. Each `testdata/passes/<pass>/<name>.kir` starts with `// RUN: pass,pass,...`
/// and holds cases separated by `// -----`, each opening with a one-line comment; `<name>.expected.kir`
/// holds the expected IR of each case in the same order. Every case is also run in the interpreter before
/// and after the pipeline on seeded random inputs, and the outputs must agree.
final class PassCaseTests: XCTestCase {
    static let root = TestPaths.testdata.appendingPathComponent("passes")

    func testEveryPassCase() throws {
        let manager = FileManager.default
        var checked = 0
        for folder in try manager.contentsOfDirectory(atPath: Self.root.path).sorted() {
            let directory = Self.root.appendingPathComponent(folder)
            for file in try manager.contentsOfDirectory(atPath: directory.path).sorted()
            where file.hasSuffix(".kir") && !file.hasSuffix(".expected.kir") {
                checked += try runCases(directory.appendingPathComponent(file))
            }
        }
        XCTAssertGreaterThan(checked, 0)
    }

    private func split(_ text: String) -> [String] {
        text.components(separatedBy: "// -----\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { $0.contains("graph @") }
    }

    private func runCases(_ url: URL) throws -> Int {
        let text = try String(contentsOf: url, encoding: .utf8)
        guard let runLine = text.split(separator: "\n").first, runLine.hasPrefix("// RUN:") else {
            XCTFail("\(url.lastPathComponent) must start with // RUN: <pipeline>")
            return 0
        }
        let pipeline = runLine.dropFirst("// RUN:".count).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let manager = try PassManager(pipeline: pipeline, evaluator: Interpreter.evaluate, verifyEach: true)
        let expectedURL = url.deletingPathExtension().appendingPathExtension("expected.kir")
        let cases = split(text)
        var actual: [String] = []
        for (index, source) in cases.enumerated() {
            let label = "\(url.lastPathComponent) case \(index + 1)"
            let comment = source.split(separator: "\n").first { $0.hasPrefix("//") && !$0.hasPrefix("// RUN:") }
            XCTAssertNotNil(comment, "\(label) needs a one-line comment saying what it tests")
            let graph = try TextParser.parse(source)
            try graph.verify()
            let result = try manager.run(graph)
            actual.append(
                "// " + (comment.map { String($0.dropFirst(2)).trimmingCharacters(in: .whitespaces) } ?? "") + "\n"
                    + TextPrinter(inlineLimit: .max).print(result))

            let inputs = try Inputs.random(for: graph, batchSize: 3, seed: UInt64(index + 1))
            let before = try Interpreter().run(graph, inputs: inputs)
            let after = try Interpreter().run(result, inputs: inputs)
            for comparison in Tolerance.standard.compare(actual: after, expected: before) {
                XCTAssertTrue(
                    comparison.withinTolerance, "\(label): output \(comparison.name) changed: max abs \(comparison.maxAbsoluteError)")
            }
        }
        let rendered = actual.joined(separator: "\n// -----\n")
        if let failure = Golden.check(
            rendered, against: "../passes/\(url.deletingLastPathComponent().lastPathComponent)/\(expectedURL.lastPathComponent)")
        {
            XCTFail(failure)
        }
        return cases.count
    }
}
