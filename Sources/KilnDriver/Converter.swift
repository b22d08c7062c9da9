import Foundation
import KilnIR
import KilnPasses
import ONNXBackend
import SwiftBackend

/// What `kiln convert` can write.
public enum EmitKind: String, CaseIterable, Sendable {
    case onnx, swift, kir
}

/// Turns a graph into the files each backend emits.
public struct Converter {
    public var emit: [EmitKind]
    public var opset: Int
    /// The base name of the files: `NAME.onnx`, `NAME.kir`; the Swift type is its UpperCamelCase form.
    public var name: String
    /// How quantized layers are written in ONNX: QDQ pairs or integer operators.
    public var onnxQuantizedForm: ONNXQuantizedForm

    public init(emit: [EmitKind] = [.onnx, .swift], opset: Int = 17, name: String, onnxQuantizedForm: ONNXQuantizedForm = .qdq) {
        self.emit = emit
        self.opset = opset
        self.name = name
        self.onnxQuantizedForm = onnxQuantizedForm
    }

    public func artifacts(for graph: Graph) throws -> Artifacts {
        var artifacts = Artifacts()
        for kind in emit {
            switch kind {
            case .onnx:
                artifacts.add("\(name).onnx", try ONNXEmitter(opset: opset, producerVersion: KilnVersion.current, quantizedForm: onnxQuantizedForm).emit(graph))
            case .swift:
                let emission = try SwiftEmitter().emit(graph, typeName: Converter.typeName(for: name))
                artifacts.add("\(emission.typeName).swift", text: emission.source)
                artifacts.add("\(emission.typeName).weights", emission.weights)
            case .kir:
                artifacts.add("\(name).kir", text: graph.text)
                artifacts.add("\(name).kir.weights", WeightsFile(graph: graph).encoded())
            }
        }
        return artifacts
    }

    /// `mnist_mlp` -> `MnistMlp`: the Swift type name for a model name.
    public static func typeName(for name: String) -> String {
        let words = name.split { !($0.isLetter || $0.isNumber) }
        var result = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        if result.isEmpty { result = "Model" }
        if let first = result.first, first.isNumber { result = "Model" + result }
        return result
    }

    /// The default base name of a model's outputs: its file's name without extension.
    public static func defaultName(for url: URL) -> String {
        let stem = url.deletingPathExtension().lastPathComponent
        let cleaned = String(stem.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
        return cleaned.isEmpty ? "model" : cleaned
    }
}
