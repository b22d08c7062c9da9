import KilnIR

/// Why a Keras model could not be read. Each message names the file and says what to do next.
public enum KerasImportError: Error, CustomStringConvertible {
    /// Nothing exists at the path.
    case missingFile(String)
    /// The file is neither HDF5 nor a zip archive, or cannot be read at all.
    case notAModel(file: String, reason: String)
    /// The path is not a regular file (a FIFO, a device) or the system refuses to open it; the reason says which.
    case unreadable(file: String, reason: String)
    /// The file has the right signature but its contents are broken: truncated, or missing a part.
    case damaged(file: String, reason: String)
    /// An HDF5 file without a `model_config` attribute: weights saved with `save_weights`.
    case missingConfig(file: String)
    /// An architecture JSON given without the weights file it needs.
    case missingWeightsFile(file: String)
    /// A weights file given with a model file that holds its own weights.
    case weightsNotNeeded(file: String)
    /// The file given as weights is not one Keras's `save_weights` writes.
    case notAWeightsFile(file: String, reason: String)
    /// The model configuration is not JSON, or not a Sequential or Functional model Kiln can follow.
    case badConfig(file: String, reason: String)
    /// Layer classes Kiln cannot lower yet: every one in the model, most frequent first.
    case unsupportedLayers(file: String, [UnsupportedLayerClass], supported: [String])
    /// A supported layer class with a setting Kiln cannot lower yet.
    case unsupportedConfig(file: String, layer: String, className: String, reason: String)
    /// A layer's setting holds a value no Keras layer can have (a size out of range, an axis beyond the rank,
    /// a value of the wrong kind): the field, its value as written, and what it must be.
    case invalidConfig(file: String, layer: String, className: String, field: String, value: String, requirement: String)
    /// A layer's weights are absent or fewer/more than its configuration needs.
    case missingWeights(file: String, layer: String, reason: String)
    /// A layer's weights are listed in the file but cannot be read from it.
    case unreadableWeights(file: String, layer: String, reason: String)
    /// A stored weight's shape disagrees with the layer's configuration.
    case weightShape(file: String, layer: String, weight: String, expected: [Int], got: [Int])
    /// The lowered graph failed verification: a bug in Kiln, not in the file.
    case invalidGraph(file: String, VerificationError)

    public var description: String {
        switch self {
        case .missingFile(let file):
            "\(file): no such file; check the path"
        case .notAModel(let file, let reason):
            "\(file): \(reason); Kiln reads Keras .h5 files (HDF5) and .keras archives (zip)"
        case .unreadable(let file, let reason):
            "\(file): \(reason)"
        case .damaged(let file, let reason):
            "\(file): \(reason); re-save the model with model.save()"
        case .missingConfig(let file):
            "\(file): holds weights only (model.save_weights()), no architecture; give the architecture JSON (model.to_json()) as MODEL and this file with --weights \(file), or save the whole model with model.save()"
        case .missingWeightsFile(let file):
            "\(file): is a model architecture (JSON) without weights; give the weights file with --weights FILE (what model.save_weights() wrote)"
        case .weightsNotNeeded(let file):
            "\(file): holds the whole model, weights included; --weights is only for an architecture JSON (model.to_json())"
        case .notAWeightsFile(let file, let reason):
            "\(file): not a Keras weights file (\(reason)); --weights takes the file model.save_weights() wrote (Keras 2 .h5 or Keras 3 .weights.h5)"
        case .badConfig(let file, let reason):
            "\(file): the model configuration is not one Kiln understands: \(reason)"
        case .unsupportedLayers(let file, let classes, let supported):
            "\(file): the model has layers Kiln does not support yet: "
                + ([classes.map(\.summary).joined(separator: ", ")] + UnsupportedLayerClass.notes(for: classes)
                + ["supported layers: \(supported.joined(separator: ", "))"]).joined(separator: "; ")
        case .unsupportedConfig(let file, let layer, let className, let reason):
            "\(file): layer '\(layer)' (\(className)): \(reason)"
        case .invalidConfig(let file, let layer, let className, let field, let value, let requirement):
            "\(file): layer '\(layer)' (\(className)): '\(field)' is \(value); it must be \(requirement); the file is damaged or was not written by Keras"
        case .missingWeights(let file, let layer, let reason):
            "\(file): weights of layer '\(layer)': \(reason); re-save the whole model with model.save() after building it"
        case .unreadableWeights(let file, let layer, let reason):
            "\(file): cannot read the weights of layer '\(layer)': \(reason); the file is damaged, or Kiln misreads it (please report it)"
        case .weightShape(let file, let layer, let weight, let expected, let got):
            "\(file): weight '\(weight)' of layer '\(layer)' has shape \(got), but the layer's configuration needs \(expected); the weights do not belong to this configuration, re-save the model with model.save()"
        case .invalidGraph(let file, let error):
            "\(file): the model lowered to an invalid graph: \(error) (this is a bug in Kiln; please report it)"
        }
    }
}

