/// A cursor over bytes read from a file, for little-endian fixed-width integers and LevelDB's varints. Every
/// read checks the bytes left first and throws `ByteReader.Truncated` (saying what was being read) rather
/// than reading past the end.
struct ByteReader {
    /// A read that needs more bytes than are left; `what` names the field.
    struct Truncated: Error {
        var what: String
    }

    let bytes: ArraySlice<UInt8>
    private(set) var position: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.position = bytes.startIndex
    }

    var isAtEnd: Bool { position >= bytes.endIndex }
    var remaining: Int { bytes.endIndex - position }

    mutating func take(_ count: Int, _ what: String) throws(Truncated) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw Truncated(what: what) }
        defer { position += count }
        return bytes[position..<position + count]
    }

    mutating func fixed32(_ what: String) throws(Truncated) -> UInt32 {
        let slice = try take(4, what)
        return slice.reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    mutating func fixed64(_ what: String) throws(Truncated) -> UInt64 {
        let slice = try take(8, what)
        return slice.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A varint of at most 10 bytes (LevelDB's `GetVarint64`); nil when it does not fit 64 bits.
    mutating func varint64(_ what: String) throws(Truncated) -> UInt64? {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard position < bytes.endIndex else { throw Truncated(what: what) }
            let byte = bytes[position]
            position += 1
            let part = UInt64(byte & 0x7F)
            // The tenth byte holds bit 63 only.
            if shift == 63, part > 1 { return nil }
            value |= part << UInt64(shift)
            if byte < 0x80 { return value }
        }
        return nil
    }

    /// A varint that must fit 32 bits (LevelDB's `GetVarint32`), as an `Int`; nil when it does not.
    mutating func varint32(_ what: String) throws(Truncated) -> Int? {
        guard let value = try varint64(what), value <= UInt64(UInt32.max) else { return nil }
        return Int(value)
    }
}
