import Foundation
import KilnIR
import ZIPFoundation

/// Reads Keras models without TensorFlow: Keras 2 and Keras 3 full-model `.h5` files and Keras 3 `.keras`
/// archives, Sequential or Functional, lowered to a verified graph.
public enum KerasReader {
    /// `\x89HDF\r\n\x1a\n`, the first bytes of an HDF5 file's superblock: at offset 0, or after a user block
    /// of 512, 1024, 2048... bytes.
    private static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
    /// `PK\x03\x04`, the first bytes of a zip archive's first entry.
    private static let zipSignature: [UInt8] = [0x50, 0x4b, 0x03, 0x04]

    /// Reads the model at `url` and lowers it to a verified graph.
    ///
    /// The format comes from the file's first bytes, not its extension: the HDF5 signature means a
    /// full-model `.h5` (Keras 2 or Keras 3), a zip signature a Keras 3 `.keras` archive, and `{` an
    /// architecture JSON (`model.to_json()`), which needs `weights`: a Keras 2 `save_weights` HDF5 file, a
    /// Keras 3 `.weights.h5`, or a full-model `.h5`. The graph is named after the model, its inputs and
    /// outputs after the Keras input and output layers, and its metadata records the Keras version
    /// (`source`), the format (`source_format`) and the backend when the file names one (`keras_backend`).
    ///
    /// `inputShapes` fixes the sizes of inputs saved with unknown dimensions (every dimension but the batch,
    /// by input name); any other unknown dimension becomes a symbol named after its input and axis
    /// (`tokens_dim1`). `statefulAsStateless` converts recurrent layers saved with `stateful=True` as stateless
    /// (each batch starts from zeros or the initial states given as inputs) instead of refusing them.
    public static func read(
        contentsOf url: URL, weights: URL? = nil, inputShapes: [String: [Int]] = [:], statefulAsStateless: Bool = false
    ) throws(KerasImportError) -> Graph {
        let options = Options(inputShapes: inputShapes, statefulAsStateless: statefulAsStateless)
        let path = url.path
        let file = try open(path)
        let head = try firstBytes(of: file)
        let isJSON = head.first { !Self.jsonWhitespace.contains($0) } == UInt8(ascii: "{")
        if let weights {
            guard isJSON else { throw .weightsNotNeeded(file: path) }
            return try readJSON(file, weights: weights.path, options: options)
        }
        if try isHDF5(file) { return try readH5(path, options: options) }
        if head.starts(with: zipSignature) { return try readArchive(path, options: options) }
        if isJSON { throw .missingWeightsFile(file: path) }
        throw .notAModel(file: path, reason: "not an HDF5 file, a zip archive or a JSON architecture")
    }

    /// The bytes JSON allows before its first value: space, tab, line feed, carriage return.
    private static let jsonWhitespace: Set<UInt8> = [0x20, 0x09, 0x0a, 0x0d]

    /// Opens a file to read, refusing what is not a regular file before reading anything.
    private static func open(_ path: String) throws(KerasImportError) -> InputFile {
        do {
            return try InputFile(path)
        } catch {
            switch error.reason {
            case .missing: throw .missingFile(path)
            case .directory: throw .notAModel(file: path, reason: "this is a directory (a TensorFlow SavedModel?), not a model file")
            default: throw .unreadable(file: path, reason: error.message)
            }
        }
    }

    /// The first bytes of a file (fewer when the file is shorter): enough for a signature, or for the
    /// whitespace before a JSON object.
    private static func firstBytes(of file: InputFile) throws(KerasImportError) -> [UInt8] {
        do {
            return try file.read(at: 0, count: 256)
        } catch {
            throw .notAModel(file: file.path, reason: "the file cannot be read (\(error.message))")
        }
    }

    /// Whether the file is HDF5: its superblock signature at offset 0 or after a user block (512 bytes, or
    /// a larger power of two), where HDF5 itself looks for it.
    private static func isHDF5(_ file: InputFile) throws(KerasImportError) -> Bool {
        var offset = 0
        while offset + hdf5Signature.count <= file.size {
            do {
                if try file.read(at: offset, count: hdf5Signature.count) == hdf5Signature { return true }
            } catch {
                throw .notAModel(file: file.path, reason: "the file cannot be read (\(error.message))")
            }
            offset = offset == 0 ? 512 : offset * 2
        }
        return false
    }

    /// What the caller asks of the lowering beyond the file: input sizes, and stateful layers read as stateless.
    struct Options {
        var inputShapes: [String: [Int]] = [:]
        var statefulAsStateless = false
    }

