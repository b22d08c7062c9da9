import Foundation
import KerasFrontend
import KilnIR
import TFProto

/// Reads a SavedModel that Keras 2 wrote with `model.save(dir)`, through its Keras metadata: the model
/// configuration from `keras_metadata.pb` (tf_keras/protobuf/saved_metadata.proto: one JSON string per Keras
/// object; the root's `model_config` is what a `.h5` file stores as `model_config`), the weights from the
/// `variables/` checkpoint, found through the checkpoint's object graph (`CheckpointWeights`), both handed to
/// the Keras frontend's lowering, so a model reads as its `.h5` file does, with the same names.
public enum KerasSavedModel {
    /// Reads the SavedModel at `location` and lowers it to a verified graph whose metadata records the Keras
    /// version (`source`), `source_format = savedmodel` and, for a TF Serving base path, the version read
    /// (`savedmodel_version`).
    ///
    /// - Throws: `SavedModelImportError` for a missing or broken metadata file or checkpoint (a SavedModel
    ///   without `keras_metadata.pb` is `.noKerasMetadata`), `KerasImportError` for a configuration or weights
    ///   the Keras lowering refuses.
    ///
    /// The inputs and outputs keep their Keras names, which are the keys of the signatures Keras writes;
    /// `signature` (default `serving_default`) is checked to have exactly those keys. A SavedModel without
    /// signatures is read without the check.
    public static func read(
        _ location: SavedModelLocation, signature: String? = nil, inputShapes: [String: [Int]] = [:], statefulAsStateless: Bool = false
    ) throws -> Graph {
        let directory = URL(fileURLWithPath: location.directory)
        let metadataPath = directory.appendingPathComponent("keras_metadata.pb").path
        guard FileManager.default.fileExists(atPath: metadataPath) else {
            throw SavedModelImportError.noKerasMetadata(directory: location.directory)
        }
        let metadata: Keras_SavedMetadata
        do {
            metadata = try Keras_SavedMetadata(serializedBytes: try TensorBundle.readAll(metadataPath))
        } catch let error as SavedModelImportError {
            throw error
        } catch {
            throw SavedModelImportError.damaged(file: metadataPath, reason: "is not a Keras SavedMetadata message (\(error))")
        }
        let objects = try KerasObjects(metadata, file: metadataPath)

        let bundle = try TensorBundle(prefix: directory.appendingPathComponent("variables/variables").path)
        let strings = try bundle.strings(CheckpointWeights.objectGraphKey)
        guard strings.count == 1 else {
            throw SavedModelImportError.damaged(
                file: bundle.indexFile, reason: "'\(CheckpointWeights.objectGraphKey)' holds \(strings.count) strings, not one object graph"
            )
        }
        let objectGraph: Tensorflow_TrackableObjectGraph
        do {
            objectGraph = try Tensorflow_TrackableObjectGraph(serializedBytes: strings[0])
        } catch {
            throw SavedModelImportError.damaged(
                file: bundle.indexFile, reason: "the checkpoint's object graph is not a TrackableObjectGraph (\(error))")
        }
        guard !objectGraph.nodes.isEmpty else {
            throw SavedModelImportError.damaged(file: bundle.indexFile, reason: "the checkpoint's object graph has no objects")
        }
        let weights = CheckpointWeights(bundle: bundle, objectGraph: objectGraph, layerPaths: objects.layerPaths, file: location.directory)
        var graph = try KerasReader.lower(
            configuration: objects.configuration, version: objects.kerasVersion, backend: objects.backend, format: "savedmodel",
            weights: weights, file: location.directory, inputShapes: inputShapes, statefulAsStateless: statefulAsStateless)
        if let version = location.version { graph.metadata["savedmodel_version"] = String(version) }
        try check(graph, against: signature, in: location.directory)
        return graph
    }
}

