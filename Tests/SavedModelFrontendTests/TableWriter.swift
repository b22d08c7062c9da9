@testable import SavedModelFrontend

/// Writes LevelDB-format tables (leveldb doc/table_format.md) for the reader's tests: data blocks of
/// `entriesPerBlock` entries with a restart point every `restartInterval` entries, an empty metaindex block,
/// the index block and the footer. Knobs make the broken tables the tests need.
struct TableWriter {
    var restartInterval = 16
    var entriesPerBlock = Int.max
    /// The type byte of every block's trailer (0: uncompressed).
    var blockType: UInt8 = 0
    /// Replaces the restart points of the first data block.
    var firstBlockRestarts: [UInt32]?

    func build(_ entries: [(key: [UInt8], value: [UInt8])]) -> [UInt8] {
        var file: [UInt8] = []
        var index: [(key: [UInt8], value: [UInt8])] = []
        var start = 0
        repeat {
            let chunk = Array(entries[start..<min(entries.count, start + max(1, min(entriesPerBlock, entries.count - start)))])
            let handle = appendBlock(
                Self.block(chunk, restartInterval: restartInterval, restarts: index.isEmpty ? firstBlockRestarts : nil), to: &file)
            index.append((chunk.last?.key ?? [], handle))
            start += chunk.count
        } while start < entries.count
        let metaindex = appendBlock(Self.block([], restartInterval: 1), to: &file)
        let indexHandle = appendBlock(Self.block(index, restartInterval: 1), to: &file)
        var footer = metaindex + indexHandle
        footer += [UInt8](repeating: 0, count: 40 - footer.count)
        footer += Self.fixed64(LevelDBTable.magic)
        return file + footer
    }

    /// Appends the block and its trailer; returns its handle (varint offset and size).
    private func appendBlock(_ block: [UInt8], to file: inout [UInt8]) -> [UInt8] {
        let handle = Self.varint(UInt64(file.count)) + Self.varint(UInt64(block.count))
        file += block
        file.append(blockType)
        file += Self.fixed32(CRC32C.mask(CRC32C.checksum([blockType], continuing: CRC32C.checksum(block))))
        return handle
    }

    static func block(_ entries: [(key: [UInt8], value: [UInt8])], restartInterval: Int, restarts override: [UInt32]? = nil) -> [UInt8] {
        var bytes: [UInt8] = []
        var restarts: [UInt32] = [0]
        var previous: [UInt8] = []
        for (position, entry) in entries.enumerated() {
            var shared = 0
            if position % restartInterval == 0 {
                if position > 0 { restarts.append(UInt32(bytes.count)) }
            } else {
                while shared < min(previous.count, entry.key.count), previous[shared] == entry.key[shared] { shared += 1 }
            }
            bytes += varint(UInt64(shared)) + varint(UInt64(entry.key.count - shared)) + varint(UInt64(entry.value.count))
            bytes += entry.key[shared...] + entry.value
            previous = entry.key
        }
        let points = override ?? restarts
        for point in points { bytes += fixed32(point) }
        return bytes + fixed32(UInt32(points.count))
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        return bytes + [UInt8(value)]
    }

    static func fixed32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    static func fixed64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
}

extension String {
    var bytes: [UInt8] { Array(utf8) }
}
