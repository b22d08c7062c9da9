import Foundation
import KerasFrontend
import KilnIR

/// Opens any model file Kiln reads and lowers it to a verified graph.
public enum ModelLoader {
    /// The weights file that goes beside a `.kir` file: `model.kir` -> `model.kir.weights`.
    public static func weightsURL(forKIR url: URL) -> URL { url.appendingPathExtension("weights") }

    /// Loads a `.kir` file (with its `.weights` beside it) or a Keras model: a full-model `.h5` or `.keras`
    /// file, or an architecture JSON with its `weights` file.
    /// `inputShapes` fixes the sizes of inputs with unknown dimensions (every dimension but the batch, by
    /// input name), so layers that need them known can be converted.
    public static func load(_ url: URL, weights: URL? = nil, inputShapes: [String: [Int]] = [:]) throws -> Graph {
        guard FileManager.default.fileExists(atPath: url.path) else { throw ModelLoadError.missingFile(url.path) }
        if let weights, !FileManager.default.fileExists(atPath: weights.path) { throw ModelLoadError.missingFile(weights.path) }
        let graph: Graph
        if url.pathExtension == "kir" {
            if weights != nil { throw ModelLoadError.weightsNotNeeded(url.path) }
            graph = try pinning(try loadKIR(url), inputShapes, file: url.path)
        } else {
            graph = try KerasReader.read(contentsOf: url, weights: weights, inputShapes: inputShapes)
        }
        do {
            try graph.verify()
        } catch {
            throw ModelLoadError.invalid(file: url.path, error)
        }
        return graph
    }

    /// The graph with the symbolic dimensions of the named inputs (all but the batch) bound to the given
    /// sizes, everywhere they occur.
    static func pinning(_ graph: Graph, _ inputShapes: [String: [Int]], file: String) throws -> Graph {
        guard !inputShapes.isEmpty else { return graph }
        var bindings: [String: Int] = [:]
        for (name, sizes) in inputShapes.sorted(by: { $0.key < $1.key }) {
            guard let input = graph.inputs.first(where: { $0.name == name }) else {
                throw ModelLoadError.badInputShape(
                    file: file, reason: "--input-shape names '\(name)', which is no input of the model; its inputs: \(graph.inputs.map(\.name).joined(separator: ", "))")
            }
            let dims = input.type.shape.dims.dropFirst()
            guard dims.count == sizes.count, sizes.allSatisfy({ $0 >= 1 }) else {
                throw ModelLoadError.badInputShape(file: file, reason: "--input-shape \(name) needs \(dims.count) sizes of at least 1 for \(input.type)")
            }
            for (dim, size) in zip(dims, sizes) {
                switch dim {
                case .fixed(let known) where known != size:
                    throw ModelLoadError.badInputShape(file: file, reason: "--input-shape \(name): the model fixes a size of \(known) where \(size) is given")
                case .symbolic(let symbol):
                    if let bound = bindings[symbol], bound != size {
                        throw ModelLoadError.badInputShape(file: file, reason: "--input-shape gives the dimension \(symbol) both \(bound) and \(size)")
                    }
                    bindings[symbol] = size
                default: break
                }
            }
        }
        var pinned = graph
        func bind(_ value: Value) -> Value { Value(value.name, TensorType(value.type.dtype, value.type.shape.binding(bindings))) }
        pinned.inputs = pinned.inputs.map(bind)
        for index in pinned.nodes.indices { pinned.nodes[index].outputs = pinned.nodes[index].outputs.map(bind) }
        return pinned
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
    case badInputShape(file: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let path): "\(path): no such file"
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .syntax(let file, let error): "\(file):\(error)"
        case .invalid(let file, let error): "\(file): the model is not a valid graph: \(error)"
        case .weightsNotNeeded(let path):
            "\(path): a .kir file reads its weights from \(path).weights; --weights is only for a Keras architecture JSON"
        case .badInputShape(let file, let reason): "\(file): \(reason)"
        }
    }
}
