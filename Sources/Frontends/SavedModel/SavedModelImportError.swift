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
        }
    }
}
