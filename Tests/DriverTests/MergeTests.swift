import Foundation
import KilnDriver
import KilnIR
import KilnInterpreter
import KilnTestSupport
import XCTest

/// `kiln merge` on Keras-made models (testdata/merge): the merged graph computes every model's outputs
/// exactly as the model alone does in the interpreter, and within tolerance of Keras in the generated Swift.
final class MergeTests: XCTestCase {
    /// Runs each source alone in the interpreter (feeding piped inputs from the producing model's results)
    /// and returns its outputs under their merged names.
    private func aloneOutputs(
        _ sources: [MergeSource], result: MergeResult, inputs: [String: [String: Tensor]],
        pipes: [(output: ValueReference, input: ValueReference)] = []
    ) throws -> [String: Tensor] {
        var byModel: [String: [String: Tensor]] = [:]
        var merged: [String: Tensor] = [:]
        for model in result.graph.metadata["merge.models"]!.split(separator: ",").map(String.init) {
            let source = sources.first { $0.name == model }!
            var feeds = inputs[model] ?? [:]
            for pipe in pipes where pipe.input.model == model { feeds[pipe.input.value] = byModel[pipe.output.model]![pipe.output.value]! }
            byModel[model] = try Interpreter().run(source.graph, inputs: feeds)
            for (own, mergedName) in result.outputs[model]! { merged[mergedName] = byModel[model]![own]! }
        }
        return merged
    }

    private func assertIdentical(
        _ actual: [String: Tensor], _ expected: [String: Tensor], file: StaticString = #filePath, line: UInt = #line
    ) {
        for (name, tensor) in expected {
            guard let value = actual[name] else { return XCTFail("no output \(name)", file: file, line: line) }
            XCTAssertEqual(value.shape, tensor.shape, name, file: file, line: line)
            XCTAssertEqual(value.floats, tensor.floats, "\(name) differs from the model run alone", file: file, line: line)
        }
    }

    private func assertClose(_ actual: [String: Tensor], _ expected: [String: Tensor], file: StaticString = #filePath, line: UInt = #line) {
        for comparison in Tolerance.standard.compare(actual: actual, expected: expected) {
            XCTAssertTrue(
                comparison.withinTolerance, "\(comparison.name): max abs \(comparison.maxAbsoluteError) \(comparison.mismatch ?? "")",
                file: file, line: line)
        }
    }

    func testSharedBackboneRunsOnceAndMatchesEachHeadExactly() throws {
        let fixture = try MergeCase.named("shared_backbone")
        let sources = try fixture.sources()
        let result = try ModelMerger.merge(sources, name: "heads", options: MergeOptions(shareInputs: .auto))
        XCTAssertEqual(result.graph.inputs.map(\.name), ["image"])
        XCTAssertEqual(result.graph.outputs, ["head_a_probs", "head_b_probs"])
        let image = try fixture.inputs("head_a")["image"]!
        XCTAssertEqual(image, try fixture.inputs("head_b")["image"]!)
        let merged = try Interpreter().run(result.graph, inputs: ["image": image])
        let alone = try aloneOutputs(sources, result: result, inputs: ["head_a": ["image": image], "head_b": ["image": image]])
        assertIdentical(merged, alone)
        assertClose(
            merged, ["head_a_probs": try fixture.expected("head_a")["probs"]!, "head_b_probs": try fixture.expected("head_b")["probs"]!])

        // The backbone's convolutions run once: fewer nodes, parameters and FLOPs than the two models.
        let convolutions = result.graph.nodes.filter { if case .conv = $0.op { true } else { false } }.count
        XCTAssertEqual(convolutions, 2)
        let report = MergeReport(sources: sources, result: result)
        XCTAssertLessThan(report.parametersAfter, report.parametersBefore)
        XCTAssertLessThan(report.flopsAfter, report.flopsBefore)
        XCTAssertEqual(report.parametersBefore, sources.reduce(0) { $0 + $1.graph.parameterCount })
        let shared = try XCTUnwrap(report.shared.first { $0.users == ["head_a", "head_b"] })
        XCTAssertEqual(report.parametersBefore - report.parametersAfter, shared.parameters, "exactly one backbone copy is saved")
        XCTAssertEqual(report.flopsBefore - report.flopsAfter, shared.flops)
        XCTAssertTrue(report.render().contains("head_a.probs -> head_a_probs"))

        // Without sharing the input, the weights are still stored once but each head runs its own backbone.
        let apart = try ModelMerger.merge(sources, name: "heads", options: MergeOptions())
        XCTAssertEqual(apart.graph.inputs.map(\.name), ["head_a_image", "head_b_image"])
        XCTAssertEqual(apart.graph.parameterCount, result.graph.parameterCount)
        XCTAssertEqual(GraphCost.flops(apart.graph), report.flopsBefore)
    }