    private static func readH5(_ path: String, options: Options) throws(KerasImportError) -> Graph {
        let file: HDF5Snapshot
        do throws(HDF5Error) {
            file = try HDF5Snapshot.read(path: path, skip: skipsOptimizerState)
        } catch {
            throw .hdf5(error, file: path) { .damaged(file: path, reason: $0) }
        }
        let configText: String?
        let version: String?
        let backend: String?
        do throws(HDF5Error) {
            configText = try file.stringAttribute("model_config")
            if let rootVersion = try file.stringAttribute("keras_version") {
                version = rootVersion
            } else {
                version = try file.stringAttribute("keras_version", of: "/model_weights")
            }
            backend = try file.stringAttribute("backend")
        } catch {
            throw .hdf5(error, file: path) { .damaged(file: path, reason: $0) }
        }
        guard let configText else { throw .missingConfig(file: path) }
        let weights = H5ModelWeights(file: file, root: "/model_weights", displayName: path)
        return try lower(
            configText, version: version, backend: backend, format: "h5", weights: weights, file: path, options: options)
    }

    private static func readArchive(_ path: String, options: Options) throws(KerasImportError) -> Graph {
        let archive = try KerasArchive(path: path)
        let jsonLimit = "a model configuration is far smaller"
        let config = String(decoding: try archive.member("config.json", maxBytes: maxJSONBytes, limit: jsonLimit), as: UTF8.self)
        var version: String?
        if archive.contains("metadata.json"),
            let metadata = try? JSON(
                parsing: String(decoding: try archive.member("metadata.json", maxBytes: maxJSONBytes, limit: jsonLimit), as: UTF8.self))
        {
            version = metadata["keras_version"]?.string
        }
        // HDF5 opens the image from a copy of its own, so the weights take twice their size.
        let image = try archive.member("model.weights.h5", maxBytes: .max, limit: "", copies: 2)
        let parse = ConfigurationParse(config, file: path)
        let file: HDF5Snapshot
        do throws(HDF5Error) {
            file = try HDF5Snapshot.read(image: image, origin: "\(path)#model.weights.h5", skip: skipsOptimizerState, alongside: parse.run)
        } catch {
            throw .hdf5(error, file: path) { .damaged(file: path, reason: "model.weights.h5: \($0)") }
        }
        let weights = try KerasArchiveWeights(file: file, displayName: path)
        return try lower(
            parse, version: version ?? "3", backend: nil, format: "keras", weights: weights, file: path, options: options)
    }

    /// Whether a group at the root of a Keras HDF5 file holds optimizer state, which Kiln never reads:
    /// `optimizer_weights` of a full-model `.h5`, `optimizer` of a Keras 3 weights file. Not in a Keras 2
    /// `save_weights` file (its root lists `layer_names`), whose root groups are layers of any name.
    static func skipsOptimizerState(_ name: String, rootAttributes: Set<String>) -> Bool {
        !rootAttributes.contains("layer_names") && (name == "optimizer_weights" || name == "optimizer")
    }

    /// The largest architecture JSON read: configurations of the largest Keras models are a few megabytes.
    private static let maxJSONBytes = 1 << 28

