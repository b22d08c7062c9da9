import Foundation
import KilnIR
import SwiftBackend

/// Why compiling or running generated Swift failed.
public enum SwiftToolchainError: Error, CustomStringConvertible {
    case swiftcNotFound(searched: [String])
    case cannotWrite(URL, reason: String)
    case compileFailed(sources: [URL], arguments: [String], stderr: String)
    case cannotLaunch(URL, reason: String)
    case programFailed(URL, arguments: [String], status: Int32, stderr: String)

    public var description: String {
        switch self {
        case .swiftcNotFound(let searched):
            "swiftc was not found (looked in \(searched.joined(separator: ", "))); put the Swift toolchain on PATH or set SWIFTC to swiftc's path"
        case .cannotWrite(let url, let reason): "cannot write \(url.path): \(reason)"
        case .compileFailed(let sources, let arguments, let stderr):
            "swiftc failed to compile \(sources.map(\.lastPathComponent).joined(separator: ", ")) (swiftc \(arguments.joined(separator: " "))):\n\(stderr)"
        case .cannotLaunch(let url, let reason): "cannot launch \(url.path): \(reason)"
        case .programFailed(let url, let arguments, let status, let stderr):
            "\(url.lastPathComponent) \(arguments.joined(separator: " ")) exited with status \(status): \(stderr)"
        }
    }
}

/// Compiles generated Swift into a command-line program and runs it, with the `swiftc` of the toolchain
/// Kiln runs under.
public struct SwiftToolchain: Sendable {
    public let swiftc: URL

