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

/// The order in which layer calls can run (Kahn's algorithm): each call waits for the tensors it reads that
/// no call has produced yet, and of the calls whose tensors all exist the one listed first runs next, so a
/// configuration already in order runs as listed. Each call and each tensor is handled once: O(n log n) for
/// n calls, where picking the first ready call by scanning the list was O(n^2) for a model listed last-first.
struct CallSchedule {
    /// How many tensors each call still waits for.
    private var missing: [Int]
    /// The calls waiting for each tensor.
    private var waiters: [TensorRef: [Int]] = [:]
    /// Calls ready to run, as a binary min-heap of their indices.
    private var ready: [Int] = []
    private var started: [Bool]

    /// `dependencies[i]` are the tensors call `i` reads; `produced` the tensors that exist already.
    init(_ dependencies: [[TensorRef]], produced: [TensorRef: String]) {
        missing = Array(repeating: 0, count: dependencies.count)
        started = Array(repeating: false, count: dependencies.count)
        for (call, refs) in dependencies.enumerated() {
            let unmet = Set(refs.filter { produced[$0] == nil })
            missing[call] = unmet.count
            for ref in unmet { waiters[ref, default: []].append(call) }
            if unmet.isEmpty { push(call) }
        }
    }

    /// The first listed call whose tensors all exist, nil when none is left.
    mutating func next() -> Int? {
        guard let first = ready.first else { return nil }
        let last = ready.removeLast()
        if !ready.isEmpty {
            ready[0] = last
            var index = 0
            while true {
                let left = 2 * index + 1, right = left + 1
                var smallest = index
                if left < ready.count && ready[left] < ready[smallest] { smallest = left }
                if right < ready.count && ready[right] < ready[smallest] { smallest = right }
                if smallest == index { break }
                ready.swapAt(index, smallest)
                index = smallest
            }
        }
        started[first] = true
        return first
    }

    /// Records that `ref` now exists (call it once per tensor).
    mutating func produced(_ ref: TensorRef) {
        for call in waiters.removeValue(forKey: ref) ?? [] {
            missing[call] -= 1
            if missing[call] == 0 { push(call) }
        }
    }

    /// The calls that never became ready, in list order.
    var waiting: [Int] { started.indices.filter { !started[$0] } }

    private mutating func push(_ call: Int) {
        ready.append(call)
        var index = ready.count - 1
        while index > 0 && ready[(index - 1) / 2] > ready[index] {
            ready.swapAt(index, (index - 1) / 2)
            index = (index - 1) / 2
        }
    }
}
