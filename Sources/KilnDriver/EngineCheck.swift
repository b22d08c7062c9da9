import Foundation
import KilnIR
import KilnInterpreter
import SwiftBackend

/// Runs a graph in the generated Swift executor: emits the code, compiles it with `swiftc` into a
/// temporary directory, runs it on `.npy` inputs and reads its outputs back.
public struct CompiledSwiftModel {
    public let graph: Graph
    public let directory: URL
    public let executable: URL
    public let weights: URL
    private let toolchain: SwiftToolchain

    /// Compiles `graph` with the given `swiftc` flags into a fresh temporary directory.
    public init(graph: Graph, typeName: String = "Model", flags: [String] = ["-O"]) throws {
        let emission = try SwiftEmitter().emit(try Backend.swift.legalize(graph), typeName: typeName)
        let toolchain = try SwiftToolchain()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        do {
            self.executable = try toolchain.buildExecutable(emission: emission, graph: graph, in: directory, optimization: flags)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        self.graph = graph
        self.directory = directory
        self.weights = directory.appendingPathComponent("\(emission.typeName).weights")
        self.toolchain = toolchain
    }

    /// Removes the temporary directory.
    public func remove() { try? FileManager.default.removeItem(at: directory) }

    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let runDirectory = directory.appendingPathComponent("run-\(UUID().uuidString)")
        let outputDirectory = runDirectory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: runDirectory) }
        var arguments = ["run", weights.path, outputDirectory.path]
        for name in inputs.keys.sorted() {
            let file = runDirectory.appendingPathComponent("input-\(arguments.count).npy")
            try Data(NPY.encode(inputs[name]!)).write(to: file)
            arguments.append("\(name)=\(file.path)")
        }
        _ = try toolchain.run(executable, arguments: arguments)
        var outputs: [String: Tensor] = [:]
        for name in graph.outputs {
            outputs[name] = try NPY.read(contentsOf: outputDirectory.appendingPathComponent(OutputFiles.fileName(for: name)))
        }
        return outputs
    }

    /// Times the executor at each batch size; medians and percentiles in microseconds.
    public func bench(batches: [Int], runs: Int) throws -> [BenchResult] {
        var arguments = ["bench", weights.path, "--runs", String(runs)]
        for batch in batches { arguments += ["--batch", String(batch)] }
        let output = try toolchain.run(executable, arguments: arguments).stdout
        return try output.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let batch = object["batch"] as? Int, let median = object["median_us"] as? Double
            else { throw InputError("unexpected benchmark output: \(line)") }
            return BenchResult(engine: "swift", batch: batch, medianMicroseconds: median)
        }
    }
}

/// One timing: an engine at a batch size.
public struct BenchResult: Sendable {
    public var engine: String
    public var batch: Int
    public var medianMicroseconds: Double

    public init(engine: String, batch: Int, medianMicroseconds: Double) {
        self.engine = engine
        self.batch = batch
        self.medianMicroseconds = medianMicroseconds
    }
}

/// File names for output tensors: an output's name with characters a path cannot hold replaced.
public enum OutputFiles {
    public static func fileName(for output: String) -> String {
        String(output.map { $0 == "/" ? "_" : $0 }) + ".npy"
    }
}

/// The result of `kiln verify`: each output of each engine against the reference interpreter.
public struct VerificationReport: Sendable {
    /// What the engines were compared with: "interpreter", or the expected outputs' origin.
    public var reference: String
    public var rows: [(engine: String, comparison: OutputComparison)]

    public var passed: Bool { rows.allSatisfy { $0.comparison.withinTolerance } }

    public func render() -> String {
        var out = "reference: \(reference)\n"
        out += "engine       output                          max abs err   max rel err   ok\n"
        for row in rows {
            let c = row.comparison
            out += pad(row.engine, 12) + " " + pad(c.name, 31) + " " + pad(sci(c.maxAbsoluteError), 13) + " "
                + pad(sci(c.maxRelativeError), 13) + " " + (c.withinTolerance ? "yes" : "NO") + "\n"
            if let mismatch = c.mismatch { out += "             \(mismatch)\n" }
        }
        return out
    }

    private func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }

    private func sci(_ x: Float) -> String {
        guard x.isFinite else { return x.description }
        guard x != 0 else { return "0" }
        let exponent = Int(Foundation.floor(Foundation.log10(Double(x))))
        let mantissa = Double(x) / Foundation.pow(10, Double(exponent))
        return "\((mantissa * 100).rounded() / 100)e\(exponent)"
    }
}

/// Checks every engine against the reference interpreter (and, when given, the interpreter against
/// expected outputs such as Keras's own).
public enum EngineCheck {
    public static func verify(
        _ graph: Graph, inputs: [String: Tensor], expected: [String: Tensor]? = nil, tolerance: Tolerance = .standard
    ) throws -> VerificationReport {
        let reference = try Interpreter().run(graph, inputs: inputs)
        var rows: [(String, OutputComparison)] = []
        if let expected {
            rows += tolerance.compare(actual: reference, expected: expected).map { ("interpreter", $0) }
        }
        let compiled = try CompiledSwiftModel(graph: graph)
        defer { compiled.remove() }
        let swiftOutputs = try compiled.run(inputs)
        rows += tolerance.compare(actual: swiftOutputs, expected: expected ?? reference).map { ("swift", $0) }
        return VerificationReport(reference: expected == nil ? "interpreter" : "expected outputs", rows: rows)
    }
}
