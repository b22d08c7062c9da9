import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Everything Kiln reads from an HDF5 file (its groups, their attributes and its datasets as float32), read
/// by libhdf5 in a child process, so that a damaged file that crashes libhdf5 (a SIGSEGV on one changed
/// byte) ends that child and gives an error instead of ending Kiln.
///
/// The child is made with `fork` and never `exec`s: it walks the file with `HDF5File` (hard links only,
/// external storage and fill-value bombs refused, as always), streams what it read through a pipe and
/// calls `_exit`. Forking a multithreaded process is safe only if no other thread holds a lock the child
/// needs: the HDF5 lock is held across the fork and replaced in the child, glibc's `malloc` is fork-safe,
/// and Kiln reads models before it starts any other work (the command line and the tests read on one
/// thread; the configuration parsed `alongside` the read starts on its thread after the fork and has ended
/// before the next). No `exec` means no helper executable to find, which a library used inside XCTest
/// could not.
///
/// The child opens each object once, by the identity its group's listing gave (`HDF5File+Objects.swift`):
/// reading a 20,000-layer model's weights (35,000 objects) takes no lookup by name or path.
///
/// The answers are those `HDF5File` gives, including its errors, which are kept per object and thrown when
/// that object is asked for (a layer whose weights are unreadable is named as before). Optimizer state
/// is not read (`skip`). Cost: one `fork` and one copy of the weights through a pipe (see docs).
final class HDF5Snapshot {
    /// An object at a canonical path (`/`, `/a/b`).
    private enum Entry {
        case group(identity: [UInt8], children: Result<[String], HDF5Error>)
        case dataset(identity: [UInt8], data: Result<(shape: [Int], values: [Float]), HDF5Error>)
        case other(identity: [UInt8])
        /// A soft, external or user-defined link: asking for it throws.
        case refusedLink(HDF5Error)
        /// Linked, but its object header cannot be read.
        case unreadable(HDF5Error)
        /// A second hard link to the object first reached at this path.
        case alias(String)
    }

    /// An attribute as `HDF5File.stringsAttribute` answers for it.
    private enum Attribute {
        case strings([String])
        /// Not strings, and not empty (h5py writes an empty list as an empty float array: that is `strings([])`).
        case notStrings
        case failed(HDF5Error)
    }

    let origin: String
    private var entries: [String: Entry] = [:]
    private var attributes: [String: Result<[String: Attribute], HDF5Error>] = [:]

    private init(origin: String) { self.origin = origin }

    /// For the HDF5 fuzzer only (Fuzz/HDF5Fuzzer, `KILN_FUZZ_HDF5_IN_PROCESS=1`): walk the file in this
    /// process, into the same records the child sends, which are then loaded as the child's are. libFuzzer
    /// then sees the walk's coverage and no process is forked per input; a crash inside libhdf5 ends this
    /// process. Kiln never sets it.
    nonisolated(unsafe) static var walksInProcess = false

    /// Reads the file at `path`. `skip(name, rootAttributes)` says which groups at the root are not read.
    /// `alongside` runs on a thread of its own while the child reads (started after the fork: no other
    /// thread of Kiln's runs when it forks), and has ended when this returns or throws.
    static func read(
        path: String, skip: @escaping (String, Set<String>) -> Bool, alongside: (@Sendable () -> Void)? = nil
    ) throws(HDF5Error) -> HDF5Snapshot {
        var info = stat()
        let size = stat(path, &info) == 0 ? Int(info.st_size) : 0
        return try read(origin: path, size: size, skip: skip, alongside: alongside) { () throws(HDF5Error) in
            try HDF5File.open(path: path)
        }
    }

    /// Reads an HDF5 file image held in memory (`origin` names it in messages); `alongside` as for a path.
    static func read(
        image: Data, origin: String, skip: @escaping (String, Set<String>) -> Bool, alongside: (@Sendable () -> Void)? = nil
    ) throws(HDF5Error) -> HDF5Snapshot {
        try read(origin: origin, size: image.count, skip: skip, alongside: alongside) { () throws(HDF5Error) in
            try HDF5File.open(image: image, origin: origin)
        }
    }

    // MARK: - Questions, as HDF5File answers them

    /// Whether an object exists at a slash-separated path from the root, reached through hard links only.
    func exists(_ path: String) throws(HDF5Error) -> Bool { try resolve(path) != nil }

