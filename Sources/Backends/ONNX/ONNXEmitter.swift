import Foundation
import KilnIR
import ONNXProto

/// Why a graph could not be written as ONNX.
public enum ONNXEmitError: Error, Hashable, CustomStringConvertible {
    /// The requested opset is outside `ONNXEmitter.supportedOpsets`.
    case unsupportedOpset(Int)
    /// The graph breaks an IR invariant (see `Graph.verify()`), so no valid model can be written for it.
    case invalidGraph(VerificationError)
    /// A node uses a form of its op that has no ONNX equivalent here.
    case unsupported(node: String, reason: String)
    /// swift-protobuf could not encode the model.
    case serialization(String)

    public var description: String {
        switch self {
        case .unsupportedOpset(let opset):
            let range = ONNXEmitter.supportedOpsets
            return "ONNX opset \(opset) is not supported; choose one from \(range.lowerBound) to \(range.upperBound)"
        case .invalidGraph(let error):
            return "the graph is not valid IR, so it cannot be written as ONNX: \(error)"
        case .unsupported(let node, let reason):
            return "node '\(node)' cannot be written as ONNX: \(reason)"
        case .serialization(let message):
            return "the ONNX model could not be serialized: \(message)"
        }
    }
}

/// How int8 layers (the IR's QuantizeLinear/DequantizeLinear around a Gemm, MatMul or Conv) are written.
public enum ONNXQuantizedForm: String, CaseIterable, Sendable {
    /// As the IR has them: QuantizeLinear/DequantizeLinear pairs around float ops (ONNX's QDQ format).
    case qdq
    /// With integer operators (ONNX's QOperator format): a product whose input and kernel are both quantized
    /// becomes MatMulInteger or ConvInteger and a float rescale; see ONNXIntegerLowering.swift.
    case qoperator
}

/// Writes a graph as an ONNX model for the default ("ai.onnx") operator set.
///
/// Inputs, outputs, initializers and nodes keep the IR's names (so Keras's), symbolic dimensions such as
/// the batch `N` become `dim_param`s, weights are little-endian `raw_data`, and the bytes are the same on
/// every run. Only standard operators that ONNX Runtime implements on the CPU are used: activations ONNX
/// lacks at the chosen opset (Swish, and Gelu before opset 20) are written as several standard ops.
public struct ONNXEmitter: Sendable {
    /// The opsets Kiln can emit.
    public static let supportedOpsets = 13...21
    /// The opset used when none is chosen.
    public static let defaultOpset = 17

    /// The version of the default operator set the model imports.
    public let opset: Int
    /// The model's `producer_version`; its `producer_name` is always "kiln".
    public let producerVersion: String
    /// How quantized layers are written.
    public let quantizedForm: ONNXQuantizedForm

    /// Throws `ONNXEmitError.unsupportedOpset` unless `opset` is in `supportedOpsets`.
    public init(
        opset: Int = ONNXEmitter.defaultOpset, producerVersion: String = KilnVersion.current, quantizedForm: ONNXQuantizedForm = .qdq
    ) throws(ONNXEmitError) {
        guard Self.supportedOpsets.contains(opset) else { throw .unsupportedOpset(opset) }
        self.opset = opset
        self.producerVersion = producerVersion
        self.quantizedForm = quantizedForm
    }

    /// The IR version that goes with the opset, from ONNX's versioning table: opsets 13-14 are IR 7,
    /// 15-18 IR 8, 19-20 IR 9 and 21 IR 10.
    public var irVersion: Int64 {
        switch opset {
        case ...14: 7
        case 15...18: 8
        case 19...20: 9
        default: 10
        }
    }

    /// The serialized `ModelProto`, ready to be written to a `.onnx` file.
    public func emit(_ graph: Graph) throws(ONNXEmitError) -> [UInt8] {
        let model = try model(graph)
        do {
            return try model.serializedBytes()
        } catch {
            throw .serialization(String(describing: error))
        }
    }

    /// The epilogues ONNX's standard operators run: none. Legalization (split-epilogues) writes every fused
    /// epilogue as the activation op after its product.
    public static let epilogueSupport = EpilogueSupport.none

    /// The model as a message, for callers that inspect or extend it before serializing.
    public func model(_ graph: Graph) throws(ONNXEmitError) -> Onnx_ModelProto {
        do {
            try graph.verify()
        } catch {
            throw .invalidGraph(error)
        }
        let types = graph.valueTypes
        var builder = ONNXGraphBuilder(opset: opset, types: types, constants: graph.constantsByName)
        if quantizedForm == .qoperator {
            let results = graph.nodes.flatMap { node in node.outputs.map { ($0.name, node) } }
            builder.producers = Dictionary(results, uniquingKeysWith: { first, _ in first })
        }
        for node in graph.nodes {
            if quantizedForm == .qoperator, try builder.lowerInteger(node) { continue }
            try builder.lower(node)
        }
        builder.sweep(keeping: graph.outputs)

        var proto = Onnx_GraphProto()
        proto.name = graph.name
        proto.input = graph.inputs.map(Self.valueInfo)
        proto.output = graph.outputValues.map(Self.valueInfo)
        proto.initializer =
            builder.usedConstants(graph.constants, outputs: graph.outputs).map { Self.tensorProto($0.name, $0.tensor) }
            + builder.initializers
        proto.node = builder.nodes

        var model = Onnx_ModelProto()
        model.irVersion = irVersion
        model.producerName = "kiln"
        model.producerVersion = producerVersion
        var opsetID = Onnx_OperatorSetIdProto()
        opsetID.domain = ""
        opsetID.version = Int64(opset)
        model.opsetImport = [opsetID]
        model.graph = proto
        // Sorted, so the bytes do not depend on the dictionary's order.
        model.metadataProps = graph.metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = value
            return entry
        }
        return model
    }

    /// A graph input or output: name, element type and shape, symbolic dimensions by name.
    static func valueInfo(_ value: Value) -> Onnx_ValueInfoProto {
        var shape = Onnx_TensorShapeProto()
        shape.dim = value.type.shape.dims.map { dim in
            var proto = Onnx_TensorShapeProto.Dimension()
            switch dim {
            case .fixed(let size): proto.dimValue = Int64(size)
            case .symbolic(let name): proto.dimParam = name
            }
            return proto
        }
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = elementType(value.type.dtype)
        tensor.shape = shape
        var info = Onnx_ValueInfoProto()
        info.name = value.name
        info.type.tensorType = tensor
        return info
    }

    /// The `TensorProto.DataType` of an IR element type; every IR type has one.
    static func elementType(_ dtype: DType) -> Int32 {
        let type: Onnx_TensorProto.DataType
        switch dtype {
        case .float32: type = .float
        case .float16: type = .float16
        case .int8: type = .int8
        case .uint8: type = .uint8
        case .int32: type = .int32
        case .int64: type = .int64
        case .bool: type = .bool
        }
        return Int32(type.rawValue)
    }

    /// An initializer holding its elements as little-endian `raw_data` (booleans one byte each).
    static func tensorProto(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = tensor.shape.map(Int64.init)
        proto.dataType = elementType(tensor.dtype)
        proto.rawData = Data(tensor.bytes)
        return proto
    }
}