    func testOptimizedMergeMatchesOptimizedModelsExactly() throws {
        let fixture = try MergeCase.named("shared_backbone")
        let pipeline = try Optimizer.pipeline(level: "O2", verifyEach: true)
        let sources = try fixture.sources().map { MergeSource(name: $0.name, graph: try pipeline.run($0.graph)) }
        var result = try ModelMerger.merge(try fixture.sources(), name: "heads", options: MergeOptions(shareInputs: .auto))
        result.graph = try pipeline.run(result.graph)
        let image = try fixture.inputs("head_a")["image"]!
        let merged = try Interpreter().run(result.graph, inputs: ["image": image])
        assertIdentical(
            merged, try aloneOutputs(sources, result: result, inputs: ["head_a": ["image": image], "head_b": ["image": image]]))
    }

    func testUnrelatedModelsFromEveryFormatKeepTheirOutputsAndProvenance() throws {
        let fixture = try MergeCase.named("unrelated")
        var sources = try fixture.sources()
        // One of them goes through Kiln's own IR text first.
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-merge-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let index = sources.firstIndex { $0.name == "tagger" }!
        try Converter(emit: [.kir], name: "tagger").artifacts(for: sources[index].graph).write(to: scratch)
        sources[index].graph = try ModelLoader.load(scratch.appendingPathComponent("tagger.kir"))

        let result = try ModelMerger.merge(sources, name: "three", options: MergeOptions(shareInputs: .auto))
        XCTAssertEqual(result.graph.inputs.map(\.name), ["features", "tagger_image"], "the two MLPs' features[10] become one input")
        let metadata = result.graph.metadata
        XCTAssertTrue(metadata["mlp_k2.source"]!.hasPrefix("keras 2."), metadata.description)
        XCTAssertTrue(metadata["regressor.source"]!.hasPrefix("keras 3."), metadata.description)
        XCTAssertEqual(metadata["tagger.source_format"], sources[index].graph.metadata["source_format"])
        XCTAssertEqual(metadata["merge.models"], "mlp_k2,regressor,tagger")

        var inputs: [String: [String: Tensor]] = [:]
        for model in ["mlp_k2", "regressor", "tagger"] { inputs[model] = try fixture.inputs(model) }
        let merged = try Interpreter().run(
            result.graph, inputs: ["features": inputs["mlp_k2"]!["features"]!, "tagger_image": inputs["tagger"]!["image"]!])
        assertIdentical(merged, try aloneOutputs(sources, result: result, inputs: inputs))
        var keras: [String: Tensor] = [:]
        for model in ["mlp_k2", "regressor", "tagger"] {
            for (own, mergedName) in result.outputs[model]! { keras[mergedName] = try fixture.expected(model)[own]! }
        }
        assertClose(merged, keras)
    }

    func testChainFeedsTheFirstStageIntoTheSecond() throws {
        let fixture = try MergeCase.named("chain")
        let sources = try fixture.sources()
        let pipes = [(output: ValueReference(model: "stage1", value: "encode"), input: ValueReference(model: "stage2", value: "code"))]
        let result = try ModelMerger.merge(
            sources.reversed(), name: "chain", options: MergeOptions(pipes: pipes))
        XCTAssertEqual(result.graph.inputs.map(\.name), ["stage1_x"])
        XCTAssertEqual(result.graph.metadata["merge.models"], "stage1,stage2", "stage1 runs first whatever the order given")
        let x = try fixture.inputs("stage1")["x"]!
        let merged = try Interpreter().run(result.graph, inputs: ["stage1_x": x])
        assertIdentical(merged, try aloneOutputs(sources, result: result, inputs: ["stage1": ["x": x]], pipes: pipes))
        assertClose(
            merged,
            ["stage1_encode": try fixture.expected("stage1")["encode"]!, "stage2_classify": try fixture.expected("stage2")["classify"]!])
    }

