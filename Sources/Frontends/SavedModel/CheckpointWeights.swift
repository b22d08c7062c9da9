import KerasFrontend
import KilnIR
import TFProto

/// A Keras model's weights in a TensorFlow checkpoint, found through the checkpoint's object graph
/// (`_CHECKPOINTABLE_OBJECT_GRAPH`, a `TrackableObjectGraph`, tensorflow/core/protobuf/trackable_object_graph.proto).
///
/// A layer is reached from the root object by the local names of its path in `keras_metadata.pb`
/// (`root.layer_with_weights-0`); its child `variables` lists `layer.variables` in Keras's order under the
/// local names `0`, `1`...; each variable object's `VARIABLE_VALUE` attribute names its checkpoint key. Weights
/// are returned as float32, as the `.h5` reader returns them.
struct CheckpointWeights: KerasWeightSource {
    static let objectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH"

    let bundle: TensorBundle
    let objectGraph: Tensorflow_TrackableObjectGraph
    /// Layer name (`outer/inner`) -> object path (`root.layer-1.layer-0`).
    let layerPaths: [String: String]
    /// The SavedModel directory, for messages.
    let file: String

    func weights(of layer: String) throws(KerasImportError) -> [(name: String, tensor: Tensor)] {
        func unreadable(_ reason: String) -> KerasImportError { .unreadableWeights(file: file, layer: layer, reason: reason) }
        guard let path = layerPaths[layer], !objectGraph.nodes.isEmpty else { return [] }
        var node = 0
        for component in path.split(separator: ".").dropFirst() {
            guard let child = try child(of: node, named: String(component), layer: layer) else {
                throw unreadable("the checkpoint's object graph has no object at \(path) (no '\(component)')")
            }
            node = child
        }
        guard let list = try child(of: node, named: "variables", layer: layer) else { return [] }
        var items: [(position: Int, node: Int)] = []
        for reference in objectGraph.nodes[list].children {
            guard let position = Int(reference.localName) else {
                throw unreadable("the variables list of \(path) has an entry named '\(reference.localName)', not a position")
            }
            items.append((position, try checked(reference.nodeID, layer: layer)))
        }
        var result: [(name: String, tensor: Tensor)] = []
        for item in items.sorted(by: { $0.position < $1.position }) {
            let variable = objectGraph.nodes[item.node]
            guard let key = variable.attributes.first(where: { $0.name == "VARIABLE_VALUE" })?.checkpointKey else {
                throw unreadable("variable \(item.position) of \(path) has no VARIABLE_VALUE in the checkpoint")
            }
            // The layer's own name for the variable (`kernel`), when it has one.
            let localName = objectGraph.nodes[node].children.first { $0.nodeID == Int32(item.node) && Int($0.localName) == nil }?.localName
            let tensor: Tensor
            do throws(SavedModelImportError) {
                tensor = try bundle.tensor(key)
            } catch {
                throw unreadable(error.description)
            }
            let leaf = layer.split(separator: "/").last.map(String.init) ?? layer
            result.append(("\(leaf)/\(localName ?? "variable_\(item.position)")", Tensor(shape: tensor.shape, floats: tensor.floats)))
        }
        return result
    }

    /// The node a child reference of `node` points at, checked against the graph's size.
    private func child(of node: Int, named name: String, layer: String) throws(KerasImportError) -> Int? {
        guard let reference = objectGraph.nodes[node].children.first(where: { $0.localName == name }) else { return nil }
        return try checked(reference.nodeID, layer: layer)
    }

    private func checked(_ id: Int32, layer: String) throws(KerasImportError) -> Int {
        guard id >= 0, Int(id) < objectGraph.nodes.count else {
            throw .unreadableWeights(
                file: file, layer: layer, reason: "the checkpoint's object graph refers to object \(id) of \(objectGraph.nodes.count)")
        }
        return Int(id)
    }
}
