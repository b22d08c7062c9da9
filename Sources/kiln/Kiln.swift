import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import ONNXBackend
import SavedModelFrontend

@main
struct Kiln: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Compile Keras models to ONNX and native Swift.",
        version: KilnVersion.current,
        subcommands: [Convert.self, Run.self, Inspect.self, Verify.self, Bench.self, Opt.self, Merge.self, BenchPasses.self])
}

/// Runs a command body under the memory limit given (`--max-memory`, else `MemoryLimit.defaultBytes`),
/// printing any error to stderr as `kiln: error: …` and exiting non-zero.
func reportingErrors(memoryLimit: MemoryLimitOption? = nil, _ body: () throws -> Void) throws {
    do {
        try MemoryLimit.$bytes.withValue(memoryLimit?.bytes ?? MemoryLimit.defaultBytes) { try body() }
    } catch let exit as ExitCode {
        throw exit
    } catch {
        FileHandle.standardError.write(Data("kiln: error: \(sentence(for: error))\n".utf8))
        throw ExitCode.failure
    }
}

/// An error in words. Kiln's own errors describe themselves; an error of Foundation (its domain and code
/// mean nothing to a user) becomes the file it names and what went wrong.
func sentence(for error: Error) -> String {
    if let error = error as? POSIXError { return InputFileError.sentence(forErrno: error.code.rawValue) }
    guard let error = error as? CocoaError else { return "\(error)" }
    let path = error.filePath ?? error.url?.path
    let reason: String
    if let underlying = error.underlying as? POSIXError {
        reason = InputFileError.sentence(forErrno: underlying.code.rawValue)
    } else if let underlying = error.underlying as NSError?, underlying.domain == NSPOSIXErrorDomain {
        reason = InputFileError.sentence(forErrno: Int32(underlying.code))
    } else {
        switch error.code {
        case .fileNoSuchFile, .fileReadNoSuchFile: reason = "no such file or directory; check the path"
        case .fileReadNoPermission, .fileWriteNoPermission: reason = "permission denied; check the file's permissions"
        case .fileWriteOutOfSpace: reason = "the disk is full"
        case .fileWriteVolumeReadOnly: reason = "the file system is read-only"
        case .fileWriteFileExists: reason = "something already exists there"
        default: reason = error.isFileError && error.code.rawValue < 512 ? "the file cannot be read" : "the file cannot be written"
        }
    }
    return path.map { "\($0): \(reason)" } ?? reason
}

extension ONNXQuantizedForm: ExpressibleByArgument {}

func printErr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// `--max-memory`, on every command that reads models or inputs.
struct MemoryLimitOption: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The most memory one array, archive entry or tensor read from a file may take, as bytes or with K, M, G, T (default: half the physical memory, \(MemoryLimit.describe(MemoryLimit.defaultBytes)) here).",
            valueName: "size"))
    var maxMemory: String?

    var bytes: Int? { maxMemory.flatMap(MemoryLimit.parse) }

    func validate() throws {
        if let maxMemory, MemoryLimit.parse(maxMemory) == nil {
            throw ValidationError("--max-memory takes a size such as 4G, 512M or 1048576, not '\(maxMemory)'")
        }
    }
}

struct ModelArgument: ParsableArguments {
    @Argument(
        help:
            "The model: a Keras .h5 or .keras file, a Keras architecture .json (with --weights), a Kiln .kir file, or a SavedModel directory Keras 2 wrote with model.save(dir) (or a TF Serving base path holding numbered versions of one)."
    )
    var model: String

    @Option(help: "For a TF Serving base path MODEL: the version directory to read (default: the highest, as TF Serving serves).")
    var version: Int?

    @Option(
        help:
            "For a SavedModel MODEL: the signature whose input and output names the model must have (default: serving_default; kiln inspect lists them)."
    )
    var signature: String?

    @Option(help: "The weights of an architecture JSON MODEL: what model.save_weights() wrote (Keras 2 .h5, Keras 3 .weights.h5).")
    var weights: String?

    @Option(
        name: .customLong("input-shape"),
        help:
            "Fix the sizes of an input the model leaves unknown, as NAME=DxDx... (every dimension but the batch); repeat for several inputs."
    )
    var inputShapes: [String] = []

    @Flag(
        name: .customLong("stateful-as-stateless"),
        help:
            "Convert recurrent layers saved with stateful=True as stateless: every call starts from zeros (or the initial states given as inputs), where Keras carries the state from one batch to the next."
    )
    var statefulAsStateless = false

    @OptionGroup var memory: MemoryLimitOption

    var url: URL { URL(fileURLWithPath: model) }

