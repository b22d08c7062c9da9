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

    public init(
        emit: [EmitKind] = [.onnx, .swift], opset: Int = ONNXEmitter.defaultOpset, name: String, onnxQuantizedForm: ONNXQuantizedForm = .qdq
    ) {
        self.emit = emit
        self.opset = opset
        self.name = name
        self.onnxQuantizedForm = onnxQuantizedForm
    }

    /// The files of every emitted kind; each backend gets the graph legalized for it, and `observer` sees
    /// the IR after each legalization pass with the backend's name (`onnx`, `swift`).
    public func artifacts(
        for graph: Graph, observer: (@Sendable (_ backend: String, _ pass: String, _ graph: Graph) -> Void)? = nil
    ) throws -> Artifacts {
        var artifacts = Artifacts()
        func legal(_ backend: Backend) throws -> Graph {
            guard let observer else { return try backend.legalize(graph) }
            let name = backend.rawValue
            return try backend.legalize(graph) { pass, graph in observer(name, pass, graph) }
        }
        for kind in emit {
            switch kind {
            case .onnx:
                let emitter = try ONNXEmitter(opset: opset, producerVersion: KilnVersion.current, quantizedForm: onnxQuantizedForm)
                artifacts.add("\(name).onnx", try emitter.emit(try legal(.onnx)))
            case .swift:
                let emission = try SwiftEmitter().emit(try legal(.swift), typeName: SwiftEmitter.typeName(for: name))
                artifacts.add("\(emission.typeName).swift", text: emission.source)
                artifacts.add("\(emission.typeName).weights", emission.weights)
            case .kir:
                artifacts.add("\(name).kir", text: graph.text)
                artifacts.add("\(name).kir.weights", WeightsFile(graph: graph).encoded())
            }
        }
        return artifacts
    }

    /// The default base name of a model's outputs: its file's name without extension; for a SavedModel
    /// version directory (`mnist_model/1`), the name of the directory above it.
    public static func defaultName(for url: URL) -> String {
        var stem = url.deletingPathExtension().lastPathComponent
        var isDirectory: ObjCBool = false
        if !stem.isEmpty, stem.allSatisfy({ $0.isASCII && $0.isNumber }),
            FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue
        {
            stem = url.deletingLastPathComponent().lastPathComponent
        }
        let cleaned = String(stem.map { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" ? $0 : "_" })
        return cleaned.isEmpty ? "model" : cleaned
    }
}
