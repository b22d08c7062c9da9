import Foundation
import KilnIR
import ZIPFoundation

/// Reads Keras models without TensorFlow: Keras 2 and Keras 3 full-model `.h5` files and Keras 3 `.keras`
/// archives, Sequential or Functional, lowered to a verified graph.
public enum KerasReader {
    /// `\x89HDF\r\n\x1a\n`, the first bytes of every HDF5 file without a user block.
    private static let hdf5Signature: [UInt8] = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]
    /// `PK\x03\x04`, the first bytes of a zip archive's first entry.
    private static let zipSignature: [UInt8] = [0x50, 0x4b, 0x03, 0x04]

    /// Reads the model at `url` and lowers it to a verified graph.
    ///
    /// The format comes from the file's first bytes, not its extension: the HDF5 signature means a
    /// full-model `.h5` (Keras 2 or Keras 3), a zip signature a Keras 3 `.keras` archive. The graph is named
    /// after the model, its inputs and outputs after the Keras input and output layers, and its metadata
    /// records the Keras version (`source`), the format (`source_format`) and the backend when the file
    /// names one (`keras_backend`).
    public static func read(contentsOf url: URL) throws(KerasImportError) -> Graph {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missingFile(path) }
        guard !isDirectory.boolValue else {
            throw .notAModel(file: path, reason: "this is a directory (a TensorFlow SavedModel?), not a model file")
        }
        let head = try firstBytes(of: path)
        if head.starts(with: hdf5Signature) { return try readH5(path) }
        if head.starts(with: zipSignature) { return try readArchive(path) }
        throw .notAModel(file: path, reason: "not an HDF5 file or a zip archive")
    }

    /// The signature bytes at the start of a file (fewer when the file is shorter).
    private static func firstBytes(of path: String) throws(KerasImportError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .notAModel(file: path, reason: "the file cannot be opened for reading (check its permissions)")
        }
        defer { try? handle.close() }
        do {
            return [UInt8](try handle.read(upToCount: hdf5Signature.count) ?? Data())
        } catch {
            throw .notAModel(file: path, reason: "the file cannot be read (\(error.localizedDescription))")
        }
    }

    private static func readH5(_ path: String) throws(KerasImportError) -> Graph {
        let file: HDF5File
        do throws(HDF5Error) {
            file = try HDF5File.open(path: path)
        } catch {
            throw .damaged(file: path, reason: error.message)
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
            throw .damaged(file: path, reason: error.message)
        }
        guard let configText else { throw .missingConfig(file: path) }
        let weights = H5ModelWeights(file: file, displayName: path)
        return try lower(configText, version: version, backend: backend, format: "h5", weights: weights, file: path)
    }

    private static func readArchive(_ path: String) throws(KerasImportError) -> Graph {
        let archive: Archive
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw .damaged(file: path, reason: "the zip archive cannot be read (\(error))")
        }
        func member(_ name: String) throws(KerasImportError) -> Data {
            guard let entry = archive[name] else {
                throw .damaged(file: path, reason: "the archive has no \(name); it is not a Keras 3 .keras file")
            }
            var data = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { data.append($0) }
            } catch {
                throw .damaged(file: path, reason: "\(name) cannot be extracted (\(error))")
            }
            return data
        }
        let config = String(decoding: try member("config.json"), as: UTF8.self)
        var version: String?
        if archive["metadata.json"] != nil, let metadata = try? JSON(parsing: String(decoding: try member("metadata.json"), as: UTF8.self)) {
            version = metadata["keras_version"]?.string
        }
        let image = try member("model.weights.h5")
        let file: HDF5File
        do throws(HDF5Error) {
            file = try HDF5File.open(image: image, origin: "\(path)#model.weights.h5")
        } catch {
            throw .damaged(file: path, reason: "model.weights.h5: \(error.message)")
        }
        let weights = try KerasArchiveWeights(file: file, displayName: path)
        return try lower(config, version: version ?? "3", backend: nil, format: "keras", weights: weights, file: path)
    }

    /// Lowers a model configuration (the JSON text of `model_config` or `config.json`) with its weights,
    /// records where it came from in the metadata, and verifies the graph.
    static func lower(
        _ configText: String, version: String?, backend: String?, format: String, weights: KerasWeightSource, file: String
    ) throws(KerasImportError) -> Graph {
        let json: JSON
        do {
            json = try JSON(parsing: configText)
        } catch {
            throw .badConfig(file: file, reason: "the configuration (model_config or config.json) is not valid JSON")
        }
        let spec = try KerasConfigParser(file: file).parse(json)
        let majorVersion = version.flatMap { Int($0.prefix { $0.isNumber }) } ?? 3
        var lowering = KerasLowering(file: file, kerasMajorVersion: majorVersion, weights: weights)
        var graph = try lowering.lower(spec)
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