    func testGeneratedSwiftOfMergedModelsMatchesKeras() throws {
        let backbone = try MergeCase.named("shared_backbone")
        let heads = try ModelMerger.merge(
            try backbone.sources(), name: "heads",
            options: MergeOptions(shareInputs: .auto, ensembles: [EnsembleSpec(kind: .mean), EnsembleSpec(kind: .vote, name: "vote")]))
        let pipeline = try Optimizer.pipeline(level: "O2")
        let optimized = try pipeline.run(heads.graph)
        let image = try backbone.inputs("head_a")["image"]!
        let a = try backbone.expected("head_a")["probs"]!, b = try backbone.expected("head_b")["probs"]!
        let reference = try Interpreter().run(optimized, inputs: ["image": image])
        var expected = ["head_a_probs": a, "head_b_probs": b]
        expected["ensemble"] = Tensor(shape: a.shape, floats: zip(a.floats, b.floats).map { ($0 + $1) / 2 })
        // Keras's and Kiln's probabilities differ by ulps, so the votes are compared with the interpreter's own.
        expected["vote"] = reference["vote"]!
        expected["vote_votes"] = reference["vote_votes"]!
        let chain = try MergeCase.named("chain")
        let piped = try ModelMerger.merge(
            try chain.sources(), name: "chain",
            options: MergeOptions(pipes: [
                (output: ValueReference(model: "stage1", value: "encode"), input: ValueReference(model: "stage2", value: "code"))
            ]))
        let reports = try EngineCheck.verify([
            EngineCheck.Case(optimized, inputs: ["image": image], expected: expected),
            EngineCheck.Case(
                try pipeline.run(piped.graph), inputs: ["stage1_x": try chain.inputs("stage1")["x"]!],
                expected: [
                    "stage1_encode": try chain.expected("stage1")["encode"]!, "stage2_classify": try chain.expected("stage2")["classify"]!,
                ]),
        ])
        for result in reports {
            let report = try result.get()
            XCTAssertTrue(report.passed, report.render())
        }
    }

    /// Two models that output their inputs' rows, so the ensemble inputs are exactly the test's numbers.
    private func passThroughSources(classes: Int) throws -> [MergeSource] {
        try ["a", "b", "c"].map { name in
            let text = """
                graph @\(name) {
                  input %x : f32[N,\(classes)]
                  %y = Identity(%x) : f32[N,\(classes)]
                  output %y
                }
                """
            return MergeSource(name: name, graph: try TextParser.parse(text))
        }
    }

    func testEnsemblesCombineOutputsWithTiesToTheLowestClass() throws {
        let sources = try passThroughSources(classes: 4)
        let result = try ModelMerger.merge(
            sources, name: "vote",
            options: MergeOptions(ensembles: [
                EnsembleSpec(kind: .vote), EnsembleSpec(kind: .mean, name: "avg"), EnsembleSpec(kind: .max, name: "top"),
            ]))
        XCTAssertEqual(result.graph.outputs, ["a_y", "b_y", "c_y", "ensemble", "ensemble_votes", "avg", "top"])
        // Rows: a clear majority; a three-way split (ties to class 0 of the votes); ties inside one model's
        // row (its first maximum counts); tiny and huge gaps; negative values.
        let a: [Float] = [0.1, 0.7, 0.1, 0.1, 0.9, 0, 0, 0.1, 2, 2, 1, 0, 1, 1 + .ulpOfOne, 1, 1, -3, -1, -2, -1]
        let b: [Float] = [0.2, 0.5, 0.3, 0.0, 0, 0.9, 0, 0.1, 0, 3, 3, 0, 0, 0, 0, .leastNonzeroMagnitude, -4, -1, -3, -4]
        let c: [Float] = [0.6, 0.1, 0.2, 0.1, 0, 0, 0.9, 0.1, 5, 0, 0, 0, 3e38, -3e38, 0, 0, -5, -5, -5, -5]
        func tensor(_ values: [Float]) -> Tensor { Tensor(shape: [5, 4], floats: values) }
        let outputs = try Interpreter().run(result.graph, inputs: ["a_x": tensor(a), "b_x": tensor(b), "c_x": tensor(c)])
        XCTAssertEqual(
            outputs["ensemble_votes"]!.floats,
            [
                1, 2, 0, 0, 1, 1, 1, 0, 2, 1, 0, 0, 1, 1, 0, 1, 1, 2, 0, 0,
            ].map(Float.init))
        XCTAssertEqual(outputs["ensemble"]!.shape, [5])
        XCTAssertEqual(outputs["ensemble"]!.floats, [1, 0, 0, 0, 1])
        XCTAssertEqual(outputs["avg"]!.floats, (0..<20).map { (a[$0] + b[$0] + c[$0]) / 3 })
        XCTAssertEqual(outputs["top"]!.floats, (0..<20).map { Swift.max(Swift.max(a[$0], b[$0]), c[$0]) })

        // The generated Swift computes the same votes.
        let report = try EngineCheck.verify(result.graph, inputs: ["a_x": tensor(a), "b_x": tensor(b), "c_x": tensor(c)])
        XCTAssertTrue(report.passed, report.render())
    }

