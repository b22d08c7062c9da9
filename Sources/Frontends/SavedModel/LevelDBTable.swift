/// The sorted key-value table TensorFlow writes as a TensorBundle's `.index` file: the LevelDB table format
/// (leveldb doc/table_format.md; TensorFlow's copy is tensorflow/core/lib/io/format.h and block_builder.cc).
///
/// A table is data blocks, a metaindex block and an index block, each followed by a 5-byte trailer (a type
/// byte, 0 for uncompressed, and the masked CRC-32C of the block and type byte), then a 48-byte footer: the
/// metaindex and index block handles (varint offset and size), zero padding to 40 bytes, and the magic number
/// 0xdb4775248b80fb57 as a little-endian uint64. The index block holds, for each data block, a key at or after
/// the block's last key and the block's handle. A block is a run of entries, each `shared` (varint32: bytes
/// of the previous key kept), `non_shared` (varint32), `value_length` (varint32), the key's new bytes and the
/// value; then the restart points (uint32 offsets of entries that keep no bytes of the previous key) and
/// their count (uint32).
///
/// Every handle, length and restart point is checked against the bytes before it is used, every checksum is
/// verified, and keys must ascend strictly; anything else is `SavedModelImportError.damaged` naming the block.
/// Compressed blocks are `.unsupported` (TensorFlow writes bundle indexes uncompressed).
struct LevelDBTable {
    static let magic: UInt64 = 0xDB47_7524_8B80_FB57
    static let footerSize = 48
    static let trailerSize = 5

    /// The table's entries in key order.
    let entries: [(key: [UInt8], value: ArraySlice<UInt8>)]

    /// Reads the whole table from `bytes`, the contents of the file named `file` (for messages).
    init(bytes: [UInt8], file: String) throws(SavedModelImportError) {
        func damaged(_ reason: String) -> SavedModelImportError { .damaged(file: file, reason: reason) }
        guard bytes.count >= Self.footerSize else {
            throw damaged("is \(bytes.count) bytes, shorter than the \(Self.footerSize)-byte footer of a LevelDB table")
        }
        let footerStart = bytes.count - Self.footerSize
        var magicReader = ByteReader(bytes[(bytes.count - 8)...])
        guard (try? magicReader.fixed64("magic")) == Self.magic else {
            throw damaged("does not end with the LevelDB table magic number 0xdb4775248b80fb57, so it is not a TensorBundle index")
        }
        // The two handles fill at most 40 bytes; the rest of those bytes is padding.
        var handleBytes = ByteReader(bytes[footerStart..<(bytes.count - 8)])
        let handles: (metaindex: BlockHandle, index: BlockHandle)
        do throws(ByteReader.Truncated) {
            handles = (try BlockHandle(&handleBytes, "metaindex handle"), try BlockHandle(&handleBytes, "index handle"))
        } catch {
            throw damaged("the footer's \(error.what) runs past its 40 bytes")
        }
        let blocks = Blocks(bytes: bytes, end: footerStart, file: file)
        _ = try blocks.contents(of: handles.metaindex, "metaindex block")
        let index = try blocks.entries(of: handles.index, "index block")

        var entries: [(key: [UInt8], value: ArraySlice<UInt8>)] = []
        for (position, indexEntry) in index.enumerated() {
            var reader = ByteReader(indexEntry.value)
            let what = "data block \(position + 1) of \(index.count)"
            let handle: BlockHandle
            do throws(ByteReader.Truncated) {
                handle = try BlockHandle(&reader, "handle of \(what)")
            } catch {
                throw damaged("the index block's \(error.what) is cut short")
            }
            guard reader.isAtEnd else {
                throw damaged("the index block's entry for \(what) has \(reader.remaining) bytes after the handle")
            }
            let block = try blocks.entries(of: handle, what)
            for entry in block {
                if let last = entries.last, !last.key.lexicographicallyPrecedes(entry.key) {
                    throw damaged(
                        "the keys are out of order: '\(Self.printable(entry.key))' follows '\(Self.printable(last.key))' in \(what)")
                }
                entries.append(entry)
            }
            if let last = block.last, indexEntry.key.lexicographicallyPrecedes(last.key) {
                throw damaged("the index block's key for \(what) comes before the block's last key '\(Self.printable(last.key))'")
            }
        }
        self.entries = entries
    }

    /// A key for a message: its text when it is UTF-8, else its bytes in hex.
    static func printable(_ key: [UInt8]) -> String {
        String(validating: key, as: UTF8.self) ?? key.map { String($0, radix: 16) }.joined(separator: " ")
    }
}

/// Where a block is: its offset in the file and its size without the trailer (leveldb's BlockHandle).
struct BlockHandle {
    let offset: Int
    let size: Int

    init(_ reader: inout ByteReader, _ what: String) throws(ByteReader.Truncated) {
        // Values past Int.max cannot be offsets in any file; they become Int.max and fail the range check.
        offset = Int(clamping: try reader.varint64("\(what) offset") ?? .max)
        size = Int(clamping: try reader.varint64("\(what) size") ?? .max)
    }
}

/// The blocks of one table's bytes, read and checked.
private struct Blocks {
    let bytes: [UInt8]
    /// Where the footer starts: every block and its trailer end before it.
    let end: Int
    let file: String

    func damaged(_ reason: String) -> SavedModelImportError { .damaged(file: file, reason: reason) }

