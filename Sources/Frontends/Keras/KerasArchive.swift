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

    init(path: String) throws(KerasImportError) {
        self.path = path
        do {
            archive = try Archive(url: URL(fileURLWithPath: path), accessMode: .read)
        } catch {
            throw .damaged(file: path, reason: Self.sentence(for: error))
        }
        var names: Set<String> = []
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
            guard names.insert(name).inserted else {
                throw .damaged(file: path, reason: "the archive has two entries named '\(name.prefix(200))'")
            }
        }
    }

    func contains(_ name: String) -> Bool { archive[name] != nil }

    /// The bytes of one member, at most `maxBytes` (`limit` says why, for the message) and within the
    /// memory limit counting `copies` copies of it (HDF5 keeps its own copy of an in-memory file).
    func member(_ name: String, maxBytes: Int, limit: String, copies: Int = 1) throws(KerasImportError) -> Data {
        guard let entry = archive[name], entry.type == .file else {
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

    /// The most an entry may inflate relative to its compressed size once it is larger than `ratioFreeBytes`:
    /// JSON compresses some 10 times, weights barely (Keras stores them uncompressed), zeros 1000 times.
    static let maxRatio = 100
    static let ratioFreeBytes = 1 << 20

    /// A sentence for an error of the zip reader, never its type or case name.
    static func sentence(for error: Error) -> String {
        if let error = error as? Archive.ArchiveError {
            switch error {
            case .unreadableArchive: return "the file cannot be opened as a zip archive"
            case .missingEndOfCentralDirectoryRecord:
                return
                    "it is not a complete zip archive: the directory at the end of every zip file is missing (the file is truncated or not a zip)"
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
