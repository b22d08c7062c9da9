import Foundation
import KerasFrontend
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

final class KerasReaderTests: XCTestCase {
    private func read(_ fixture: String) throws -> Graph {
        try KerasReader.read(contentsOf: try Fixture.named(fixture).model)
    }

    func testEveryFixtureMatchesItsMetadata() throws {
        for fixture in try Fixture.all() {
            let graph = try KerasReader.read(contentsOf: fixture.model, weights: fixture.weights)
            let meta =
                try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.directory.appendingPathComponent("meta.json")))
                as! [String: Any]
            XCTAssertEqual(graph.inputs.map(\.name), meta["inputs"] as? [String], fixture.name)
            XCTAssertEqual(graph.outputs, meta["outputs"] as? [String], fixture.name)
            // Keras 3's model.to_json() does not record the version, only that it is Keras 3.
            let version = meta["keras"] as! String
            let recorded = meta["format"] as? String == "json" && version.hasPrefix("3.") ? "3" : version
            XCTAssertEqual(graph.metadata["source"], "keras \(recorded)", fixture.name)
            for (name, tensor) in try fixture.inputs() {
                let type = try XCTUnwrap(graph.inputs.first { $0.name == name }).type
                XCTAssertEqual(type.shape.dims.first, .symbolic("N"))
                // Every known size as the inputs have it; a size the model leaves unknown is a symbol.
                for (dim, size) in zip(type.shape.dims.dropFirst(), tensor.shape.dropFirst()) {
                    if case .fixed(let known) = dim { XCTAssertEqual(known, size, fixture.name) }
                }
                XCTAssertEqual(type.shape.rank, tensor.shape.count, fixture.name)
            }
        }
    }

    func testMLPStructure() throws {
        for name in ["mnist_mlp_keras2_h5", "mnist_mlp_keras3_h5", "mnist_mlp_keras3_keras"] {
            let graph = try read(name)
            XCTAssertEqual(graph.nodes.map(\.op.name), ["Flatten", "Gemm", "Relu", "Gemm", "Softmax"], name)
            XCTAssertEqual(graph.constants.map(\.name), ["dense.kernel", "dense.bias", "dense_1.kernel", "dense_1.bias"], name)
            XCTAssertEqual(graph.constants.map(\.tensor.shape), [[784, 128], [128], [128, 10], [10]], name)
            XCTAssertEqual(graph.parameterCount, 101_770, name)
        }
        // The Keras 3 .h5 and .keras files hold the same trained weights.
        XCTAssertEqual(try read("mnist_mlp_keras3_h5").constants, try read("mnist_mlp_keras3_keras").constants)
    }

    func testHardSigmoidFollowsTheFilesKerasVersion() throws {
        XCTAssertEqual(try read("act_hard_sigmoid_keras2_h5").nodes.last?.op, .activation(.hardSigmoid(alpha: 0.2, beta: 0.5)))
        XCTAssertEqual(try read("act_hard_sigmoid_keras3_keras").nodes.last?.op, .activation(.hardSigmoid(alpha: 1.0 / 6, beta: 0.5)))
    }

    func testActivationLayers() throws {
        let graph = try read("layers_keras3_keras")
        XCTAssertEqual(graph.nodes.map(\.op.name), ["Gemm", "Relu", "Gemm", "Tanh", "Gemm", "Softmax"])
        XCTAssertEqual(graph.nodes.map(\.name), ["dense", "relu", "dense_1", "activation", "dense_2", "softmax"])
    }

    func testDropoutAndLinearAddNoNodes() throws {
        XCTAssertFalse(try read("mnist_mlp_keras2_h5").nodes.contains { $0.name == "dropout" })
        XCTAssertEqual(try read("act_linear_keras2_h5").nodes.map(\.op.name), ["Gemm"])
    }

    private func assertError(_ url: URL, contains parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try KerasReader.read(contentsOf: url), file: file, line: line) { error in
            for part in parts { XCTAssertTrue("\(error)".contains(part), "\(error) should mention \(part)", file: file, line: line) }
        }
    }

    func testErrors() throws {
        let errors = TestPaths.testdata.appendingPathComponent("errors")
        assertError(errors.appendingPathComponent("missing.h5"), contains: ["missing.h5: no such file"])
        assertError(errors.appendingPathComponent("not_hdf5.h5"), contains: ["not an HDF5 file"])
        assertError(
            errors.appendingPathComponent("unknown_layer.h5"),
            contains: ["layer 'conv_lstm'", "ConvLSTM1D", "supported layers: Activation, ActivityRegularization, Add"])
        // Op layers calling a function Kiln does not read: tf.math.cumsum (Keras 2), keras.ops.cumsum (Keras 3).
        assertError(
            errors.appendingPathComponent("unsupported_op_layer.h5"),
            contains: ["1 x TFOpLambda calling tf.math.cumsum (layer 'tf.math.cumsum')", "read for these functions only: ", "tf.math.add"])
        assertError(
            errors.appendingPathComponent("unsupported_op_layer.keras"),
            contains: ["1 x Cumsum calling keras.ops.Cumsum (layer 'cumsum')", "keras.ops.Add"])

        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-keras-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let source = try Data(contentsOf: try Fixture.named("mnist_mlp_keras2_h5").model)
        for fraction in [2, 8] {
            let truncated = scratch.appendingPathComponent("truncated\(fraction).h5")
            try source.prefix(source.count / fraction).write(to: truncated)
            assertError(truncated, contains: [truncated.path])
        }
        let archive = try Data(contentsOf: try Fixture.named("mnist_mlp_keras3_keras").model)
        let broken = scratch.appendingPathComponent("broken.keras")
        try archive.prefix(archive.count / 2).write(to: broken)
        assertError(broken, contains: [broken.path])

        // Renaming the member in the zip headers leaves a valid archive without model.weights.h5.
        let withoutWeights = scratch.appendingPathComponent("without_weights.keras")
        try replacing("model.weights.h5", with: "model.weights.hX", in: archive, expectedCount: 2).write(to: withoutWeights)
        assertError(withoutWeights, contains: [withoutWeights.path, "no model.weights.h5"])

        assertError(scratch, contains: [scratch.path, "directory"])
    }

    func testWeightsThatDoNotFitTheConfigurationInAFile() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-keras-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // model_config is stored as plain bytes in the .h5: one digit changes the first Dense's units.
        for name in ["mnist_mlp_keras2_h5", "mnist_mlp_keras3_h5"] {
            let source = try Data(contentsOf: try Fixture.named(name).model)
            let edited = scratch.appendingPathComponent("\(name).h5")
            try replacing(#""units": 128"#, with: #""units": 127"#, in: source, expectedCount: 1).write(to: edited)
            assertError(edited, contains: [edited.path, "layer 'dense'", "[784, 128]", "[784, 127]"])
        }
    }

    private func replacing(_ old: String, with new: String, in data: Data, expectedCount: Int) throws -> Data {
        let (old, new) = (Array(old.utf8), Array(new.utf8))
        precondition(old.count == new.count, "byte patches keep the length")
        var bytes = [UInt8](data)
        var count = 0
        var index = 0
        while index + old.count <= bytes.count {
            if bytes[index..<index + old.count].elementsEqual(old) {
                bytes.replaceSubrange(index..<index + old.count, with: new)
                count += 1
            }
            index += 1
        }
        XCTAssertEqual(count, expectedCount, "occurrences of \(String(decoding: old, as: UTF8.self))")
        return Data(bytes)
    }

    func testConcurrentReadsMatchSerialOnes() throws {
        let fixtures = try Fixture.all()
        let serial = try fixtures.map { try KerasReader.read(contentsOf: $0.model, weights: $0.weights) }
        let results = ConcurrentResults<Result<Graph, KerasImportError>>(count: fixtures.count)
        DispatchQueue.concurrentPerform(iterations: fixtures.count) { index in
            results[index] = Result { () throws(KerasImportError) -> Graph in
                try KerasReader.read(contentsOf: fixtures[index].model, weights: fixtures[index].weights)
            }
        }
        for (index, result) in results.values.enumerated() {
            XCTAssertEqual(try result?.get(), serial[index], fixtures[index].name)
        }
    }

    func testHardSigmoidAndMLPComputeWhatKerasComputed() throws {
        // The full numeric comparison of every fixture lives in DriverTests; these pin the version-dependent
        // activation and the main example to Keras's own outputs here too.
        for name in ["act_hard_sigmoid_keras2_h5", "act_hard_sigmoid_keras3_keras", "mnist_mlp_keras2_h5", "mnist_mlp_keras3_keras"] {
            let fixture = try Fixture.named(name)
            let graph = try KerasReader.read(contentsOf: fixture.model, weights: fixture.weights)
            let outputs = try Interpreter().run(graph, inputs: try fixture.inputs())
            for comparison in Tolerance.standard.compare(actual: outputs, expected: try fixture.expected()) {
                XCTAssertTrue(comparison.withinTolerance, "\(name) \(comparison.name): max abs \(comparison.maxAbsoluteError)")
            }
        }
    }
}
