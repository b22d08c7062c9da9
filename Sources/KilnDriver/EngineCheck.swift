import Foundation
import KilnIR
import KilnInterpreter
import SwiftBackend

/// Runs a graph in the generated Swift executor: emits the code, compiles it with `swiftc` into a
/// temporary directory, runs it on `.npy` inputs and reads its outputs back.
public struct CompiledSwiftModel: Sendable {
    public let graph: Graph
    public let directory: URL
    public let executable: URL
    public let weights: URL
    /// The arguments before the mode: the type name in a program of several executors, else none.
    private let selector: [String]
    private let ownsDirectory: Bool
    private let toolchain: SwiftToolchain

    /// Compiles `graph` with the given `swiftc` flags into a fresh temporary directory.
    public init(graph: Graph, typeName: String = "Model", flags: [String] = ["-O"]) throws {
        let emission = try SwiftEmitter().emit(try Backend.swift.legalize(graph), typeName: typeName)
        let toolchain = try SwiftToolchain()
        let directory = try Self.temporaryDirectory()
        do {
            self.executable = try toolchain.buildExecutable(emission: emission, graph: graph, in: directory, optimization: flags)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        self.graph = graph
        self.directory = directory
        self.weights = directory.appendingPathComponent("\(emission.typeName).weights")
        self.selector = []
        self.ownsDirectory = true
        self.toolchain = toolchain
    }

    /// One executor of a program built by `SwiftToolchain.buildExecutable(models:in:optimization:)`.
    init(graph: Graph, typeName: String, executable: URL, toolchain: SwiftToolchain) {
        self.graph = graph
        self.directory = executable.deletingLastPathComponent()
        self.executable = executable
        self.weights = directory.appendingPathComponent("\(typeName).weights")
        self.selector = [typeName]
        self.ownsDirectory = false
        self.toolchain = toolchain
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Removes the temporary directory; a model compiled with others (`CompiledSwiftModels`) leaves that to
    /// them.
    public func remove() {
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    public func run(_ inputs: [String: Tensor]) throws -> [String: Tensor] {
        let runDirectory = directory.appendingPathComponent("run-\(UUID().uuidString)")
        let outputDirectory = runDirectory.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: runDirectory) }
        var arguments = selector + ["run", weights.path, outputDirectory.path]
        for name in inputs.keys.sorted() {
            let file = runDirectory.appendingPathComponent("input-\(arguments.count).npy")
            try Data(NPY.encode(inputs[name]!)).write(to: file)
            arguments.append("\(name)=\(file.path)")
        }
        _ = try toolchain.run(executable, arguments: arguments)
        var outputs: [String: Tensor] = [:]
        for (index, name) in graph.outputs.enumerated() {
            outputs[name] = try NPY.read(contentsOf: outputDirectory.appendingPathComponent("output-\(index).npy"))
        }
        return outputs
    }

    /// Times the executor at each batch size; medians and percentiles in microseconds.
    public func bench(batches: [Int], runs: Int) throws -> [BenchResult] {
        var arguments = selector + ["bench", weights.path, "--runs", String(runs)]
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
            out +=
                pad(row.engine, 12) + " " + pad(c.name, 31) + " " + pad(sci(c.maxAbsoluteError), 13) + " "
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
        let compiled = try CompiledSwiftModel(graph: graph)
        defer { compiled.remove() }
        return report(reference: reference, swift: try compiled.run(inputs), expected: expected, tolerance: tolerance)
    }

    /// One graph for `verify(_:tolerance:)`: its inputs and, when given, the outputs expected of it.
    public struct Case: Sendable {
        public var graph: Graph
        public var inputs: [String: Tensor]
        public var expected: [String: Tensor]?

        public init(_ graph: Graph, inputs: [String: Tensor], expected: [String: Tensor]? = nil) {
            self.graph = graph
            self.inputs = inputs
            self.expected = expected
        }
    }

    /// `verify` for several graphs, their executors compiled together by one `swiftc` (`CompiledSwiftModels`)
    /// and run two at a time. Each result is a case's report, or why it could not be checked.
    public static func verify(_ cases: [Case], tolerance: Tolerance = .standard) throws -> [Result<VerificationReport, Error>] {
        let compiled = try CompiledSwiftModels(graphs: cases.map(\.graph))
        defer { compiled.remove() }
        return verify(cases, compiled: compiled, tolerance: tolerance)
    }

    /// `verify` for several graphs already compiled, `compiled.models[i]` from `cases[i].graph`.
    public static func verify(_ cases: [Case], compiled: CompiledSwiftModels, tolerance: Tolerance = .standard) -> [Result<
        VerificationReport, Error
    >] {
        let results = LockedResults<Result<VerificationReport, Error>>(count: cases.count)
        DispatchQueue.concurrentPerform(iterations: cases.count) { index in
            let check = cases[index]
            results[index] = Result {
                let reference = try Interpreter().run(check.graph, inputs: check.inputs)
                let swift = try compiled.models[index].get().run(check.inputs)
                return report(reference: reference, swift: swift, expected: check.expected, tolerance: tolerance)
            }
        }
        return results.values.map { $0! }
    }

    private static func report(
        reference: [String: Tensor], swift: [String: Tensor], expected: [String: Tensor]?, tolerance: Tolerance
    ) -> VerificationReport {
        var rows: [(String, OutputComparison)] = []
        if let expected {
            rows += tolerance.compare(actual: reference, expected: expected).map { ("interpreter", $0) }
        }
        rows += tolerance.compare(actual: swift, expected: expected ?? reference).map { ("swift", $0) }
        return VerificationReport(reference: expected == nil ? "interpreter" : "expected outputs", rows: rows)
    }
}

/// Slots filled by concurrent work and read after it finishes.
final class LockedResults<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [T?]

    init(count: Int) { storage = Array(repeating: nil, count: count) }

    subscript(index: Int) -> T? {
        get { lock.withLock { storage[index] } }
        set { lock.withLock { storage[index] = newValue } }
    }

    var values: [T?] { lock.withLock { storage } }
}