    /// The block's bytes after its range and checksum are checked and its type is "uncompressed".
    func contents(of handle: BlockHandle, _ what: String) throws(SavedModelImportError) -> ArraySlice<UInt8> {
        let (withTrailer, overflow1) = handle.size.addingReportingOverflow(LevelDBTable.trailerSize)
        let (blockEnd, overflow2) = handle.offset.addingReportingOverflow(withTrailer)
        guard !overflow1, !overflow2, blockEnd <= end else {
            throw damaged(
                "the \(what) (offset \(handle.offset), \(handle.size) bytes and a \(LevelDBTable.trailerSize)-byte trailer) runs past the table's blocks, which end at byte \(end)"
            )
        }
        let contents = bytes[handle.offset..<handle.offset + handle.size]
        let type = bytes[handle.offset + handle.size]
        var trailer = ByteReader(bytes[(handle.offset + handle.size + 1)..<blockEnd])
        let stored = (try? trailer.fixed32("checksum")) ?? 0
        let actual = CRC32C.mask(CRC32C.checksum([type], continuing: CRC32C.checksum(contents)))
        guard stored == actual else {
            throw damaged(
                "the \(what) at offset \(handle.offset) fails its checksum (stored masked CRC-32C 0x\(String(stored, radix: 16)), computed 0x\(String(actual, radix: 16)))"
            )
        }
        switch type {
        case 0: return contents
        case 1:
            throw .unsupported(
                file: file,
                reason: "the \(what) is Snappy-compressed; Kiln reads uncompressed TensorBundle indexes, which is what TensorFlow writes")
        default:
            throw .unsupported(
                file: file,
                reason: "the \(what) has compression type \(type), which Kiln does not know; Kiln reads uncompressed blocks (type 0)")
        }
    }

    /// The block's entries, with keys rebuilt from their shared prefixes, after its restart points are checked.
    func entries(of handle: BlockHandle, _ what: String) throws(SavedModelImportError) -> [(key: [UInt8], value: ArraySlice<UInt8>)] {
        let contents = try contents(of: handle, what)
        guard contents.count >= 4 else { throw damaged("the \(what) is \(contents.count) bytes, too short for its restart count") }
        var countReader = ByteReader(contents.suffix(4))
        let restartCount = Int((try? countReader.fixed32("restart count")) ?? 0)
        guard restartCount >= 1, restartCount <= (contents.count - 4) / 4 else {
            throw damaged(
                "the \(what) claims \(restartCount) restart points, but a block of \(contents.count) bytes holds 1 to \((contents.count - 4) / 4)"
            )
        }
        let entriesEnd = contents.endIndex - 4 - 4 * restartCount
        var restartReader = ByteReader(contents[entriesEnd..<(contents.endIndex - 4)])
        var restarts: [Int] = []
        for _ in 0..<restartCount {
            let offset = Int((try? restartReader.fixed32("restart point")) ?? 0)
            guard offset < max(entriesEnd - contents.startIndex, 1), offset >= (restarts.last.map { $0 + 1 } ?? 0) else {
                throw damaged(
                    "the \(what)'s restart point \(offset) is not inside its \(entriesEnd - contents.startIndex) bytes of entries, in ascending order"
                )
            }
            restarts.append(offset)
        }
        guard restarts[0] == 0 else { throw damaged("the \(what)'s first restart point is \(restarts[0]), not 0") }

        var reader = ByteReader(contents[contents.startIndex..<entriesEnd])
        var result: [(key: [UInt8], value: ArraySlice<UInt8>)] = []
        var key: [UInt8] = []
        var nextRestart = 0
        while !reader.isAtEnd {
            let start = reader.position - contents.startIndex
            let isRestart = nextRestart < restarts.count && restarts[nextRestart] == start
            if nextRestart < restarts.count, restarts[nextRestart] < start {
                throw damaged("the \(what)'s restart point \(restarts[nextRestart]) falls inside an entry, not at its start")
            }
            if isRestart { nextRestart += 1 }
            let lengths: (shared: Int?, unshared: Int?, value: Int?)
            do throws(ByteReader.Truncated) {
                lengths = (try reader.varint32("shared key length"), try reader.varint32("key length"), try reader.varint32("value length"))
            } catch {
                throw damaged("the \(what)'s entry at byte \(start) runs past the block (its \(error.what))")
            }
            guard let shared = lengths.shared, let unshared = lengths.unshared, let valueLength = lengths.value else {
                throw damaged("the \(what)'s entry at byte \(start) has a length that does not fit 32 bits")
            }
            guard shared <= key.count else {
                throw damaged("the \(what)'s entry at byte \(start) keeps \(shared) bytes of a previous key of \(key.count) bytes")
            }
            guard !isRestart || shared == 0 else {
                throw damaged(
                    "the \(what)'s entry at restart point \(start) keeps \(shared) bytes of the previous key; a restart keeps none")
            }
            key.removeLast(key.count - shared)
            do throws(ByteReader.Truncated) {
                key.append(contentsOf: try reader.take(unshared, "key"))
                result.append((key, try reader.take(valueLength, "value")))
            } catch {
                throw damaged("the \(what)'s entry at byte \(start) runs past the block (its \(error.what))")
            }
        }
        // A block without entries (an empty metaindex) still has its one restart point, at 0.
        guard nextRestart == restarts.count || entriesEnd == contents.startIndex else {
            throw damaged("the \(what)'s restart point \(restarts[nextRestart]) is not the start of an entry")
        }
        return result
    }
}
