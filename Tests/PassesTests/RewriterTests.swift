import KilnDriver
import KilnIR
import KilnInterpreter
import KilnPasses
import KilnTestSupport
import XCTest

/// The worklist driver and the pattern builder, on small graphs written in the text form.
final class RewriterTests: XCTestCase {
    private func graph(_ body: String) throws -> Graph { try TextParser.parse("graph @g {\n\(body)\n}") }

    /// Replaces every Relu by a Tanh (a rule whose replacement defines the root's result).
    private static let reluToTanh: RewriteRule = { node, _ in
        guard node.op == .activation(.relu) else { return nil }
        var replaced = node
        replaced.op = .activation(.tanh)
        return .replace(with: replaced)
    }

    /// Forwards every Identity to its input.
    private static let dropIdentity: RewriteRule = { node, _ in node.op == .identity ? .forward(to: node.inputs[0]) : nil }

    func testAForwardedGraphOutputKeepsItsNameAndItsProducerTakesIt() throws {
        var g = try graph(
            """
              input %x : f32[N,4]
              %r = Sigmoid(%x) : f32[N,4]
              %y = Identity(%r) : f32[N,4]
              %z = Tanh(%r) : f32[N,4]
              output %y, %z
            """)
        let fired = try g.rewrite(with: RuleTable([("drop-identity", Self.dropIdentity)]))
        XCTAssertEqual(fired, ["drop-identity": 1])
        XCTAssertEqual(g.nodes.map(\.outputs[0].name), ["y", "z"])
        XCTAssertEqual(g.nodes[1].inputs, ["y"], "the other reader of %r reads it under its new name")
        XCTAssertEqual(g.outputs, ["y", "z"])
        try g.verify()
    }

    func testAnIdentityOfAGraphInputThatIsAnOutputStays() throws {
        let original = try graph(
            """
              input %x : f32[N,4]
              %y = Identity(%x) : f32[N,4]
              output %y
            """)
        var g = original
        XCTAssertEqual(try g.rewrite(with: RuleTable([("drop-identity", Self.dropIdentity)])), [:])
        XCTAssertEqual(g, original, "nothing to rewrite leaves the graph as it was")
    }

    func testNodesLeftWithoutReadersAreErasedAndTheirProducersRevisited() throws {
        // Fusing the Relu into the Gemm leaves the bare Gemm unread: it must disappear, and the Gemm with
        // its epilogue is then offered to the rules again.
        var g = try graph(
            """
              input %x : f32[N,2]
              const %w : f32[2,2] = [1.0, 2.0, 3.0, 4.0]
              %m = MatMul(%x, %w) : f32[N,2]
              %r = Relu(%m) : f32[N,2]
              %y = Tanh(%r) : f32[N,2]
              output %y
            """)
        try g.rewrite(with: FuseActivation().rules)
        XCTAssertEqual(g.nodes.map(\.op), [.fused(.matMul, epilogue: .relu), .activation(.tanh)])
        XCTAssertEqual(g.nodes[0].outputs[0].name, "r")
    }

