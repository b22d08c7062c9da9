#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file given to a reader, opened only when it is a regular file: a FIFO, a device or a socket is refused
/// before anything is read from it (reading a FIFO would wait for a writer forever), a directory is
/// refused with its own message. Reads are bounded: `readAll` checks the file's real size against
/// `MemoryLimit` first, so a reader allocates nothing a file merely claims.
public final class InputFile {
    public let path: String
    /// The file's size in bytes when it was opened.
    public let size: Int
    private let descriptor: Int32

    public init(_ path: String) throws(InputFileError) {
        self.path = path
        // O_NONBLOCK: opening a FIFO for reading must not wait for a writer; fstat then refuses it.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { throw InputFileError(path: path, errno: errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw InputFileError(path: path, errno: code)
        }
        guard Self.isRegular(info.st_mode) else {
            close(descriptor)
            throw InputFileError(path: path, Self.kindOfNonRegular(info.st_mode))
        }
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
        self.descriptor = descriptor
        self.size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    /// Checks that `path` is a regular file that can be opened for reading, for a reader that hands the
    /// path to a library (HDF5, the zip reader) rather than reading it here.
    public static func check(_ path: String) throws(InputFileError) {
        _ = try InputFile(path)
    }

    /// Up to `count` bytes from `offset` (fewer at the end of the file). `count` is clamped to the file's size.
    public func read(at offset: Int, count: Int) throws(InputFileError) -> [UInt8] {
        let wanted = max(0, min(count, size - offset))
        guard wanted > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: wanted)
        var done = 0
        while done < wanted {
            let got = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, wanted - done, off_t(offset + done))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw InputFileError(path: path, errno: errno)
            }
            if got == 0 { break }
            done += got
        }
        return done == wanted ? bytes : Array(bytes.prefix(done))
    }

    /// The whole file, after checking its size against `MemoryLimit` (and `maxBytes`, when given, with
    /// `what` naming the limit in the message).
    public func readAll(maxBytes: Int? = nil, what: String = "") throws(InputFileError) -> [UInt8] {
        if let maxBytes, size > maxBytes {
            throw InputFileError(path: path, .tooLarge("is \(MemoryLimit.describe(size)); \(what)"))
        }
        guard MemoryLimit.allows(size) else {
            throw InputFileError(path: path, .tooLarge("is \(MemoryLimit.describe(size)) and reading it \(MemoryLimit.exceeded(by: size))"))
        }
        let bytes = try read(at: 0, count: size)
        guard bytes.count == size else {
            throw InputFileError(path: path, .system("the file shrank while it was read"))
        }
        return bytes
    }

    private static func isRegular(_ mode: mode_t) -> Bool { mode & S_IFMT == S_IFREG }

    private static func kindOfNonRegular(_ mode: mode_t) -> InputFileError.Reason {
        switch mode & S_IFMT {
        case S_IFDIR: .directory
        case S_IFIFO: .notRegular("is a named pipe (FIFO), not a regular file; Kiln reads only regular files")
        case S_IFCHR, S_IFBLK: .notRegular("is a device, not a regular file; Kiln reads only regular files")
        case S_IFSOCK: .notRegular("is a socket, not a regular file; Kiln reads only regular files")
        default: .notRegular("is not a regular file; Kiln reads only regular files")
        }
    }
}

/// Why a file could not be opened or read, in words.
public struct InputFileError: Error, CustomStringConvertible {
    public enum Reason: Sendable {
        /// Nothing exists at the path.
        case missing
        /// The path is a directory.
        case directory
        /// A FIFO, device or socket: the sentence says which.
        case notRegular(String)
        /// Larger than a limit: the sentence says which.
        case tooLarge(String)
        /// Any other failure of the system, as a sentence.
        case system(String)

        public var isMissing: Bool {
            if case .missing = self { return true }
            return false
        }
    }

    public var path: String
    public var reason: Reason

    public init(path: String, _ reason: Reason) {
        self.path = path
        self.reason = reason
    }

    init(path: String, errno code: Int32) {
        self.path = path
        self.reason = code == ENOENT ? .missing : code == EISDIR ? .directory : .system(Self.sentence(forErrno: code))
    }

    /// What is wrong, without the path.
    public var message: String {
        switch reason {
        case .missing: "no such file; check the path"
        case .directory: "is a directory, not a file"
        case .notRegular(let sentence), .tooLarge(let sentence), .system(let sentence): sentence
        }
    }

    public var description: String { "\(path): \(message)" }

    /// A system error number as a sentence a user can act on.
    public static func sentence(forErrno code: Int32) -> String {
        switch code {
        case ENOENT: "no such file or directory; check the path"
        case ELOOP: "the path is a loop of symbolic links (or passes through too many of them)"
        case EACCES, EPERM: "permission denied; check the permissions of the file and of the directories above it"
        case ENOTDIR: "a part of the path is not a directory"
        case ENAMETOOLONG: "the name is too long for the file system"
        case EISDIR: "is a directory"
        case ENOSPC: "the disk is full"
        case EROFS: "the file system is read-only"
        case EEXIST: "something already exists there"
        case EXDEV: "it is on another file system"
        default: String(cString: strerror(code)).lowercased()
        }
    }
}
