import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import ONNXBackend
import ONNXProto
import XCTest

/// The model around the nodes: versions, producer, names, types, initializers, determinism, errors.
final class ONNXEmitterTests: XCTestCase {
    private let twoInputs = """
        graph @two_in {
          meta "source" = "keras 3.12.0"
          meta "keras_name" = "model"
          meta "a_first" = "sorted"
          input %image : f32[N,2,3]
          input %ids : i32[N,3]
          const %kernel : f32[3,2] = [1.0, -2.0, 0.5, 3.25, -0.0, 1e-8]
          const %bias : f32[2] = [0.125, -4.0]
          %flat = Reshape(%image) {shape = [0, -1]} : f32[N,6]
          %ids_f = Cast(%ids) {to = f32} : f32[N,3]
          %dense = Gemm(%ids_f, %kernel, %bias) {transB = false} : f32[N,2]
          %out = Identity(%dense) : f32[N,2]
          output %out, %flat
        }
        """

    func testModelStructureOfTheMLP() throws {
        let graph = try ModelLoader.load(try Fixture.named("mnist_mlp_keras3_keras").model)
        let model = try decodeONNX(graph)
        XCTAssertEqual(model.irVersion, 8)
        XCTAssertEqual(model.opsetImport.map(\.version), [17])
        XCTAssertEqual(model.graph.name, graph.name)
        XCTAssertEqual(model.graph.input.map(\.name), ["input"])
        XCTAssertEqual(model.graph.output.map(\.name), ["dense_1"])
        let dims = model.graph.input[0].type.tensorType.shape.dim
        XCTAssertEqual(dims[0].dimParam, "N")
        XCTAssertEqual(dims.dropFirst().map(\.dimValue), [28, 28])
        XCTAssertEqual(model.graph.node.map(\.opType), ["Flatten", "Gemm", "Relu", "Gemm", "Softmax"])
        XCTAssertEqual(Set(model.graph.node.map(\.name)).count, model.graph.node.count, "node names are unique")
        let kernel = try model.graph.initializer(named: "dense.kernel")
        XCTAssertEqual(kernel.dims, [784, 128])
        XCTAssertEqual(kernel.rawData.count, 784 * 128 * 4)
        XCTAssertEqual(kernel.rawData, Data(try XCTUnwrap(graph.constantsByName["dense.kernel"]).bytes))
    }

    func testOpsetImportAndIRVersionOfEveryOpset() throws {
        let graph = try TextParser.parse(twoInputs)
        let irVersions: [Int: Int64] = [13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10]
        for opset in 13...21 {
            let model = try decodeONNX(graph, opset: opset)
            XCTAssertEqual(model.opsetImport.count, 1)
            XCTAssertEqual(model.opsetImport.first?.domain, "")
            XCTAssertEqual(model.opsetImport.first?.version, Int64(opset))
            XCTAssertEqual(model.irVersion, irVersions[opset], "opset \(opset)")
            XCTAssertEqual(try ONNXEmitter(opset: opset).irVersion, irVersions[opset])
        }
        XCTAssertEqual(try ONNXEmitter().opset, 17, "opset 17 by default")
    }

    func testOpsetOutsideTheRangeIsATypedError() {
        for opset in [0, 12, 22] {
            XCTAssertThrowsError(try ONNXEmitter(opset: opset)) { error in
                XCTAssertEqual(error as? ONNXEmitError, .unsupportedOpset(opset))
                XCTAssertTrue(String(describing: error).contains("13 to 21"), "\(error)")
            }
        }
    }

    func testProducerAndMetadata() throws {
        let graph = try TextParser.parse(twoInputs)
        let model = try decodeONNX(graph)
        XCTAssertEqual(model.producerName, "kiln")
        XCTAssertEqual(model.producerVersion, KilnVersion.current)
        let custom = try Onnx_ModelProto(serializedBytes: try ONNXEmitter(producerVersion: "9.9").emit(graph))
        XCTAssertEqual(custom.producerVersion, "9.9")
        XCTAssertEqual(model.metadataProps.map(\.key), ["a_first", "keras_name", "source"], "sorted by key")
        XCTAssertEqual(model.metadataProps.map(\.value), ["sorted", "model", "keras 3.12.0"])
    }

