import Foundation
import KilnDriver
import KilnIR
import KilnTestSupport
import ONNXBackend
import ONNXProto
import XCTest

/// The QOperator form of quantized models: each product with a quantized input and kernel multiplies integers
/// (MatMulInteger, ConvInteger) read straight from a QuantizeLinear, with no DequantizeLinear in front of it;
/// layers without a quantized input keep reading their weights through DequantizeLinear. ONNX Runtime's
/// outputs are checked against the interpreter by scripts/check_quantized.sh.
final class ONNXQuantizedTests: XCTestCase {
    func testStaticMLPMultipliesIntegers() throws {
        let onnx = try decode(try quantized("mnist_mlp_keras3_h5"), .qoperator).graph
        XCTAssertEqual(count(onnx)["MatMulInteger"], 2, "\(onnx.node.map(\.opType))")
        XCTAssertNil(count(onnx)["DequantizeLinear"], "\(onnx.node.map(\.opType))")
        XCTAssertNil(count(onnx)["Gemm"])
        // Quantized input (uint8), int8 kernel as stored, then the int32 bias added to the sums, Cast, Mul by the scales.
        for node in onnx.node where node.opType == "MatMulInteger" {
            XCTAssertEqual(producer(of: node.input[0], in: onnx)?.opType, "QuantizeLinear")
            XCTAssertEqual(try onnx.initializer(named: node.input[1]).dataType, Int32(Onnx_TensorProto.DataType.int8.rawValue))
            XCTAssertEqual(try onnx.initializer(named: node.input[2]).dataType, Int32(Onnx_TensorProto.DataType.uint8.rawValue))
            let add = try XCTUnwrap(consumers(of: node.output[0], in: onnx).first)
            XCTAssertEqual(add.opType, "Add")
            XCTAssertEqual(try onnx.initializer(named: add.input[1]).dataType, Int32(Onnx_TensorProto.DataType.int32.rawValue))
            XCTAssertEqual(consumers(of: add.output[0], in: onnx).map(\.opType), ["Cast"])
        }
        XCTAssertEqual(count(onnx)["Relu"], 1, "the first Dense's fused Relu follows its rescale")
    }

    func testStaticCNNConvolvesIntegersWithUInt8Weights() throws {
        let onnx = try decode(try quantized("cnn_bn_keras3_keras"), .qoperator).graph
        let ops = count(onnx)
        XCTAssertEqual(ops["ConvInteger"], 2, "\(onnx.node.map(\.opType))")
        XCTAssertEqual(ops["MatMulInteger"], 1)
        XCTAssertNil(ops["DequantizeLinear"], "\(onnx.node.map(\.opType))")
        XCTAssertNil(ops["Conv"])
        let uint8 = Int32(Onnx_TensorProto.DataType.uint8.rawValue)
        for node in onnx.node where node.opType == "ConvInteger" {
            // ONNX Runtime's ConvInteger is u8 x u8: the int8 weights plus 128, zero point 128.
            XCTAssertEqual(producer(of: node.input[0], in: onnx)?.opType, "QuantizeLinear")
            XCTAssertEqual(try onnx.initializer(named: node.input[1]).dataType, uint8)
            XCTAssertEqual(try onnx.initializer(named: node.input[3]).rawData, Data([128]))
        }
        // At most the Transposes of the float model: the input's, none around the integer convolutions.
        XCTAssertLessThanOrEqual(ops["Transpose"] ?? 0, 1, "\(onnx.node.map(\.opType))")
    }

