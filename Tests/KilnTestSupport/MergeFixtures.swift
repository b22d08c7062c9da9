import Foundation
import KilnDriver
import KilnIR

/// A case of testdata/merge/<name>/: several Keras-made models with each one's inputs and Keras's outputs.
public struct MergeCase: Sendable {
    public var name: String
    public var directory: URL
    /// Model name -> model file, in name order.
    public var models: [(name: String, file: URL)]

    public static let root = TestPaths.testdata.appendingPathComponent("merge")

    public static func named(_ name: String) throws -> MergeCase {
        let directory = root.appendingPathComponent(name)
        let data = try Data(contentsOf: directory.appendingPathComponent("meta.json"))
        guard let meta = try JSONSerialization.jsonObject(with: data) as? [String: Any], let models = meta["models"] as? [String: Any]
        else {
            throw InputError("\(directory.path)/meta.json has no models")
        }
        let entries = try models.keys.sorted().map { model -> (String, URL) in
            guard let entry = models[model] as? [String: Any], let file = entry["file"] as? String else {
                throw InputError("\(directory.path)/meta.json: model \(model) has no file")
            }
            return (model, directory.appendingPathComponent(file))
        }
        return MergeCase(name: name, directory: directory, models: entries)
    }

    /// Every model loaded, as merge sources named by the fixture.
    public func sources() throws -> [MergeSource] {
        try models.map { MergeSource(name: $0.name, graph: try ModelLoader.load($0.file)) }
    }

    /// A model's `.npy` files in inputs/<model>/ or expected/<model>/, by stem.
    public func tensors(_ subdirectory: String, model: String) throws -> [String: Tensor] {
        let folder = directory.appendingPathComponent(subdirectory).appendingPathComponent(model)
        var result: [String: Tensor] = [:]
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".npy") {
            result[String(file.dropLast(4))] = try NPY.read(contentsOf: folder.appendingPathComponent(file))
        }
        return result
    }

    public func inputs(_ model: String) throws -> [String: Tensor] { try tensors("inputs", model: model) }
    public func expected(_ model: String) throws -> [String: Tensor] { try tensors("expected", model: model) }
}
