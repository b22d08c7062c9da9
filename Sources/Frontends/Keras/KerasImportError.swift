import KilnIR

/// Why a Keras model could not be read. Each message names the file and says what to do next.
public enum KerasImportError: Error, CustomStringConvertible {
    case missingFile(String)
    case notAModel(file: String, reason: String)
    case damaged(file: String, reason: String)
    case missingConfig(file: String)
    case badConfig(file: String, reason: String)
    case unsupportedLayer(file: String, layer: String, className: String, supported: [String])
    case unsupportedConfig(file: String, layer: String, className: String, reason: String)
    case missingWeights(file: String, layer: String, reason: String)
    case weightShape(file: String, layer: String, weight: String, expected: [Int], got: [Int])
    case invalidGraph(file: String, VerificationError)

    public var description: String {
        switch self {
        case .missingFile(let file):
            "\(file): no such file"
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
            "\(file): weights of layer '\(layer)': \(reason)"
        case .weightShape(let file, let layer, let weight, let expected, let got):
            "\(file): weight '\(weight)' of layer '\(layer)' has shape \(got), expected \(expected)"
        case .invalidGraph(let file, let error):
            "\(file): the model lowered to an invalid graph: \(error) (this is a bug in Kiln; please report it)"
        }
    }
}
