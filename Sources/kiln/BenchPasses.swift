import ArgumentParser
import Foundation
import KilnDriver
import KilnIR

struct BenchPasses: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-passes",
        abstract: "Time the -O2 pipeline, and `kiln opt -O2` on .kir files, on synthetic graphs of growing size.",
        discussion: """
            Each graph is a residual stack of eleven-node blocks that -O2 rewrites almost entirely \
            (SyntheticGraphs.residualStack). The `kiln opt` column is what that command does, in process: read \
            the .kir file and its weights, run -O2, write the result's .kir and weights (in a temporary \
            directory). Build kiln with `swift build -c release` first; medians of --runs runs.
            """)

    @Option(help: "Graph sizes in nodes, comma-separated.")
    var nodes: String = "1000,2000,4000,8000,16000,50000"

    @Option(help: "Runs per size; the median is reported.")
    var runs: Int = 3

    @Flag(help: "Also print the time of each pass on the largest graph.")
    var perPass = false

    @Flag(help: "Skip timing `kiln opt` on files.")
    var noFiles = false

    func run() throws {
        try reportingErrors {
            let sizes = try nodes.split(separator: ",").map { text in
                guard let size = Int(text.trimmingCharacters(in: .whitespaces)), size >= 11 else {
                    throw ValidationError("--nodes takes sizes of at least 11, comma-separated; got '\(text)'")
                }
                return size
            }
            guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
            let pipeline = try Optimizer.pipeline(level: "O2", verifyEach: false)
            print("nodes    -O2 ms    µs/node    nodes after    kiln opt ms")
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-passes-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            for size in sizes {
                let graph = SyntheticGraphs.residualStack(nodes: size)
                var optimized = graph
                let passTimes = try (0..<runs).map { _ in
                    try time { optimized = try pipeline.run(graph) }
                }
                let input = directory.appendingPathComponent("in.kir"), output = directory.appendingPathComponent("out.kir")
                try Self.write(graph, to: input)
                let fileTimes =
                    noFiles
                    ? [0]
                    : try (0..<runs).map { _ in
                        try time { try Self.write(try pipeline.run(try ModelLoader.load(input)), to: output) }
                    }
                let median = passTimes.sorted()[runs / 2], files = fileTimes.sorted()[fileTimes.count / 2]
                let row = [
                    "\(graph.nodes.count)", String(format: "%.1f", median * 1000),
                    String(format: "%.1f", median * 1e6 / Double(graph.nodes.count)),
                    "\(optimized.nodes.count)", noFiles ? "-" : String(format: "%.1f", files * 1000),
                ]
                print(zip(row, [9, 10, 11, 15, 0]).map { $0.padding(toLength: max($1, $0.count), withPad: " ", startingAt: 0) }.joined())
            }
            if perPass, let largest = sizes.max() {
                var graph = SyntheticGraphs.residualStack(nodes: largest)
                print("\npass                 ms (\(graph.nodes.count) nodes in)")
                for pass in pipeline.passes {
                    let name = type(of: pass).name
                    let seconds = try time { graph = try pass.run(on: graph) }
                    print(name.padding(toLength: 21, withPad: " ", startingAt: 0) + String(format: "%.1f", seconds * 1000))
                }
            }
        }
    }

    /// Writes a graph as `kiln opt` does: its text, and its weights beside it.
    private static func write(_ graph: Graph, to url: URL) throws {
        var artifacts = Artifacts()
        artifacts.add(url.lastPathComponent, text: graph.text)
        artifacts.add(ModelLoader.weightsURL(forKIR: url).lastPathComponent, WeightsFile(graph: graph).encoded())
        try artifacts.write(to: url.deletingLastPathComponent())
    }

    private func time(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }
}
