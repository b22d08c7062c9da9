import KilnDriver
import KilnIR
import KilnInterpreter
import KilnPasses
import XCTest

/// Pruning passes on graphs built here: exact sparsity per layer and globally, N:M patterns, and structured
/// channel removal that keeps every shape consistent and computes what the unpruned model computes with
/// the removed channels silenced.
final class PruningTests: XCTestCase {
    /// x [N,6,6,2] -> Conv(3x3, 8) -> BatchNorm -> Relu -> MaxPool -> Conv(3x3, 8) -> Relu -> Flatten ->
    /// Gemm(16) -> Relu -> Gemm(5); plus a Dense on rank 3 (MatMul + bias Add) from a second input.
    static func network(seed: UInt64 = 3) throws -> Graph {
        var random = SplitMix64(seed: seed)
        var graph = Graph(name: "net")
        func constant(_ name: String, _ shape: [Int], scale: Float = 0.5, offset: Float = 0) -> String {
            let values = (0..<shape.reduce(1, *)).map { _ in (random.nextUnitFloat() * 2 - 1) * scale + offset }
            graph.constants.append(Constant(name, Tensor(shape: shape, floats: values)))
            return name
        }
        func node(_ name: String, _ op: Op, _ inputs: [String]) throws -> String {
            let types = graph.valueTypes
            let type = try op.inferTypes(inputs.map { types[$0]! })[0]
            graph.nodes.append(Node(name: name, op: op, inputs: inputs, outputs: [Value(name, type)]))
            return name
        }
        graph.inputs = [
            Value("x", TensorType(.float32, Shape([.symbolic("N"), 6, 6, 2]))),
            Value("s", TensorType(.float32, Shape([.symbolic("N"), 3, 4]))),
        ]
        let same = Convolution(strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1])
        var h = try node("conv1", .conv(same), ["x", constant("conv1.kernel", [3, 3, 2, 8]), constant("conv1.bias", [8])])
        h = try node(
            "bn", .batchNorm(epsilon: 0.001, axis: -1),
            [
                h, constant("bn.gamma", [8], offset: 1), constant("bn.beta", [8]), constant("bn.mean", [8]),
                constant("bn.var", [8], scale: 0.2, offset: 1),
            ])
        h = try node("relu1", .activation(.relu), [h])
        h = try node("pool", .pool(Pooling(kind: .max, window: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0])), [h])
        h = try node("conv2", .conv(same), [h, constant("conv2.kernel", [3, 3, 8, 8]), constant("conv2.bias", [8])])
        h = try node("relu2", .activation(.relu), [h])
        h = try node("flatten", .flatten(axis: 1), [h])
        h = try node("dense1", .gemm(transB: false), [h, constant("dense1.kernel", [72, 16], scale: 0.2), constant("dense1.bias", [16])])
        h = try node("relu3", .activation(.relu), [h])
        h = try node("dense2", .gemm(transB: false), [h, constant("dense2.kernel", [16, 5]), constant("dense2.bias", [5])])
        var s = try node("proj", .matMul, ["s", constant("proj.kernel", [4, 6])])
        s = try node("proj.bias_add", .binary(.add), [s, constant("proj.bias", [6])])
        s = try node("tanh", .activation(.tanh), [s])
        s = try node("head", .matMul, [s, constant("head.kernel", [6, 3])])
        graph.outputs = [h, s]
        try graph.verify()
        return graph
    }

    func kernel(_ graph: Graph, _ name: String) -> [Float] { graph.constantsByName[name]!.floats }

    func testMagnitudeReachesTheSparsityExactlyPerLayerAndGlobally() throws {
        let graph = try Self.network()
        let pruned = try MagnitudePruning(sparsity: 0.7, scope: .layer, includeEnds: true).run(on: graph)
        for name in ["conv1.kernel", "conv2.kernel", "dense1.kernel", "dense2.kernel", "proj.kernel", "head.kernel"] {
            let before = kernel(graph, name), after = kernel(pruned, name)
            XCTAssertEqual(after.filter { $0 == 0 }.count, Int((0.7 * Double(before.count)).rounded()), name)
            // The zeroed weights are the smallest: every kept weight is at least as large as every removed one.
            let removed = zip(before, after).filter { $0.1 == 0 }.map { abs($0.0) }, kept = after.filter { $0 != 0 }.map(abs)
            XCTAssertLessThanOrEqual(removed.max() ?? 0, kept.min() ?? .infinity, name)
            XCTAssertTrue(zip(before, after).allSatisfy { $0.1 == 0 || $0.1 == $0.0 }, name)
        }
        // First and last layers (conv1, head) are left whole by default; excluded layers too.
        let ends = try MagnitudePruning(sparsity: 0.5, excluded: ["dense1"]).run(on: graph)
        XCTAssertEqual(kernel(ends, "conv1.kernel"), kernel(graph, "conv1.kernel"))
        XCTAssertEqual(kernel(ends, "head.kernel"), kernel(graph, "head.kernel"))
        XCTAssertEqual(kernel(ends, "dense1.kernel"), kernel(graph, "dense1.kernel"))
        XCTAssertEqual(kernel(ends, "conv2.kernel").filter { $0 == 0 }.count, 288)

        let global = try MagnitudePruning(sparsity: 0.6, scope: .global, includeEnds: true).run(on: graph)
        let names = ["conv1.kernel", "conv2.kernel", "dense1.kernel", "dense2.kernel", "proj.kernel", "head.kernel"]
        let total = names.map { kernel(graph, $0).count }.reduce(0, +)
        XCTAssertEqual(names.map { kernel(global, $0).filter { $0 == 0 }.count }.reduce(0, +), Int((0.6 * Double(total)).rounded()))
        // One threshold for all layers: layers differ in sparsity.
        XCTAssertNotEqual(
            kernel(global, "conv1.kernel").filter { $0 == 0 }.count * 100 / 144,
            kernel(global, "dense1.kernel").filter { $0 == 0 }.count * 100 / 1152)

        XCTAssertThrowsError(try MagnitudePruning(sparsity: 1).run(on: graph))
        XCTAssertThrowsError(try MagnitudePruning(sparsity: 0.5, excluded: ["nothing"]).run(on: graph)) { error in
            XCTAssertTrue("\(error)".contains("no prunable layer named nothing"), "\(error)")
        }
    }

    func testNMKeepsTheLargestNOfEveryMAlongTheReduction() throws {
        let graph = try Self.network()
        let pruned = try NMPruning(n: 2, m: 4, includeEnds: true).run(on: graph)
        // dense1: [72, 16], reduction along rows. conv2: [3, 3, 8, 8], reduction over (ky, kx, cin).
        for (name, reduction, outputs) in [("dense1.kernel", 72, 16), ("conv2.kernel", 72, 8), ("head.kernel", 6, 3)] {
            let before = kernel(graph, name), after = kernel(pruned, name)
            for o in 0..<outputs {
                for start in stride(from: 0, to: reduction, by: 4) {
                    let group = (start..<min(start + 4, reduction)).map { $0 * outputs + o }
                    let kept = group.filter { after[$0] != 0 }
                    XCTAssertEqual(kept.count, min(2, group.count), "\(name) output \(o) group \(start)")
                    let smallestKept = kept.map { abs(before[$0]) }.min()!
                    for element in group where after[element] == 0 { XCTAssertLessThanOrEqual(abs(before[element]), smallestKept) }
                }
            }
        }
        XCTAssertThrowsError(try NMPruning(n: 3, m: 2).run(on: graph))
    }

    func testChannelPruningShrinksEveryReaderAndComputesTheSilencedModel() throws {
        let graph = try Self.network()
        let pruned = try ChannelPruning(fraction: 0.5, includeEnds: true).run(on: graph)
        try pruned.verify()
        let shapes = pruned.constantsByName.mapValues(\.shape)
        XCTAssertEqual(shapes["conv1.kernel"], [3, 3, 2, 4])
        XCTAssertEqual(shapes["conv1.bias"], [4])
        XCTAssertEqual(shapes["bn.gamma"], [4])
        XCTAssertEqual(shapes["bn.var"], [4])
        XCTAssertEqual(shapes["conv2.kernel"], [3, 3, 4, 4])
        // Flatten spreads conv2's 4 remaining channels over 9 positions.
        XCTAssertEqual(shapes["dense1.kernel"], [36, 8])
        XCTAssertEqual(shapes["dense2.kernel"], [8, 5])
        XCTAssertEqual(shapes["proj.kernel"], [4, 3])
        XCTAssertEqual(shapes["proj.bias"], [3])
        XCTAssertEqual(shapes["head.kernel"], [3, 3])
        // dense2 and head write graph outputs: their channels stay.
        XCTAssertLessThan(pruned.parameterCount, graph.parameterCount)

        // The unpruned model with the removed channels' rows zeroed in each reader computes the same outputs.
        var silenced = graph
        for (layer, reader, axis, positions) in [
            ("conv1.kernel", "conv2.kernel", 2, 1), ("conv2.kernel", "dense1.kernel", 0, 9), ("dense1.kernel", "dense2.kernel", 0, 1),
            ("proj.kernel", "head.kernel", 0, 1),
        ] {
            // The biases (distinct random values) tell which channels were kept.
            let bias = layer.replacingOccurrences(of: "kernel", with: "bias")
            let originalBias = graph.constantsByName[bias]!.floats
            let kept = pruned.constantsByName[bias]!.floats.map { value in originalBias.firstIndex(of: value)! }
            let channels = graph.constantsByName[layer]!.shape.last!
            XCTAssertEqual(kept.count, channels / 2, layer)
            let dropped = (0..<positions).flatMap { p in (0..<channels).filter { !kept.contains($0) }.map { p * channels + $0 } }
            let index = silenced.constants.firstIndex { $0.name == reader }!
            silenced.constants[index].tensor = Self.zeroing(silenced.constants[index].tensor, axis: axis, indices: Set(dropped))
        }
        let inputs = try Inputs.random(for: graph, batchSize: 3, seed: 9)
        let reference = try Interpreter().run(silenced, inputs: inputs)
        let result = try Interpreter().run(pruned, inputs: inputs)
        for name in graph.outputs {
            let a = reference[name]!.floats, b = result[name]!.floats
            XCTAssertEqual(a.count, b.count, name)
            XCTAssertLessThan(zip(a, b).map { abs($0 - $1) }.max()!, 1e-5, name)
        }
        // Nothing to remove at a fraction that rounds to no channel; layers feeding a merge stay whole.
        XCTAssertEqual(
            try ChannelPruning(fraction: 0.1, includeEnds: true).run(on: graph).constantsByName["conv1.kernel"]?.shape, [3, 3, 2, 8])
    }

    /// `tensor` with the slices at `indices` along `axis` set to zero.
    static func zeroing(_ tensor: Tensor, axis: Int, indices: Set<Int>) -> Tensor {
        let shape = tensor.shape
        let size = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
        var values = tensor.floats
        for i in values.indices where indices.contains(i / inner % size) { values[i] = 0 }
        return Tensor(shape: shape, floats: values)
    }
}
