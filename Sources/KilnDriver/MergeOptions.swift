import KilnIR

/// One model to merge: its name (which also names its values in the merged graph) and its graph.
public struct MergeSource: Sendable {
    public var name: String
    public var graph: Graph

    public init(name: String, graph: Graph) {
        self.name = name
        self.graph = graph
    }
}

/// A value of one source model, written `MODEL.VALUE` on the command line (`head_a.probs`). The model name
/// ends at the first dot; the value's name may hold more dots.
public struct ValueReference: Hashable, Sendable, CustomStringConvertible {
    public var model: String
    public var value: String

    public init(model: String, value: String) {
        self.model = model
        self.value = value
    }

    public init(parsing text: String) throws(MergeError) {
        guard let dot = text.firstIndex(of: "."), dot != text.startIndex, text.index(after: dot) != text.endIndex else {
            throw .syntax(text, expected: "MODEL.VALUE, e.g. head_a.probs")
        }
        self.init(model: String(text[..<dot]), value: String(text[text.index(after: dot)...]))
    }

    public var description: String { "\(model).\(value)" }
}

/// How an ensemble combines the outputs it is given.
public enum EnsembleKind: String, Sendable, CaseIterable {
    /// The elementwise mean.
    case mean
    /// The elementwise maximum.
    case max
    /// The class most models pick (the argmax along the last axis), ties to the lowest class index.
    case vote
}

/// An ensemble output added to the merged graph: `[NAME=]KIND[:MODEL.OUTPUT,...]`. Without outputs it
/// combines the one output of every model.
public struct EnsembleSpec: Hashable, Sendable {
    public var kind: EnsembleKind
    public var outputs: [ValueReference]
    /// The name of the ensemble's output in the merged graph.
    public var name: String

    public init(kind: EnsembleKind, outputs: [ValueReference] = [], name: String = "ensemble") {
        self.kind = kind
        self.outputs = outputs
        self.name = name
    }

    public init(parsing text: String) throws(MergeError) {
        var rest = Substring(text)
        var name = "ensemble"
        if let eq = rest.firstIndex(of: "="), !rest[..<eq].contains(":") {
            name = String(rest[..<eq])
            rest = rest[rest.index(after: eq)...]
        }
        let parts = rest.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = EnsembleKind(rawValue: String(parts[0])), !name.isEmpty else {
            throw .syntax(text, expected: "[NAME=]mean|max|vote[:MODEL.OUTPUT,MODEL.OUTPUT...]")
        }
        var outputs: [ValueReference] = []
        if parts.count == 2 {
            for word in parts[1].split(separator: ",") { outputs.append(try ValueReference(parsing: String(word))) }
        }
        self.init(kind: kind, outputs: outputs, name: name)
    }
}

/// How `ModelMerger` joins its models.
public struct MergeOptions: Sendable {
    /// Whether inputs of equal name, element type and shape become one input.
    public enum InputSharing: String, Sendable, CaseIterable {
        case none, auto
    }

    /// The prefix of each model's values by model name; a model not listed gets `NAME_`.
    public var prefixes: [String: String]
    public var shareInputs: InputSharing
    /// Pairs of inputs that become one input (`--share A.x=B.input_1`).
    public var shares: [(ValueReference, ValueReference)]
    /// An output of one model feeding an input of another (`--pipe A.out=B.in`).
    public var pipes: [(output: ValueReference, input: ValueReference)]
    public var ensembles: [EnsembleSpec]
    /// Store identical constants once and compute identical nodes once.
    public var deduplicate: Bool

    public init(
        prefixes: [String: String] = [:], shareInputs: InputSharing = .none, shares: [(ValueReference, ValueReference)] = [],
        pipes: [(output: ValueReference, input: ValueReference)] = [], ensembles: [EnsembleSpec] = [], deduplicate: Bool = true
    ) {
        self.prefixes = prefixes
        self.shareInputs = shareInputs
        self.shares = shares
        self.pipes = pipes
        self.ensembles = ensembles
        self.deduplicate = deduplicate
    }

    /// Parses `A.x=B.y`, the form of `--share` and `--pipe`.
    public static func pair(_ text: String) throws(MergeError) -> (ValueReference, ValueReference) {
        let parts = text.split(separator: "=", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .syntax(text, expected: "MODEL.VALUE=MODEL.VALUE") }
        return (try ValueReference(parsing: String(parts[0])), try ValueReference(parsing: String(parts[1])))
    }
}

/// Why models could not be merged.
public enum MergeError: Error, CustomStringConvertible, Equatable {
    case syntax(String, expected: String)
    case tooFewModels(Int)
    case badModelName(String)
    case duplicateModel(String)
    case unknownModel(String, known: [String])
    case unknownInput(ValueReference, known: [String])
    case unknownOutput(ValueReference, known: [String])
    case typeMismatch(String, ValueReference, TensorType, ValueReference, TensorType)
    case sharedAndPiped(ValueReference)
    case pipedTwice(ValueReference)
    case pipeCycle([String])
    case nameCollision(String, models: [String])
    case ensemble(String, reason: String)
    case opsetTooLow(requested: Int, needed: Int, model: String)
    case invalidResult(VerificationError)

    public var description: String {
        switch self {
        case .syntax(let text, let expected): "cannot read '\(text)': expected \(expected)"
        case .tooFewModels(let count): "merge needs at least two models, got \(count)"
        case .badModelName(let name):
            "model name '\(name)' may hold only letters, digits, '_' and '-'; name a model with NAME=FILE"
        case .duplicateModel(let name): "two models are named '\(name)'; name them apart with NAME=FILE"
        case .unknownModel(let name, let known): "no model named '\(name)'; the models are \(known.joined(separator: ", "))"
        case .unknownInput(let ref, let known): "\(ref.model) has no input '\(ref.value)'; its inputs are \(known.joined(separator: ", "))"
        case .unknownOutput(let ref, let known):
            "\(ref.model) has no output '\(ref.value)'; its outputs are \(known.joined(separator: ", "))"
        case .typeMismatch(let what, let a, let aType, let b, let bType):
            "cannot \(what) \(a) (\(aType)) and \(b) (\(bType)): their element types and shapes differ"
        case .sharedAndPiped(let ref): "input \(ref) is both shared with another input and fed by --pipe; choose one"
        case .pipedTwice(let ref): "input \(ref) is fed by two --pipe options"
        case .pipeCycle(let models): "the --pipe options form a cycle through \(models.joined(separator: ", "))"
        case .nameCollision(let name, let models):
            "the value '\(name)' would be defined by \(models.joined(separator: " and ")) in the merged graph; give them distinct --prefix"
        case .ensemble(let name, let reason): "ensemble '\(name)': \(reason)"
        case .opsetTooLow(let requested, let needed, let model):
            "--opset \(requested) is below opset \(needed), which \(model) was made for; use --opset \(needed) or higher"
        case .invalidResult(let error): "the merged graph is not valid: \(error)"
        }
    }

    public static func == (lhs: MergeError, rhs: MergeError) -> Bool { lhs.description == rhs.description }
}
