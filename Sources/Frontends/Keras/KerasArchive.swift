import Foundation
import KilnIR
import ZIPFoundation

/// A Keras 3 `.keras` file: a zip archive of `config.json`, `metadata.json` and `model.weights.h5`, read as
/// untrusted input. Every entry's name is checked on opening (no `..`, no absolute path, no duplicate, no
/// symbolic link); a member is inflated only after its declared size is checked against a cap, the
/// memory limit and its compressed size (at most 100 times it), inflation stops as soon as it passes the
/// declared size, and the CRC-32 is checked.
struct KerasArchive {
    let path: String
    private let archive: Archive
    /// Every entry by name, from the one pass over the directory that checks them (ZIPFoundation's
    /// `archive[name]` reads the whole directory again at every call).
    private let entries: [String: Entry]

    init(path: String) throws(KerasImportError) {
        let file: InputFile
        do {
            file = try InputFile(path)
        } catch {
            throw .unreadable(file: path, reason: error.message)
        }
        try Self.checkZIP64Values(size: file.size, path) { offset, count in try file.read(at: offset, count: count) }
        self.path = path
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw .damaged(file: path, reason: Self.sentence(for: error))
        }
        var entries: [String: Entry] = [:]
        for entry in archive {
            let name = entry.path
            let components = name.split(separator: "/", omittingEmptySubsequences: false)
            if name.hasPrefix("/") || name.contains("\\") || name.utf8.contains(0) || components.contains("..")
                || (name.count >= 2 && name.dropFirst().first == ":")
            {
                throw .damaged(
                    file: path,
                    reason: "the archive has an entry named '\(name.prefix(200))', a path that leaves the archive; Keras writes none")
            }
            guard entry.type != .symlink else {
                throw .damaged(file: path, reason: "the archive entry '\(name.prefix(200))' is a symbolic link; Keras writes none")
            }
            guard entries.updateValue(entry, forKey: name) == nil else {
                throw .damaged(file: path, reason: "the archive has two entries named '\(name.prefix(200))'")
            }
        }
        self.entries = entries
    }

    func contains(_ name: String) -> Bool { entries[name] != nil }

    /// The bytes of one member, at most `maxBytes` (`limit` says why, for the message) and within the
    /// memory limit counting `copies` copies of it (HDF5 keeps its own copy of an in-memory file).
    func member(_ name: String, maxBytes: Int, limit: String, copies: Int = 1) throws(KerasImportError) -> Data {
        guard let entry = entries[name], entry.type == .file else {
            throw .damaged(file: path, reason: "the archive has no \(name); it is not a Keras 3 .keras file")
        }
        let declared = Int(clamping: entry.uncompressedSize)
        guard declared <= maxBytes else {
            throw .damaged(file: path, reason: "\(name) declares \(MemoryLimit.describe(declared)) uncompressed; \(limit)")
        }
        let (needed, overflow) = declared.multipliedReportingOverflow(by: copies)
        guard !overflow, MemoryLimit.allows(needed) else {
            throw .damaged(
                file: path,
                reason:
                    "\(name) declares \(MemoryLimit.describe(declared)) uncompressed, and reading it \(MemoryLimit.exceeded(by: needed))")
        }
        let compressed = max(Int(clamping: entry.compressedSize), 1)
        guard declared <= Self.ratioFreeBytes || declared / compressed <= Self.maxRatio else {
            throw .damaged(
                file: path,
                reason:
                    "\(name) would inflate from \(MemoryLimit.describe(compressed)) to \(MemoryLimit.describe(declared)), \(declared / compressed) times, which no model file does (a zip bomb?); Kiln refuses entries over \(MemoryLimit.describe(Self.ratioFreeBytes)) that inflate more than \(Self.maxRatio) times"
            )
        }
        var data = Data()
        data.reserveCapacity(declared)
        let checksum: CRC32
        do {
            checksum = try archive.extract(entry, skipCRC32: false) { chunk in
                // A zip bomb declares little and inflates to much: stop at the first byte past the declared size.
                guard data.count + chunk.count <= declared else { throw Overrun() }
                data.append(chunk)
            }
        } catch is Overrun {
            throw .damaged(
                file: path,
                reason: "\(name) inflates to more than the \(declared) bytes its entry declares (a zip bomb, or a damaged archive)")
        } catch {
            throw .damaged(file: path, reason: "\(name) cannot be extracted: \(Self.sentence(for: error))")
        }
        guard data.count == declared else {
            throw .damaged(
                file: path, reason: "\(name) inflates to \(data.count) bytes, but its entry declares \(declared) (the archive is damaged)")
        }
        guard checksum == entry.checksum else {
            throw .damaged(file: path, reason: "\(name) does not match its CRC-32 checksum (the archive is damaged)")
        }
        return data
    }

    private struct Overrun: Error {}

    /// The largest 64-bit offset or size accepted in a ZIP64 field (4 EiB): ZIPFoundation 0.9.20 converts
    /// them to `off_t` and adds them unchecked, so a value of 2^63 or more traps the process (found by
    /// Fuzz/KerasArchiveFuzzer).
    static let maxZIP64Value: UInt64 = 1 << 62

    /// Refuses an archive whose ZIP64 values (the end-of-central-directory locator and record, and the
    /// ZIP64 extra field of each central-directory entry: PKWARE's APPNOTE.TXT 4.3.14-4.3.16, 4.5.3) exceed
    /// `maxZIP64Value`, before ZIPFoundation reads them. An archive without the end record in its last
    /// 64 KiB + 22 bytes, where the format puts it, is refused here: ZIPFoundation would look for it at every
    /// byte of the whole file, one seek and read each, which takes minutes for a large damaged file (found
    /// profiling KerasArchiveFuzzer). `read(offset, count)` gives the archive's bytes (fewer at its end),
    /// `size` is its size and `path` names it in messages.
    static func checkZIP64Values(size: Int, _ path: String, read: (Int, Int) throws -> [UInt8]) throws(KerasImportError) {
        do {
            let tailStart = max(0, size - (22 + 0xffff))
            let tail = try read(tailStart, size - tailStart)
            guard let end = lastIndex(of: 0x0605_4b50, in: tail) else {
                throw KerasImportError.damaged(file: path, reason: missingEndRecord)
            }
            var directoryOffset = UInt64(le32(tail, end + 16))
            var directorySize = UInt64(le32(tail, end + 12))
            if end >= 20, le32(tail, end - 20) == 0x0706_4b50 {
                let recordOffset = le64(tail, end - 20 + 8)
                try checkZIP64(recordOffset, "the ZIP64 end record's offset", path)
                let record = try read(Int(recordOffset), 56)
                if record.count == 56, le32(record, 0) == 0x0606_4b50 {
                    directorySize = le64(record, 40)
                    directoryOffset = le64(record, 48)
                    try checkZIP64(directorySize, "the central directory's size", path)
                    try checkZIP64(directoryOffset, "the central directory's offset", path)
                }
            }
            guard directoryOffset + directorySize <= UInt64(size) else {
                throw KerasImportError.damaged(
                    file: path, reason: "the zip archive's directory of entries lies beyond the end of the file (the file is truncated?)")
            }
            let directory = try read(Int(directoryOffset), Int(directorySize))
            var entry = 0
            while entry + 46 <= directory.count, le32(directory, entry) == 0x0201_4b50 {
                let nameLength = Int(le16(directory, entry + 28))
                let extraLength = Int(le16(directory, entry + 30))
                let commentLength = Int(le16(directory, entry + 32))
                var field = entry + 46 + nameLength
                let extraEnd = min(field + extraLength, directory.count)
                while field + 4 <= extraEnd {
                    let (id, length) = (le16(directory, field), Int(le16(directory, field + 2)))
                    if id == 0x0001 {
                        var value = field + 4
                        while value + 8 <= min(field + 4 + length, extraEnd) {
                            try checkZIP64(le64(directory, value), "an entry's ZIP64 size or offset", path)
                            value += 8
                        }
                    }
                    field += 4 + length
                }
                entry += 46 + nameLength + extraLength + commentLength
            }
        } catch let error as KerasImportError {
            throw error
        } catch let error as InputFileError {
            throw .unreadable(file: path, reason: error.message)
        } catch {
            throw .damaged(file: path, reason: "the zip archive cannot be read")
        }
    }

    private static func checkZIP64(_ value: UInt64, _ what: String, _ path: String) throws(KerasImportError) {
        guard value <= maxZIP64Value else {
            throw .damaged(
                file: path, reason: "\(what) is \(value) bytes, beyond any file Kiln reads (the archive is damaged)")
        }
    }

    /// The offset of the last 4-byte little-endian `signature` in `bytes`.
    private static func lastIndex(of signature: UInt32, in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 22 else { return nil }
        return stride(from: bytes.count - 22, through: 0, by: -1).first { le32(bytes, $0) == signature }
    }

    private static func le16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
    private static func le32(_ bytes: [UInt8], _ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
    private static func le64(_ bytes: [UInt8], _ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }

    /// The most an entry may inflate relative to its compressed size once it is larger than `ratioFreeBytes`:
    /// JSON compresses some 10 times, weights barely (Keras stores them uncompressed), zeros 1000 times.
    static let maxRatio = 100
    static let ratioFreeBytes = 1 << 20

    /// A sentence for an error of the zip reader, never its type or case name.
    static let missingEndRecord =
        "it is not a complete zip archive: the directory at the end of every zip file is missing (the file is truncated or not a zip)"

    static func sentence(for error: Error) -> String {
        if let error = error as? Archive.ArchiveError {
            switch error {
            case .unreadableArchive: return "the file cannot be opened as a zip archive"
            case .missingEndOfCentralDirectoryRecord: return missingEndRecord
            case .invalidCentralDirectoryOffset, .invalidCentralDirectorySize, .invalidCentralDirectoryEntryCount:
                return "the zip archive's directory of entries is damaged"
            case .invalidLocalHeaderDataOffset, .invalidLocalHeaderSize: return "an entry's header in the zip archive is damaged"
            case .invalidCompressionMethod: return "an entry is compressed with a method other than stored or deflate"
            case .invalidCRC32: return "an entry does not match its CRC-32 checksum (the archive is damaged)"
            case .invalidEntrySize, .invalidBufferSize: return "an entry's size in the zip archive is damaged"
            case .invalidEntryPath: return "an entry of the zip archive has an invalid name"
            case .uncontainedSymlink: return "an entry is a symbolic link that points outside the archive"
            case .cancelledOperation: return "reading the archive was cancelled"
            case .unwritableArchive: return "the archive cannot be written"
            }
        }
        // ZIPFoundation's inflate errors are an internal type; recognize them by name.
        if String(describing: type(of: error)) == "CompressionError" {
            return "an entry's compressed data are corrupt (the archive is damaged)"
        }
        if let error = error as? POSIXError { return InputFileError.sentence(forErrno: error.code.rawValue) }
        return "the zip archive cannot be read"
    }
}