    func testIdenticalModelsComputeOnceAndKeepBothOutputNames() throws {
        let fixture = try MergeCase.named("chain")
        let stage2 = try ModelLoader.load(fixture.models.first { $0.name == "stage2" }!.file)
        let result = try ModelMerger.merge(
            [MergeSource(name: "one", graph: stage2), MergeSource(name: "two", graph: stage2)], name: "twice",
            options: MergeOptions(shareInputs: .auto))
        XCTAssertEqual(result.graph.outputs, ["one_classify", "two_classify"])
        XCTAssertEqual(result.graph.parameterCount, stage2.parameterCount)
        XCTAssertEqual(result.graph.nodes.count, stage2.nodes.count + 1, "the second output is an Identity of the first")
        let code = try fixture.inputs("stage2")["code"]!
        let outputs = try Interpreter().run(result.graph, inputs: ["code": code])
        XCTAssertEqual(outputs["one_classify"], outputs["two_classify"])
    }

    func testMergeErrorsNameTheProblem() throws {
        let sources = try passThroughSources(classes: 3)
        func error(_ options: MergeOptions, _ models: [MergeSource]? = nil) -> String {
            do {
                _ = try ModelMerger.merge(models ?? sources, name: "m", options: options)
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(error(MergeOptions(), [sources[0]]).contains("at least two models"))
        XCTAssertTrue(error(MergeOptions(prefixes: ["a": "", "b": ""])).contains("distinct --prefix"))
        XCTAssertTrue(error(MergeOptions(prefixes: ["z": "q_"])).contains("no model named 'z'"))
        XCTAssertTrue(
            error(MergeOptions(shares: [(ValueReference(model: "a", value: "nope"), ValueReference(model: "b", value: "x"))]))
                .contains("a has no input 'nope'; its inputs are x"))
        let cycle = MergeOptions(pipes: [
            (output: ValueReference(model: "a", value: "y"), input: ValueReference(model: "b", value: "x")),
            (output: ValueReference(model: "b", value: "y"), input: ValueReference(model: "a", value: "x")),
        ])
        XCTAssertTrue(error(cycle).contains("cycle"))
        let sharedAndPiped = MergeOptions(
            shareInputs: .auto, pipes: [(output: ValueReference(model: "a", value: "y"), input: ValueReference(model: "b", value: "x"))])
        XCTAssertTrue(error(sharedAndPiped).contains("both shared"))
        XCTAssertTrue(
            error(MergeOptions(ensembles: [EnsembleSpec(kind: .vote, outputs: [ValueReference(model: "a", value: "y")])]))
                .contains("needs at least two outputs"))
        XCTAssertThrowsError(try EnsembleSpec(parsing: "median:a.y,b.y"))
        XCTAssertEqual(
            try EnsembleSpec(parsing: "best=vote:a.y,b.y"),
            EnsembleSpec(
                kind: .vote,
                outputs: [
                    ValueReference(model: "a", value: "y"), ValueReference(model: "b", value: "y"),
                ], name: "best"))
        XCTAssertEqual(try ValueReference(parsing: "a.dense.kernel"), ValueReference(model: "a", value: "dense.kernel"))
        var withOpset = sources
        withOpset[1].graph.metadata["onnx_opset"] = "19"
        XCTAssertEqual(try ModelMerger.onnxOpset(requested: nil, sources: withOpset), 19)
        XCTAssertThrowsError(try ModelMerger.onnxOpset(requested: 17, sources: withOpset))
        XCTAssertEqual(try ModelMerger.onnxOpset(requested: nil, sources: sources), 17)
    }
}
