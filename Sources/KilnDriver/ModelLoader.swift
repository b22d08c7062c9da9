import Foundation
import KerasFrontend
import KilnIR

/// Opens any model file Kiln reads and lowers it to a verified graph.
public enum ModelLoader {
    /// The weights file that goes beside a `.kir` file: `model.kir` -> `model.kir.weights`.
    public static func weightsURL(forKIR url: URL) -> URL { url.appendingPathExtension("weights") }

    /// Loads a `.kir` file (with its `.weights` beside it) or a Keras model: a full-model `.h5` or `.keras`
    /// file, or an architecture JSON with its `weights` file.
    public static func load(_ url: URL, weights: URL? = nil) throws -> Graph {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelLoadError.missingFile(url.path) }
        if let weights, !FileManager.default.fileExists(atPath: weights.path) { throw ModelLoadError.missingFile(weights.path) }
        let graph: Graph
        if url.pathExtension == "kir" {
            if weights != nil { throw ModelLoadError.weightsNotNeeded(url.path) }
            graph = try loadKIR(url)
        } else {
            graph = try KerasReader.read(contentsOf: url, weights: weights)
        }
        do {
            try graph.verify()
        } catch {
            throw ModelLoadError.invalid(file: url.path, error)
        }
        return graph
    }

    private static func loadKIR(_ url: URL) throws -> Graph {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw ModelLoadError.unreadable(url.path, error.localizedDescription)
        }
        var weights = WeightsFile()
        let weightsURL = weightsURL(forKIR: url)
        if FileManager.default.fileExists(atPath: weightsURL.path) {
            do {
                weights = try WeightsFile(decoding: [UInt8](try Data(contentsOf: weightsURL)))
            } catch let error as WeightsFileError {
                throw ModelLoadError.unreadable(weightsURL.path, error.description)
            }
        }
        do {
            return try TextParser.parse(text, resolveBlob: weights.resolver)
        } catch {
            throw ModelLoadError.syntax(file: url.path, error)
        }
    }
}

/// A model file that could not be opened.
public enum ModelLoadError: Error, CustomStringConvertible {
    case missingFile(String)
    case unreadable(String, String)
    case syntax(file: String, ParseError)
    case invalid(file: String, VerificationError)
    case weightsNotNeeded(String)

    public var description: String {
        switch self {
        case .missingFile(let path): "\(path): no such file"
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .syntax(let file, let error): "\(file):\(error)"
        case .invalid(let file, let error): "\(file): the model is not a valid graph: \(error)"
        case .weightsNotNeeded(let path):
            "\(path): a .kir file reads its weights from \(path).weights; --weights is only for a Keras architecture JSON"
        }
    }
}
