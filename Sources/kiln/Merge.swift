import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import ONNXBackend

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge several models into one that computes all of their outputs.",
        discussion: """
            Every value of a model is renamed with its prefix (NAME_ by default; a model's NAME is given as \
            NAME=FILE or is its file's name). Identical constants are stored once and identical nodes over \
            the same values computed once, so models that share a frozen backbone and their input run the \
            backbone once. Prints where each output went and the parameters and FLOPs before and after.
            """)

    @Argument(help: "The models, as [NAME=]FILE: Keras .h5, .keras or architecture .json files, or Kiln .kir files.")
    var models: [String]

    @Option(help: "The weights of a model given as an architecture JSON, as NAME=FILE; repeat for several.")
    var weights: [String] = []

    @Option(name: .shortAndLong, help: "The directory to write into (created if needed).")
    var output: String

    @Option(help: "What to emit, comma-separated: onnx, swift, kir.")
    var emit: String = "onnx,swift"

    @Option(help: "Base name of the written files, a plain file name.")
    var name: String = "merged"

    @Option(help: "A model's prefix as MODEL=PREFIX (default MODEL_); repeat for several models.")
    var prefix: [String] = []

    @Option(help: "'auto' shares inputs of equal name, element type and shape; 'none' keeps each model's own.")
    var shareInputs: String = "none"

    @Option(help: "Two inputs that become one, as A.x=B.input_1; repeat for several.")
    var share: [String] = []

    @Option(help: "Feed one model's output into another's input, as A.out=B.in; repeat for several.")
    var pipe: [String] = []

    @Option(help: "Add an ensemble output, as [NAME=]mean|max|vote[:A.out,B.out,...] (default: every model's only output).")
    var ensemble: [String] = []

    @Flag(help: "Keep duplicate constants and nodes (to compare with the deduplicated merge).")
    var noDedup = false

    @Option(
        help:
            "The ONNX opset, \(ONNXEmitter.supportedOpsets.lowerBound) to \(ONNXEmitter.supportedOpsets.upperBound) (default: the highest any source needs, at least \(ONNXEmitter.defaultOpset))."
    )
    var opset: Int?

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var memory: MemoryLimitOption

    func run() throws {
        try reportingErrors(memoryLimit: memory) {
            let kinds = try EmitKind.list(emit)
            try Artifacts.checkBaseName(name)
            guard let sharing = MergeOptions.InputSharing(rawValue: shareInputs) else {
                throw ValidationError("--share-inputs must be 'auto' or 'none', not '\(shareInputs)'")
            }
            var options = MergeOptions(shareInputs: sharing, deduplicate: !noDedup)
            for entry in prefix {
                guard let eq = entry.firstIndex(of: "=") else { throw MergeError.syntax(entry, expected: "MODEL=PREFIX") }
                options.prefixes[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
            }
            options.shares = try share.map(MergeOptions.pair)
            options.pipes = try pipe.map(MergeOptions.pair).map { (output: $0.0, input: $0.1) }
            options.ensembles = try ensemble.map(EnsembleSpec.init(parsing:))

            var weightsFiles: [String: String] = [:]
            for entry in weights {
                guard let eq = entry.firstIndex(of: "=") else { throw MergeError.syntax(entry, expected: "NAME=FILE") }
                weightsFiles[String(entry[..<eq])] = String(entry[entry.index(after: eq)...])
            }
            let modelNames = models.map { Merge.split($0).name }
            let unknown = Set(weightsFiles.keys).subtracting(modelNames)
            guard unknown.isEmpty else {
                throw ValidationError(
                    "--weights names no model: \(unknown.sorted().joined(separator: ", ")); the models are \(modelNames.joined(separator: ", "))"
                )
            }
            let start = Date()
            let sources = try models.map { try Merge.load($0, weights: weightsFiles) }
            let chosenOpset = try ModelMerger.onnxOpset(requested: opset, sources: sources)
            var result = try ModelMerger.merge(sources, name: name, options: options)
            result.graph = try optimization.optimize(result.graph)
            result.graph.metadata["onnx_opset"] = String(chosenOpset)
            // Each model alone, after the same passes, is the baseline of the report.
            let names = optimization.passes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
            let pipeline = try Optimizer.pipeline(level: optimization.level.rawValue, passes: names)
            let alone = try sources.map { MergeSource(name: $0.name, graph: try pipeline.run($0.graph)) }
            let report = MergeReport(sources: alone, result: result)

            let artifacts = try Converter(emit: kinds, opset: chosenOpset, name: name).artifacts(for: result.graph)
            try artifacts.write(to: URL(fileURLWithPath: output))
            print(
                "merged \(sources.map(\.name).joined(separator: ", ")): \(result.graph.inputs.count) inputs, \(result.graph.nodes.count) nodes, ONNX opset \(chosenOpset)"
            )
            print(report.render(), terminator: "")
            for file in artifacts.files {
                print("wrote \((output as NSString).appendingPathComponent(file.name)) (\(file.bytes.count) bytes)")
            }
            printErr("in \(Int(Date().timeIntervalSince(start) * 1000)) ms\n")
        }
    }

    /// Loads `[NAME=]FILE`; the name defaults to the file's name without its extension. An architecture
    /// JSON's weights file is `weights[NAME]`.
    static func load(_ argument: String, weights: [String: String] = [:]) throws -> MergeSource {
        let (name, url) = split(argument)
        return MergeSource(name: name, graph: try ModelLoader.load(url, weights: weights[name].map { URL(fileURLWithPath: $0) }))
    }

    /// The name and file of `[NAME=]FILE`.
    static func split(_ argument: String) -> (name: String, url: URL) {
        var path = argument
        var name: String?
        if let eq = argument.firstIndex(of: "="), !argument[..<eq].contains("/") {
            name = String(argument[..<eq])
            path = String(argument[argument.index(after: eq)...])
        }
        let url = URL(fileURLWithPath: path)
        return (name ?? Converter.defaultName(for: url), url)
    }
}
