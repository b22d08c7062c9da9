import Foundation
import KerasFrontend
import KilnIR
import KilnTestSupport
import XCTest

final class KerasReaderTests: XCTestCase {
    private func read(_ fixture: String) throws -> Graph {
        try KerasReader.read(contentsOf: try Fixture.named(fixture).model)
    }

    func testEveryFixtureMatchesItsMetadata() throws {
        for fixture in try Fixture.all() {
            let graph = try KerasReader.read(contentsOf: fixture.model)
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.directory.appendingPathComponent("meta.json"))) as! [String: Any]
            XCTAssertEqual(graph.inputs.map(\.name), meta["inputs"] as? [String], fixture.name)
            XCTAssertEqual(graph.outputs, meta["outputs"] as? [String], fixture.name)
            XCTAssertEqual(graph.metadata["source"], "keras \(meta["keras"] as! String)", fixture.name)
            for (name, tensor) in try fixture.inputs() {
                let type = try XCTUnwrap(graph.inputs.first { $0.name == name }).type
                XCTAssertEqual(type.shape.dims.first, .symbolic("N"))
                XCTAssertEqual(type.shape.dims.dropFirst().map(\.fixedValue), tensor.shape.dropFirst().map { $0 }, fixture.name)
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
            contains: ["layer 'simple_rnn'", "SimpleRNN", "supported layers: Activation, ActivityRegularization, Add"])

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
    }
}
