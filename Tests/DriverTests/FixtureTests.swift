import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

/// Every Keras fixture, read by the frontend, through the interpreter and through the compiled generated
/// Swift, against Keras's own outputs.
final class FixtureTests: XCTestCase {
    func testInterpreterMatchesKerasOnEveryFixture() throws {
        let fixtures = try Fixture.all()
        XCTAssertGreaterThan(fixtures.count, 20, "fixtures are missing; run testdata/generate_fixtures.py")
        for fixture in fixtures {
            let graph = try fixture.load()
            let outputs = try Interpreter().run(graph, inputs: try fixture.inputs())
            let expected = try fixture.expected()
            XCTAssertEqual(Set(expected.keys), Set(graph.outputs), fixture.name)
            for comparison in Tolerance.standard.compare(actual: outputs, expected: expected) {
                XCTAssertTrue(
                    comparison.withinTolerance,
                    "\(fixture.name) output \(comparison.name): max abs \(comparison.maxAbsoluteError), max rel \(comparison.maxRelativeError) \(comparison.mismatch ?? "")"
                )
            }
        }
    }

    func testEveryFixtureRoundTripsThroughTheTextForm() throws {
        for fixture in try Fixture.all() {
            let graph = try fixture.load()
            let text = TextPrinter(inlineLimit: .max).print(graph)
            XCTAssertEqual(try TextParser.parse(text), graph, fixture.name)
        }
    }

    func testOptimizedGraphsMatchKerasOnEveryFixture() throws {
        let pipeline = try Optimizer.pipeline(level: "O2", verifyEach: true)
        var foldedBatchNorms = 0
        for fixture in try Fixture.all() {
            let graph = try fixture.load()
            let optimized = try pipeline.run(graph)
            XCTAssertLessThanOrEqual(optimized.nodes.count, graph.nodes.count, fixture.name)
            let batchNorms = { (g: Graph) in g.nodes.filter { if case .batchNorm = $0.op { true } else { false } }.count }
            foldedBatchNorms += batchNorms(graph) - batchNorms(optimized)
            let outputs = try Interpreter().run(optimized, inputs: try fixture.inputs())
            for comparison in Tolerance.standard.compare(actual: outputs, expected: try fixture.expected()) {
                XCTAssertTrue(
                    comparison.withinTolerance, "\(fixture.name) -O2 output \(comparison.name): max abs \(comparison.maxAbsoluteError)")
            }
        }
        XCTAssertGreaterThan(foldedBatchNorms, 0, "the CNN fixtures have BatchNorms after convolutions to fold")
    }

    func testGeneratedSwiftMatchesKerasOnEveryFixture() throws {
        let (fixtures, cases, compiled) = try FixtureExecutors.compiled()
        for (fixture, result) in zip(fixtures, EngineCheck.verify(cases, compiled: compiled)) {
            switch result {
            case .success(let report):
                XCTAssertTrue(report.passed, "\(fixture.name):\n\(report.render())")
                XCTAssertTrue(report.rows.contains { $0.engine == "swift" }, fixture.name)
            case .failure(let error):
                XCTFail("\(fixture.name): \(error)")
            }
        }
    }

    /// A ceiling on a pathological blowup, not a benchmark: every fixture's generated source compiles in
    /// seconds (type-checking costs the same at -Onone as at -O); a type checker lost in an expression takes minutes.
    func testGeneratedSwiftOfEveryFixtureCompilesInUnderFifteenSeconds() throws {
        let (fixtures, _, compiled) = try FixtureExecutors.compiled()
        var slowest = (name: "", seconds: 0.0)
        for (index, fixture) in fixtures.enumerated() {
            guard let seconds = compiled.compileSeconds[index] else {
                XCTFail("\(fixture.name): swiftc reported no time for it; did it compile?")
                continue
            }
            XCTAssertLessThan(seconds, 15, "\(fixture.name): swiftc spent \(seconds) s of CPU on its generated source")
            if seconds > slowest.seconds { slowest = (fixture.name, seconds) }
        }
        print(
            "FixtureTests: the slowest generated source to compile was \(slowest.name)'s, \(String(format: "%.1f", slowest.seconds)) s of CPU"
        )
    }

    /// The transformer encoder's predicted digits (top-1 of its softmax) are Keras's in the interpreter and in the
    /// generated Swift (whose executors the Swift check above compiled); scripts/check_fixtures.sh holds ONNX
    /// Runtime's probabilities to the same tolerance.
    func testTransformerDigitsTopOneMatchesKerasInEveryEngine() throws {
        let (fixtures, cases, compiled) = try FixtureExecutors.compiled()
        func topOne(_ probabilities: Tensor) -> [Int] {
            let classes = probabilities.shape[1], values = probabilities.floats
            return (0..<probabilities.shape[0]).map { row in
                (0..<classes).max { values[row * classes + $0] < values[row * classes + $1] }!
            }
        }
        var checked = 0
        for (index, fixture) in fixtures.enumerated() where fixture.name.hasPrefix("transformer_digits_t8") {
            let keras = topOne(try XCTUnwrap(cases[index].expected?["probs"]))
            XCTAssertEqual(keras.count, 32, fixture.name)
            let interpreted = try Interpreter().run(cases[index].graph, inputs: cases[index].inputs)
            XCTAssertEqual(topOne(try XCTUnwrap(interpreted["probs"])), keras, "\(fixture.name) interpreter")
            let swift = try compiled.models[index].get().run(cases[index].inputs)
            XCTAssertEqual(topOne(try XCTUnwrap(swift["probs"])), keras, "\(fixture.name) generated Swift")
            checked += 1
        }
        XCTAssertEqual(checked, 2, "transformer_digits_t8 fixtures: Keras 2 .h5 and Keras 3 .keras")
    }

