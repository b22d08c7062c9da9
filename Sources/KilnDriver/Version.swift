/// Kiln's version, written into every emitted model.
public enum KilnVersion {
    public static let current = "0.1.0"
}
