import KilnIR

/// Swift spellings of IR names: the executor's type name, and one parameter name per input and output.
///
/// Parameter names keep the IR name recognizable: characters Swift does not allow become `_`, a leading
/// digit gets a `_` before it, and leading capitals are lowered as in lowerCamelCase (`Dense_1` -> `dense_1`,
/// `URLField` -> `urlField`). They are unique across inputs and outputs together, because the
/// allocation-free `predict` takes them all, and never one of the labels the generated API uses itself; a
/// clash gets a numeric suffix (`x`, `x_2`).
struct SwiftNames {
    /// Bare identifiers (no backticks), in the graph's input order.
    let inputs: [String]
    /// Bare identifiers, in the graph's output order.
    let outputs: [String]

    /// Labels of the generated API that no input or output may take.
    static let reserved: Set<String> = ["batchSize", "inputs", "self", "Self", "Type", "Protocol"]

    /// Words that need backticks to be used as names.
    static let keywords: Set<String> = [
        "associatedtype", "class", "deinit", "enum", "extension", "func", "import", "init", "inout", "let", "operator",
        "private", "protocol", "public", "static", "struct", "subscript", "typealias", "var", "break", "case", "continue",
        "default", "defer", "do", "else", "fallthrough", "for", "guard", "if", "in", "repeat", "return", "switch", "where",
        "while", "as", "catch", "false", "is", "nil", "rethrows", "super", "throw", "throws", "true", "try", "internal",
        "fileprivate", "open", "any", "some", "await", "consume", "borrowing", "consuming", "package",
    ]

    /// Type names the generated source refers to, which the executor's own name must not shadow.
    static let takenTypeNames: Set<String> = [
        "Data", "URL", "Error", "Float", "Double", "Int", "UInt8", "UInt32", "UInt64", "String", "Array", "Dictionary",
        "Bool", "Swift", "Foundation", "SIMD8", "Unsafe", "Output", "Any", "Self", "Type", "Protocol", "Never",
    ]

    init(graph: Graph) {
        var used = Self.reserved
        func unique(_ name: String) -> String {
            let base = Self.identifier(name)
            var candidate = base
            var suffix = 2
            while used.contains(candidate) {
                candidate = "\(base)_\(suffix)"
                suffix += 1
            }
            used.insert(candidate)
            return candidate
        }
        inputs = graph.inputs.map { unique($0.name) }
        outputs = graph.outputValues.map { unique($0.name) }
    }

    /// A bare identifier for an IR name.
    static func identifier(_ name: String) -> String {
        var characters = name.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") ? $0 : "_" }
        // Lower the leading capitals, keeping the last one when it starts a word: `URLField` -> `urlField`.
        let capitals = characters.prefix { $0.isUppercase }.count
        let lowered = capitals > 1 && capitals < characters.count && characters[capitals].isLowercase ? capitals - 1 : capitals
        for index in 0..<lowered { characters[index] = Character(characters[index].lowercased()) }
        let text = String(characters)
        return text.first?.isNumber ?? true ? "_" + text : text
    }

    /// An identifier in code position: keywords get backticks.
    static func code(_ bare: String) -> String { keywords.contains(bare) ? "`\(bare)`" : bare }

    /// `mnist_mlp` -> `MnistMlp`; a name that would shadow a type the source uses gets `Model` after it.
    static func typeName(for name: String) -> String {
        let words = name.split { !($0.isASCII && ($0.isLetter || $0.isNumber)) }
        var result = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        if result.isEmpty { result = "Model" }
        if result.first?.isNumber ?? false { result = "Model" + result }
        if takenTypeNames.contains(result) { result += "Model" }
        return result
    }

    /// Why `name` cannot be the executor's type name, or nil when it can.
    static func problem(withTypeName name: String) -> String? {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_",
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") })
        else { return "a type name needs ASCII letters, digits and '_', starting with a letter or '_'" }
        if keywords.contains(name) { return "it is a Swift keyword" }
        if takenTypeNames.contains(name) { return "it would shadow the type \(name) the generated source uses" }
        return nil
    }
}
