import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import ONNXBackend

@main
struct Kiln: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Compile Keras models to ONNX and native Swift.",
        version: KilnVersion.current,
        subcommands: [Convert.self, Run.self, Inspect.self, Verify.self, Bench.self, Opt.self, Merge.self, BenchPasses.self])
}

/// Runs a command body, printing any error to stderr as `kiln: error: …` and exiting non-zero.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("kiln: error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

extension ONNXQuantizedForm: ExpressibleByArgument {}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

struct ModelArgument: ParsableArguments {
    @Argument(help: "The model: a Keras .h5 or .keras file, a Keras architecture .json (with --weights), or a Kiln .kir file.")
    var model: String

    @Option(help: "The weights of an architecture JSON MODEL: what model.save_weights() wrote (Keras 2 .h5, Keras 3 .weights.h5).")
    var weights: String?

    @Option(
        name: .customLong("input-shape"),
        help: "Fix the sizes of an input the model leaves unknown, as NAME=DxDx... (every dimension but the batch); repeat for several inputs.")
    var inputShapes: [String] = []

    var url: URL { URL(fileURLWithPath: model) }

    /// Reads the model and, for an architecture JSON, its weights.
    func load() throws -> Graph {
        try ModelLoader.load(url, weights: weights.map { URL(fileURLWithPath: $0) }, inputShapes: try parsedInputShapes())
    }

