import Foundation
import KilnIR
import SwiftBackend

/// Compiles and runs generated Swift with the `swiftc` next to the running toolchain.
public struct SwiftToolchain: Sendable {
    public let swiftc: URL

    /// Finds `swiftc`: `$SWIFTC`, else the first `swiftc` on `PATH`.
    public init() throws {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SWIFTC"] {
            swiftc = URL(fileURLWithPath: explicit)
            return
        }
        for directory in (environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("swiftc")
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                swiftc = candidate
                return
            }
        }
        throw ToolchainError("swiftc was not found on PATH; set SWIFTC to its path")
    }

    /// Writes the executor, its weights and a harness into `directory` and compiles them.
    public func buildExecutable(emission: SwiftEmission, graph: Graph, in directory: URL, optimization: [String] = ["-O"]) throws -> URL {
        let model = directory.appendingPathComponent("\(emission.typeName).swift")
        let main = directory.appendingPathComponent("main.swift")
        let executable = directory.appendingPathComponent("kiln-model")
        try emission.source.write(to: model, atomically: true, encoding: .utf8)
        try SwiftHarness.mainSource(for: emission, graph: graph).write(to: main, atomically: true, encoding: .utf8)
        try Data(emission.weights).write(to: directory.appendingPathComponent("\(emission.typeName).weights"))
        let result = try run(
            swiftc, arguments: optimization + ["-module-name", "KilnGenerated", main.path, model.path, "-o", executable.path],
            allowFailure: true)
        guard result.status == 0 else {
            throw ToolchainError("swiftc failed to compile the generated code (\(model.path)):\n\(result.stderr)")
        }
        return executable
    }

    /// Runs a program and returns its output; a non-zero exit is an error carrying its stderr.
    public func run(_ executable: URL, arguments: [String]) throws -> (stdout: String, stderr: String) {
        let result = try run(executable, arguments: arguments, allowFailure: false)
        return (result.stdout, result.stderr)
    }

    private func run(_ executable: URL, arguments: [String], allowFailure: Bool) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Drain stderr on another thread so a chatty program cannot fill the pipe and block.
        let errorData = LockedData()
        let reader = Thread { errorData.set(stderr.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorData.isSet { usleep(1000) }
        let out = String(decoding: outputData, as: UTF8.self), err = String(decoding: errorData.value, as: UTF8.self)
        if !allowFailure && process.terminationStatus != 0 {
            throw ToolchainError("\(executable.lastPathComponent) exited with status \(process.terminationStatus): \(err)")
        }
        return (process.terminationStatus, out, err)
    }
}

private final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?

    func set(_ value: Data) {
        lock.lock()
        data = value
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return data != nil
    }

    var value: Data {
        lock.lock()
        defer { lock.unlock() }
        return data ?? Data()
    }
}

public struct ToolchainError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
