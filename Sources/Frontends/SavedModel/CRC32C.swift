/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of LevelDB table blocks and of
/// TensorBundle tensors; table-driven, one byte per step. The check value of "123456789" is 0xE3069283
/// (RFC 3720, appendix B.4, gives more vectors).
public enum CRC32C {
    private static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    /// The CRC of `bytes`, continuing from `crc`, the CRC of the bytes before them (0 for none).
    public static func checksum(_ bytes: some Sequence<UInt8>, continuing crc: UInt32 = 0) -> UInt32 {
        var value = ~crc
        for byte in bytes { value = table[Int(UInt8(truncatingIfNeeded: value) ^ byte)] ^ (value >> 8) }
        return ~value
    }

    /// The masked form LevelDB and TensorFlow store (leveldb/util/crc32c.h `Mask`): rotated right by 15 bits
    /// plus a constant, so that the CRC of bytes holding CRCs is not degenerate.
    public static func mask(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    /// The inverse of `mask`.
    public static func unmask(_ masked: UInt32) -> UInt32 {
        let rotated = masked &- 0xA282_EAD8
        return (rotated >> 17) | (rotated << 15)
    }
}
