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
                    "\(fixture.name) output \(comparison.name): max abs \(comparison.maxAbsoluteError), max rel \(comparison.maxRelativeError) \(comparison.mismatch ?? "")")
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
                XCTAssertTrue(comparison.withinTolerance, "\(fixture.name) -O2 output \(comparison.name): max abs \(comparison.maxAbsoluteError)")
            }
        }
        XCTAssertGreaterThan(foldedBatchNorms, 0, "the CNN fixtures have BatchNorms after convolutions to fold")
    }

    func testGeneratedSwiftMatchesKerasOnEveryFixture() throws {
        let fixtures = try Fixture.all()
        // Each fixture compiles its own executor with swiftc; two at a time keeps both cores busy.
        let results = ConcurrentResults<Result<VerificationReport, Error>>(count: fixtures.count)
        DispatchQueue.concurrentPerform(iterations: fixtures.count) { index in
            let fixture = fixtures[index]
            results[index] = Result {
                let graph = try fixture.load()
                return try EngineCheck.verify(graph, inputs: try fixture.inputs(), expected: try fixture.expected())
            }
        }
        for (fixture, result) in zip(fixtures, results.values) {
            switch result {
            case .success(let report):
                XCTAssertTrue(report.passed, "\(fixture.name):\n\(report.render())")
                XCTAssertTrue(report.rows.contains { $0.engine == "swift" }, fixture.name)
            case .failure(let error):
                XCTFail("\(fixture.name): \(error)")
            case nil:
                XCTFail("\(fixture.name) did not run")
            }
        }
    }

    func testGeneratedSwiftHandlesOtherBatchSizes() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras2_h5").model)
        for batch in [1, 3, 33] {
            let report = try EngineCheck.verify(graph, inputs: try Inputs.random(for: graph, batchSize: batch))
            XCTAssertTrue(report.passed, "batch \(batch):\n\(report.render())")
        }
    }

    func testGeluApproximateAndExactMatchKeras() throws {
        let directory = TestPaths.fixtures.appendingPathComponent("gelu_approximate")
        let x = try NPY.read(contentsOf: directory.appendingPathComponent("inputs/x.npy"))
        for (approximate, file) in [(false, "exact"), (true, "approximate")] {
            let text = """
                graph @gelu {
                  input %x : f32[N,\(x.shape[1])]
                  %y = Gelu(%x) {approximate = \(approximate)} : f32[N,\(x.shape[1])]
                  output %y
                }
                """
            let graph = try TextParser.parse(text)
            let expected = ["y": try NPY.read(contentsOf: directory.appendingPathComponent("expected/\(file).npy"))]
            let report = try EngineCheck.verify(graph, inputs: ["x": x], expected: expected)
            XCTAssertTrue(report.passed, "\(file):\n\(report.render())")
        }
    }
}
