import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import KilnPasses

enum OptLevel: String, EnumerableFlag {
    case O0, O1, O2

    static func name(for value: OptLevel) -> NameSpecification { .customLong(value.rawValue, withSingleDash: true) }

    static func help(for value: OptLevel) -> ArgumentHelp? {
        switch value {
        case .O0: "No optimization."
        case .O1: "Cleanup: no-op removal, constant folding, CSE, DCE."
        case .O2: "Cleanup and fusion (the default)."
        }
    }
}

/// Pass-pipeline options shared by `convert` and `opt`.
struct OptimizationOptions: ParsableArguments {
    @Flag var level: OptLevel = .O2

    @Option(help: "Run exactly these passes, comma-separated, instead of a preset.")
    var passes: String?

    @Option(
        help:
            "Print the IR to stderr after the named pass, or after every pass with 'all' (with convert, the backends' legalization passes too)."
    )
    var printIRAfter: String?

    @Flag(help: "Print what each pass changed to stderr.")
    var stats = false

    func optimize(_ graph: Graph) throws -> Graph {
        let names = passes.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let manager = try Optimizer.pipeline(level: level.rawValue, passes: names)
        let (result, trace) = try manager.runTracing(graph)
        if let printIRAfter {
            // Re-run step by step so the IR after each pass can be shown; cheap next to reading a model.
            var current = graph
            for pass in manager.passes {
                current = try pass.run(on: current)
                let name = type(of: pass).name
                if printIRAfter == "all" || printIRAfter == name {
                    printErr("// ----- IR after \(name)\n" + current.text)
                }
            }
        }
        if stats { printErr(Optimizer.renderStats(trace)) }
        return result
    }

    /// Prints the IR after each backend legalization pass that `--print-ir-after` names.
    var legalizationObserver: (@Sendable (_ backend: String, _ pass: String, _ graph: Graph) -> Void)? {
        guard let printIRAfter else { return nil }
        return { backend, pass, graph in
            if printIRAfter == "all" || printIRAfter == pass {
                printErr("// ----- IR after \(pass) (\(backend) legalization)\n" + graph.text)
            }
        }
    }
}

struct Opt: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run passes on a model and write its IR (the tool for pass tests).")

    @OptionGroup var model: ModelArgument

    @OptionGroup var optimization: OptimizationOptions

    @Option(name: .shortAndLong, help: "The .kir file to write; its weights go beside it as FILE.weights. '-' prints the IR.")
    var output: String

    func run() throws {
        try reportingErrors(memoryLimit: model.memory) {
            if output != "-" { try checkOutput() }
            let graph = try optimization.optimize(try model.load())
            if output == "-" {
                print(graph.text, terminator: "")
                return
            }
            let url = URL(fileURLWithPath: output)
            var artifacts = Artifacts()
            artifacts.add(url.lastPathComponent, text: graph.text)
            artifacts.add(ModelLoader.weightsURL(forKIR: url).lastPathComponent, WeightsFile(graph: graph).encoded())
            try artifacts.write(to: url.deletingLastPathComponent())
        }
    }

    /// `-o` names the file to write: not a directory (which would otherwise be taken as the file's name).
    private func checkOutput() throws {
        var isDirectory: ObjCBool = false
        if output.hasSuffix("/") || (FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory) && isDirectory.boolValue) {
            let example = (output as NSString).appendingPathComponent("model.kir")
            throw ValidationError(
                "-o \(output) is a directory; opt writes one .kir file and its .weights: give the file's path, such as \(example)")
        }
        try Artifacts.checkBaseName(URL(fileURLWithPath: output).lastPathComponent, option: "-o")
    }
}
