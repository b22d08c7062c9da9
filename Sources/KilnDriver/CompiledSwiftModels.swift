import Foundation
import KilnIR
import SwiftBackend

/// Several graphs compiled into one program by one `swiftc` run, which costs a fraction of compiling each
/// on its own: the compiler starts and links once, and compiles the harness once (see
/// `SwiftToolchain.buildExecutable(models:in:optimization:)`).
///
/// A graph the Swift backend cannot emit, or whose source `swiftc` reports errors in, gets its error and is
/// left out; the others are compiled again without it.
public final class CompiledSwiftModels: Sendable {
    public let directory: URL
    /// Each graph's executor, or why it has none, in the order of the graphs.
    public let models: [Result<CompiledSwiftModel, any Error>]
    /// The CPU seconds each executor's source took to compile on its own (its frontend job), nil where it was
    /// not compiled or not measured.
    public let compileSeconds: [Double?]

    /// Emits `graphs` (legalized for Swift) as `Model0`, `Model1`, ... and compiles them with the given `swiftc` flags into a fresh
    /// temporary directory. Equal graphs (one model run on several inputs) are emitted and compiled once and share
    /// their executor.
    public convenience init(graphs: [Graph], flags: [String] = ["-O"]) throws {
        var unique: [Graph] = []
        var slots: [Int] = []
        for graph in graphs {
            if let index = unique.firstIndex(of: graph) {
                slots.append(index)
            } else {
                slots.append(unique.count)
                unique.append(graph)
            }
        }
        let emissions = unique.enumerated().map { index, graph in
            // The executors share one copy of the runtime kernels: the module compiles them once.
            Result { try SwiftEmitter(sharesRuntime: true).emit(try Backend.swift.legalize(graph), typeName: "Model\(index)") }
        }
        try self.init(emissions: emissions, graphs: unique, flags: flags, slots: slots)
    }

    /// Compiles executors already emitted, each from the graph at its index (or the emitter's error, which
    /// becomes the model's), whose type names differ. With `slots`, model i is the executor of graph `slots[i]`.
    public init(emissions: [Result<SwiftEmission, any Error>], graphs: [Graph], flags: [String] = ["-O"], slots: [Int]? = nil) throws {
        precondition(emissions.count == graphs.count, "one emission per graph")
        let toolchain = try SwiftToolchain()
        let directory = try CompiledSwiftModel.temporaryDirectory()
        do {
            let (compiled, seconds) = try Self.compile(emissions, graphs, flags: flags, in: directory, toolchain: toolchain)
            let slots = slots ?? Array(compiled.indices)
            (models, compileSeconds) = (slots.map { compiled[$0] }, slots.map { seconds[$0] })
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        self.directory = directory
    }

    private static func compile(
        _ emissions: [Result<SwiftEmission, any Error>], _ graphs: [Graph], flags: [String], in directory: URL, toolchain: SwiftToolchain
    ) throws -> ([Result<CompiledSwiftModel, any Error>], [Double?]) {
        var results = [Result<CompiledSwiftModel, any Error>?](repeating: nil, count: graphs.count)
        var seconds = [Double?](repeating: nil, count: graphs.count)
        var pending: [(index: Int, emission: SwiftEmission)] = []
        for (index, emission) in emissions.enumerated() {
            switch emission {
            case .success(let emission): pending.append((index, emission))
            case .failure(let error): results[index] = .failure(error)
            }
        }
        while !pending.isEmpty {
            do {
                let (executable, compileSeconds) = try toolchain.buildExecutable(
                    models: pending.map { ($0.emission, graphs[$0.index]) }, in: directory, optimization: flags)
                for (index, emission) in pending {
                    let type = emission.typeName
                    results[index] = .success(
                        CompiledSwiftModel(graph: graphs[index], typeName: type, executable: executable, toolchain: toolchain))
                    seconds[index] = compileSeconds[type]
                }
                pending = []
            } catch SwiftToolchainError.compileFailed(let sources, let arguments, let stderr) {
                // swiftc names the file of each error: those executors fail, the others are compiled again.
                let source = { (type: String) in directory.appendingPathComponent("\(type).swift") }
                let failing = Set(pending.filter { stderr.contains(source($0.emission.typeName).path + ":") }.map(\.index))
                for (index, emission) in pending where failing.isEmpty || failing.contains(index) {
                    let named = failing.isEmpty ? sources : [source(emission.typeName)]
                    results[index] = .failure(SwiftToolchainError.compileFailed(sources: named, arguments: arguments, stderr: stderr))
                }
                pending = failing.isEmpty ? [] : pending.filter { !failing.contains($0.index) }
            }
        }
        return (results.map { $0! }, seconds)
    }

    /// Removes the temporary directory of every model.
    public func remove() { try? FileManager.default.removeItem(at: directory) }
}
