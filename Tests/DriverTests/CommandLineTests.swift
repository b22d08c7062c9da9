import Foundation
import KilnDriver
import KilnTestSupport
import XCTest

/// The `kiln` executable itself: what users run.
final class CommandLineTests: XCTestCase {
    /// The kiln executable: `$KILN_BINARY`, or the one `swift build` placed beside the test bundle.
    private var kiln: URL {
        if let explicit = ProcessInfo.processInfo.environment["KILN_BINARY"] { return URL(fileURLWithPath: explicit) }
        let candidates =
            [Bundle(for: Self.self).bundleURL.deletingLastPathComponent()]
            + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
            + [TestPaths.root.appendingPathComponent(".build/debug")]
        return candidates.map { $0.appendingPathComponent("kiln") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
            ?? candidates[0].appendingPathComponent("kiln")
    }

    private var scratch: URL!

    override func setUpWithError() throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: kiln.path), "build the kiln product first (swift build)")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    @discardableResult
    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = kiln
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    private func assertFails(_ arguments: [String], mentioning message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let output = scratch.appendingPathComponent("out")
        let result = try run(arguments + ["-o", output.path])
        XCTAssertNotEqual(result.status, 0, file: file, line: line)
        XCTAssertTrue(result.stderr.contains(message), "stderr \(result.stderr) should mention \(message)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "no output may be left behind", file: file, line: line)
    }

    func testConvertIsByteIdenticalRunToRun() throws {
        let model = try Fixture.named("mnist_mlp_keras3_h5").model.path
        let first = scratch.appendingPathComponent("a"), second = scratch.appendingPathComponent("b")
        XCTAssertEqual(try run(["convert", model, "-o", first.path, "--emit", "onnx,swift,kir", "--name", "mlp"]).status, 0)
        XCTAssertEqual(try run(["convert", model, "-o", second.path, "--emit", "onnx,swift,kir", "--name", "mlp"]).status, 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: first.path).sorted()
        XCTAssertEqual(files, ["Mlp.swift", "Mlp.weights", "mlp.kir", "mlp.kir.weights", "mlp.onnx"])
        for file in files {
            let a = try Data(contentsOf: first.appendingPathComponent(file)), b = try Data(contentsOf: second.appendingPathComponent(file))
            XCTAssertEqual(a, b, "\(file) differs between two runs")
        }
    }

    /// A model file whose name would make a Swift type the generated source uses (`data.h5` -> `Data`) or that is
    /// not ASCII still converts: the type name takes `Model` after it, or keeps the ASCII letters.
    func testFileNamesThatMakeNoTypeNameOfTheirOwnStillConvert() throws {
        let source = try Fixture.named("mnist_mlp_keras3_h5").model
        for (file, type) in [("data.h5", "DataModel"), ("modèle.h5", "ModLe")] {
            let model = scratch.appendingPathComponent(file)
            try FileManager.default.copyItem(at: source, to: model)
            let output = scratch.appendingPathComponent("out-\(type)")
            let result = try run(["convert", model.path, "-o", output.path, "--emit", "swift"])
            XCTAssertEqual(result.status, 0, result.stderr)
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: output.path).sorted(), ["\(type).swift", "\(type).weights"])
        }
    }

    /// Quantized output is as reproducible as float output, in every format and both ONNX forms; `--per-channel`
    /// is the default and `--per-tensor` changes the weights.
    func testQuantizedConvertIsByteIdenticalRunToRun() throws {
        let fixture = try Fixture.named("mnist_mlp_keras3_h5")
        let model = fixture.model.path, calibration = fixture.directory.appendingPathComponent("inputs").path
        var outputs: [String: [String: Data]] = [:]
        for (name, extra) in [
            ("a", ["--onnx-quantization", "qoperator"]), ("b", ["--onnx-quantization", "qoperator"]), ("c", ["--per-channel"]), ("d", []),
            ("e", ["--per-tensor"]),
        ] {
            let directory = scratch.appendingPathComponent(name)
            let result = try run(
                [
                    "convert", model, "-o", directory.path, "--emit", "onnx,swift,kir", "--name", "mlp", "--quantize", "static",
                    "--calibration", calibration,
                ]
                    + extra)
            XCTAssertEqual(result.status, 0, result.stderr)
            for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                outputs[name, default: [:]][file] = try Data(contentsOf: directory.appendingPathComponent(file))
            }
        }
        XCTAssertEqual(outputs["a"]!.keys.sorted(), ["Mlp.swift", "Mlp.weights", "mlp.kir", "mlp.kir.weights", "mlp.onnx"])
        XCTAssertEqual(outputs["a"], outputs["b"])
        XCTAssertEqual(outputs["c"], outputs["d"])
        XCTAssertNotEqual(outputs["a"]!["mlp.onnx"], outputs["c"]!["mlp.onnx"], "qoperator and qdq are different models")
        XCTAssertNotEqual(outputs["d"]!["mlp.kir.weights"], outputs["e"]!["mlp.kir.weights"])
        try assertFails(["convert", model, "--quantize", "dynamic", "--per-channel", "--per-tensor"], mentioning: "per-")
    }

    func testRunWritesOneNPYPerOutput() throws {
        let fixture = try Fixture.named("mnist_mlp_keras2_h5")
        let output = scratch.appendingPathComponent("run")
        let input = fixture.directory.appendingPathComponent("inputs/input.npy").path
        let result = try run(["run", fixture.model.path, "--input", input, "-o", output.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let expected = try fixture.expected()
        for (name, tensor) in expected {
            let written = try NPY.read(contentsOf: output.appendingPathComponent("\(name).npy"))
            XCTAssertTrue(Tolerance.standard.compare(name: name, actual: written, expected: tensor).withinTolerance)
        }
    }

    func testInspectPrintsASummary() throws {
        let result = try run(["inspect", try Fixture.named("mnist_mlp_keras2_h5").model.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("Params: 101,770"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(Gemm)"), result.stdout)
    }

    func testVerifyPassesOnTheMLP() throws {
        let fixture = try Fixture.named("mnist_mlp_keras3_keras")
        let result = try run([
            "verify", fixture.model.path, "--input", fixture.directory.appendingPathComponent("inputs/input.npy").path,
            "--expected", fixture.directory.appendingPathComponent("expected").path,
        ])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("swift"), result.stdout)
    }

    func testArchitectureJSONWithWeightsInEveryCommand() throws {
        for name in ["json_weights_keras2_json", "json_weights_keras3_json"] {
            let fixture = try Fixture.named(name)
            let weights = try XCTUnwrap(fixture.weights)
            let output = scratch.appendingPathComponent(name)
            let convert = try run(["convert"] + fixture.commandLine + ["-o", output.path, "--emit", "onnx,kir"])
            XCTAssertEqual(convert.status, 0, convert.stderr)
            XCTAssertTrue(FileManager.default.fileExists(atPath: output.appendingPathComponent("model.onnx").path), name)
            let inspect = try run(["inspect"] + fixture.commandLine)
            XCTAssertEqual(inspect.status, 0, inspect.stderr)
            let verify = try run(
                ["verify"] + fixture.commandLine + [
                    "--input", fixture.directory.appendingPathComponent("inputs/input.npy").path,
                    "--expected", fixture.directory.appendingPathComponent("expected").path,
                ])
            XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
            let opt = try run(["opt"] + fixture.commandLine + ["-o", "-"])
            XCTAssertEqual(opt.status, 0, opt.stderr)

            // Each file alone says what is missing.
            try assertFails(["convert", fixture.model.path], mentioning: "--weights FILE")
            try assertFails(["convert", weights.path], mentioning: "holds weights only")
            try assertFails(["convert", weights.path], mentioning: "--weights \(weights.path)")
        }
        let full = try Fixture.named("mnist_mlp_keras2_h5").model.path
        let json = try Fixture.named("json_weights_keras2_json")
        try assertFails(["convert", full, "--weights", full], mentioning: "--weights is only for an architecture JSON")
        try assertFails(["convert", json.model.path, "--weights", json.model.path], mentioning: "not a Keras weights file")
    }

    func testMergeTakesWeightsForAJSONModel() throws {
        let json = try Fixture.named("json_weights_keras2_json")
        let mlp = try Fixture.named("mnist_mlp_keras2_h5").model.path
        let weights = try XCTUnwrap(json.weights).path
        let output = scratch.appendingPathComponent("merged")
        let result = try run(["merge", "cnn=" + json.model.path, mlp, "--weights", "cnn=" + weights, "-o", output.path, "--emit", "kir"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try ModelLoader.load(output.appendingPathComponent("merged.kir")).outputs, ["cnn_dense", "model_dense_1"])
        try assertFails(
            ["merge", "cnn=" + json.model.path, mlp, "--weights", "other=" + weights], mentioning: "--weights names no model: other")
    }

    func testAnUnknownInputNameListsTheInputs() throws {
        let fixture = try Fixture.named("mnist_mlp_keras2_h5")
        let input = fixture.directory.appendingPathComponent("inputs/input.npy").path
        let expected = "the model has no input named 'flatten_input'; its inputs are input (f32[N,28,28])"
        try assertFails(["run", fixture.model.path, "--input", "flatten_input=" + input], mentioning: expected)
        let verify = try run(["verify", fixture.model.path, "--input", "flatten_input=" + input])
        XCTAssertNotEqual(verify.status, 0)
        XCTAssertTrue(verify.stderr.contains(expected), verify.stderr)
    }

    func testMissingFile() throws {
        try assertFails(["convert", scratch.appendingPathComponent("nope.h5").path], mentioning: "nope.h5: no such file")
    }

    func testNotHDF5() throws {
        try assertFails(
            ["convert", TestPaths.testdata.appendingPathComponent("errors/not_hdf5.h5").path], mentioning: "not an HDF5 file")
    }

    func testUnknownLayer() throws {
        try assertFails(
            ["convert", TestPaths.testdata.appendingPathComponent("errors/unknown_layer.h5").path], mentioning: "ConvLSTM1D")
    }

    func testTruncatedH5() throws {
        let source = try Data(contentsOf: try Fixture.named("mnist_mlp_keras2_h5").model)
        let truncated = scratch.appendingPathComponent("truncated.h5")
        try source.prefix(source.count / 2).write(to: truncated)
        try assertFails(["convert", truncated.path], mentioning: "truncated.h5")
    }

    func testUnknownEmitKind() throws {
        try assertFails(["convert", try Fixture.named("mnist_mlp_keras2_h5").model.path, "--emit", "tflite"], mentioning: "tflite")
    }

    func testMergePrintsTheSavingAndWritesEveryFormat() throws {
        let directory = MergeCase.root.appendingPathComponent("shared_backbone")
        let output = scratch.appendingPathComponent("merged")
        let result = try run([
            "merge", directory.appendingPathComponent("head_a.keras").path, directory.appendingPathComponent("head_b.h5").path,
            "--share-inputs", "auto", "--ensemble", "vote", "-o", output.path, "--emit", "onnx,swift,kir", "--name", "heads",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("head_b.probs -> head_b_probs"), result.stdout)
        XCTAssertTrue(result.stdout.contains("shared by head_a, head_b"), result.stdout)
        XCTAssertTrue(result.stdout.contains("saved: "), result.stdout)
        let files = try FileManager.default.contentsOfDirectory(atPath: output.path).sorted()
        XCTAssertEqual(files, ["Heads.swift", "Heads.weights", "heads.kir", "heads.kir.weights", "heads.onnx"])
        let merged = try ModelLoader.load(output.appendingPathComponent("heads.kir"))
        XCTAssertEqual(merged.metadata["onnx_opset"], "17")
        XCTAssertEqual(merged.outputs, ["head_a_probs", "head_b_probs", "ensemble", "ensemble_votes"])
    }

    func testMergeErrorsLeaveNoOutput() throws {
        let directory = MergeCase.root.appendingPathComponent("shared_backbone")
        let a = directory.appendingPathComponent("head_a.keras").path, b = directory.appendingPathComponent("head_b.h5").path
        try assertFails(
            ["merge", a, b, "--pipe", "head_a.probs=head_b.nope"], mentioning: "head_b has no input 'nope'; its inputs are image")
        try assertFails(["merge", a, "x=" + a, "--prefix", "head_a=", "--prefix", "x="], mentioning: "give them distinct --prefix")
        try assertFails(["merge", a, a], mentioning: "two models are named 'head_a'")
        try assertFails(["merge", a, b, "--ensemble", "median"], mentioning: "mean|max|vote")
    }
}
