import Foundation
import KilnDriver
import KilnIR
import ONNXBackend
import ONNXProto
import XCTest

/// Emits a graph written in the text form and decodes the bytes back, as an ONNX reader would.
func emitONNX(_ text: String, opset: Int = 17) throws -> Onnx_ModelProto {
    try decodeONNX(try TextParser.parse(text), opset: opset)
}

/// Legalizes a graph for ONNX, emits it and decodes the bytes back.
func decodeONNX(_ graph: Graph, opset: Int = 17) throws -> Onnx_ModelProto {
    try Onnx_ModelProto(serializedBytes: try ONNXEmitter(opset: opset).emit(try Backend.onnx.legalize(graph)))
}

extension Onnx_GraphProto {
    /// The node with this name; fails the test when there is none.
    func node(named name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Onnx_NodeProto {
        try XCTUnwrap(node.first { $0.name == name }, "no node named '\(name)' in \(node.map(\.name))", file: file, line: line)
    }

    /// The initializer with this name; fails the test when there is none.
    func initializer(named name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Onnx_TensorProto {
        try XCTUnwrap(
            initializer.first { $0.name == name }, "no initializer named '\(name)' in \(initializer.map(\.name))", file: file,
            line: line)
    }
}

extension Onnx_NodeProto {
    /// The attribute with this name, if any.
    func attribute(_ name: String) -> Onnx_AttributeProto? { attribute.first { $0.name == name } }
}

extension Onnx_TensorProto {
    /// raw_data read as little-endian float32 values.
    var rawFloats: [Float] {
        stride(from: 0, to: rawData.count - 3, by: 4).map { offset in
            let bytes = rawData[rawData.startIndex + offset..<rawData.startIndex + offset + 4]
            let bits = bytes.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return Float(bitPattern: bits)
        }
    }

    /// raw_data read as little-endian int64 values.
    var rawInt64s: [Int64] {
        stride(from: 0, to: rawData.count - 7, by: 8).map { offset in
            let bytes = rawData[rawData.startIndex + offset..<rawData.startIndex + offset + 8]
            return Int64(bitPattern: bytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        }
    }
}

/// The little-endian bytes of float32 values, spelled out independently of the emitter's code path.
func littleEndianBytes(_ values: [Float]) -> Data {
    Data(
        values.flatMap { value -> [UInt8] in
            let bits = value.bitPattern
            return [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)]
        })
}