    /// Reads the model and, for an architecture JSON, its weights.
    func load() throws -> Graph {
        let graph = try ModelLoader.load(
            url, weights: weights.map { URL(fileURLWithPath: $0) }, inputShapes: try parsedInputShapes(), savedModelVersion: version,
            savedModelSignature: signature, statefulAsStateless: statefulAsStateless)
        if version == nil, let read = graph.metadata["savedmodel_version"] {
            printErr("kiln: \(model) is a TF Serving base path; reading its highest version, \(read) (--version picks another)\n")
        }
        return graph
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

    @Option(help: "Base name of the written files, a plain file name (default: the model file's name).")
    var name: String?

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var pruning: PruningOptions

    @OptionGroup var quantization: QuantizationOptions

    @OptionGroup var evaluation: EvaluationOptions

    func run() throws {
        try reportingErrors(memoryLimit: model.memory) {
            let kinds = try EmitKind.list(emit)
            if let name { try Artifacts.checkBaseName(name) }
            try evaluation.check(
                pruning: pruning.prune != nil, quantization: quantization.quantize != nil, calibration: quantization.calibration != nil)
            let start = Date()
            let loaded = try model.load()
            let (graph, report) = try quantization.quantize(
                try optimization.optimize(try pruning.apply(loaded, evaluation: evaluation)), evaluation: evaluation)
            let converter = Converter(
                emit: kinds, opset: opset, name: name ?? Converter.defaultName(for: model.url), onnxQuantizedForm: onnxQuantization)
            let artifacts = try converter.artifacts(for: graph, observer: optimization.legalizationObserver)
            // The --report file and the outputs are written together: a failure leaves neither.
            try Artifacts.write([(URL(fileURLWithPath: output), artifacts)] + (report.map { [$0] } ?? []))
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
        try reportingErrors(memoryLimit: model.memory, execute)
    }

    private func execute() throws {
        let graph = try model.load()
        let values = try Inputs.load(inputs, for: graph, model: model.model)
        let results = try Interpreter().run(graph, inputs: values)
        var artifacts = Artifacts()
        var written: [String] = []
        let files = OutputFiles.fileNames(for: graph.outputs)
        for name in graph.outputs where artifacts.files.allSatisfy({ $0.name != files[name] }) {
            guard let result = results[name], let file = files[name] else { continue }
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
        try reportingErrors(memoryLimit: model.memory) {
            let graph = try model.load()
            print(ir ? graph.text : Summary.render(graph), terminator: "")
            if !ir, graph.metadata["source_format"] == "savedmodel" {
                let location = try SavedModelLocation(model.model, version: model.version)
                let signatures = try SavedModelSignature.read(directory: location.directory)
                print("Signatures:" + (signatures.isEmpty ? " none" : ""))
                for signature in signatures { print(signature.summary) }
            }
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

    @Option(help: "A directory of expected outputs, one OUTPUT.npy each (named as `run` names them).")
    var expected: String?

    @Option(help: "Batch size of the random inputs used when no --input is given (at least 1).")
    var batch: Int = 4

    @Option(help: "Random seed for generated inputs.")
    var seed: UInt64 = 0x5eed

    @Option(help: "Absolute tolerance.")
    var atol: Float = 1e-5

    @Option(help: "Relative tolerance.")
    var rtol: Float = 1e-4

    @OptionGroup var optimization: OptimizationOptions

    func run() throws {
        try reportingErrors(memoryLimit: model.memory) {
            guard atol >= 0, rtol >= 0 else { throw ValidationError("tolerances must not be negative") }
            guard batch >= 1 else { throw ValidationError("--batch must be at least 1, not \(batch)") }
            // Both engines run the graph `convert` would emit (-O2 unless told otherwise).
            let graph = try optimization.optimize(try model.load())
            let values =
                inputs.isEmpty
                ? try Inputs.random(for: graph, batchSize: batch, seed: seed, model: model.model)
                : try Inputs.load(inputs, for: graph, model: model.model)
            var expectedValues: [String: Tensor]?
            if let expected {
                expectedValues = [:]
                for (name, file) in OutputFiles.fileNames(for: graph.outputs) {
                    expectedValues?[name] = try NPY.read(contentsOf: URL(fileURLWithPath: expected).appendingPathComponent(file))
                }
            }
            let report = try EngineCheck.verify(
                graph, inputs: values, expected: expectedValues, tolerance: Tolerance(absolute: atol, relative: rtol))
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
        guard !kinds.isEmpty else { throw ValidationError("--emit names no kind; give one or more of onnx, swift, kir, comma-separated") }
        return kinds
    }
}
