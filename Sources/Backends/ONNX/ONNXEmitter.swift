import Foundation
import KilnIR
import ONNXProto

/// Why a graph could not be written as ONNX.
public enum ONNXEmitError: Error, CustomStringConvertible {
    case unsupportedOpset(Int)
    case unsupported(node: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedOpset(let opset): "ONNX opset \(opset) is not supported; choose one from \(ONNXEmitter.supportedOpsets)"
        case .unsupported(let node, let reason): "node '\(node)' cannot be written as ONNX: \(reason)"
        }
    }
}

/// Writes a graph as an ONNX model. Names of inputs, outputs, initializers and nodes are the IR's (so
/// Keras's), the batch dimension is a `dim_param`, and the bytes are the same on every run.
public struct ONNXEmitter: Sendable {
    public static let supportedOpsets = 13...21

    public let opset: Int
    public let producerVersion: String

    public init(opset: Int = 17, producerVersion: String = "0.1.0") throws(ONNXEmitError) {
        guard Self.supportedOpsets.contains(opset) else { throw .unsupportedOpset(opset) }
        self.opset = opset
        self.producerVersion = producerVersion
    }

    /// The IR version that goes with the opset (the ONNX versioning table).
    public var irVersion: Int64 {
        switch opset {
        case ...14: 7
        case 15...18: 8
        case 19...20: 9
        default: 10
        }
    }

    /// The serialized model.
    public func emit(_ graph: Graph) throws -> [UInt8] {
        [UInt8](try model(graph).serializedData())
    }

    public func model(_ graph: Graph) throws(ONNXEmitError) -> Onnx_ModelProto {
        let types = graph.valueTypes
        var builder = ONNXGraphBuilder(opset: opset, takenNames: Set(types.keys), types: types, constants: graph.constantsByName)
        for node in graph.nodes { try builder.lower(node) }
        builder.sweep(keeping: graph.outputs)

        var proto = Onnx_GraphProto()
        proto.name = graph.name
        proto.input = graph.inputs.map(valueInfo)
        proto.output = graph.outputValues.map(valueInfo)
        proto.initializer = builder.usedConstants(graph.constants, outputs: graph.outputs).map { tensorProto($0.name, $0.tensor) } + builder.initializers
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
        for key in graph.metadata.keys.sorted() {
            var entry = Onnx_StringStringEntryProto()
            entry.key = key
            entry.value = graph.metadata[key]!
            model.metadataProps.append(entry)
        }
        return model
    }

    private func valueInfo(_ value: Value) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = value.name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Self.elementType(value.type.dtype)
        var shape = Onnx_TensorShapeProto()
        shape.dim = value.type.shape.dims.map { dim in
            var d = Onnx_TensorShapeProto.Dimension()
            switch dim {
            case .fixed(let size): d.dimValue = Int64(size)
            case .symbolic(let name): d.dimParam = name
            }
            return d
        }
        tensor.shape = shape
        info.type.tensorType = tensor
        return info
    }

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
}

/// An initializer with raw little-endian data.
func tensorProto(_ name: String, _ tensor: Tensor) -> Onnx_TensorProto {
    var proto = Onnx_TensorProto()
    proto.name = name
    proto.dims = tensor.shape.map(Int64.init)
    proto.dataType = ONNXEmitter.elementType(tensor.dtype)
    proto.rawData = Data(tensor.bytes)
    return proto
}
