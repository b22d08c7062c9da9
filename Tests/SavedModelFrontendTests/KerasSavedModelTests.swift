import Foundation
import KerasFrontend
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

@testable import SavedModelFrontend

/// The Keras-metadata path on testdata/savedmodel/mlp (tf_keras `model.save('mlp/1')`), and TF Serving base paths.
final class KerasSavedModelTests: XCTestCase {
    let fixture = TestPaths.testdata.appendingPathComponent("savedmodel/mlp")
    var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-savedmodel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(at: scratch) }

    func tensors(_ folder: String, of fixture: URL? = nil) throws -> [String: Tensor] {
        let directory = (fixture ?? self.fixture).appendingPathComponent(folder)
        var result: [String: Tensor] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".npy") {
            result[String(file.dropLast(4))] = try NPY.read(contentsOf: directory.appendingPathComponent(file))
        }
        return result
    }

    func testMatchesKerasWithTheSignaturesNames() throws {
        let graph = try KerasSavedModel.read(try SavedModelLocation(fixture.appendingPathComponent("1").path))
        XCTAssertEqual(graph.inputs.map(\.name), ["features"])
        XCTAssertEqual(graph.outputs, ["scores"])
        XCTAssertEqual(graph.metadata["source"], "keras 2.20.1")
        XCTAssertEqual(graph.metadata["source_format"], "savedmodel")
        XCTAssertNil(graph.metadata["savedmodel_version"])
        let outputs = try Interpreter().run(graph, inputs: try tensors("inputs"))
        for comparison in Tolerance.standard.compare(actual: outputs, expected: try tensors("expected")) {
            XCTAssertTrue(comparison.withinTolerance, "\(comparison)")
        }
    }

    /// Every testdata/savedmodel/<name>/ read from its base path, in the interpreter, against Keras's outputs.
    func testEverySavedModelFixtureMatchesKeras() throws {
        let root = TestPaths.testdata.appendingPathComponent("savedmodel")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        XCTAssertTrue(names.contains("mnist_model"), "\(names)")
        for name in names {
            let directory = root.appendingPathComponent(name)
            let graph = try ModelLoader.load(directory)
            let outputs = try Interpreter().run(graph, inputs: try tensors("inputs", of: directory))
            let expected = try tensors("expected", of: directory)
            XCTAssertEqual(Set(graph.outputs), Set(expected.keys), name)
            for comparison in Tolerance.standard.compare(actual: outputs, expected: expected) {
                XCTAssertTrue(comparison.withinTolerance, "\(name): \(comparison)")
            }
        }
    }

    /// Every testdata/savedmodel/<name>/ in the generated Swift too (the -O2 executor `kiln convert` writes),
    /// the executors compiled by one swiftc, against Keras's outputs.
    func testGeneratedSwiftOfEverySavedModelFixtureMatchesKeras() throws {
        let root = TestPaths.testdata.appendingPathComponent("savedmodel")
        let names = try FileManager.default.contentsOfDirectory(atPath: root.path).sorted()
        let pipeline = try Optimizer.pipeline(level: "O2")
        let cases = try names.map { name in
            let directory = root.appendingPathComponent(name)
            return EngineCheck.Case(
                try pipeline.run(try ModelLoader.load(directory)), inputs: try tensors("inputs", of: directory),
                expected: try tensors("expected", of: directory))
        }
        for (name, result) in zip(names, try EngineCheck.verify(cases)) {
            let report = try result.get()
            XCTAssertTrue(report.passed, "\(name):\n\(report.render())")
            XCTAssertTrue(report.rows.contains { $0.engine == "swift" }, name)
        }
    }

    /// testdata/savedmodel/functional: two inputs, two outputs, a nested Sequential model, BatchNormalization.
    func testFunctionalModelWithANestedModelMatchesKeras() throws {
        let functional = TestPaths.testdata.appendingPathComponent("savedmodel/functional")
        let graph = try KerasSavedModel.read(try SavedModelLocation(functional.path))
        XCTAssertEqual(graph.inputs.map(\.name), ["image", "extra"])
        XCTAssertEqual(graph.outputs, ["head", "aux"])
        XCTAssertEqual(graph.metadata["savedmodel_version"], "1")
        let outputs = try Interpreter().run(graph, inputs: try tensors("inputs", of: functional))
        let comparisons = Tolerance.standard.compare(actual: outputs, expected: try tensors("expected", of: functional))
        XCTAssertEqual(comparisons.count, 2)
        for comparison in comparisons { XCTAssertTrue(comparison.withinTolerance, "\(comparison)") }
    }

    func testWeightsAreFoundThroughTheObjectGraph() throws {
        let graph = try KerasSavedModel.read(try SavedModelLocation(fixture.appendingPathComponent("1").path))
        let weights = try tensors("weights")
        for (name, tensor) in weights {
            // weights/hidden.kernel.npy is the constant hidden.kernel.
            XCTAssertEqual(graph.constants.first { $0.name == name }?.tensor, tensor, name)
        }
        XCTAssertEqual(weights.count, 4)
    }

    func testSignaturesAreListedWithTheirTensors() throws {
        let signatures = try SavedModelSignature.read(directory: fixture.appendingPathComponent("1").path)
        XCTAssertEqual(signatures.map(\.name), ["serving_default"])
        XCTAssertEqual(
            signatures[0].summary,
            """
            serving_default (tensorflow/serving/predict)
              input  features: float32[?,4] (serving_default_features:0)
              output scores: float32[?,3] (StatefulPartitionedCall:0)
            """)
    }

    func testAnUnknownSignatureIsNamedWithTheOthers() throws {
        XCTAssertThrowsError(try ModelLoader.load(fixture, savedModelSignature: "predict")) { error in
            XCTAssertEqual(
                error as? SavedModelImportError,
                .missingSignature(directory: fixture.appendingPathComponent("1").path, name: "predict", available: ["serving_default"]))
        }
        XCTAssertEqual(try ModelLoader.load(fixture, savedModelSignature: "serving_default").outputs, ["scores"])
    }

    func testSignatureWithOtherNamesIsRefused() throws {
        var graph = try KerasSavedModel.read(try SavedModelLocation(fixture.path))
        graph.outputs = ["probabilities"]
        XCTAssertThrowsError(try KerasSavedModel.check(graph, against: nil, in: fixture.appendingPathComponent("1").path)) { error in
            XCTAssertTrue("\(error)".contains("its outputs are scores, the Keras model's are probabilities"), "\(error)")
        }
    }

    /// Copies the fixture's SavedModel to `base/<name>` for each name.
    func makeBase(_ names: [String]) throws -> URL {
        let base = scratch.appendingPathComponent("base")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(at: fixture.appendingPathComponent("1"), to: base.appendingPathComponent(name))
        }
        return base
    }

    func testServingBasePathReadsTheHighestVersion() throws {
        let base = try makeBase(["1", "2", "10"])
        // Neither a directory without saved_model.pb nor one whose name is not a number is a version.
        try FileManager.default.createDirectory(at: base.appendingPathComponent("11"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture.appendingPathComponent("1"), to: base.appendingPathComponent("99-old"))
        let location = try SavedModelLocation(base.path)
        XCTAssertEqual(location, SavedModelLocation(directory: base.appendingPathComponent("10").path, version: 10))
        XCTAssertEqual(try KerasSavedModel.read(location).metadata["savedmodel_version"], "10")
        XCTAssertEqual(try SavedModelLocation(base.path, version: 2).directory, base.appendingPathComponent("2").path)

        let graph = try ModelLoader.load(base)
        XCTAssertEqual(graph.metadata["savedmodel_version"], "10")
        XCTAssertEqual(Converter.defaultName(for: base.appendingPathComponent("10")), "base")
    }

    func testMissingVersionListsTheOthers() throws {
        let base = try makeBase(["1", "2"])
        XCTAssertThrowsError(try SavedModelLocation(base.path, version: 5)) { error in
            XCTAssertEqual("\(error)", "\(base.path): has no version 5; its versions: 1, 2")
        }
        XCTAssertThrowsError(try ModelLoader.load(fixture.appendingPathComponent("1/saved_model.pb"), savedModelVersion: 1)) { error in
            XCTAssertTrue("\(error)".contains("picks a version of a TF Serving base path"), "\(error)")
        }
    }

    func testDirectoryThatIsNoSavedModel() throws {
        XCTAssertThrowsError(try ModelLoader.load(scratch)) { error in
            XCTAssertEqual(error as? SavedModelImportError, .notASavedModel(directory: scratch.path))
        }
    }

    func testSavedModelWithoutKerasMetadataNamesTheMissingCapability() throws {
        let base = try makeBase(["1"])
        let version = base.appendingPathComponent("1")
        try FileManager.default.removeItem(at: version.appendingPathComponent("keras_metadata.pb"))
        XCTAssertThrowsError(try ModelLoader.load(base)) { error in
            XCTAssertEqual(error as? SavedModelImportError, .noKerasMetadata(directory: version.path))
            XCTAssertTrue("\(error)".contains("importing the TensorFlow graph of other SavedModels is not supported yet"), "\(error)")
        }
    }

    func testDamagedCheckpointIsReportedAsSuch() throws {
        let base = try makeBase(["1"])
        let data = base.appendingPathComponent("1/variables/variables.data-00000-of-00001")
        var bytes = try Data(contentsOf: data)
        bytes[10] ^= 0xFF
        try bytes.write(to: data)
        XCTAssertThrowsError(try ModelLoader.load(base)) { error in
            XCTAssertTrue("\(error)".contains("fail their checksum"), "\(error)")
            XCTAssertTrue("\(error)".contains("layer 'hidden'"), "\(error)")
        }
    }
}