    func testInt8ActivationsQuantizeToUInt8ForConvInteger() throws {
        let graph = try quantized("cnn_bn_keras3_keras", activations: "int8")
        let onnx = try decode(graph, .qoperator).graph
        XCTAssertEqual(count(onnx)["ConvInteger"], 2, "\(onnx.node.map(\.opType))")
        let constants = graph.constantsByName
        for node in onnx.node where node.opType == "ConvInteger" {
            // The input's int8 zero point z is z + 128 in uint8: the same integers after subtracting it.
            let quantize = try XCTUnwrap(producer(of: node.input[0], in: onnx))
            let irQuantize = try XCTUnwrap(graph.nodes.first { $0.op == .quantizeLinear(axis: 1) && $0.inputs[1] == quantize.input[1] })
            let original = try XCTUnwrap(constants[irQuantize.inputs[2]])
            XCTAssertEqual(original.dtype, .int8)
            let shifted = try onnx.initializer(named: node.input[2])
            XCTAssertEqual(shifted.dataType, Int32(Onnx_TensorProto.DataType.uint8.rawValue))
            XCTAssertEqual(Int(shifted.rawData.first ?? 0), Int(original.int64s[0]) + 128)
        }
        for node in onnx.node where node.opType == "MatMulInteger" {
            XCTAssertEqual(try onnx.initializer(named: node.input[2]).dataType, Int32(Onnx_TensorProto.DataType.int8.rawValue), "i8 x i8")
        }
    }

    func testLayersWithoutAQuantizedInputKeepDequantizeLinear() throws {
        // Dynamic: weights only.
        let dynamic = try decode(try quantized("mnist_mlp_keras3_h5", mode: "dynamic"), .qoperator).graph
        XCTAssertNil(count(dynamic)["MatMulInteger"])
        XCTAssertEqual(count(dynamic)["DequantizeLinear"], 2)
        for node in dynamic.node where node.opType == "Gemm" {
            XCTAssertEqual(producer(of: node.input[1], in: dynamic)?.opType, "DequantizeLinear")
        }
        // An excluded layer stays float beside an integer one.
        let excluded = try decode(try quantized("mnist_mlp_keras3_h5", excluded: ["dense_1"]), .qoperator).graph
        XCTAssertEqual(count(excluded)["MatMulInteger"], 1)
        XCTAssertEqual(count(excluded)["Gemm"], 1)
    }

    func testQDQIsTheDefault() throws {
        let graph = try quantized("mnist_mlp_keras3_h5")
        let onnx = try decode(graph, .qdq).graph
        XCTAssertNil(count(onnx)["MatMulInteger"])
        // Two kernels, two activations and two int32 biases.
        XCTAssertEqual(count(onnx)["DequantizeLinear"], 6)
        let defaultForm = try Onnx_ModelProto(serializedBytes: try ONNXEmitter().emit(try Backend.onnx.legalize(graph)))
        XCTAssertEqual(try decode(graph, .qdq), defaultForm)
    }

    // MARK: - Helpers

    /// The fixture at -O2, quantized: static calibrates on the fixture's inputs.
    private func quantized(
        _ name: String, mode: String = "static", activations: String = "uint8", excluded: [String] = []
    ) throws -> Graph {
        let fixture = try Fixture.named(name)
        let graph = try Optimizer.pipeline(level: "O2").run(try ModelLoader.load(fixture.model))
        let quantizer = try Quantizer(mode: mode, activations: activations, excluded: excluded)
        return try quantizer.quantize(graph, calibration: mode == "static" ? try fixture.inputs() : nil)
    }

    private func decode(_ graph: Graph, _ form: ONNXQuantizedForm) throws -> Onnx_ModelProto {
        try Onnx_ModelProto(serializedBytes: try ONNXEmitter(quantizedForm: form).emit(try Backend.onnx.legalize(graph)))
    }

    private func count(_ graph: Onnx_GraphProto) -> [String: Int] {
        graph.node.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
    }

    private func producer(of value: String, in graph: Onnx_GraphProto) -> Onnx_NodeProto? {
        graph.node.first { $0.output.contains(value) }
    }

    private func consumers(of value: String, in graph: Onnx_GraphProto) -> [Onnx_NodeProto] {
        graph.node.filter { $0.input.contains(value) }
    }
}
