import KilnIR

/// Why a Keras model could not be read. Each message names the file and says what to do next.
public enum KerasImportError: Error, CustomStringConvertible {
    /// Nothing exists at the path.
    case missingFile(String)
    /// The file is neither HDF5 nor a zip archive, or cannot be read at all.
    case notAModel(file: String, reason: String)
    /// The file has the right signature but its contents are broken: truncated, or missing a part.
    case damaged(file: String, reason: String)
    /// An HDF5 file without a `model_config` attribute: weights saved with `save_weights`.
    case missingConfig(file: String)
    /// The model configuration is not JSON, or not a Sequential or Functional model Kiln can follow.
    case badConfig(file: String, reason: String)
    /// A layer class Kiln cannot lower yet.
    case unsupportedLayer(file: String, layer: String, className: String, supported: [String])
    /// A supported layer class with a setting Kiln cannot lower yet.
    case unsupportedConfig(file: String, layer: String, className: String, reason: String)
    /// A layer's weights are absent or fewer/more than its configuration needs.
    case missingWeights(file: String, layer: String, reason: String)
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
        case .damaged(let file, let reason):
            "\(file): \(reason); re-save the model with model.save()"
        case .missingConfig(let file):
            "\(file): has no model configuration (it holds weights only); save the whole model with model.save(), not model.save_weights()"
        case .badConfig(let file, let reason):
            "\(file): the model configuration is not one Kiln understands: \(reason)"
        case .unsupportedLayer(let file, let layer, let className, let supported):
            "\(file): layer '\(layer)' is a \(className), which Kiln does not support yet; supported layers: \(supported.joined(separator: ", "))"
        case .unsupportedConfig(let file, let layer, let className, let reason):
            "\(file): layer '\(layer)' (\(className)): \(reason)"
        case .missingWeights(let file, let layer, let reason):
            "\(file): weights of layer '\(layer)': \(reason); re-save the whole model with model.save() after building it"
        case .weightShape(let file, let layer, let weight, let expected, let got):
            "\(file): weight '\(weight)' of layer '\(layer)' has shape \(got), but the layer's configuration needs \(expected); the weights do not belong to this configuration, re-save the model with model.save()"
        case .invalidGraph(let file, let error):
            "\(file): the model lowered to an invalid graph: \(error) (this is a bug in Kiln; please report it)"
        }
    }
}