    /// An architecture JSON (`model.to_json()` of Keras 2 or Keras 3) with the weights file beside it.
    private static func readJSON(_ json: InputFile, weights weightsPath: String, options: Options) throws(KerasImportError)
        -> Graph
    {
        let path = json.path
        let text: String
        do {
            text = String(decoding: try json.readAll(maxBytes: maxJSONBytes, what: "a model architecture is far smaller"), as: UTF8.self)
        } catch {
            if case .tooLarge = error.reason { throw .badConfig(file: path, reason: "the JSON file \(error.message)") }
            throw .notAModel(file: path, reason: "the file cannot be read (\(error.message))")
        }
        let weightsFile = try open(weightsPath)
        guard try isHDF5(weightsFile) else {
            throw .notAWeightsFile(file: weightsPath, reason: "it is not an HDF5 file")
        }
        let parse = ConfigurationParse(text, file: path)
        let file: HDF5Snapshot
        do throws(HDF5Error) {
            file = try HDF5Snapshot.read(path: weightsPath, skip: skipsOptimizerState, alongside: parse.run)
        } catch {
            throw .hdf5(error, file: weightsPath) { .damaged(file: weightsPath, reason: $0) }
        }
        // Keras 2's save_weights lists `layer_names` at the root; a full-model .h5 keeps the same layout
        // under `model_weights`; Keras 3's .weights.h5 has a `layers` group.
        enum Layout { case keras2(root: String), keras3, unknown }
        let layout: Layout
        var weightsVersion: String?
        do throws(HDF5Error) {
            if try file.stringsAttribute("layer_names") != nil {
                layout = .keras2(root: "")
                weightsVersion = try file.stringAttribute("keras_version")
            } else if try file.exists("/model_weights") {
                layout = .keras2(root: "/model_weights")
                weightsVersion = try file.stringAttribute("keras_version")
                if weightsVersion == nil { weightsVersion = try file.stringAttribute("keras_version", of: "/model_weights") }
            } else if try file.exists("/layers") {
                layout = .keras3
                weightsVersion = "3"
            } else {
                layout = .unknown
            }
        } catch {
            throw .hdf5(error, file: weightsPath) { .damaged(file: weightsPath, reason: $0) }
        }
        let weights: KerasWeightSource
        switch layout {
        case .keras2(let root): weights = H5ModelWeights(file: file, root: root, displayName: weightsPath)
        case .keras3: weights = try KerasArchiveWeights(file: file, displayName: weightsPath)
        case .unknown:
            throw .notAWeightsFile(
                file: weightsPath, reason: "it has neither layer_names (Keras 2 save_weights) nor a layers group (Keras 3 .weights.h5)")
        }
        // The version that wrote the architecture decides version-dependent definitions: Keras 2's to_json
        // records it, Keras 3's writes a `module` beside each class instead.
        let root = parse.json
        let version = root?["keras_version"]?.string ?? (root?["module"] != nil ? "3" : weightsVersion)
        return try lower(
            parse, version: version, backend: root?["backend"]?.string, format: "json", weights: weights, file: path,
            options: options)
    }

    /// Lowers a model configuration (the JSON text of `model_config` or `config.json`) with its weights,
    /// records where it came from in the metadata, and verifies the graph.
    static func lower(
        _ configText: String, version: String?, backend: String?, format: String, weights: KerasWeightSource, file: String,
        options: Options = Options()
    ) throws(KerasImportError) -> Graph {
        let parse = ConfigurationParse(configText, file: file)
        parse.run()
        return try lower(parse, version: version, backend: backend, format: format, weights: weights, file: file, options: options)
    }

    /// `lower(_:version:backend:format:weights:file:options:)` of a configuration already parsed.
    private static func lower(
        _ parse: ConfigurationParse, version: String?, backend: String?, format: String, weights: KerasWeightSource, file: String,
        options: Options
    ) throws(KerasImportError) -> Graph {
        guard let spec = parse.spec else {
            throw .badConfig(file: file, reason: "the configuration (model_config or config.json) is not valid JSON")
        }
        let majorVersion = version.flatMap { Int($0.prefix { $0.isNumber }) } ?? 3
        var lowering = KerasLowering(file: file, kerasMajorVersion: majorVersion, weights: weights)
        lowering.inputShapes = options.inputShapes
        lowering.statefulAsStateless = options.statefulAsStateless
        var graph = try lowering.lower(try spec.get())
        graph.metadata["source"] = "keras \(version ?? "unknown")"
        graph.metadata["source_format"] = format
        if let backend { graph.metadata["keras_backend"] = backend }
        do {
            try graph.verify()
        } catch {
            throw .invalidGraph(file: file, error)
        }
        return graph
    }
}

/// A model configuration parsed (the JSON, then `KerasConfigParser`) apart from reading its weights: on
/// another thread while the HDF5 child reads them (`HDF5Snapshot.read(path:skip:alongside:)`), or in turn.
/// Its results are kept, so each error is thrown where it was before, after the weights file's.
final class ConfigurationParse: @unchecked Sendable {
    private let text: String
    private let file: String
    /// The parsed JSON; nil if it is not JSON, or before `run`.
    private(set) var json: JSON?
    /// The parsed configuration or its error; nil if the text is not JSON, or before `run`.
    private(set) var spec: Result<ModelSpec, KerasImportError>?

    init(_ text: String, file: String) {
        self.text = text
        self.file = file
    }

    /// Parses, once. `HDF5Snapshot` calls it on its thread and waits for it before it returns, which is what
    /// makes the results safe to read on the caller's thread afterwards.
    func run() {
        json = try? JSON(parsing: text)
        if let json { spec = Result { () throws(KerasImportError) in try KerasConfigParser(file: file).parse(json) } }
    }
}
