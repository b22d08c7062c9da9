import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnPasses
import KilnTestSupport
import XCTest

/// Entropy calibration on synthetic distributions whose answer is known, and the quantization report (per
/// layer SQNR, scales, zero points; output error; top-1 with labels) from the library and from `kiln convert`.
final class QuantizationReportTests: XCTestCase {
    /// `count` samples of a standard normal distribution (Box-Muller on a seeded generator).
    static func gaussian(_ count: Int, seed: UInt64 = 7) -> [Float] {
        var generator = SplitMix64(seed: seed)
        return (0..<count).map { _ in
            let u = max(Double(generator.nextUnitFloat()), 1e-9), v = Double(generator.nextUnitFloat())
            return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
        }
    }

    func testEntropyClipsTheTailsOfAGaussian() throws {
        let values = Self.gaussian(100_000)
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        // Largest |x| 4.515; the KL threshold is 4.080, which a NumPy version of the same search (TensorRT's: |x| in
        // 2048 bins, 128 levels) also finds on these values.
        XCTAssertEqual(entropy.upperBound, 4.080326, accuracy: 1e-5)
        XCTAssertEqual(entropy.lowerBound, -entropy.upperBound)
    }

    func testEntropyClipsAFewHugeOutliersOfAGaussian() throws {
        let values = Self.gaussian(100_000) + [1000, -800, 950, 600, -1000]
        let minmax = try XCTUnwrap(Calibration.minmax.range(of: values))
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        XCTAssertEqual(minmax, -1000...1000)
        // The five outliers are clipped and the threshold sits in the Gaussian's tail, symmetric for signed data.
        print("entropy range of N(0, 1) with outliers at 1000: \(entropy)")
        XCTAssertEqual(entropy.lowerBound, -entropy.upperBound)
        XCTAssertGreaterThan(entropy.upperBound, 2)
        XCTAssertLessThan(entropy.upperBound, 8)
        // The same answer every time.
        XCTAssertEqual(Calibration.entropy.range(of: values), entropy)
    }

    func testEntropyKeepsAUniformDistributionWhole() throws {
        var generator = SplitMix64(seed: 11)
        let values = (0..<100_000).map { _ in generator.nextUnitFloat() * 6 - 2 }
        let minmax = try XCTUnwrap(Calibration.minmax.range(of: values))
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        print("entropy range of U(-2, 4): \(entropy), minmax \(minmax)")
        // Signed: clipped at one threshold on |x|, never past the data, so the lower end stays the minimum.
        XCTAssertEqual(entropy.lowerBound, minmax.lowerBound)
        XCTAssertGreaterThan(entropy.upperBound, 0.95 * minmax.upperBound)
    }

    func testEntropyOnNonNegativeValuesStartsAtZero() throws {
        // Post-ReLU: half the values are 0, the rest a half-Gaussian, plus a few outliers at 50.
        let values = Self.gaussian(50_000).map { max($0, 0) } + [Float](repeating: 50, count: 3)
        let entropy = try XCTUnwrap(Calibration.entropy.range(of: values))
        print("entropy range of ReLU(N(0, 1)) with outliers at 50: \(entropy)")
        XCTAssertEqual(entropy.lowerBound, 0)
        XCTAssertGreaterThan(entropy.upperBound, 2)
        XCTAssertLessThan(entropy.upperBound, 8)
        // Nothing to clip, or nothing at all.
        XCTAssertEqual(Calibration.entropy.range(of: [Float](repeating: 0, count: 10)), 0...0)
        XCTAssertNil(Calibration.entropy.range(of: [.nan]))
    }

    func testEntropyWithTooFewValuesForAHistogramKeepsTheWholeRange() throws {
        // 16 values per level are needed (2048 here); below that, sampling noise would pass for information.
        let values = Self.gaussian(1000) + [50]
        XCTAssertEqual(Calibration.entropy.range(of: values), Calibration.minmax.range(of: values))
    }