    /// 16 bytes that identify the object at `path` (two hard links to one object give the same bytes).
    func identity(of path: String) throws(HDF5Error) -> [UInt8] {
        switch try entry(path, missing: "there is no object \(path)") {
        case .group(let identity, _), .dataset(let identity, _), .other(let identity): return identity
        case .refusedLink(let error), .unreadable(let error): throw error
        case .alias: throw HDF5Error(origin: origin, "cannot read the object header of \(path)")
        }
    }

    /// The names of the links in a group, in name order.
    func children(of path: String) throws(HDF5Error) -> [String] {
        switch try entry(path, missing: "there is no group \(path)") {
        case .group(_, let children): return try children.get()
        case .refusedLink(let error), .unreadable(let error): throw error
        default: throw HDF5Error(origin: origin, "there is no group \(path)")
        }
    }

    /// A string attribute (the first of an array); nil if absent.
    func stringAttribute(_ name: String, of path: String = "/") throws(HDF5Error) -> String? {
        try stringsAttribute(name, of: path)?.first
    }

    /// A string-array attribute; nil if absent or not strings (empty if it holds no elements at all).
    func stringsAttribute(_ name: String, of path: String = "/") throws(HDF5Error) -> [String]? {
        guard let resolved = try resolve(path) else { return nil }
        if case .unreadable(let error) = entries[resolved] { throw error }
        guard let attribute = try attributes[resolved]?.get()[name] else { return nil }
        switch attribute {
        case .strings(let strings): return strings
        case .notStrings: return nil
        case .failed(let error): throw error
        }
    }

    /// A dataset's shape and its elements converted to float32.
    func floatDataset(_ path: String) throws(HDF5Error) -> (shape: [Int], values: [Float]) {
        switch try entry(path, missing: "there is no dataset \(path)") {
        case .dataset(_, let data): return try data.get()
        case .refusedLink(let error), .unreadable(let error): throw error
        default: throw HDF5Error(origin: origin, "there is no dataset \(path)")
        }
    }

    /// The canonical path of the object at `path` after following second links, nil if there is none;
    /// throws at a refused link on the way, as `HDF5File` does.
    private func resolve(_ path: String) throws(HDF5Error) -> String? {
        var current = "/"
        for component in path.split(separator: "/") {
            current = current == "/" ? "/\(component)" : "\(current)/\(component)"
            switch entries[current] {
            case nil: return nil
            case .refusedLink(let error): throw error
            case .alias(let first): current = first
            default: continue
            }
        }
        return current
    }

    private func entry(_ path: String, missing: String) throws(HDF5Error) -> Entry {
        guard let resolved = try resolve(path), let entry = entries[resolved] else { throw HDF5Error(origin: origin, missing) }
        return entry
    }

    // MARK: - The child

    /// Walks the file in a child process and rebuilds what it sent.
    private static func read(
        origin: String, size: Int, skip: @escaping (String, Set<String>) -> Bool, alongside: (@Sendable () -> Void)?,
        open: () throws(HDF5Error) -> HDF5File
    ) throws(HDF5Error) -> HDF5Snapshot {
        if walksInProcess {
            alongside?()
            var writer = SnapshotWriter.inMemory()
            walk(open: open, skip: skip, into: &writer)
            var reader = SnapshotReader(bytes: writer.collected)
            let snapshot = HDF5Snapshot(origin: origin)
            try snapshot.load(from: &reader)
            return snapshot
        }
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else {
            throw HDF5Error(origin: origin, "cannot start the HDF5 reader: \(String(cString: strerror(errno)))")
        }
        hdf5Lock.lock()
        let child = fork()
        if child == 0 {
            hdf5Lock = NSLock()
            close(descriptors[0])
            // A crash here is reported by the parent in words: the child dies of the signal itself, not
            // through a handler the parent installed (the Swift runtime's backtracer, a fuzzer's crash
            // report), and its stderr would only reach the user's terminal as noise.
            for deadly in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] { Self.restoreDefaultAction(of: deadly) }
            let null = Self.openDevNull()
            if null >= 0 {
                dup2(null, STDERR_FILENO)
                close(null)
            }
            var writer = SnapshotWriter(descriptor: descriptors[1])
            walk(open: open, skip: skip, into: &writer)
            writer.flush()
            _exit(0)
        }
        hdf5Lock.unlock()
        close(descriptors[1])
        let started = alongside.map(Self.start)
        // Joined on every way out, before anything `alongside` wrote is read.
        defer { started?.wait() }
        guard child > 0 else {
            close(descriptors[0])
            throw HDF5Error(origin: origin, "cannot start the HDF5 reader: \(String(cString: strerror(errno)))")
        }
        var reader = SnapshotReader(descriptor: descriptors[0], silence: SnapshotReader.silence(forFileOf: size))
        let snapshot = HDF5Snapshot(origin: origin)
        let outcome = Result { () throws(HDF5Error) in try snapshot.load(from: &reader) }
        close(descriptors[0])
        var status: Int32 = 0
        if case .failure = outcome, !reader.ended {
            // Stuck, or it sent what it never sends: stop it, and report why it was stopped.
            kill(child, SIGKILL)
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
            status = 0
        } else {
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
        if reader.timedOut {
            throw HDF5Error(
                origin: origin,
                "the HDF5 file is corrupt (libhdf5 made no progress reading it for \(reader.silence) seconds, and was stopped)")
        }
        let signal = status & 0x7f
        if signal != 0 && signal != 0x7f {
            throw HDF5Error(origin: origin, "the HDF5 file is corrupt (libhdf5 crashed with \(signalName(signal)) while reading it)")
        }
        try outcome.get()
        return snapshot
    }