    /// Finds `swiftc`: `$SWIFTC`, else the one beside the first `swift` on `PATH` (following symlinks into
    /// the toolchain), else the first `swiftc` on `PATH`.
    public init() throws(SwiftToolchainError) {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SWIFTC"], !explicit.isEmpty {
            swiftc = URL(fileURLWithPath: explicit)
            return
        }
        let files = FileManager.default
        let path = (environment["PATH"] ?? "/usr/bin").split(separator: ":").map { URL(fileURLWithPath: String($0)) }
        var candidates: [URL] = []
        if let swift = path.map({ $0.appendingPathComponent("swift") }).first(where: { files.isExecutableFile(atPath: $0.path) }) {
            candidates.append(swift.deletingLastPathComponent().appendingPathComponent("swiftc"))
            candidates.append(swift.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("swiftc"))
        }
        candidates += path.map { $0.appendingPathComponent("swiftc") }
        guard let found = candidates.first(where: { files.isExecutableFile(atPath: $0.path) }) else {
            throw .swiftcNotFound(searched: path.map(\.path))
        }
        swiftc = found
    }

    /// Uses the given `swiftc`.
    public init(swiftc: URL) { self.swiftc = swiftc }

    /// Flags that make the generated code fastest on this machine, for programs that run where they are
    /// built: `-Ounchecked`, plus, where the CPU fuses multiply-adds, `-D KILN_FMA` (and on x86-64
    /// `-target-cpu native`, without which FMA would be a slow library call). The default stays `-O`.
    public static func hostTunedFlags() -> [String] {
        #if arch(arm64)
        return ["-Ounchecked", "-D", "KILN_FMA"]
        #elseif arch(x86_64) && os(Linux)
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let flags = Set(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ").map(String.init) ?? [])
        return flags.isSuperset(of: ["avx2", "fma"]) ? ["-Ounchecked", "-target-cpu", "native", "-D", "KILN_FMA"] : ["-Ounchecked"]
        #else
        return ["-Ounchecked"]
        #endif
    }

    /// Writes the executor (`<TypeName>.swift`), its weights (`<TypeName>.weights`) and the harness
    /// (`main.swift`, see `SwiftHarness`) into `directory`, compiles them into `directory/kiln-model`, and
    /// returns the program's URL.
    public func buildExecutable(emission: SwiftEmission, graph: Graph, in directory: URL, optimization: [String] = ["-O"]) throws
        -> URL
    {
        let model = directory.appendingPathComponent("\(emission.typeName).swift")
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent("kiln-model")
        try write(Data(emission.source.utf8), to: model)
        try write(Data(SwiftHarness.mainSource(for: emission, graph: graph).utf8), to: main)
        try write(Data(emission.weights), to: directory.appendingPathComponent("\(emission.typeName).weights"))
        try compile([main, model], into: executable, flags: optimization)
        return executable
    }

    /// Writes several executors (`<TypeName>.swift`, `<TypeName>.weights`) and one harness around them all
    /// (`main.swift`, whose first argument names the type to run) into `directory`, and compiles them with one
    /// `swiftc` run into `directory/kiln-models`. Returns the program, and the CPU seconds (user and system)
    /// each executor's source took to compile, by type name. The type names must differ.
    ///
    /// Every source is compiled in a frontend job of its own, as many at a time as there are cores, so each
    /// one's time is known. Measured on the 75 fixtures of the time, on two cores: about 205 CPU seconds in all,
    /// where one `swiftc -O` per fixture took about 470 (nearly half of it compiling the harness again each
    /// time), and `-wmo` about 165 but as one job, with no time per source, that only `-num-threads` spreads
    /// over the cores, in its LLVM part. Between about 10 and 40 files a `-wmo` job costs the same per file.
    public func buildExecutable(
        models: [(emission: SwiftEmission, graph: Graph)], in directory: URL, optimization: [String] = ["-O"]
    ) throws -> (executable: URL, compileSeconds: [String: Double]) {
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent("kiln-models")
        let statistics = directory.appendingPathComponent("swiftc-statistics-\(UUID().uuidString)")
        var sources = [main]
        for (emission, _) in models {
            let model = directory.appendingPathComponent("\(emission.typeName).swift")
            try write(Data(emission.source.utf8), to: model)
            try write(Data(emission.weights), to: directory.appendingPathComponent("\(emission.typeName).weights"))
            sources.append(model)
        }
        try write(Data(SwiftHarness.mainSource(for: models).utf8), to: main)
        if models.contains(where: { $0.emission.needsSharedRuntime }) {
            let runtime = directory.appendingPathComponent("KilnSharedRuntime.swift")
            try write(Data(SwiftEmitter.sharedRuntime(for: models.map(\.emission)).utf8), to: runtime)
            sources.append(runtime)
        }
        do {
            try FileManager.default.createDirectory(at: statistics, withIntermediateDirectories: true)
        } catch {
            throw SwiftToolchainError.cannotWrite(statistics, reason: error.localizedDescription)
        }
        defer { try? FileManager.default.removeItem(at: statistics) }
        try compile(sources, into: executable, flags: optimization + ["-disable-batch-mode", "-stats-output-dir", statistics.path])
        return (executable, Self.compileSeconds(in: statistics))
    }

    /// The CPU seconds of each frontend job in the `-stats-output-dir` files, by source file name without
    /// `.swift`: keys `time.swift-frontend.<module>-<file>.swift-<target>.user` and `.sys`.
    static func compileSeconds(in statistics: URL) -> [String: Double] {
        var seconds: [String: Double] = [:]
        let files = (try? FileManager.default.contentsOfDirectory(at: statistics, includingPropertiesForKeys: nil)) ?? []
        for file in files where file.pathExtension == "json" {
            guard let data = try? Data(contentsOf: file), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { continue }
            for (key, value) in object {
                guard key.hasPrefix("time.swift-frontend."), key.hasSuffix(".user") || key.hasSuffix(".sys"), let value = value as? Double,
                    let job = key.split(separator: ".", maxSplits: 2).last, let dash = job.firstIndex(of: "-"),
                    let end = job.range(of: ".swift-")
                else { continue }
                seconds[String(job[job.index(after: dash)..<end.lowerBound]), default: 0] += value
            }
        }
        return seconds
    }

    /// Compiles Swift sources, one of them `main.swift`, into an executable in module `KilnGenerated`.
    public func compile(_ sources: [URL], into executable: URL, flags: [String] = ["-O"]) throws {
        let arguments = flags + ["-module-name", "KilnGenerated"] + sources.map(\.path) + ["-o", executable.path]
        let result = try launch(swiftc, arguments: arguments)
        guard result.status == 0 else {
            throw SwiftToolchainError.compileFailed(sources: sources, arguments: arguments, stderr: result.stderr)
        }
    }

    /// Runs a program to completion and returns what it printed; a non-zero exit is an error carrying its
    /// stderr.
    public func run(_ executable: URL, arguments: [String]) throws -> (stdout: String, stderr: String) {
        let result = try launch(executable, arguments: arguments)
        guard result.status == 0 else {
            throw SwiftToolchainError.programFailed(executable, arguments: arguments, status: result.status, stderr: result.stderr)
        }
        return (result.stdout, result.stderr)
    }

    private func write(_ data: Data, to url: URL) throws(SwiftToolchainError) {
        do {
            try data.write(to: url)
        } catch {
            throw .cannotWrite(url, reason: error.localizedDescription)
        }
    }

    private func launch(_ executable: URL, arguments: [String]) throws(SwiftToolchainError) -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw .cannotLaunch(executable, reason: error.localizedDescription)
        }
        // Drain stderr on another thread so a chatty program cannot fill one pipe while we wait on the other.
        let errors = PipeContents()
        let done = DispatchGroup()
        done.enter()
        DispatchQueue.global().async {
            errors.data = stderr.fileHandleForReading.readDataToEndOfFile()
            done.leave()
        }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        done.wait()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self), String(decoding: errors.data, as: UTF8.self))
    }
}

/// What a reader thread read from a pipe; the dispatch group's wait orders the write before the read.
private final class PipeContents: @unchecked Sendable {
    var data = Data()
}
