import Foundation
import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files a command produces, held in memory until all of them exist, then written together so that a
/// failure leaves the output location exactly as it was.
public struct Artifacts {
    public private(set) var files: [(name: String, bytes: [UInt8])] = []
    /// For the tests of the rollback: fail once the file at this index is in place.
    var failAfterPlacing: Int?

    public init() {}

    public mutating func add(_ name: String, _ bytes: [UInt8]) { files.append((name, bytes)) }
    public mutating func add(_ name: String, text: String) { files.append((name, Array(text.utf8))) }

    /// Writes every file into `directory`, creating it (and missing parents) if needed.
    ///
    /// Nothing Kiln did not write is ever replaced: a name that exists as a directory, a symbolic link, a
    /// FIFO or a device is an error before anything is written; only regular files are replaced. All files
    /// are first written to temporaries beside their targets, then renamed into place, each replaced file
    /// kept as a backup until every file is in place. On any failure the new files, temporaries and created
    /// directories are removed and the backups renamed back, so the directory is as it was.
    public func write(to directory: URL) throws {
        try Self.write([(directory, self)])
    }

    /// Writes several sets of files, each into its directory, as one write: every set is checked, written to
    /// temporaries and placed as `write(to:)` does, and a failure anywhere undoes all of them (a report file
    /// beside a command's outputs is never left behind when the outputs fail). Sets for one directory are
    /// written as one set, so two files of one name there are refused.
    public static func write(_ sets: [(directory: URL, artifacts: Artifacts)]) throws {
        var merged: [(directory: String, artifacts: Artifacts)] = []
        for (directory, artifacts) in sets {
            let path = directory.standardizedFileURL.path
            if let index = merged.firstIndex(where: { $0.directory == path }) {
                merged[index].artifacts.files += artifacts.files
                merged[index].artifacts.failAfterPlacing = merged[index].artifacts.failAfterPlacing ?? artifacts.failAfterPlacing
            } else {
                merged.append((path, artifacts))
            }
        }
        var transactions = merged.map { ArtifactTransaction(directory: $0.directory) }
        do {
            for (index, set) in merged.enumerated() {
                try transactions[index].check(names: set.artifacts.files.map(\.name))
            }
            for (index, set) in merged.enumerated() {
                try transactions[index].createDirectories()
                for (file, content) in set.artifacts.files.enumerated() {
                    try transactions[index].writeTemporary(index: file, bytes: content.bytes)
                }
            }
            for (index, set) in merged.enumerated() {
                for file in set.artifacts.files.indices {
                    try transactions[index].place(index: file)
                    if file == set.artifacts.failAfterPlacing {
                        throw ArtifactError(path: set.directory, "failed on purpose after placing file \(file)")
                    }
                }
            }
        } catch {
            for index in transactions.indices.reversed() { transactions[index].rollBack() }
            throw error
        }
        for transaction in transactions { transaction.commit() }
    }

    /// Checks a base name given on the command line (`--name`): a plain file name, not empty, without path
    /// separators, short enough for the file system once the longest extension Kiln adds is appended.
    public static func checkBaseName(_ name: String, option: String = "--name") throws {
        let problem: String? =
            if name.isEmpty { "is empty" } else if name.contains("/") || name.contains("\\") {
                "holds a path separator; it must be a plain file name (use -o for the directory)"
            } else if name == "." || name == ".." { "is not a file name" } else if name.hasPrefix(".") {
                "starts with '.', which would make the files hidden"
            } else if name.utf8.contains(0) { "holds a NUL character" } else if name.utf8.count > maxBaseNameBytes {
                "is \(name.utf8.count) bytes long; Kiln takes at most \(maxBaseNameBytes), so that every name with its extension stays under the file systems' 255"
            } else { nil }
        if let problem {
            throw ArtifactError(path: name, "\(option) '\(name.prefix(80))\(name.count > 80 ? "..." : "")' \(problem)", isOption: true)
        }
    }

    /// 255 bytes less the longest suffix Kiln appends (`.kir.weights`, or `.weights` after an UpperCamelCase
    /// Swift type name, which may be a little longer than the base name).
    static let maxBaseNameBytes = 200
}

/// One `Artifacts.write`: what it created, placed and backed up, so that it can be undone.
private struct ArtifactTransaction {
    let directory: String
    private var names: [String] = []
    private var createdDirectories: [String] = []
    private var temporaries: [Int: String] = [:]
    /// Placed targets in order, with the backup of the file each replaced.
    private var placed: [(target: String, backup: String?)] = []
    private let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    init(directory: String) { self.directory = directory }

    private func target(_ index: Int) -> String { (directory as NSString).appendingPathComponent(names[index]) }

