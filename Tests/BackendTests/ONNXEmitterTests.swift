import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import ONNXBackend
import ONNXProto
import XCTest

final class ONNXEmitterTests: XCTestCase {
    private func decode(_ graph: Graph, opset: Int = 17) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try ONNXEmitter(opset: opset, producerVersion: "9.9").emit(graph))
    }

    func testModelStructureOfTheMLP() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_keras").model)
        let model = try decode(graph)
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.opsetImport.map(\.version), [17])
        XCTAssertEqual(model.producerName, "kiln")
        XCTAssertEqual(model.producerVersion, "9.9")
        XCTAssertEqual(model.graph.input.map(\.name), ["input"])
        XCTAssertEqual(model.graph.output.map(\.name), ["dense_1"])
        let dims = model.graph.input[0].type.tensorType.shape.dim
        XCTAssertEqual(dims[0].dimParam, "N")
        XCTAssertEqual(dims.dropFirst().map(\.dimValue), [28, 28])
        XCTAssertEqual(model.graph.node.map(\.opType), ["Flatten", "Gemm", "Relu", "Gemm", "Softmax"])
        XCTAssertEqual(Set(model.graph.node.map(\.name)).count, model.graph.node.count, "node names are unique")
        let kernel = try XCTUnwrap(model.graph.initializer.first { $0.name == "dense.kernel" })
        XCTAssertEqual(kernel.dims, [784, 128])
        XCTAssertEqual(kernel.rawData.count, 784 * 128 * 4)
        XCTAssertEqual(kernel.rawData, Data(graph.constantsByName["dense.kernel"]!.bytes))
    }

    func testOutputIsByteIdenticalRunToRun() throws {
        let graph = try ModelLoader.load(TestPaths.testdata.appendingPathComponent("ops/activations.kir"))
        XCTAssertEqual(try ONNXEmitter().emit(graph), try ONNXEmitter().emit(graph))
    }

    func testOpsetRangeAndIRVersions() throws {
        XCTAssertThrowsError(try ONNXEmitter(opset: 12))
        XCTAssertThrowsError(try ONNXEmitter(opset: 22))
        XCTAssertEqual(try ONNXEmitter(opset: 13).irVersion, 7)
        XCTAssertEqual(try ONNXEmitter(opset: 19).irVersion, 9)
        XCTAssertEqual(try ONNXEmitter(opset: 21).irVersion, 10)
    }

    func testGeluIsDecomposedBeforeOpset20() throws {
        let graph = try TextParser.parse("""
            graph @g {
              input %x : f32[N,4]
              %y = Gelu(%x) {approximate = true} : f32[N,4]
              output %y
            }
            """)
        let old = try decode(graph, opset: 17)
        XCTAssertFalse(old.graph.node.contains { $0.opType == "Gelu" })
        XCTAssertTrue(old.graph.node.contains { $0.opType == "Tanh" })
        XCTAssertEqual(old.graph.node.last?.output, ["y"])
        let new = try decode(graph, opset: 20)
        XCTAssertEqual(new.graph.node.map(\.opType), ["Gelu"])
        XCTAssertEqual(new.graph.node[0].attribute.first { $0.name == "approximate" }?.s, Data("tanh".utf8))
    }

    func testSwishAndClipUseStandardOps() throws {
        let graph = try TextParser.parse("""
            graph @g {
              input %x : f32[N,4]
              %s = Swish(%x) : f32[N,4]
              %y = Clip(%s) {min = 0.0, max = 6.0} : f32[N,4]
              output %y
            }
            """)
        let model = try decode(graph)
        XCTAssertEqual(model.graph.node.map(\.opType), ["Sigmoid", "Mul", "Clip"])
        XCTAssertEqual(model.graph.node[2].input.count, 3)
        XCTAssertEqual(model.graph.initializer.map(\.dims), [[], []])
    }
}
