/// The element type of a tensor.
public enum DType: String, CaseIterable, Hashable, Sendable {
    case float32, float16, int8, uint8, int32, int64, bool

    /// The short spelling used in the text form: `f32`, `i64`, `bool`...
    public var textName: String {
        switch self {
        case .float32: "f32"
        case .float16: "f16"
        case .int8: "i8"
        case .uint8: "u8"
        case .int32: "i32"
        case .int64: "i64"
        case .bool: "bool"
        }
    }

    public init?(textName: String) {
        guard let match = DType.allCases.first(where: { $0.textName == textName }) else { return nil }
        self = match
    }

    /// Bytes per element in memory and in weights files.
    public var byteSize: Int {
        switch self {
        case .float32, .int32: 4
        case .float16: 2
        case .int8, .uint8, .bool: 1
        case .int64: 8
        }
    }

    public var isFloatingPoint: Bool { self == .float32 || self == .float16 }
}
