/// One argument of a recorded layer call as the file writes it: a tensor some layer produced, a constant (a
/// number, string, bool or None), or a list or dict of arguments. Op layers (`tf.*` and `keras.ops.*` calls) read
/// their settings from these.
indirect enum CallValue: Equatable {
    case tensor(TensorRef)
    case constant(JSON)
    case list([CallValue])
    case dict([String: CallValue])

    /// Every tensor in the value: lists in order, dicts by sorted key.
    var tensorRefs: [TensorRef] {
        switch self {
        case .tensor(let ref): [ref]
        case .constant: []
        case .list(let items): items.flatMap(\.tensorRefs)
        case .dict(let items): items.keys.sorted().flatMap { items[$0]!.tensorRefs }
        }
    }

    /// The value with every tensor reference transformed (to scope the layers of a nested model).
    func mapRefs(_ transform: (TensorRef) -> TensorRef) -> CallValue {
        switch self {
        case .tensor(let ref): .tensor(transform(ref))
        case .constant: self
        case .list(let items): .list(items.map { $0.mapRefs(transform) })
        case .dict(let items): .dict(items.mapValues { $0.mapRefs(transform) })
        }
    }

    /// The value as plain JSON, or nil when it holds a tensor.
    var json: JSON? {
        switch self {
        case .tensor: return nil
        case .constant(let value): return value
        case .list(let items):
            var values: [JSON] = []
            for item in items {
                guard let value = item.json else { return nil }
                values.append(value)
            }
            return .array(values)
        case .dict(let items):
            var values: [String: JSON] = [:]
            for (key, item) in items {
                guard let value = item.json else { return nil }
                values[key] = value
            }
            return .object(values)
        }
    }
}

/// The arguments of one recorded call of a layer: positional and keyword.
struct CallArguments: Equatable {
    var args: [CallValue]
    var kwargs: [String: CallValue]

    /// The tensors the call reads, in the order layers take them: the positional arguments', then the keyword
    /// arguments' by key, but the `mask` keyword argument's.
    var inputs: [TensorRef] {
        args.flatMap(\.tensorRefs) + kwargs.keys.sorted().filter { $0 != "mask" }.flatMap { kwargs[$0]!.tensorRefs }
    }

    /// The tensor given as the `mask` keyword argument (Keras 3 passes the mask of a masking Embedding this way to
    /// the layers that use it).
    var mask: TensorRef? {
        if case .tensor(let ref) = kwargs["mask"] { return ref }
        return nil
    }

    func mapRefs(_ transform: (TensorRef) -> TensorRef) -> CallArguments {
        CallArguments(args: args.map { $0.mapRefs(transform) }, kwargs: kwargs.mapValues { $0.mapRefs(transform) })
    }
}

/// Reading the calls recorded in `inbound_nodes`.
extension KerasConfigParser {
    /// Keras 2 marks a constant in a call's first argument as `["_CONSTANT_VALUE", -1, value, kwargs]`.
    static let constantMarker = "_CONSTANT_VALUE"

    /// The calls of a layer. Keras 3 writes `[{"args": [...], "kwargs": {...}}, ...]` with tensors as
    /// `__keras_tensor__` objects. Keras 2 writes each call's first argument with every tensor in it as
    /// `[name, node, tensor, kwargs]` (the same kwargs after each, where tensors are `[name, node, tensor]`) and
    /// every constant as `["_CONSTANT_VALUE", -1, value, kwargs]`: a list of them for most layers, a single one or
    /// any structure for op layers (which keep the structure of their first argument); later positional
    /// arguments are among the kwargs under their parameter names. `layerNames` are the model's layers: a kwarg is
    /// a tensor only when it names one of them.
    func inboundCalls(_ json: JSON, layer: String, layerNames: Set<String>) throws(KerasImportError) -> [CallArguments] {
        guard let nodes = json.array else { throw bad("inbound_nodes of '\(layer)' is not a list") }
        var calls: [CallArguments] = []
        for node in nodes {
            if let args = node["args"] {
                let kwargs = node["kwargs"]?.object ?? [:]
                calls.append(CallArguments(args: (args.array ?? [args]).map(Self.keras3Value), kwargs: kwargs.mapValues(Self.keras3Value)))
            } else if node.array != nil {
                var kwargs: JSON?
                let first = try keras2FirstArgument(node, kwargs: &kwargs, layer: layer)
                let named = (kwargs?.object ?? [:]).mapValues { Self.keras2Kwarg($0, layerNames: layerNames) }
                calls.append(CallArguments(args: [first], kwargs: named))
            } else {
                throw bad("an inbound node of '\(layer)' has an unknown form")
            }
        }
        return calls
    }

