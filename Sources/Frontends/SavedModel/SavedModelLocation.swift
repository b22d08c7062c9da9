import Foundation

/// Where the SavedModel a MODEL path names is: the path itself when it holds `saved_model.pb`, or, for a TF
/// Serving base path (`mnist_model/` holding `1/`, `2/`...), its highest numbered version directory, as
/// `tensorflow_model_server --model_base_path` serves it, or the one `version` asks for.
public struct SavedModelLocation: Equatable, Sendable {
    /// The SavedModel directory: the one holding `saved_model.pb`.
    public var directory: String
    /// The version directory's number, when the path was a base path.
    public var version: Int?

    /// Whether `path` is a directory holding `saved_model.pb` or numbered version directories, without
    /// throwing: how a loader tells a SavedModel from a model file.
    public static func isCandidate(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Resolves `path`.
    ///
    /// - Throws: `SavedModelImportError.missingFile` when nothing is at `path`, `.notASavedModel` for a
    ///   directory that is neither form, `.missingVersion` when `version` is not among the base path's.
    public init(_ path: String, version: Int? = nil) throws(SavedModelImportError) {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { throw .missingFile(path) }
        guard isDirectory.boolValue else { throw .notASavedModel(directory: path) }
        let base = URL(fileURLWithPath: path)
        if version == nil, Self.holdsSavedModel(base) {
            self.init(directory: path, version: nil)
            return
        }
        // TF Serving takes the directories whose names are whole numbers as versions.
        let names = (try? manager.contentsOfDirectory(atPath: path)) ?? []
        let versions = names.compactMap { name -> Int? in
            guard !name.isEmpty, name.allSatisfy(\.isASCIIDigit), let number = Int(name) else { return nil }
            return Self.holdsSavedModel(base.appendingPathComponent(name)) ? number : nil
        }.sorted()
        if let version {
            guard versions.contains(version) else { throw .missingVersion(base: path, version: version, available: versions) }
            self.init(directory: Self.versionDirectory(base, version, names: names), version: version)
        } else if let highest = versions.last {
            self.init(directory: Self.versionDirectory(base, highest, names: names), version: highest)
        } else {
            throw .notASavedModel(directory: path)
        }
    }

    init(directory: String, version: Int?) {
        self.directory = directory
        self.version = version
    }

    private static func holdsSavedModel(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent("saved_model.pb").path)
    }

    /// The directory of a version: `0003` and `3` are the same version to TF Serving; the shortest name wins.
    private static func versionDirectory(_ base: URL, _ version: Int, names: [String]) -> String {
        let name = names.filter { Int($0) == version }.min { $0.count < $1.count } ?? String(version)
        return base.appendingPathComponent(name).path
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
