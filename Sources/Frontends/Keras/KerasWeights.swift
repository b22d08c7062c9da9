import KilnIR

/// Where a model's weights live: the `model_weights` group of a full-model `.h5`, the `model.weights.h5` of
/// a `.keras` archive, or (from the SavedModel frontend) a TensorFlow checkpoint.
public protocol KerasWeightSource {
    /// A layer's weights in Keras's order (`layer.weights`: kernel before bias, and so on), with names. The
    /// layer is named as in the model configuration, `outer/inner` for a layer of a nested model; a layer
    /// without weights has none.
    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)]

    /// The same, told the shapes the lowering expects (which it checks afterwards): a source that makes
    /// weights up, such as the config fuzzer's (Fuzz/KerasConfigFuzzer), makes them in these shapes.
    func weights(of layer: String, expecting shapes: [[Int]]) throws(KerasImportError) -> [(name: String, tensor: Tensor)]
}

extension KerasWeightSource {
    /// A source that reads its weights from a file ignores the expected shapes.
    public func weights(of layer: String, expecting shapes: [[Int]]) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        try weights(of: layer)
    }
}

/// `<root>/<layer>` with its `weight_names` attribute: `model_weights/<layer>` in a full-model `.h5` (Keras 2
/// and Keras 3 legacy), `/<layer>` in a Keras 2 `save_weights` file.
struct H5ModelWeights: KerasWeightSource {
    let file: HDF5Snapshot
    /// The group holding one group per layer: `/model_weights`, or `""` for the file's root.
    let root: String
    let displayName: String

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        // A layer inside a nested model, `outer/inner`, is stored in the outer model's group; its weight
        // names end in `inner/<weight>`.
        let path = layer.split(separator: "/").map(String.init)
        guard let outermost = path.first else {
            throw .unreadableWeights(file: displayName, layer: layer, reason: "a layer name needs a character other than '/'")
        }
        let group = "\(root)/\(outermost)"
        var names: [String]
        do throws(HDF5Error) {
            guard try file.exists(group) else { return [] }
            names = try file.stringsAttribute("weight_names", of: group) ?? []
        } catch {
            throw .hdf5(error, file: displayName) { .unreadableWeights(file: displayName, layer: layer, reason: $0) }
        }
        if path.count > 1 {
            names = names.filter { name in
                let parts = name.split(separator: "/")
                return parts.count >= 2 && parts[parts.count - 2] == path[path.count - 1]
            }
        }
        var result: [(String, Tensor)] = []
        for name in names {
            guard !name.isEmpty else {
                throw .unreadableWeights(
                    file: displayName, layer: layer, reason: "weight_names of group \(group) lists an empty name, which names no dataset")
            }
            let dataset = "\(group)/\(name)"
            do throws(HDF5Error) {
                guard try file.exists(dataset) else {
                    throw HDF5Error(origin: displayName, "weight_names lists '\(name)', but there is no dataset \(dataset)")
                }
                let (shape, values) = try file.floatDataset(dataset)
                result.append((name, Tensor(shape: shape, floats: values)))
            } catch {
                throw .hdf5(error, file: displayName) { .unreadableWeights(file: displayName, layer: layer, reason: $0) }
            }
        }
        return result
    }
}

/// `layers/<path>/vars/<i>` in a Keras 3 `model.weights.h5`. The group of a layer is found by the `name`
/// attribute Keras writes on its `vars` group, falling back to a group named like the layer.
struct KerasArchiveWeights: KerasWeightSource {
    let file: HDF5Snapshot
    let displayName: String
    private let groups: [String: String]

    init(file: HDF5Snapshot, displayName: String) throws(KerasImportError) {
        self.file = file
        self.displayName = displayName
        var groups: [String: String] = [:]
        // Where each group was first reached: Keras links every group once, so a group reached again is a
        // cycle of hard links (or a shared subtree), which would make this walk endless or exponential.
        var visited: [[UInt8]: String] = [:]
        // Nested models keep their layers under `layers/<model>/layers/...`; keys are `outer/inner`.
        // A recurrent layer keeps its weights in `cell` (a list of cells each in `cell/cells/<cell>`), a
        // Bidirectional its two layers in `forward_layer` and `backward_layer`, a TimeDistributed its layer in
        // `layer`, a MultiHeadAttention its projections in `query_dense`... (`attentionSublayers`), beside `vars`;
        // they are keyed `layer/cell` and so on when Keras wrote no name.
        func collect(_ root: String, prefix: String) throws(HDF5Error) {
            var children: [(group: String, child: String)] = []
            if try file.exists("\(root)/layers") { children = try file.children(of: "\(root)/layers").map { ("\(root)/layers", $0) } }
            for child in ["cell", "forward_layer", "backward_layer", "layer"] + Self.attentionSublayers where !root.isEmpty {
                if try file.exists("\(root)/\(child)") { children.append((root, child)) }
            }
            // A StackedRNNCells keeps each cell under `cells/<cell>`.
            if !root.isEmpty, try file.exists("\(root)/cells") {
                children += try file.children(of: "\(root)/cells").map { ("\(root)/cells", $0) }
            }
            for (group, child) in children {
                let path = "\(group)/\(child)"
                let identity = try file.identity(of: path)
                if let first = visited[identity] {
                    throw HDF5Error(
                        origin: displayName,
                        "group \(path) is the group \(first) linked a second time (a cycle of hard links); Keras writes every group once")
                }
                visited[identity] = path
                let name = (try? file.stringAttribute("name", of: "\(path)/vars")) ?? nil
                let key = prefix + (name ?? child)
                groups[key] = path
                try collect(path, prefix: key + "/")
            }
        }
        do throws(HDF5Error) {
            try collect("", prefix: "")
        } catch {
            throw .hdf5(error, file: displayName) { .damaged(file: displayName, reason: $0) }
        }
        self.groups = groups
    }

    /// Keras 3's MultiHeadAttention keeps its EinsumDense projections in these groups (named `query`, `key`,
    /// `value` and `attention_output` by their `vars`).
    static let attentionSublayers = ["query_dense", "key_dense", "value_dense", "output_dense"]

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        guard let path = groups[layer] else { return [] }
        do throws(HDF5Error) {
            guard try file.exists("\(path)/vars") else { return [] }
            let count = try file.children(of: "\(path)/vars").count
            var result: [(String, Tensor)] = []
            for index in 0..<count {
                let (shape, values) = try file.floatDataset("\(path)/vars/\(index)")
                result.append(("\(layer)/vars/\(index)", Tensor(shape: shape, floats: values)))
            }
            return result
        } catch {
            throw .hdf5(error, file: displayName) { .unreadableWeights(file: displayName, layer: layer, reason: $0) }
        }
    }
}
