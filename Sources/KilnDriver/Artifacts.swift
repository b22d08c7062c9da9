import Foundation

/// Files a command produces, held in memory until all of them exist, then written together so a failure
/// never leaves partial output behind.
public struct Artifacts {
    public private(set) var files: [(name: String, bytes: [UInt8])] = []

    public init() {}

    public mutating func add(_ name: String, _ bytes: [UInt8]) { files.append((name, bytes)) }
    public mutating func add(_ name: String, text: String) { files.append((name, Array(text.utf8))) }

    /// Writes every file into `directory` (created if needed): each goes to a temporary name first and is
    /// renamed into place, so readers never see a half-written file. If any write fails, the files already
    /// placed by this call are removed again.
    public func write(to directory: URL) throws {
        let manager = FileManager.default
        let createdDirectory = !manager.fileExists(atPath: directory.path)
        do {
            try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ArtifactError(path: directory.path, error.localizedDescription)
        }
        var placed: [URL] = []
        do {
            for file in files {
                let target = directory.appendingPathComponent(file.name)
                let temporary = directory.appendingPathComponent(".\(file.name).kiln-partial")
                do {
                    try Data(file.bytes).write(to: temporary)
                    if manager.fileExists(atPath: target.path) { try manager.removeItem(at: target) }
                    try manager.moveItem(at: temporary, to: target)
                } catch {
                    try? manager.removeItem(at: temporary)
                    throw ArtifactError(path: target.path, error.localizedDescription)
                }
                placed.append(target)
            }
        } catch {
            for url in placed { try? manager.removeItem(at: url) }
            if createdDirectory { try? manager.removeItem(at: directory) }
            throw error
        }
    }
}

public struct ArtifactError: Error, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { "cannot write \(path): \(message)" }
}