    func testInputsAndOutputsKeepTheIRNamesTypesAndSymbolicBatch() throws {
        let model = try emitONNX(twoInputs)
        XCTAssertEqual(model.graph.name, "two_in")
        XCTAssertEqual(model.graph.input.map(\.name), ["image", "ids"])
        XCTAssertEqual(model.graph.output.map(\.name), ["out", "flat"])
        let image = model.graph.input[0].type.tensorType
        XCTAssertEqual(image.elemType, Int32(Onnx_TensorProto.DataType.float.rawValue))
        XCTAssertEqual(image.shape.dim.map(\.dimParam), ["N", "", ""])
        XCTAssertEqual(image.shape.dim.map(\.dimValue), [0, 2, 3])
        guard case .dimParam = image.shape.dim[0].value else { return XCTFail("the batch dimension is a dim_param") }
        guard case .dimValue = image.shape.dim[1].value else { return XCTFail("fixed dimensions are dim_values") }
        XCTAssertEqual(model.graph.input[1].type.tensorType.elemType, Int32(Onnx_TensorProto.DataType.int32.rawValue))
        let flat = model.graph.output[1].type.tensorType
        XCTAssertEqual(flat.shape.dim.map(\.dimParam), ["N", ""])
        XCTAssertEqual(flat.shape.dim.last?.dimValue, 6)
    }

    func testInitializersAreLittleEndianRawData() throws {
        let model = try emitONNX(twoInputs)
        XCTAssertEqual(model.graph.initializer.map(\.name), ["kernel", "bias", "flat.shape"])
        let kernel = try model.graph.initializer(named: "kernel")
        XCTAssertEqual(kernel.dims, [3, 2])
        XCTAssertEqual(kernel.dataType, Int32(Onnx_TensorProto.DataType.float.rawValue))
        XCTAssertEqual(kernel.rawData, littleEndianBytes([1.0, -2.0, 0.5, 3.25, -0.0, 1e-8]))
        XCTAssertTrue(kernel.floatData.isEmpty, "values are only in raw_data")
        XCTAssertEqual(try model.graph.initializer(named: "bias").rawFloats, [0.125, -4.0])
        let shape = try model.graph.initializer(named: "flat.shape")
        XCTAssertEqual(shape.dataType, Int32(Onnx_TensorProto.DataType.int64.rawValue))
        XCTAssertEqual(shape.dims, [2])
        XCTAssertEqual(shape.rawInt64s, [0, -1])
    }

    func testNodesAreNamedAfterTheIR() throws {
        let model = try emitONNX(twoInputs)
        XCTAssertEqual(model.graph.node.map(\.name), ["flat", "ids_f", "dense", "out"])
        XCTAssertEqual(model.graph.node.map(\.opType), ["Reshape", "Cast", "Gemm", "Identity"])
        XCTAssertEqual(try model.graph.node(named: "flat").input, ["image", "flat.shape"])
        XCTAssertEqual(try model.graph.node(named: "dense").output, ["dense"])
        XCTAssertTrue(model.graph.node.allSatisfy { $0.domain.isEmpty }, "only the default operator set")
    }

    func testOutputIsByteIdenticalRunToRun() throws {
        for path in ["ops/activations.kir", "ops/cnn.kir", "ops/products.kir"] {
            let url = TestPaths.testdata.appendingPathComponent(path)
            let first = try ONNXEmitter().emit(try ModelLoader.load(url))
            let second = try ONNXEmitter().emit(try ModelLoader.load(url))
            XCTAssertEqual(first, second, path)
        }
        let graph = try TextParser.parse(twoInputs)
        XCTAssertEqual(try ONNXEmitter(opset: 13).emit(graph), try ONNXEmitter(opset: 13).emit(graph))
    }

    func testAnInvalidGraphIsATypedError() throws {
        var graph = try TextParser.parse(twoInputs)
        graph.outputs.append("missing")
        XCTAssertThrowsError(try ONNXEmitter().emit(graph)) { error in
            guard case .invalidGraph = error as? ONNXEmitError else { return XCTFail("\(error)") }
            XCTAssertTrue(String(describing: error).contains("missing"), "\(error)")
        }
    }

    func testOutputsReadBackAsTheSameModel() throws {
        let bytes = try ONNXEmitter().emit(try TextParser.parse(twoInputs))
        let model = try Onnx_ModelProto(serializedBytes: bytes)
        XCTAssertEqual(try model.serializedBytes() as [UInt8], bytes, "nothing is lost or reordered on a round trip")
    }
}
