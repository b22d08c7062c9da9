/// The weights that go beside a `.kir` file: the bytes of every constant printed by hash.
///
/// Layout (little-endian): the magic `KILNWTS1`, an entry count (UInt32), then per entry, sorted by hash,
/// the 64 hex digits of its SHA-256, the byte count (UInt64) and the bytes. Identical constants are
/// stored once.
public struct WeightsFile: Sendable {
    public static let magic = Array("KILNWTS1".utf8)

    /// Raw bytes by content hash.
    public var blobs: [String: [UInt8]]

    public init(blobs: [String: [UInt8]] = [:]) { self.blobs = blobs }

    /// The blobs of every constant of `graph` too large to print inline.
    public init(graph: Graph, inlineLimit: Int = TextPrinter().inlineLimit) {
        var blobs: [String: [UInt8]] = [:]
        for constant in graph.constants where constant.tensor.count > inlineLimit {
            blobs[constant.tensor.contentHash] = constant.tensor.bytes
        }
        self.blobs = blobs
    }

    public func encoded() -> [UInt8] {
        var out = Self.magic
        append(UInt32(blobs.count), to: &out)
        for hash in blobs.keys.sorted() {
            out += Array(hash.utf8)
            append(UInt64(blobs[hash]!.count), to: &out)
            out += blobs[hash]!
        }
        return out
    }

    public init(decoding bytes: [UInt8]) throws(WeightsFileError) {
        var offset = 0
        func take(_ n: Int) throws(WeightsFileError) -> ArraySlice<UInt8> {
            guard n >= 0, offset + n <= bytes.count else { throw .truncated }
            defer { offset += n }
            return bytes[offset..<offset + n]
        }
        guard Array(try take(8)) == Self.magic else { throw .notAWeightsFile }
        let count = try take(4).reversed().reduce(0) { ($0 << 8) | Int($1) }
        var blobs: [String: [UInt8]] = [:]
        for _ in 0..<count {
            let hash = String(decoding: try take(64), as: UTF8.self)
            let length = try take(8).reversed().reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
            guard length <= UInt64(bytes.count) else { throw .truncated }
            blobs[hash] = Array(try take(Int(length)))
        }
        self.blobs = blobs
    }

    /// A resolver for `TextParser` that rebuilds tensors from these blobs, checking their hash.
    public var resolver: TextParser.BlobResolver {
        { hash, type in
            guard let bytes = blobs[hash], let shape = type.shape.fixedSizes,
                let tensor = Tensor(dtype: type.dtype, shape: shape, bytes: bytes), tensor.contentHash == hash
            else { return nil }
            return tensor
        }
    }

    private func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out += $0 }
    }
}

public enum WeightsFileError: Error, CustomStringConvertible {
    case notAWeightsFile
    case truncated

    public var description: String {
        switch self {
        case .notAWeightsFile: "not a Kiln weights file (it does not start with KILNWTS1)"
        case .truncated: "the weights file is truncated"
        }
    }
}