extension KerasSavedModel {
    /// Checks that the signature `name` (default `serving_default`, which may be absent) has the graph's input
    /// and output names as its keys.
    static func check(_ graph: Graph, against name: String?, in directory: String) throws(SavedModelImportError) {
        let signatures = try SavedModelSignature.read(directory: directory)
        guard let signature = signatures.first(where: { $0.name == (name ?? SavedModelSignature.defaultName) }) else {
            if let name { throw .missingSignature(directory: directory, name: name, available: signatures.map(\.name)) }
            return
        }
        for (kind, keys, names) in [
            ("inputs", signature.inputs.map(\.key), graph.inputs.map(\.name)), ("outputs", signature.outputs.map(\.key), graph.outputs),
        ] where Set(keys) != Set(names) {
            throw .signatureMismatch(
                directory: directory, name: signature.name,
                reason: "its \(kind) are \(keys.joined(separator: ", ")), the Keras model's are \(names.joined(separator: ", "))")
        }
    }
}

/// What `keras_metadata.pb` says about a model: its configuration and where each layer is in the object graph.
struct KerasObjects {
    /// `{"class_name": ..., "config": ...}` as JSON text, with Keras's `{"class_name": "__tuple__", "items": [...]}`
    /// encoding of Python tuples written as plain arrays (how a `.h5` file's configuration writes them).
    var configuration: String
    var kerasVersion: String?
    var backend: String?
    /// A layer's name as the configuration gives it (`outer/inner` inside a nested model) -> its path in the
    /// object graph (`root.layer-1.layer_with_weights-0`).
    var layerPaths: [String: String]

    init(_ metadata: Keras_SavedMetadata, file: String) throws(SavedModelImportError) {
        func damaged(_ reason: String) -> SavedModelImportError { .damaged(file: file, reason: reason) }
        var objects: [String: [String: Any]] = [:]
        for node in metadata.nodes {
            guard let object = try? JSONSerialization.jsonObject(with: Data(node.metadata.utf8)) as? [String: Any] else {
                throw damaged("the metadata of object '\(node.nodePath)' is not a JSON object")
            }
            objects[node.nodePath] = object
        }
        guard let root = objects["root"] else { throw damaged("has no metadata for the root object") }
        guard let model = root["model_config"] as? [String: Any] else {
            let className = root["class_name"] as? String ?? "an object"
            throw .unsupported(
                file: file,
                reason:
                    "the saved object is \(className), which has no model configuration (a subclassed model?); Kiln reads Sequential and Functional models"
            )
        }
        guard let text = try? JSONSerialization.data(withJSONObject: Self.plainTuples(model)) else {
            throw damaged("the root's model_config cannot be written back as JSON")
        }
        configuration = String(decoding: text, as: UTF8.self)
        kerasVersion = root["keras_version"] as? String
        backend = root["backend"] as? String

        var paths: [String: String] = [:]
        for path in objects.keys.sorted() where path != "root" {
            let components = path.split(separator: ".")
            guard components.count >= 2, components[0] == "root" else { continue }
            var names: [String] = []
            for end in 2...components.count {
                guard let name = objects[components[..<end].joined(separator: ".")]?["name"] as? String else { break }
                names.append(name)
            }
            guard names.count == components.count - 1 else { continue }
            // An object Keras reaches by two paths is listed once; the first path in sorted order wins.
            let key = names.joined(separator: "/")
            if paths[key] == nil { paths[key] = path }
        }
        layerPaths = paths
    }

    /// The value with every `{"class_name": "__tuple__", "items": [...]}` replaced by its items.
    static func plainTuples(_ value: Any) -> Any {
        if let object = value as? [String: Any] {
            if object["class_name"] as? String == "__tuple__", let items = object["items"] as? [Any], object.count == 2 {
                return items.map(plainTuples)
            }
            return object.mapValues(plainTuples)
        }
        if let array = value as? [Any] { return array.map(plainTuples) }
        return value
    }
}
