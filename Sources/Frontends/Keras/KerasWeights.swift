import KilnIR

/// Where a model's weights live: the `model_weights` group of a full-model `.h5`, or the
/// `model.weights.h5` of a `.keras` archive.
protocol KerasWeightSource {
    /// A layer's weights in Keras's order (`layer.weights`: kernel before bias, and so on), with names.
    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)]
}

/// `<root>/<layer>` with its `weight_names` attribute: `model_weights/<layer>` in a full-model `.h5` (Keras 2
/// and Keras 3 legacy), `/<layer>` in a Keras 2 `save_weights` file.
struct H5ModelWeights: KerasWeightSource {
    let file: HDF5File
    /// The group holding one group per layer: `/model_weights`, or `""` for the file's root.
    let root: String
    let displayName: String

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        // A layer inside a nested model, `outer/inner`, is stored in the outer model's group; its weight
        // names end in `inner/<weight>`.
        let path = layer.split(separator: "/").map(String.init)
        let group = "\(root)/\(path[0])"
        guard file.exists(group) else { return [] }
        var names: [String]
        do throws(HDF5Error) {
            names = try file.stringsAttribute("weight_names", of: group) ?? []
        } catch {
            throw .unreadableWeights(file: displayName, layer: layer, reason: error.message)
        }
        if path.count > 1 {
            names = names.filter { name in
                let parts = name.split(separator: "/")
                return parts.count >= 2 && parts[parts.count - 2] == path[path.count - 1]
            }
        }
        var result: [(String, Tensor)] = []
        for name in names {
            let dataset = "\(group)/\(name)"
            guard file.exists(dataset) else {
                throw .unreadableWeights(file: displayName, layer: layer, reason: "weight_names lists '\(name)', but there is no dataset \(dataset)")
            }
            do throws(HDF5Error) {
                let (shape, values) = try file.floatDataset(dataset)
                result.append((name, Tensor(shape: shape, floats: values)))
            } catch {
                throw .unreadableWeights(file: displayName, layer: layer, reason: error.message)
            }
        }
        return result
    }
}

/// `layers/<path>/vars/<i>` in a Keras 3 `model.weights.h5`. The group of a layer is found by the `name`
/// attribute Keras writes on its `vars` group, falling back to a group named like the layer.
struct KerasArchiveWeights: KerasWeightSource {
    let file: HDF5File
    let displayName: String
    private let groups: [String: String]

    init(file: HDF5File, displayName: String) throws(KerasImportError) {
        self.file = file
        self.displayName = displayName
        var groups: [String: String] = [:]
        // Nested models keep their layers under `layers/<model>/layers/...`; keys are `outer/inner`.
        func collect(_ root: String, prefix: String) throws(HDF5Error) {
            guard file.exists("\(root)/layers") else { return }
            for child in try file.children(of: "\(root)/layers") {
                let path = "\(root)/layers/\(child)"
                let name = (try? file.stringAttribute("name", of: "\(path)/vars")) ?? nil
                let key = prefix + (name ?? child)
                groups[key] = path
                try collect(path, prefix: key + "/")
            }
        }
        do throws(HDF5Error) {
            try collect("", prefix: "")
        } catch {
            throw .damaged(file: displayName, reason: error.message)
        }
        self.groups = groups
    }

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        guard let path = groups[layer], file.exists("\(path)/vars") else { return [] }
        do throws(HDF5Error) {
            let count = try file.children(of: "\(path)/vars").count
            var result: [(String, Tensor)] = []
            for index in 0..<count {
                let (shape, values) = try file.floatDataset("\(path)/vars/\(index)")
                result.append(("\(layer)/vars/\(index)", Tensor(shape: shape, floats: values)))
            }
            return result
        } catch {
            throw .unreadableWeights(file: displayName, layer: layer, reason: error.message)
        }
    }
}
