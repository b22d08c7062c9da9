/// What lowering needs from a model as a whole: its unsupported layer classes, found before any layer is
/// lowered, and Keras's names for its outputs.
extension KerasLowering {
    /// The layer classes of `spec` and of the models nested in it that Kiln cannot lower, the most frequent
    /// first (then in the order the model lists them), each with its layers (`outer/inner` inside a nested model).
    func unsupportedClasses(of spec: ModelSpec) throws(KerasImportError) -> [UnsupportedLayerClass] {
        var classes: [UnsupportedLayerClass] = []
        try collectUnsupported(spec, prefix: "", into: &classes)
        return classes.enumerated().sorted { ($0.element.layers.count, -$0.offset) > ($1.element.layers.count, -$1.offset) }.map(\.element)
    }

    private func collectUnsupported(_ spec: ModelSpec, prefix: String, into classes: inout [UnsupportedLayerClass]) throws(KerasImportError)
    {
        for layer in spec.layers {
            if Self.nestedModelClasses.contains(layer.className) {
                let nested = try KerasConfigParser(file: file).parse(
                    .object(["class_name": .string(layer.className), "config": layer.config]))
                try collectUnsupported(nested, prefix: "\(prefix)\(layer.name)/", into: &classes)
            } else if isOpLayer(layer) ? Self.opFunction(of: layer) == nil : !Self.supportedLayers.contains(layer.className) {
                let function = isOpLayer(layer) ? Self.functionName(of: layer) : nil
                if let index = classes.firstIndex(where: { $0.className == layer.className && $0.function == function }) {
                    classes[index].layers.append(prefix + layer.name)
                } else {
                    classes.append(
                        UnsupportedLayerClass(
                            className: layer.className, layers: [prefix + layer.name], module: layer.module, function: function))
                }
            }
        }
    }

    /// Model classes used as layers, inlined by `lowerNested`.
    static let nestedModelClasses: Set<String> = ["Sequential", "Functional", "Model"]

    /// Keras's output names: the producing layer's name, with `_1`, `_2`... for a layer named again (tf-keras's
    /// `Functional._set_output_names`).
    static func outputNames(_ outputs: [TensorRef]) -> [String] {
        var names: [String] = []
        var taken: Set<String> = []
        var counts: [String: Int] = [:]
        for ref in outputs {
            var proposal = ref.layer
            while taken.contains(proposal) {
                let count = counts[ref.layer] ?? 1
                proposal = "\(ref.layer)_\(count)"
                counts[ref.layer] = count + 1
            }
            taken.insert(proposal)
            names.append(proposal)
        }
        return names
    }
}