/// One layer class Kiln does not support, with the layers of that class in the order the model lists them.
public struct UnsupportedLayerClass: Equatable, Sendable {
    /// The Keras class name, as the file writes it.
    public var className: String
    /// The layers of that class, `outer/inner` for one inside a nested model.
    public var layers: [String]
    /// The Python package a Keras 3 file names for a class it does not define itself (`qkeras.qlayers`).
    public var module: String?
    /// For an op layer, the function it calls (`tf.math.cumsum`, `keras.ops.Cumsum`).
    public var function: String?

    public init(className: String, layers: [String], module: String? = nil, function: String? = nil) {
        self.className = className
        self.layers = layers
        self.module = module
        self.function = function
    }

    /// `2 x LSTM (layers 'lstm', 'lstm_1')`, `1 x TFOpLambda calling tf.math.cumsum (layer 'tf.math.cumsum')`.
    var summary: String {
        let names = layers.map { "'\($0)'" }.joined(separator: ", ")
        return "\(layers.count) x \(className)\(function.map { " calling \($0)" } ?? "") (layer\(layers.count == 1 ? "" : "s") \(names))"
    }

    static let recurrent: Set<String> = [
        "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
    ]
    static let pythonCode: Set<String> = ["Lambda"]

    /// What the user can do about the classes, one sentence per kind.
    static func notes(for classes: [UnsupportedLayerClass]) -> [String] {
        var notes: [String] = []
        let recurrent = classes.filter { Self.recurrent.contains($0.className) }.map(\.className)
        if !recurrent.isEmpty {
            notes.append(
                "recurrent layers (\(recurrent.joined(separator: ", "))) are not supported yet; SimpleRNN, LSTM, GRU, Bidirectional and RNN around their cells are"
            )
        }
        let code = classes.filter { Self.pythonCode.contains($0.className) }.map(\.className)
        if !code.isEmpty {
            notes.append(
                "\(code.joined(separator: ", ")) layers hold Python code (a marshalled function) or TensorFlow calls, which cannot be read from a file without running Python; replace them with built-in layers"
            )
        }
        let functions = classes.compactMap(\.function)
        if !functions.isEmpty {
            notes.append(
                "op layers (TensorFlow or keras.ops functions called on Keras tensors) are read for these functions only: "
                    + KerasLowering.supportedFunctions.joined(separator: ", "))
        }
        var packages: [String: [String]] = [:]
        for layer in classes {
            guard let module = layer.module, !module.hasPrefix("keras") else { continue }
            packages[String(module.prefix { $0 != "." }), default: []].append(layer.className)
        }
        for (package, names) in packages.sorted(by: { $0.key < $1.key }) {
            notes.append(
                "\(names.joined(separator: ", ")) come from the Python package '\(package)', not from Keras; Kiln reads Keras's built-in layers"
            )
        }
        return notes
    }
}