    func testRulesThatUndoEachOtherAreReportedInsteadOfLoopingForever() throws {
        let tanhToRelu: RewriteRule = { node, _ in
            guard node.op == .activation(.tanh) else { return nil }
            var replaced = node
            replaced.op = .activation(.relu)
            return .replace(with: replaced)
        }
        var g = try graph(
            """
              input %x : f32[N,4]
              %y = Relu(%x) : f32[N,4]
              output %y
            """)
        XCTAssertThrowsError(try g.rewrite(with: RuleTable([("relu-to-tanh", Self.reluToTanh), ("tanh-to-relu", tanhToRelu)]), limit: 50)) {
            error in
            guard case RewriteError.didNotConverge(let rewrites, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(rewrites, 51)
        }
    }

    func testARewriteThatDropsTheRootsResultIsAnError() throws {
        let broken: RewriteRule = { node, context in
            guard node.op == .activation(.relu) else { return nil }
            var replaced = node
            replaced.outputs = [Value(context.freshName("other"), node.outputType)]
            return .replace(with: replaced)
        }
        var g = try graph(
            """
              input %x : f32[N,4]
              %y = Relu(%x) : f32[N,4]
              output %y
            """)
        XCTAssertThrowsError(try g.rewrite(with: RuleTable([("broken", broken)]))) { error in
            guard case RewriteError.badRewrite(let rule, let node, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([rule, node], ["broken", "y"])
        }
    }

    func testFreshNamesNeverCollideWithExistingOrEarlierFreshNames() throws {
        var names: [String] = []
        let split: RewriteRule = { node, context in
            guard node.op == .activation(.relu) else { return nil }
            let inner = context.freshName("y.t")
            return Rewrite(nodes: [
                Node(name: node.name, op: .activation(.tanh), inputs: node.inputs, outputs: [Value(inner, node.outputType)]),
                Node(name: node.name, op: .activation(.sigmoid), inputs: [inner], outputs: node.outputs),
            ])
        }
        var g = try graph(
            """
              input %x : f32[N,4]
              %y.t = Exp(%x) : f32[N,4]
              %a = Relu(%y.t) : f32[N,4]
              %y = Relu(%a) : f32[N,4]
              output %y
            """)
        try g.rewrite(with: RuleTable([("split", split)]))
        names = g.nodes.flatMap { $0.outputs.map(\.name) }
        XCTAssertEqual(Set(names).count, names.count, "\(names)")
        XCTAssertEqual(names, ["y.t", "y.t.1", "a", "y.t.2", "y"])
        try g.verify()
    }

    func testALongChainOfNoOpsDisappearsCompletely() throws {
        var text = "  input %x : f32[N,4]\n  %v0 = Relu(%x) : f32[N,4]\n"
        for i in 1...5000 { text += "  %v\(i) = Identity(%v\(i - 1)) : f32[N,4]\n" }
        text += "  %y = Tanh(%v5000) : f32[N,4]\n  output %y"
        var g = try graph(text)
        try g.rewrite(with: RemoveNoOps().rules)
        XCTAssertEqual(g.nodes.map(\.op), [.activation(.relu), .activation(.tanh)])
        XCTAssertEqual(g.nodes[1].inputs, ["v0"])
    }

    func testO2OnALargeSyntheticGraphComputesWhatTheGraphDid() throws {
        let graph = SyntheticGraphs.residualStack(nodes: 440)
        let optimized = try Optimizer.pipeline(level: "O2", verifyEach: true).run(graph)
        XCTAssertEqual(graph.nodes.count, 440)
        // Per block: one Gemm with its Relu, the affine BatchNorm, the Mul and the residual Add.
        XCTAssertEqual(optimized.nodes.count, 40 * 4)
        let inputs = try Inputs.random(for: graph, batchSize: 3)
        let before = try Interpreter().run(graph, inputs: inputs), after = try Interpreter().run(optimized, inputs: inputs)
        for comparison in Tolerance.standard.compare(actual: after, expected: before) {
            XCTAssertTrue(comparison.withinTolerance, "\(comparison.name): max abs \(comparison.maxAbsoluteError)")
        }
    }

    // MARK: Patterns

    func testACommutativePatternMatchesEitherOperandOrderAndBindsConsistently() throws {
        let g = try graph(
            """
              input %x : f32[N,4]
              input %z : f32[N,4]
              %s = Sigmoid(%x) : f32[N,4]
              %a = Mul(%s, %x) : f32[N,4]
              %b = Mul(%z, %s) : f32[N,4]
              output %a, %b
            """)
        let swish = Pattern.op(.binary(.mul), .value("x"), .op(.activation(.sigmoid), .value("x")))
        XCTAssertEqual(g.match(swish, at: "a")?["x"], "x", "Sigmoid(x) * x matches with the operands swapped")
        XCTAssertNil(g.match(swish, at: "b"), "z * Sigmoid(x): x would have to be both z and x")
        XCTAssertNil(g.match(swish, at: "s"), "a Sigmoid is no Mul")
    }

    func testAConstantLeafChecksItsCondition() throws {
        let g = try graph(
            """
              input %x : f32[N,2]
              const %s : f32[] = [0.5]
              const %v : f32[2] = [1.0, 2.0]
              %a = Mul(%x, %s) : f32[N,2]
              %b = Mul(%x, %v) : f32[N,2]
              output %a, %b
            """)
        let scaled = Pattern.op(.binary(.mul), .value("x"), .scalar("k"))
        XCTAssertEqual(g.match(scaled, at: "a")?.constants["k"]?.floats, [0.5])
        XCTAssertNil(g.match(scaled, at: "b"), "a two-element constant is no scalar")
    }
}