    /// Refuses names that are not plain, repeated names, and targets that exist as anything but a regular file.
    mutating func check(names: [String]) throws {
        self.names = names
        var seen: Set<String> = []
        for name in names {
            guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
                throw ArtifactError(path: (directory as NSString).appendingPathComponent(name), "is not a plain file name")
            }
            // Case-insensitive, so two names cannot land on one file on macOS's default file system either.
            guard seen.insert(name.lowercased()).inserted else {
                throw ArtifactError(
                    path: (directory as NSString).appendingPathComponent(name), "two outputs would be written to this one file")
            }
        }
        var info = stat()
        // stat, not lstat: the output directory may be a symbolic link to one.
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw ArtifactError(path: directory, "exists and is not a directory") }
            for index in names.indices {
                let path = target(index)
                guard lstat(path, &info) == 0 else {
                    if errno == ENOENT { continue }
                    throw ArtifactError(path: path, InputFileError.sentence(forErrno: errno))
                }
                let kind = info.st_mode & S_IFMT
                guard kind == S_IFREG else {
                    let what =
                        kind == S_IFDIR
                        ? "a directory"
                        : kind == S_IFLNK ? "a symbolic link" : kind == S_IFIFO ? "a named pipe (FIFO)" : "not a regular file"
                    throw ArtifactError(
                        path: path,
                        "exists and is \(what); Kiln replaces only regular files and never deletes anything else. Move it away or choose another output"
                    )
                }
            }
        }
    }

    /// Creates the output directory and any missing parents, remembering each to remove on failure.
    mutating func createDirectories() throws {
        var missing: [String] = []
        var path = directory
        var info = stat()
        while stat(path, &info) != 0 {
            guard errno == ENOENT else { throw ArtifactError(path: path, InputFileError.sentence(forErrno: errno)) }
            missing.append(path)
            path = (path as NSString).deletingLastPathComponent
        }
        // `path` is the nearest one that exists: the output directory itself, or the parent to create it in.
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ArtifactError(path: path, "exists and is not a directory, so \(directory) cannot be made")
        }
        for path in missing.reversed() {
            guard mkdir(path, 0o755) == 0 else {
                throw ArtifactError(path: path, "cannot create the directory: \(InputFileError.sentence(forErrno: errno))")
            }
            createdDirectories.append(path)
        }
    }

    /// Writes one file's bytes to a new temporary beside its target.
    mutating func writeTemporary(index: Int, bytes: [UInt8]) throws {
        let path = (directory as NSString).appendingPathComponent(".kiln-\(tag)-\(index).partial")
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ArtifactError(path: target(index), InputFileError.sentence(forErrno: errno)) }
        temporaries[index] = path
        defer { close(descriptor) }
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + done, bytes.count - done) }
            if written < 0 {
                if errno == EINTR { continue }
                throw ArtifactError(path: target(index), InputFileError.sentence(forErrno: errno))
            }
            done += written
        }
    }

    /// Moves an existing target to a backup and the temporary into its place.
    mutating func place(index: Int) throws {
        let target = target(index)
        guard let temporary = temporaries[index] else { return }
        var backup: String?
        var info = stat()
        if lstat(target, &info) == 0 {
            let path = (directory as NSString).appendingPathComponent(".kiln-\(tag)-\(index).backup")
            guard rename(target, path) == 0 else {
                throw ArtifactError(path: target, "cannot move the earlier file aside: \(InputFileError.sentence(forErrno: errno))")
            }
            backup = path
        }
        guard rename(temporary, target) == 0 else {
            let reason = InputFileError.sentence(forErrno: errno)
            if let backup { _ = rename(backup, target) }
            throw ArtifactError(path: target, reason)
        }
        temporaries[index] = nil
        placed.append((target, backup))
    }

    /// Undoes everything: new files removed, backups restored, temporaries and created directories removed.
    mutating func rollBack() {
        for (target, backup) in placed.reversed() {
            unlink(target)
            if let backup { _ = rename(backup, target) }
        }
        for path in temporaries.values { unlink(path) }
        for path in createdDirectories.reversed() { rmdir(path) }
        placed = []
        temporaries = [:]
        createdDirectories = []
    }

    /// Every file is in place: the backups of the replaced files go.
    func commit() {
        for case let (_, backup?) in placed { unlink(backup) }
    }
}

public struct ArtifactError: Error, CustomStringConvertible {
    public var path: String
    public var message: String
    /// The error is about a command-line value, not a file.
    public var isOption: Bool

    public init(path: String, _ message: String, isOption: Bool = false) {
        self.path = path
        self.message = message
        self.isOption = isOption
    }

    public var description: String { isOption ? message : "cannot write \(path): \(message)" }
}