    override class func tearDown() {
        FixtureExecutors.remove()
        super.tearDown()
    }

    /// The digits-as-sequence classifiers (LSTM, GRU, Bidirectional; meta.json `top1`): the interpreter and the
    /// generated Swift pick Keras's class for each of the 32 held-out digits (ONNX Runtime: check_fixtures.sh).
    func testDigitsSequenceClassifiersPickKerassClassInEveryEngine() throws {
        let (fixtures, cases, compiled) = try FixtureExecutors.compiled()
        func classes(_ t: Tensor) -> [Int] {
            let (rows, columns) = (t.shape[0], t.shape[1])
            let v = t.floats
            return (0..<rows).map { row in (0..<columns).max { v[row * columns + $0] < v[row * columns + $1] }! }
        }
        var checked = 0
        for (index, fixture) in fixtures.enumerated() where fixture.name.hasPrefix("recurrent_digits_") {
            let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: fixture.directory.appendingPathComponent("meta.json")))
            XCTAssertEqual((meta as? [String: Any])?["top1"] as? Bool, true, fixture.name)
            let keras = classes(try XCTUnwrap(cases[index].expected?["digit"]))
            XCTAssertEqual(keras.count, 32, fixture.name)
            let interpreter = try Interpreter().run(cases[index].graph, inputs: cases[index].inputs)
            let swift = try compiled.models[index].get().run(cases[index].inputs)
            XCTAssertEqual(classes(try XCTUnwrap(interpreter["digit"])), keras, "\(fixture.name) interpreter")
            XCTAssertEqual(classes(try XCTUnwrap(swift["digit"])), keras, "\(fixture.name) swift")
            checked += 1
        }
        XCTAssertEqual(checked, 3, "the LSTM, GRU and Bidirectional digits fixtures")
    }

    func testGeneratedSwiftHandlesOtherBatchSizes() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras2_h5").model)
        // One executor, compiled once, at each batch size.
        let compiled = try CompiledSwiftModel(graph: graph)
        defer { compiled.remove() }
        for batch in [1, 3, 33] {
            let inputs = try Inputs.random(for: graph, batchSize: batch)
            for comparison in Tolerance.standard.compare(
                actual: try compiled.run(inputs), expected: try Interpreter().run(graph, inputs: inputs))
            {
                XCTAssertTrue(
                    comparison.withinTolerance,
                    "batch \(batch) \(comparison.name): max abs \(comparison.maxAbsoluteError) \(comparison.mismatch ?? "")")
            }
        }
    }

    func testGeluApproximateAndExactMatchKeras() throws {
        let directory = TestPaths.fixtures.appendingPathComponent("gelu_approximate")
        let x = try NPY.read(contentsOf: directory.appendingPathComponent("inputs/x.npy"))
        let files = ["exact", "approximate"]
        let cases = try zip(files, [false, true]).map { file, approximate in
            let text = """
                graph @gelu {
                  input %x : f32[N,\(x.shape[1])]
                  %y = Gelu(%x) {approximate = \(approximate)} : f32[N,\(x.shape[1])]
                  output %y
                }
                """
            let expected = ["y": try NPY.read(contentsOf: directory.appendingPathComponent("expected/\(file).npy"))]
            return EngineCheck.Case(try TextParser.parse(text), inputs: ["x": x], expected: expected)
        }
        for (file, result) in zip(files, try EngineCheck.verify(cases)) {
            let report = try result.get()
            XCTAssertTrue(report.passed, "\(file):\n\(report.render())")
        }
    }
}

/// Every fixture's graph and executor, compiled together by one swiftc (see CompiledSwiftModels) when a test
/// first asks, and removed when FixtureTests is done.
///
/// Compiled with `-Onone`, as an app's Debug configuration compiles them: optimizing some 200 executors took
/// about 1.3 s of CPU each, -Onone about 0.5 s, and these sweeps are about the graphs, not the optimizer. The
/// generated code is checked at `-O` elsewhere: every op (SwiftBackendTests), the SavedModel fixtures, the real
/// models, the merged, pruned and quantized models, and `-O -D KILN_FMA` for the kernels in CI.
private enum FixtureExecutors {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var cache: Result<([Fixture], [EngineCheck.Case], CompiledSwiftModels), any Error>?

    static func compiled() throws -> ([Fixture], [EngineCheck.Case], CompiledSwiftModels) {
        try lock.withLock {
            if cache == nil {
                cache = Result {
                    let fixtures = try Fixture.all()
                    let pipeline = try Optimizer.pipeline(level: "O2")
                    let cases = try fixtures.map { fixture in
                        // The executor `kiln convert` writes: -O2 (so the fused kernels run on every fixture).
                        EngineCheck.Case(
                            try pipeline.run(try fixture.load()), inputs: try fixture.inputs(), expected: try fixture.expected())
                    }
                    return (fixtures, cases, try CompiledSwiftModels(graphs: cases.map(\.graph), flags: ["-Onone"]))
                }
            }
            return cache!
        }.get()
    }

    static func remove() {
        lock.withLock {
            if case .success(let (_, _, compiled)) = cache { compiled.remove() }
            cache = nil
        }
    }
}