    /// Runs `work` on a new thread with the main thread's 8 MiB of stack (the JSON parser recurses up to its
    /// nesting limit); the semaphore is signalled when it ends.
    private static func start(_ work: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            work()
            done.signal()
        }
        thread.stackSize = 8 << 20
        thread.start()
        return done
    }

    private static func restoreDefaultAction(of signal: Int32) {
        #if canImport(Glibc)
        _ = Glibc.signal(signal, SIG_DFL)
        #else
        _ = Darwin.signal(signal, SIG_DFL)
        #endif
    }

    private static func openDevNull() -> Int32 {
        #if canImport(Glibc)
        Glibc.open("/dev/null", O_WRONLY)
        #else
        Darwin.open("/dev/null", O_WRONLY)
        #endif
    }

    private static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGILL: "SIGILL"
        case SIGFPE: "SIGFPE"
        case SIGKILL: "SIGKILL"
        default: "signal \(signal)"
        }
    }

    /// What the child sends, one record after another, the last `end`.
    enum RecordKind: UInt8 {
        case group = 1, dataset, other, refusedLink, unreadable, alias, attributes, fatal, end
    }

    // MARK: - The parent

    /// Rebuilds the records the child sent; throws the child's error when it could not open the file, and
    /// "the child stopped" when the stream ends early (then the caller reports how it ended).
    private func load(from reader: inout SnapshotReader) throws(HDF5Error) {
        let stopped = HDF5Error(origin: origin, "the HDF5 reader stopped before it finished (the file is damaged)")
        func read<T>(_ body: (inout SnapshotReader) -> T?) throws(HDF5Error) -> T {
            guard let value = body(&reader) else { throw stopped }
            return value
        }
        while true {
            guard let byte = reader.byte(), let record = RecordKind(rawValue: byte) else { throw stopped }
            switch record {
            case .end: return
            case .fatal: throw try read { $0.error() }
            case .group, .dataset, .other:
                let path = try read { $0.string() }
                let identity = try read { $0.bytes() }
                switch record {
                case .group:
                    entries[path] = .group(identity: identity, children: try read { $0.result { $0.strings() } })
                case .dataset:
                    let data: Result<(shape: [Int], values: [Float]), HDF5Error> = try read {
                        $0.result { reader in
                            guard let shape = reader.integers(), let values = reader.floats() else { return nil }
                            return (shape, values)
                        }
                    }
                    entries[path] = .dataset(identity: identity, data: data)
                default: entries[path] = .other(identity: identity)
                }
            case .refusedLink, .unreadable:
                let path = try read { $0.string() }
                let error = try read { $0.error() }
                entries[path] = record == .refusedLink ? .refusedLink(error) : .unreadable(error)
            case .alias:
                let path = try read { $0.string() }
                entries[path] = .alias(try read { $0.string() })
            case .attributes:
                let path = try read { $0.string() }
                attributes[path] = try read {
                    $0.result { reader -> [String: Attribute]? in
                        guard let count = reader.integer() else { return nil }
                        var values: [String: Attribute] = [:]
                        for _ in 0..<count {
                            guard let name = reader.string(), let kind = reader.byte() else { return nil }
                            switch kind {
                            case 0:
                                guard let strings = reader.strings() else { return nil }
                                values[name] = .strings(strings)
                            case 1: values[name] = .notStrings
                            default:
                                guard let error = reader.error() else { return nil }
                                values[name] = .failed(error)
                            }
                        }
                        return values
                    }
                }
            }
        }
    }
}
