import Foundation
import KilnDriver
import KilnIR

/// A model made by real Keras, with inputs and Keras's own outputs, from testdata/fixtures/<name>/: a
/// `model.h5` or `model.keras`, or a `model.json` architecture with its weights (`model_weights.h5` from
/// Keras 2's save_weights, `model.weights.h5` from Keras 3's).
public struct Fixture: Sendable {
    public var name: String
    public var directory: URL
    public var model: URL
    /// The weights of an architecture JSON, passed as `--weights`.
    public var weights: URL?

    /// Every fixture directory that holds a model file, sorted by name.
    public static func all() throws -> [Fixture] {
        let names = try FileManager.default.contentsOfDirectory(atPath: TestPaths.fixtures.path).sorted()
        let exists = { (url: URL) in FileManager.default.fileExists(atPath: url.path) }
        return names.compactMap { name in
            let directory = TestPaths.fixtures.appendingPathComponent(name)
            for file in ["model.h5", "model.keras"] {
                let model = directory.appendingPathComponent(file)
                if exists(model) { return Fixture(name: name, directory: directory, model: model) }
            }
            let json = directory.appendingPathComponent("model.json")
            let weights = ["model_weights.h5", "model.weights.h5"].map(directory.appendingPathComponent).first(where: exists)
            if exists(json), let weights { return Fixture(name: name, directory: directory, model: json, weights: weights) }
            return nil
        }
    }

    /// The fixture's model read as `kiln` reads it.
    public func load() throws -> Graph { try ModelLoader.load(model, weights: weights) }

    /// The arguments naming the model on a `kiln` command line: the file, and `--weights` for a JSON.
    public var commandLine: [String] { [model.path] + (weights.map { ["--weights", $0.path] } ?? []) }

    public static func named(_ name: String) throws -> Fixture {
        guard let fixture = try all().first(where: { $0.name == name }) else {
            throw InputError("no fixture named \(name) in \(TestPaths.fixtures.path)")
        }
        return fixture
    }

    /// The `.npy` files of a subdirectory (`inputs` or `expected`) by stem.
    public func tensors(in subdirectory: String) throws -> [String: Tensor] {
        let folder = directory.appendingPathComponent(subdirectory)
        var result: [String: Tensor] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".npy") {
            result[String(file.dropLast(4))] = try NPY.read(contentsOf: folder.appendingPathComponent(file))
        }
        return result
    }

    public func inputs() throws -> [String: Tensor] { try tensors(in: "inputs") }
    public func expected() throws -> [String: Tensor] { try tensors(in: "expected") }
}

/// Text goldens in testdata/goldens, compared exactly. `KILN_UPDATE_GOLDENS=1` rewrites them and still
/// reports a failure, so a re-recorded golden is always looked at before it is committed.
public enum Golden {
    public static let directory = TestPaths.testdata.appendingPathComponent("goldens")

    /// Returns nil when `actual` matches the golden, otherwise a message for the failure.
    public static func check(_ actual: String, against name: String) -> String? {
        let url = directory.appendingPathComponent(name)
        let recorded = try? String(contentsOf: url, encoding: .utf8)
        if recorded == actual { return nil }
        if ProcessInfo.processInfo.environment["KILN_UPDATE_GOLDENS"] == "1" {
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try? actual.write(to: url, atomically: true, encoding: .utf8)
            return "re-recorded golden \(name); review the diff and run again"
        }
        guard let recorded else { return "missing golden \(name); run with KILN_UPDATE_GOLDENS=1 to record it" }
        let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let r = recorded.split(separator: "\n", omittingEmptySubsequences: false)
        let line = (0..<min(a.count, r.count)).first { a[$0] != r[$0] } ?? min(a.count, r.count)
        return
            "output differs from golden \(name) at line \(line + 1):\n  golden: \(line < r.count ? String(r[line]) : "<end>")\n  actual: \(line < a.count ? String(a[line]) : "<end>")\n(KILN_UPDATE_GOLDENS=1 re-records)"
    }
}
