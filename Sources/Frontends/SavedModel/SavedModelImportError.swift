/// Why a SavedModel, or the TensorBundle checkpoint in its `variables/`, could not be read. Each message
/// names the file and says what to do next.
public enum SavedModelImportError: Error, CustomStringConvertible, Equatable {
    /// Nothing exists at the path.
    case missingFile(String)
    /// The path exists but cannot be read: a directory where a file belongs, a FIFO, no permission.
    case unreadable(file: String, reason: String)
    /// The file is cut short, fails a checksum, or holds a value outside what its format allows.
    case damaged(file: String, reason: String)
    /// The file is well formed, but holds something Kiln does not read (a compression, a partitioned
    /// variable, a big-endian checkpoint); the reason says which.
    case unsupported(file: String, reason: String)
    /// A checkpoint has no tensor under the key asked for.
    case missingTensor(file: String, key: String)
    /// A directory that is neither a SavedModel (no `saved_model.pb`) nor a TF Serving base path (no numbered
    /// version directory holding one).
    case notASavedModel(directory: String)
    /// `--version` names a version the base path does not hold.
    case missingVersion(base: String, version: Int, available: [Int])
    /// A SavedModel without `keras_metadata.pb`: a TensorFlow graph Keras did not save.
    case noKerasMetadata(directory: String)
    /// `--signature` names a signature the SavedModel does not have.
    case missingSignature(directory: String, name: String, available: [String])
    /// The signature's input or output names are not the Keras model's, so Kiln cannot tell which is which.
    case signatureMismatch(directory: String, name: String, reason: String)

    public var description: String {
        switch self {
        case .missingFile(let file):
            "\(file): no such file; a SavedModel directory holds saved_model.pb and variables/variables.index"
        case .unreadable(let file, let reason):
            "\(file): \(reason)"
        case .damaged(let file, let reason):
            "\(file): \(reason); the file is damaged or was cut short: copy it again, or save the model again with model.save()"
        case .unsupported(let file, let reason):
            "\(file): \(reason)"
        case .missingTensor(let file, let key):
            "\(file): the checkpoint holds no tensor '\(key)'; the SavedModel's object graph and its variables/ do not belong together"
        case .notASavedModel(let directory):
            "\(directory): is a directory without saved_model.pb and without numbered version directories holding one; give a SavedModel directory (what model.save('dir') writes) or a TF Serving base path (dir/1/, dir/2/...)"
        case .missingVersion(let base, let version, let available):
            available.isEmpty
                ? "\(base): has no numbered version directories; --version \(version) picks one under a TF Serving base path (base/1/, base/2/...)"
                : "\(base): has no version \(version); its versions: \(available.map(String.init).joined(separator: ", "))"
        case .missingSignature(let directory, let name, let available):
            "\(directory): has no signature '\(name)'; its signatures: \(available.isEmpty ? "none" : available.joined(separator: ", "))"
        case .signatureMismatch(let directory, let name, let reason):
            "\(directory): signature '\(name)': \(reason); Kiln names a SavedModel's inputs and outputs as its Keras model does, so it reads signatures that use those names"
        case .noKerasMetadata(let directory):
            "\(directory): is a TensorFlow SavedModel without keras_metadata.pb; Kiln reads SavedModels that Keras 2 wrote with model.save() (which writes that file); importing the TensorFlow graph of other SavedModels is not supported yet"
        }
    }
}
