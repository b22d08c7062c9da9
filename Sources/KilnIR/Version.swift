/// Kiln's version: the command line's `--version`, and the `producer_version` of every emitted ONNX model.
public enum KilnVersion {
    public static let current = "0.1.0"
}
