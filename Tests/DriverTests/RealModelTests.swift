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
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path)
            where file.hasPrefix("input_") && file.hasSuffix(".npy") {
                result[String(file.dropFirst("input_".count).dropLast(4))] = try NPY.read(
                    contentsOf: directory.appendingPathComponent(file))
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
        // Every model loads (or fails as expected); the passing ones are optimized as convert writes them and
        // their executors compiled together by one swiftc.
        let pipeline = try Optimizer.pipeline(level: "O2")
        let loaded = models.map { model in Result { try pipeline.run(try ModelLoader.load(model.model, weights: model.weights)) } }
        var cases: [EngineCheck.Case] = []
        var caseOf: [Int: Int] = [:]
        for (index, model) in models.enumerated() {
            guard expectations[model.name] == .some(nil), case .success(let graph) = loaded[index] else { continue }
            caseOf[index] = cases.count
            cases.append(EngineCheck.Case(graph, inputs: try model.inputs(), expected: try model.expected()))
        }
        let reports = try EngineCheck.verify(cases)
        let results: [Result<(outputs: [String], expected: [String], report: VerificationReport)?, Error>?] = models.indices.map { index in
            switch loaded[index] {
            case .failure(let error): return .failure(error)
            case .success(let graph):
                guard let c = caseOf[index] else { return .success(nil) }
                return reports[c].map { (graph.outputs, Array(cases[c].expected?.keys ?? [:].keys), $0) }
            }
        }
        var passed: [String] = []
        for (model, result) in zip(models, results) {
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
        print(
            "real models: \(passed.count) of \(models.count) convert and match Keras in the interpreter and generated Swift: \(passed.joined(separator: ", "))"
        )
    }
}
