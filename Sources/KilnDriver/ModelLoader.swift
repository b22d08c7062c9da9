import Foundation
import KerasFrontend
import KilnIR
import SavedModelFrontend

/// Opens any model file Kiln reads and lowers it to a verified graph.
public enum ModelLoader {
    /// The weights file that goes beside a `.kir` file: `model.kir` -> `model.kir.weights`.
    public static func weightsURL(forKIR url: URL) -> URL { url.appendingPathExtension("weights") }

    /// Loads a `.kir` file (with its `.weights` beside it) or a Keras model: a full-model `.h5` or `.keras`
    /// file, an architecture JSON with its `weights` file, or a directory: a SavedModel that Keras 2 wrote
    /// with `model.save(dir)`, or a TF Serving base path holding numbered versions of one (the highest, or
    /// `savedModelVersion`; the graph's `savedmodel_version` metadata says which was read).
    /// `inputShapes` fixes the sizes of inputs with unknown dimensions (every dimension but the batch, by
    /// input name), so layers that need them known can be converted. `statefulAsStateless` converts recurrent
    /// layers saved with `stateful=True` as stateless instead of refusing them.
    /// A SavedModel's inputs and outputs are named as in its Keras model, which must be the keys of its
    /// `savedModelSignature` (default `serving_default`).
    public static func load(
        _ url: URL, weights: URL? = nil, inputShapes: [String: [Int]] = [:], savedModelVersion: Int? = nil,
        savedModelSignature: String? = nil, statefulAsStateless: Bool = false
    ) throws -> Graph {
        if let weights { try checkReadable(weights.path) }
        let graph: Graph
        // A directory is a SavedModel, unless it is named like a .kir file (refused as a directory below).
        let isSavedModel = url.pathExtension != "kir" && SavedModelLocation.isCandidate(url.path)
        if let savedModelVersion, !isSavedModel {
            throw ModelLoadError.unreadable(
                url.path, "--version \(savedModelVersion) picks a version of a TF Serving base path (a directory), not of a model file")
        }
        if let savedModelSignature, !isSavedModel {
            throw ModelLoadError.unreadable(
                url.path, "--signature \(savedModelSignature) names a signature of a SavedModel, not of a model file")
        }
        if isSavedModel {
            if let weights {
                throw ModelLoadError.unreadable(
                    weights.path, "a SavedModel holds its own weights; --weights is only for a Keras architecture JSON")
            }
            graph = try KerasSavedModel.read(
                try SavedModelLocation(url.path, version: savedModelVersion), signature: savedModelSignature, inputShapes: inputShapes,
                statefulAsStateless: statefulAsStateless)
        } else if url.pathExtension == "kir" {
            if weights != nil { throw ModelLoadError.weightsNotNeeded(url.path) }
            graph = try pinning(try loadKIR(url), inputShapes, file: url.path)
        } else {
            graph = try KerasReader.read(
                contentsOf: url, weights: weights, inputShapes: inputShapes, statefulAsStateless: statefulAsStateless)
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
                    file: file,
                    reason:
                        "--input-shape names '\(name)', which is no input of the model; its inputs: \(graph.inputs.map(\.name).joined(separator: ", "))"
                )
            }
            let dims = input.type.shape.dims.dropFirst()
            guard dims.count == sizes.count, sizes.allSatisfy({ $0 >= 1 }) else {
                throw ModelLoadError.badInputShape(
                    file: file, reason: "--input-shape \(name) needs \(dims.count) sizes of at least 1 for \(input.type)")
            }
            for (dim, size) in zip(dims, sizes) {
                switch dim {
                case .fixed(let known) where known != size:
                    throw ModelLoadError.badInputShape(
                        file: file, reason: "--input-shape \(name): the model fixes a size of \(known) where \(size) is given")
                case .symbolic(let symbol):
                    if let bound = bindings[symbol], bound != size {
                        throw ModelLoadError.badInputShape(
                            file: file, reason: "--input-shape gives the dimension \(symbol) both \(bound) and \(size)")
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

    /// The most bytes of a `.kir` file looked at before its whole text is read: enough to find `graph`.
    private static let headBytes = 4096

    private static func loadKIR(_ url: URL) throws -> Graph {
        let path = url.path
        let text: String
        do {
            let file = try InputFile(path)
            guard file.size > 0 else {
                throw ModelLoadError.unreadable(path, "the file is empty; a .kir file is the text `kiln opt` writes, starting with 'graph'")
            }
            // Look at the first word before reading the whole file: a large file of anything else is refused unread.
            let head = try file.read(at: 0, count: headBytes)
            if let word = firstWord(of: head), word != "graph" {
                throw ModelLoadError.unreadable(path, "not a Kiln IR file: it starts with '\(word.prefix(40))', not 'graph'")
            }
            text = String(decoding: try file.readAll(), as: UTF8.self)
        } catch let error as InputFileError {
            throw ModelLoadError(error, what: ".kir file")
        }
        var weights = WeightsFile()
        let weightsPath = weightsURL(forKIR: url).path
        do {
            weights = try WeightsFile(decoding: try InputFile(weightsPath).readAll())
        } catch let error as InputFileError {
            // No weights file is fine for a graph without large constants; the parser names any missing blob.
            if case .missing = error.reason {} else { throw ModelLoadError(error, what: "weights file") }
        } catch let error as WeightsFileError {
            throw ModelLoadError.unreadable(weightsPath, error.description)
        }
        do {
            return try TextParser.parse(text, resolveBlob: weights.resolver)
        } catch {
            throw ModelLoadError.syntax(file: path, error)
        }
    }

    /// The first word of a text after spaces and `//` comments, or nil if `head` holds none.
    private static func firstWord(of head: [UInt8]) -> String? {
        var index = 0
        while index < head.count {
            switch head[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "/") where index + 1 < head.count && head[index + 1] == UInt8(ascii: "/"):
                while index < head.count && head[index] != UInt8(ascii: "\n") { index += 1 }
            default:
                let word = head[index...].prefix { $0 > 0x20 && $0 != UInt8(ascii: "@") }
                return String(decoding: word, as: UTF8.self)
            }
        }
        return nil
    }

    /// Checks that `path` is a regular file that can be read.
    static func checkReadable(_ path: String) throws {
        do {
            try InputFile.check(path)
        } catch {
            throw ModelLoadError(error, what: "file")
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

    /// A file that could not be opened, for a reader of the given kind of file.
    init(_ error: InputFileError, what: String) {
        switch error.reason {
        case .missing: self = .missingFile(error.path)
        case .directory: self = .unreadable(error.path, "is a directory, not a \(what)")
        default: self = .unreadable(error.path, error.message)
        }
    }
}
