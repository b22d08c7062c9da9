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

    /// Compiles Swift sources, one of them `main.swift`, into an executable in module `KilnGenerated`.
    public func compile(_ sources: [URL], into executable: URL, flags: [String] = ["-O"]) throws {
        let arguments = flags + ["-module-name", "KilnGenerated"] + sources.map(\.path) + ["-o", executable.path]
        let result = try launch(swiftc, arguments: arguments)
        guard result.status == 0 else { throw SwiftToolchainError.compileFailed(sources: sources, arguments: arguments, stderr: result.stderr) }
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

    private func launch(_ executable: URL, arguments: [String]) throws(SwiftToolchainError) -> (status: Int32, stdout: String, stderr: String) {
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