    /// `--input-shape NAME=8x8x3` options by input name.
    func parsedInputShapes() throws -> [String: [Int]] {
        var shapes: [String: [Int]] = [:]
        for text in inputShapes {
            let parts = text.split(separator: "=", maxSplits: 1)
            let sizes = parts.count == 2 ? parts[1].split(separator: "x").map { Int($0) } : []
            guard parts.count == 2, !parts[0].isEmpty, !sizes.isEmpty, sizes.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                throw ValidationError("--input-shape takes NAME=DxDx... with sizes of at least 1, e.g. tokens=32; got '\(text)'")
            }
            guard shapes[String(parts[0])] == nil else { throw ValidationError("--input-shape gives '\(parts[0])' twice") }
            shapes[String(parts[0])] = sizes.compactMap { $0 }
        }
        return shapes
    }
}

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Convert a model to ONNX, Swift and/or Kiln IR.")

    @OptionGroup var model: ModelArgument

    @Option(name: .shortAndLong, help: "The directory to write into (created if needed).")
    var output: String

    @Option(help: "What to emit, comma-separated: onnx, swift, kir.")
    var emit: String = "onnx,swift"

    @Option(help: "The ONNX opset, \(ONNXEmitter.supportedOpsets.lowerBound) to \(ONNXEmitter.supportedOpsets.upperBound).")
    var opset: Int = ONNXEmitter.defaultOpset

    @Option(help: "How quantized layers are written in ONNX: qdq (QuantizeLinear/DequantizeLinear pairs) or qoperator (integer ops).")
    var onnxQuantization: ONNXQuantizedForm = .qdq

    @Option(help: "Base name of the written files (default: the model file's name).")
    var name: String?

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var pruning: PruningOptions

    @OptionGroup var quantization: QuantizationOptions

    @OptionGroup var evaluation: EvaluationOptions

    func run() throws {
        try reportingErrors {
            let kinds = try EmitKind.list(emit)
            try evaluation.check(pruning: pruning.prune != nil, quantization: quantization.quantize != nil, calibration: quantization.calibration != nil)
            let start = Date()
            let loaded = try model.load()
            let graph = try quantization.apply(try optimization.optimize(try pruning.apply(loaded, evaluation: evaluation)), evaluation: evaluation)
            let converter = Converter(
                emit: kinds, opset: opset, name: name ?? Converter.defaultName(for: model.url), onnxQuantizedForm: onnxQuantization)
            let artifacts = try converter.artifacts(for: graph, observer: optimization.legalizationObserver)
            try artifacts.write(to: URL(fileURLWithPath: output))
            if pruning.prune != nil {
                // What pruning saved, file by file, against the same model converted unpruned.
                let unpruned = try converter.artifacts(for: try optimization.optimize(loaded))
                for (file, original) in zip(artifacts.files, unpruned.files) {
                    printErr("\(file.name): \(original.bytes.count) bytes unpruned, \(file.bytes.count) pruned\n")
                }
            }
            let elapsed = Date().timeIntervalSince(start)
            printErr("converted \(model.model): \(graph.nodes.count) nodes, \(graph.parameterCount) parameters\n")
            for file in artifacts.files {
                print("wrote \((output as NSString).appendingPathComponent(file.name)) (\(file.bytes.count) bytes)")
            }
            printErr("in \(Int(elapsed * 1000)) ms\n")
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model in the reference interpreter and write one .npy per output.")

    @OptionGroup var model: ModelArgument

    @Option(name: .customLong("input"), help: "An input as [NAME=]FILE.npy; repeat for several inputs.")
    var inputs: [String] = []

    @Option(name: .shortAndLong, help: "The directory to write the outputs into.")
    var output: String

    func run() throws {
        try reportingErrors(execute)
    }

    private func execute() throws {
        let graph = try model.load()
        let values = try Inputs.load(inputs, for: graph)
        let results = try Interpreter().run(graph, inputs: values)
        var artifacts = Artifacts()
        var written: [String] = []
        for name in graph.outputs {
            guard let result = results[name] else { continue }
            let file = OutputFiles.fileName(for: name)
            artifacts.add(file, NPY.encode(result))
            written.append("wrote \((output as NSString).appendingPathComponent(file)) \(result.type)")
        }
        try artifacts.write(to: URL(fileURLWithPath: output))
        print(written.joined(separator: "\n"))
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a summary of a model: nodes, shapes, parameters, bytes.")

    @OptionGroup var model: ModelArgument

    @Flag(help: "Print the model's Kiln IR instead of the summary.")
    var ir = false

    func run() throws {
        try reportingErrors {
            let graph = try model.load()
            print(ir ? graph.text : Summary.render(graph), terminator: "")
        }
    }
}

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the compiled generated Swift against the reference interpreter.",
        discussion: """
            Runs both, on the graph convert would emit (-O2 unless told otherwise), on the given inputs (or seeded \
            random ones), prints the max absolute and relative error \
            of every output, and exits non-zero if any element is outside atol + rtol * |reference|. With \
            --expected, both engines are compared with the expected outputs (e.g. Keras's own).
            """)

    @OptionGroup var model: ModelArgument

    @Option(name: .customLong("input"), help: "An input as [NAME=]FILE.npy; repeat for several inputs.")
    var inputs: [String] = []

    @Option(help: "A directory of expected outputs, one OUTPUT.npy each.")
    var expected: String?

    @Option(help: "Batch size of the random inputs used when no --input is given.")
    var batch: Int = 4

    @Option(help: "Random seed for generated inputs.")
    var seed: UInt64 = 0x5eed

    @Option(help: "Absolute tolerance.")
    var atol: Float = 1e-5

    @Option(help: "Relative tolerance.")
    var rtol: Float = 1e-4

    @OptionGroup var optimization: OptimizationOptions

    func run() throws {
        try reportingErrors {
            guard atol >= 0, rtol >= 0 else { throw ValidationError("tolerances must not be negative") }
            // Both engines run the graph `convert` would emit (-O2 unless told otherwise).
            let graph = try optimization.optimize(try model.load())
            let values = inputs.isEmpty ? try Inputs.random(for: graph, batchSize: batch, seed: seed) : try Inputs.load(inputs, for: graph)
            var expectedValues: [String: Tensor]?
            if let expected {
                expectedValues = try Dictionary(uniqueKeysWithValues: graph.outputs.map { name in
                    (name, try NPY.read(contentsOf: URL(fileURLWithPath: expected).appendingPathComponent(OutputFiles.fileName(for: name))))
                })
            }
            let report = try EngineCheck.verify(graph, inputs: values, expected: expectedValues, tolerance: Tolerance(absolute: atol, relative: rtol))
            print(report.render(), terminator: "")
            guard report.passed else {
                printErr("kiln: verification failed: outputs differ beyond atol \(atol), rtol \(rtol)\n")
                throw ExitCode.failure
            }
        }
    }
}

extension EmitKind {
    /// The kinds of an `--emit` list such as `onnx,swift`, in order, each once.
    static func list(_ text: String) throws -> [EmitKind] {
        var kinds: [EmitKind] = []
        for word in text.split(separator: ",") {
            guard let kind = EmitKind(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown --emit kind '\(word)'; choose from onnx, swift, kir")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        return kinds
    }
}