    /// Keras 3: `__keras_tensor__` objects are tensors, `__tensor__` and `__numpy__` objects constant arrays.
    static func keras3Value(_ json: JSON) -> CallValue {
        switch json {
        case .object(let object):
            let className = object["class_name"]?.string
            if className == "__keras_tensor__", let history = object["config"]?["keras_history"], let ref = tensorRef(history) {
                return .tensor(ref)
            }
            if className == "__tensor__" || className == "__numpy__", let value = object["config"]?["value"] {
                return keras3Value(value)
            }
            return .dict(object.mapValues(keras3Value))
        case .array(let items): return .list(items.map(keras3Value))
        case .null, .bool, .number, .string: return .constant(json)
        }
    }

    /// Keras 2's first argument. The kwargs of the first entry are handed back (every entry carries the same).
    private func keras2FirstArgument(_ json: JSON, kwargs: inout JSON?, layer: String) throws(KerasImportError) -> CallValue {
        switch json {
        case .array(let items) where items.first?.string != nil:
            guard items.count == 3 || items.count == 4 else {
                throw bad("an inbound node of '\(layer)' holds \(items.count) items where [layer, node, tensor, kwargs] belongs")
            }
            if items.count == 4, kwargs == nil { kwargs = items[3] }
            if items[0].string == Self.constantMarker { return Self.plainValue(items[2]) }
            guard let ref = Self.tensorRef(json) else { throw bad("a tensor reference of '\(layer)' is not [layer, node, tensor]") }
            return .tensor(ref)
        case .array(let items):
            var values: [CallValue] = []
            for item in items { values.append(try keras2FirstArgument(item, kwargs: &kwargs, layer: layer)) }
            return .list(values)
        case .object(let object):
            var values: [String: CallValue] = [:]
            for key in object.keys.sorted() { values[key] = try keras2FirstArgument(object[key]!, kwargs: &kwargs, layer: layer) }
            return .dict(values)
        case .null, .bool, .number, .string:
            return .constant(json)
        }
    }

    /// A Keras 2 keyword argument: `[name, node, tensor]` lists naming one of the model's layers are tensors.
    private static func keras2Kwarg(_ json: JSON, layerNames: Set<String>) -> CallValue {
        switch json {
        case .array(let items):
            if items.count == 3, let name = items[0].string, layerNames.contains(name), let ref = tensorRef(json) { return .tensor(ref) }
            return .list(items.map { keras2Kwarg($0, layerNames: layerNames) })
        case .object(let object): return .dict(object.mapValues { keras2Kwarg($0, layerNames: layerNames) })
        case .null, .bool, .number, .string: return .constant(json)
        }
    }

    /// JSON with no tensors in it, as call values.
    private static func plainValue(_ json: JSON) -> CallValue {
        switch json {
        case .array(let items): .list(items.map(plainValue))
        case .object(let object): .dict(object.mapValues(plainValue))
        case .null, .bool, .number, .string: .constant(json)
        }
    }

    static func tensorRef(_ json: JSON) -> TensorRef? {
        guard let items = json.array, items.count >= 3, let layer = items[0].string, let node = items[1].int, let tensor = items[2].int
        else { return nil }
        return TensorRef(layer: layer, node: node, tensor: tensor)
    }
}
