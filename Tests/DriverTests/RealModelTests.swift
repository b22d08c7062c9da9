import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import XCTest

/// Keras files other people published, kept in ../shared/real-models beside the repository: each converts
/// and matches Keras's own outputs in the interpreter and the generated Swift, or fails with the message
/// testdata/real-models.txt expects.
final class RealModelTests: XCTestCase {
    /// The repository's parent directory's shared/real-models.
    static let root = TestPaths.root.deletingLastPathComponent().appendingPathComponent("shared/real-models")

    /// One folder: its model (and weights, for an architecture JSON), inputs and expected outputs.
    struct RealModel {
        var name: String
        var model: URL
        var weights: URL?
        var directory: URL

        init(directory: URL) throws {
            name = directory.lastPathComponent
            self.directory = directory
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
            if let json = files.first(where: { $0.hasSuffix(".json") }) {
                model = directory.appendingPathComponent(json)
                weights = files.first { $0.hasSuffix(".h5") }.map(directory.appendingPathComponent)
            } else {
                let file = try XCTUnwrap(files.first { $0.hasSuffix(".h5") || $0.hasSuffix(".keras") }, "\(name) has no model file")
                model = directory.appendingPathComponent(file)
            }
        }

        /// `input_<name>.npy` by input name.
        func inputs() throws -> [String: Tensor] {
            var result: [String: Tensor] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasPrefix("input_") && file.hasSuffix(".npy") {
                result[String(file.dropFirst("input_".count).dropLast(4))] = try NPY.read(contentsOf: directory.appendingPathComponent(file))
            }
            return result
        }

        func expected() throws -> [String: Tensor] {
            let folder = directory.appendingPathComponent("expected")
            var result: [String: Tensor] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".npy") {
                result[String(file.dropLast(4))] = try NPY.read(contentsOf: folder.appendingPathComponent(file))
            }
            return result
        }
    }

    /// testdata/real-models.txt: folder -> nil for "pass", or the part of the error message expected.
    static func expectations() throws -> [String: String?] {
        let text = try String(contentsOf: TestPaths.testdata.appendingPathComponent("real-models.txt"), encoding: .utf8)
        var result: [String: String?] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let folder = String(line.prefix { $0 != " " })
            let rest = line.dropFirst(folder.count).trimmingCharacters(in: .whitespaces)
            if rest == "pass" {
                result[folder] = .some(nil)
            } else if rest.hasPrefix("error: ") {
                result[folder] = String(rest.dropFirst("error: ".count))
            } else {
                XCTFail("real-models.txt: '\(line)' is neither 'pass' nor 'error: ...'")
            }
        }
        return result
    }

    func testEveryRealModelConvertsAndMatchesKerasOrFailsClearly() throws {
        let folders = (try? FileManager.default.contentsOfDirectory(atPath: Self.root.path).sorted()) ?? []
        try XCTSkipIf(folders.isEmpty, "no real models at \(Self.root.path) (the repository's parent directory's shared/real-models)")
        let expectations = try Self.expectations()
        let models = try folders.map { Self.root.appendingPathComponent($0) }
            .filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
            .map(RealModel.init(directory:))
        // Each passing model compiles its own executor with swiftc; two at a time keeps both cores busy.
        let results = ConcurrentResults<Result<(outputs: [String], expected: [String], report: VerificationReport)?, Error>>(count: models.count)
        DispatchQueue.concurrentPerform(iterations: models.count) { index in
            let model = models[index]
            results[index] = Result {
                let graph = try ModelLoader.load(model.model, weights: model.weights)
                guard expectations[model.name] == .some(nil) else { return nil }
                let expected = try model.expected()
                let report = try EngineCheck.verify(graph, inputs: try model.inputs(), expected: expected)
                return (graph.outputs, Array(expected.keys), report)
            }
        }
        var passed: [String] = []
        for (model, result) in zip(models, results.values) {
            guard let expectation = expectations[model.name] else {
                XCTFail("\(model.name) is not listed in testdata/real-models.txt")
                continue
            }
            switch (expectation, result) {
            case (nil, .success(let (outputs, expected, report)?)):
                XCTAssertEqual(Set(outputs), Set(expected), "\(model.name): outputs carry Keras's names")
                XCTAssertTrue(report.passed, "\(model.name):\n\(report.render())")
                XCTAssertTrue(report.rows.contains { $0.engine == "swift" }, model.name)
                if report.passed { passed.append(model.name) }
            case (let message?, .failure(let error)):
                XCTAssertTrue("\(error)".contains(message), "\(model.name): '\(error)' should mention '\(message)'")
            case (let message?, .success):
                XCTFail("\(model.name) converted, but real-models.txt expects the error '\(message)'")
            case (nil, .failure(let error)):
                XCTFail("\(model.name): \(error)")
            case (_, nil), (nil, .success(nil)):
                XCTFail("\(model.name) did not run")
            }
        }
        print("real models: \(passed.count) of \(models.count) convert and match Keras in the interpreter and generated Swift: \(passed.joined(separator: ", "))")
    }
}
