import Foundation
import TFProto

/// One signature of a SavedModel (`SignatureDef`, tensorflow/core/protobuf/meta_graph.proto): a named
/// function TF Serving runs, with named inputs and outputs.
public struct SavedModelSignature: Equatable, Sendable {
    /// One input or output: its key (the name clients use), the graph tensor it binds, dtype and shape.
    public struct Tensor: Equatable, Sendable {
        public var key: String
        /// `serving_default_features:0`; empty for a sparse or composite tensor.
        public var tensorName: String
        /// `float32`, `int64`...
        public var dtype: String
        /// Sizes, -1 for unknown; nil when even the rank is unknown.
        public var shape: [Int64]?
    }

    public var name: String
    /// `tensorflow/serving/predict` for Keras models.
    public var methodName: String
    /// Sorted by key.
    public var inputs: [Tensor]
    /// Sorted by key.
    public var outputs: [Tensor]

    /// The signature TF Serving runs when a request names none.
    public static let defaultName = "serving_default"

    /// The signatures of the meta graph tagged `serve` in `<directory>/saved_model.pb` (of the only meta graph
    /// when none is tagged), sorted by name; `__saved_model_init_op`, which is no function a client calls, is
    /// left out.
    ///
    /// - Throws: `SavedModelImportError.missingFile`, `.unreadable` or `.damaged` for the file.
    public static func read(directory: String) throws(SavedModelImportError) -> [SavedModelSignature] {
        let path = URL(fileURLWithPath: directory).appendingPathComponent("saved_model.pb").path
        let model: Tensorflow_SavedModel
        do {
            model = try Tensorflow_SavedModel(serializedBytes: try TensorBundle.readAll(path))
        } catch let error as SavedModelImportError {
            throw error
        } catch {
            throw .damaged(file: path, reason: "is not a SavedModel message (\(error))")
        }
        let graphs = model.metaGraphs
        guard let graph = graphs.first(where: { $0.metaInfoDef.tags.contains("serve") }) ?? (graphs.count == 1 ? graphs.first : nil) else {
            throw .damaged(file: path, reason: "has \(graphs.count) meta graphs and none is tagged 'serve'")
        }
        return graph.signatureDef.filter { $0.key != "__saved_model_init_op" }.map { name, signature in
            SavedModelSignature(
                name: name, methodName: signature.methodName, inputs: tensors(signature.inputs), outputs: tensors(signature.outputs))
        }.sorted { $0.name < $1.name }
    }

    private static func tensors(_ map: [String: Tensorflow_TensorInfo]) -> [Tensor] {
        map.map { key, info in
            Tensor(
                key: key, tensorName: info.name, dtype: TensorBundle.name(of: info.dtype),
                shape: info.tensorShape.unknownRank ? nil : info.tensorShape.dim.map(\.size))
        }.sorted { $0.key < $1.key }
    }

    /// `serving_default (tensorflow/serving/predict)` and one line per input and output:
    /// `  input  features: float32[?,4] (serving_default_features:0)`.
    public var summary: String {
        func line(_ kind: String, _ tensor: Tensor) -> String {
            let shape = tensor.shape.map { "[" + $0.map { $0 < 0 ? "?" : String($0) }.joined(separator: ",") + "]" } ?? "[...]"
            let bound = tensor.tensorName.isEmpty ? "" : " (\(tensor.tensorName))"
            return "  \(kind) \(tensor.key): \(tensor.dtype)\(shape)\(bound)"
        }
        return
            ([methodName.isEmpty ? name : "\(name) (\(methodName))"] + inputs.map { line("input ", $0) }
            + outputs.map { line("output", $0) })
            .joined(separator: "\n")
    }
}
