import ArgumentParser
import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import SwiftBackend

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the generated Swift executor and the reference interpreter.",
        discussion: """
            The generated code is compiled with --swiftc-flags (default -O) and timed in its own process; \
            the interpreter is timed in this one (build kiln with -c release for meaningful numbers). Each \
            figure is the median of --runs runs after a warm-up. --json prints one JSON object per line. With \
            --sequential (e.g. the models a merged MODEL came from), each of those models is optimized (and \
            pruned) like MODEL, compiled and timed the same way, and the sum of their medians is shown as \
            running them one after another.
            """)

    @OptionGroup var model: ModelArgument

    @OptionGroup var optimization: OptimizationOptions

    @OptionGroup var pruning: PruningOptions

    @OptionGroup var quantization: QuantizationOptions

    @OptionGroup var evaluation: EvaluationOptions

    @Option(help: "A batch size to time; repeat for several.")
    var batch: [Int] = [1, 32]

    @Option(help: "Timed runs per batch size.")
    var runs: Int = 200

    @Option(help: "Flags for swiftc when compiling the generated code, space-separated.")
    var swiftcFlags: String = "-O"

    @Flag(help: "Skip timing the interpreter.")
    var noInterpreter = false

    @Flag(help: "Print JSON lines instead of a table.")
    var json = false

    @Option(help: "A model to time as part of a one-after-another baseline, as [NAME=]FILE; repeat for each.")
    var sequential: [String] = []

    func run() throws {
        try reportingErrors(memoryLimit: model.memory) {
            guard runs > 0, batch.allSatisfy({ $0 > 0 }) else { throw ValidationError("--runs and --batch must be positive") }
            try evaluation.check(
                pruning: pruning.prune != nil, quantization: quantization.quantize != nil, calibration: quantization.calibration != nil)
            let unquantized = try optimization.optimize(try pruning.apply(try model.load(), evaluation: evaluation))
            let graph = try quantization.apply(unquantized, evaluation: evaluation)
            let flags = swiftcFlags.split(separator: " ").map(String.init)
            var results: [BenchResult]
            // A quantized model is timed against its float executor, and both weights files are sized.
            var weightsBytes: [(engine: String, bytes: Int)] = []
            if quantization.quantize != nil {
                results = try timeAgainstFloat(graph, unquantized, flags: flags)
                let sizes = try [graph, unquantized].map { try SwiftEmitter().emit(try Backend.swift.legalize($0)).weights.count }
                weightsBytes = [("swift", sizes[0]), ("swift f32", sizes[1])]
            } else {
                results = try time(graph, flags: flags)
            }
            if !sequential.isEmpty {
                // Each model alone, prepared like MODEL, then the sum of the medians per engine and batch size.
                var parts: [BenchResult] = []
                for argument in sequential {
                    parts += try time(
                        try optimization.optimize(try pruning.apply(try Merge.load(argument).graph, evaluation: evaluation)), flags: flags)
                }
                for engine in ["swift", "interpreter"] {
                    for size in batch {
                        let times = parts.filter { $0.engine == engine && $0.batch == size }.map(\.medianMicroseconds)
                        guard times.count == sequential.count else { continue }
                        results.append(
                            BenchResult(engine: "\(engine) x\(sequential.count) seq", batch: size, medianMicroseconds: times.reduce(0, +)))
                    }
                }
            }
            if json {
                for r in results {
                    let size = weightsBytes.first { $0.engine == r.engine }.map { ", \"weights_bytes\": \($0.bytes)" } ?? ""
                    print(
                        "{\"engine\": \"\(r.engine)\", \"batch\": \(r.batch), \"median_us\": \(r.medianMicroseconds), \"flags\": \"\(swiftcFlags)\"\(size)}"
                    )
                }
                return
            }
            print("model: \(model.model)   swiftc flags: \(swiftcFlags)   runs: \(runs)")
            for (engine, bytes) in weightsBytes { print("weights file (\(engine == "swift" ? "int8" : "f32")): \(bytes) bytes") }
            if !sequential.isEmpty {
                print("one after another (x\(sequential.count) seq, the sum of each model's median): \(sequential.joined(separator: ", "))")
            }
            print("engine                 batch    median µs   µs/example   vs swift")
            for size in batch {
                let swift = results.first { $0.engine == "swift" && $0.batch == size }?.medianMicroseconds ?? .nan
                for r in results where r.batch == size {
                    let cells = [
                        r.engine.padding(toLength: 21, withPad: " ", startingAt: 0),
                        String(size).leftPadded(6),
                        format(r.medianMicroseconds).leftPadded(12),
                        format(r.medianMicroseconds / Double(size)).leftPadded(12),
                        (format(r.medianMicroseconds / swift) + "x").leftPadded(10),
                    ]
                    print(cells.joined(separator: " "))
                }
            }
        }
    }

    /// The quantized executor ("swift") and the float one ("swift f32") timed in turn three times each, so
    /// that a slow spell of the machine does not land on one of them only; each keeps its best median. Then the
    /// interpreter on the quantized graph, unless --no-interpreter.
    private func timeAgainstFloat(_ quantized: Graph, _ float: Graph, flags: [String]) throws -> [BenchResult] {
        let int8 = try CompiledSwiftModel(graph: quantized, flags: flags), f32 = try CompiledSwiftModel(graph: float, flags: flags)
        defer {
            int8.remove()
            f32.remove()
        }
        var best: [String: BenchResult] = [:]
        for _ in 0..<3 {
            for (engine, compiled) in [("swift", int8), ("swift f32", f32)] {
                for r in try compiled.bench(batches: batch, runs: runs) {
                    let key = "\(engine) \(r.batch)"
                    if best[key].map({ r.medianMicroseconds < $0.medianMicroseconds }) ?? true {
                        best[key] = BenchResult(engine: engine, batch: r.batch, medianMicroseconds: r.medianMicroseconds)
                    }
                }
            }
        }
        var results = ["swift", "swift f32"].flatMap { engine in batch.compactMap { best["\(engine) \($0)"] } }
        if !noInterpreter { results += try timeInterpreter(quantized) }
        return results
    }

    /// The generated executor and (unless --no-interpreter) the interpreter on `graph` at every batch size.
    private func time(_ graph: Graph, flags: [String]) throws -> [BenchResult] {
        let compiled = try CompiledSwiftModel(graph: graph, flags: flags)
        defer { compiled.remove() }
        let results = try compiled.bench(batches: batch, runs: runs)
        guard !noInterpreter else { return results }
        return results + (try timeInterpreter(graph))
    }

    /// The interpreter on `graph` at every batch size.
    private func timeInterpreter(_ graph: Graph) throws -> [BenchResult] {
        var results: [BenchResult] = []
        for size in batch {
            let inputs = try Inputs.random(for: graph, batchSize: size)
            let interpreter = Interpreter()
            _ = try interpreter.run(graph, inputs: inputs)
            var times: [Double] = []
            for _ in 0..<max(5, runs / 4) {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try interpreter.run(graph, inputs: inputs)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
            }
            results.append(BenchResult(engine: "interpreter", batch: size, medianMicroseconds: times.sorted()[times.count / 2]))
        }
        return results
    }

    private func format(_ x: Double) -> String {
        guard x.isFinite else { return "-" }
        return x >= 100 ? String(Int(x.rounded())) : String((x * 100).rounded() / 100)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