    func testUnknownCalibrationMethodListsAllThree() {
        XCTAssertThrowsError(try Quantizer(mode: "static", calibration: "kl")) { error in
            XCTAssertTrue("\(error)".contains("use minmax, percentile or entropy"), "\(error)")
        }
        XCTAssertNoThrow(try Quantizer(mode: "static", calibration: "entropy"))
    }

    /// A model without a layer to quantize (only a Conv2DTranspose), or with every such layer excluded, is a
    /// clear error rather than an unchanged model or a failure deep in calibration.
    func testNothingToQuantizeIsAClearError() throws {
        let transpose = try ModelLoader.load(try Fixture.named("conv_transpose_keras3_keras").model)
        XCTAssertThrowsError(
            try Quantizer(mode: "static").quantize(transpose, calibration: try Inputs.random(for: transpose, batchSize: 2))
        ) {
            XCTAssertTrue("\($0)".contains("nothing to quantize") && "\($0)".contains("has none"), "\($0)")
        }
        let mlp = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model)
        let layers = PrunableLayer.find(in: mlp).map(\.name)
        XCTAssertThrowsError(try Quantizer(mode: "dynamic", excluded: layers).quantize(mlp, calibration: nil)) {
            XCTAssertTrue("\($0)".contains("--exclude names every quantizable layer"), "\($0)")
        }
    }

    /// Quantization and pruning leave recurrent layers in float, whole, and their reports say so by name.
    func testRecurrentLayersStayFloatAndUnprunedAndTheReportsSaySo() throws {
        let graph = try Optimizer.pipeline(level: "O2").run(
            try ModelLoader.load(try Fixture.named("recurrent_digits_bidirectional_keras3_keras").model))
        let inputs = try Inputs.random(for: graph, batchSize: 2)
        let quantizer = try Quantizer(mode: "dynamic")
        let quantized = try quantizer.quantize(graph, calibration: nil)
        let recurrent = { (g: Graph) in g.nodes.filter { if case .recurrent = $0.op { true } else { false } } }
        XCTAssertEqual(recurrent(quantized).map(\.inputs), recurrent(graph).map(\.inputs), "the recurrent ops read the float weights")
        let report = try QuantizationReport(float: graph, quantized: quantized, quantizer: quantizer, inputs: inputs, source: .random)
        XCTAssertTrue(report.text.contains("recurrent layers stay float32 (not quantized): bidirectional (LSTM)\n"), report.text)
        XCTAssertEqual(report.layers.map(\.name), ["digit"])
        let pruned = try Pruner(spec: "magnitude:0.5", includeEnds: true).prune(graph)
        XCTAssertEqual(recurrent(pruned).map(\.inputs), recurrent(graph).map(\.inputs))
        let text = Pruner.render(Pruner.records(before: graph, after: pruned), graphBefore: graph, graphAfter: pruned)
        XCTAssertTrue(text.contains("recurrent layers are not pruned: bidirectional (LSTM)\n"), text)
    }

    /// Layers found by their output, not their name: a SeparableConv2D is two products named alike, and a
    /// channels_first layer has Transposes under its name. Each product is measured alone once, and the first
    /// one in graph order alone is what it is in the chain.
    func testEveryProductIsMeasuredAloneWhenNamesRepeat() throws {
        for fixture in ["mobile_block_keras3_keras", "channels_first_keras3_keras"] {
            let graph = try Optimizer.pipeline(level: "O2").run(try ModelLoader.load(try Fixture.named(fixture).model))
            let inputs = try Inputs.random(for: graph, batchSize: 4)
            let quantizer = try Quantizer(mode: "static")
            let quantized = try quantizer.quantize(graph, calibration: inputs)
            let report = try QuantizationReport(
                float: graph, quantized: quantized, quantizer: quantizer, inputs: inputs, source: .calibration)
            let products = PrunableLayer.find(in: graph)
            XCTAssertEqual(report.layers.count, products.count, fixture)
            XCTAssertEqual(Set(report.layers.map(\.output)).count, products.count, fixture)
            for layer in report.layers { XCTAssertTrue(layer.sqnrAlone?.isFinite ?? false, "\(fixture) \(layer.name)") }
            let first = try XCTUnwrap(report.layers.first { $0.output == graph.nodes[products[0].node].outputs[0].name })
            XCTAssertEqual(first.sqnrAlone, first.sqnr, fixture)
        }
    }

    /// The digits MLP after -O2, 100 held-out digits to calibrate on, and the other 197 with their labels.
    static func digitsMLP() throws -> (graph: Graph, calibration: [String: Tensor], evaluation: [String: Tensor], labels: [Int64]) {
        let graph = try Optimizer.pipeline(level: "O2").run(try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_h5").model))
        let (images, labels) = try PruningDriverTests.heldOut()
        let input = graph.inputs[0].name
        return (
            graph, [input: QuantizationDriverTests.rows(images, 0..<100)],
            [input: QuantizationDriverTests.rows(images, 100..<labels.count)],
            Array(labels[100...])
        )
    }

    /// The largest |w| of each output channel of `layer`'s kernel (or of the whole kernel), over 127.
    static func weightScales(_ layer: PrunableLayer, in graph: Graph, perChannel: Bool) -> [Float] {
        let values = graph.constantsByName[layer.kernel]!.floats
        let channels = (0..<layer.outputs).map { o in (0..<layer.reduction).map { abs(values[layer.index($0, o)]) }.max()! / 127 }
        return perChannel ? channels : [channels.max()!]
    }

    func testStaticReportOnTheDigitsMLP() throws {
        let (graph, calibration, evaluation, labels) = try Self.digitsMLP()
        let quantizer = try Quantizer(mode: "static")
        let quantized = try quantizer.quantize(graph, calibration: calibration)
        let report = try QuantizationReport(
            float: graph, quantized: quantized, quantizer: quantizer, inputs: evaluation, source: .evalInput, labels: labels)
        print(report.text)
        XCTAssertEqual(report.examples, 197)
        // Lowest SQNR first; both layers lose little (49.4 and 50.8 dB when written).
        XCTAssertEqual(Set(report.layers.map(\.name)), ["dense", "dense_1"])
        XCTAssertLessThanOrEqual(report.layers[0].sqnr, report.layers[1].sqnr)
        for layer in report.layers { XCTAssertEqual(layer.sqnr, layer.name == "dense" ? 50.8 : 49.4, accuracy: 1, layer.name) }
        XCTAssertEqual(report.excludeCandidates, [report.layers[0].name])
        // Alone, the first layer is what it is in the chain; the second, with float input, loses less than in it.
        let first = try XCTUnwrap(report.layers.first { $0.name == "dense" }),
            second = try XCTUnwrap(report.layers.first { $0.name == "dense_1" })
        XCTAssertEqual(first.sqnrAlone, first.sqnr)
        XCTAssertGreaterThan(try XCTUnwrap(second.sqnrAlone), second.sqnr + 0.5)
        XCTAssertTrue(report.text.contains("alone dB"), report.text)
        // The weight scales are what the symmetric int8 kernels use: max |w| per output channel over 127.
        let ranges = try quantizer.ranges(graph, calibration: calibration)
        for layer in PrunableLayer.find(in: graph) {
            let row = try XCTUnwrap(report.layers.first { $0.name == layer.name })
            let expected = Self.weightScales(layer, in: graph, perChannel: true)
            XCTAssertEqual(row.weightType, .int8)
            XCTAssertEqual(row.weightScaleCount, layer.outputs)
            XCTAssertEqual(row.weightScales, expected.min()!...expected.max()!, layer.name)
            // The activation scale and zero point come from the calibration range of the layer's input.
            let parameters = Quantize.parameters(for: try XCTUnwrap(ranges[graph.nodes[layer.node].inputs[0]]), type: .uint8)
            XCTAssertEqual(row.activationType, .uint8)
            XCTAssertEqual(row.activationScale, parameters.scale, layer.name)
            XCTAssertEqual(row.activationZeroPoint, 0, layer.name)
        }
        // The first layer reads the pixels, 0 to 1: a step of 1/255 from 0.
        XCTAssertEqual(try XCTUnwrap(report.layers.first { $0.name == "dense" }?.activationScale), 1 / 255, accuracy: 1e-9)
        // The output's error and top-1, against running both models here.
        let output = graph.outputs[0]
        let a = try Interpreter().run(graph, inputs: evaluation)[output]!, b = try Interpreter().run(quantized, inputs: evaluation)[output]!
        XCTAssertEqual(report.outputErrors.map(\.output), [output])
        XCTAssertEqual(report.outputErrors[0].maxAbsError, zip(a.floats, b.floats).map { abs($0 - $1) }.max()!)
        XCTAssertLessThan(report.outputErrors[0].maxAbsError, 0.05)
        let top1 = try XCTUnwrap(report.top1)
        XCTAssertEqual(top1.float, 183.0 / 197, accuracy: 1e-12)
        XCTAssertEqual(top1.quantized, try Accuracy.top1(b, labels))
        XCTAssertGreaterThanOrEqual(top1.quantized, top1.float - 0.005)
        XCTAssertTrue(report.text.contains("on 197 examples of --eval-input:"), report.text)
        XCTAssertTrue(
            report.text.contains("top-1 accuracy on 197 examples: 92.89% float, \(Accuracy.percent(top1.quantized)) quantized\n"),
            report.text)
        XCTAssertTrue(report.text.contains("hint: \(report.layers[0].name) loses the most"), report.text)

        // The JSON holds the same numbers under the old keys and the new ones.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: try report.json) as? [String: Any])
        XCTAssertEqual(json["mode"] as? String, "static")
        XCTAssertEqual(json["per_channel"] as? Bool, true)
        XCTAssertEqual(json["calibration"] as? String, "minmax")
        XCTAssertEqual(
            try XCTUnwrap((json["output_max_abs_error"] as? [String: Double])?[output]), Double(report.outputErrors[0].maxAbsError),
            accuracy: 1e-12)
        XCTAssertEqual(json["exclude_candidates"] as? [String], report.excludeCandidates)
        let source = try XCTUnwrap(json["evaluation"] as? [String: Any])
        XCTAssertEqual(source["inputs"] as? String, "eval-input")
        XCTAssertEqual(source["examples"] as? Int, 197)
        let top1JSON = try XCTUnwrap(json["top1"] as? [String: Double])
        XCTAssertEqual(try XCTUnwrap(top1JSON["float"]), top1.float, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(top1JSON["quantized"]), top1.quantized, accuracy: 1e-12)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        for (object, row) in zip(layers, report.layers) {
            XCTAssertEqual(object["layer"] as? String, row.name)
            XCTAssertEqual(try XCTUnwrap(object["sqnr_db"] as? Double), row.sqnr, accuracy: 1e-9)
            XCTAssertEqual(try XCTUnwrap(object["sqnr_alone_db"] as? Double), try XCTUnwrap(row.sqnrAlone), accuracy: 1e-9)
            XCTAssertEqual(object["weight_type"] as? String, "int8")
            XCTAssertEqual(object["weight_bits"] as? Int, 8)
            // JSON keeps each number to within a unit in the last place of a Double; as a Float it is exact.
            XCTAssertEqual((object["weight_scale_min"] as? Double).map(Float.init), row.weightScales?.lowerBound)
            XCTAssertEqual((object["weight_scale_max"] as? Double).map(Float.init), row.weightScales?.upperBound)
            XCTAssertEqual(object["activation_type"] as? String, "uint8")
            XCTAssertEqual((object["activation_scale"] as? Double).map(Float.init), row.activationScale)
            XCTAssertEqual(object["activation_zero_point"] as? Int, 0)
        }
    }

    func testEntropyClipsTheHiddenActivationsOfTheDigitsMLP() throws {
        let (graph, calibration, evaluation, labels) = try Self.digitsMLP()
        var scales: [String: Float] = [:]
        for method in ["minmax", "entropy"] {
            let quantizer = try Quantizer(mode: "static", calibration: method)
            let quantized = try quantizer.quantize(graph, calibration: calibration)
            let report = try QuantizationReport(
                float: graph, quantized: quantized, quantizer: quantizer, inputs: evaluation, source: .evalInput, labels: labels)
            scales[method] = report.layers.first { $0.name == "dense_1" }?.activationScale
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(report.top1).quantized, 183.0 / 197 - 0.005, method)
        }
        // The ReLU outputs dense_1 reads have a long tail that entropy clips: a finer step than minmax's.
        XCTAssertLessThan(try XCTUnwrap(scales["entropy"]), try XCTUnwrap(scales["minmax"]))
    }

    func testDynamicPerTensorAndExcludedLayersInTheReport() throws {
        let (graph, _, evaluation, _) = try Self.digitsMLP()
        var quantizer = try Quantizer(mode: "dynamic", perChannel: false, excluded: ["dense_1"])
        quantizer.reduceRange = true
        let quantized = try quantizer.quantize(graph, calibration: nil)
        let report = try QuantizationReport(float: graph, quantized: quantized, quantizer: quantizer, inputs: evaluation, source: .random)
        print(report.text)
        XCTAssertNil(report.top1)
        let dense = try XCTUnwrap(report.layers.first { $0.name == "dense" })
        let scale = Self.weightScales(PrunableLayer.find(in: graph)[0], in: graph, perChannel: false)[0] * 127 / 63
        XCTAssertEqual(dense.weightScales, scale...scale)
        XCTAssertEqual(dense.weightScaleCount, 1)
        XCTAssertEqual(dense.activationType, .float32)
        XCTAssertNil(dense.activationScale)
        let excluded = try XCTUnwrap(report.layers.first { $0.name == "dense_1" })
        XCTAssertNil(excluded.weightScales)
        XCTAssertEqual(report.excludeCandidates, ["dense"])
        XCTAssertTrue(report.text.contains("int7 x float32"), report.text)
        XCTAssertTrue(report.text.contains("float32 (excluded)"), report.text)
        XCTAssertTrue(report.text.contains("197 random examples"), report.text)
    }

    // MARK: kiln convert

    /// The kiln executable beside the test bundle (as CommandLineTests finds it), or `$KILN_BINARY`.
    private var kiln: URL {
        if let explicit = ProcessInfo.processInfo.environment["KILN_BINARY"] { return URL(fileURLWithPath: explicit) }
        let candidates = [
            Bundle(for: Self.self).bundleURL.deletingLastPathComponent(), TestPaths.root.appendingPathComponent(".build/debug"),
        ]
        return candidates.map { $0.appendingPathComponent("kiln") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
            ?? candidates[0].appendingPathComponent("kiln")
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = kiln
        process.arguments = arguments
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stderr, as: UTF8.self))
    }

    /// The held-out digits as .npy files in a scratch directory: 100 to calibrate on and 197 to evaluate on, with labels.
    private func writeDigits() throws -> URL {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: kiln.path), "build the kiln product first (swift build)")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-qreport-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: scratch) }
        let (images, labels) = try PruningDriverTests.heldOut()
        let files: [(String, Tensor)] = [
            ("calibration.npy", QuantizationDriverTests.rows(images, 0..<100)),
            ("calibration_labels.npy", Tensor(shape: [100], storage: .int64(Array(labels[..<100])))),
            ("eval.npy", QuantizationDriverTests.rows(images, 100..<labels.count)),
            ("eval_labels.npy", Tensor(shape: [labels.count - 100], storage: .int64(Array(labels[100...])))),
        ]
        for (name, tensor) in files { try Data(NPY.encode(tensor)).write(to: scratch.appendingPathComponent(name)) }
        return scratch
    }

    func testConvertReportsTopOneOnTheCalibrationOrEvaluationDigits() throws {
        let scratch = try writeDigits()
        let model = try Fixture.named("mnist_mlp_keras3_h5").model.path
        func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }
        let report = scratch.appendingPathComponent("report.json")
        let calibrated = try run([
            "convert", model, "-o", path("out"), "--emit", "kir", "--quantize", "static", "--calibration", path("calibration.npy"),
            "--calibration-method", "entropy", "--labels", path("calibration_labels.npy"), "--report", report.path,
        ])
        XCTAssertEqual(calibrated.status, 0, calibrated.stderr)
        XCTAssertTrue(
            calibrated.stderr.contains("quantization (static, per channel, calibration entropy) on 100 examples of --calibration"),
            calibrated.stderr)
        XCTAssertTrue(calibrated.stderr.contains("top-1 accuracy on 100 examples: 92.00% float, "), calibrated.stderr)
        XCTAssertTrue(calibrated.stderr.contains("int8 x uint8"), calibrated.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: report)) as? [String: Any])
        XCTAssertEqual(json["calibration"] as? String, "entropy")
        XCTAssertEqual((json["evaluation"] as? [String: Any])?["inputs"] as? String, "calibration")
        let top1 = try XCTUnwrap(json["top1"] as? [String: Double])
        XCTAssertEqual(try XCTUnwrap(top1["float"]), 0.92, accuracy: 1e-12)
        XCTAssertGreaterThanOrEqual(try XCTUnwrap(top1["quantized"]), 0.91)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.compactMap { $0["layer"] as? String }.sorted(), ["dense", "dense_1"])
        XCTAssertEqual(layers.compactMap { $0["activation_zero_point"] as? Int }, [0, 0])
        XCTAssertTrue(layers.allSatisfy { ($0["sqnr_db"] as? Double ?? 0) > 35 }, "\(layers)")

        // --eval-input and --labels measure pruning and quantization alike.
        let both = try run([
            "convert", model, "-o", path("out2"), "--emit", "kir", "--prune", "channels:0.25", "--prune-first-last",
            "--quantize", "static", "--calibration", path("calibration.npy"), "--eval-input", path("eval.npy"), "--labels",
            path("eval_labels.npy"),
        ])
        XCTAssertEqual(both.status, 0, both.stderr)
        XCTAssertTrue(both.stderr.contains("top-1 accuracy on 197 examples: 92.89% unpruned, "), both.stderr)
        XCTAssertTrue(both.stderr.contains("on 197 examples of --eval-input:"), both.stderr)
        XCTAssertTrue(both.stderr.contains("top-1 accuracy on 197 examples: "), both.stderr)
        XCTAssertTrue(both.stderr.contains("hint: "), both.stderr)
    }

    func testEvaluationOptionErrorsLeaveNoOutput() throws {
        let scratch = try writeDigits()
        let model = try Fixture.named("mnist_mlp_keras3_h5").model.path
        func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }
        let quantize = ["--quantize", "static", "--calibration", path("calibration.npy")]
        for (arguments, message) in [
            (["--labels", path("eval_labels.npy")], "--eval-input and --labels need --prune or --quantize"),
            (["--eval-input", path("eval.npy")], "--eval-input and --labels need --prune or --quantize"),
            (
                ["--quantize", "dynamic", "--labels", path("eval_labels.npy")],
                "--labels needs --eval-input (or, with --quantize, --calibration)"
            ),
            (["--prune", "nm:2:4", "--labels", path("eval_labels.npy")] + quantize, "--labels with --prune needs --eval-input"),
            (quantize + ["--labels", path("eval_labels.npy")], "holds 197 labels but --calibration has 100 examples"),
            (
                quantize + ["--eval-input", path("eval.npy"), "--labels", path("calibration_labels.npy")],
                "holds 100 labels but --eval-input has 197 examples"
            ),
            (quantize + ["--calibration-method", "kl"], "use minmax, percentile or entropy"),
        ] {
            let output = scratch.appendingPathComponent("out")
            let result = try run(["convert", model, "-o", output.path] + arguments)
            XCTAssertNotEqual(result.status, 0, "\(arguments)")
            XCTAssertTrue(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: output.path), "\(arguments) left output behind")
        }
    }
}
