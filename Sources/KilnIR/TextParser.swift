/// A syntax error in the text form, with its line and column.
public struct ParseError: Error, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(line):\(column): \(message)" }
}

/// Reads the text form written by `TextPrinter`. Constants written as `blob "sha256:…"` are looked up
/// with `resolveBlob`; a graph that has such constants cannot be read without its weights.
public struct TextParser {
    public typealias BlobResolver = (_ hash: String, _ type: TensorType) -> Tensor?

    /// The text as UTF-8: the syntax is ASCII, and only string literals may hold other characters.
    private let chars: [UInt8]
    private var pos = 0
    private let resolveBlob: BlobResolver

    public init(_ text: String, resolveBlob: @escaping BlobResolver = { _, _ in nil }) {
        self.chars = Array(text.utf8)
        self.resolveBlob = resolveBlob
    }

    /// Parses one graph. Shapes and types are read as written; call `Graph.verify()` to check them.
    public static func parse(_ text: String, resolveBlob: @escaping BlobResolver = { _, _ in nil }) throws(ParseError) -> Graph {
        var parser = TextParser(text, resolveBlob: resolveBlob)
        return try parser.parseGraph()
    }

    mutating func parseGraph() throws(ParseError) -> Graph {
        try expectWord("graph")
        try expect("@")
        var graph = Graph(name: try name())
        try expect("{")
        while !consume("}") {
            guard peek() != nil else { throw error("expected '}' to close graph @\(graph.name)") }
            let start = pos
            if peek() == UInt8(ascii: "%") {
                graph.nodes.append(try node())
                continue
            }
            switch try word() {
            case "meta":
                let key = try string()
                try expect("=")
                graph.metadata[key] = try string()
            case "input":
                try expect("%")
                let inputName = try name()
                try expect(":")
                graph.inputs.append(Value(inputName, try type()))
            case "const":
                graph.constants.append(try constant())
            case "output":
                repeat {
                    try expect("%")
                    graph.outputs.append(try name())
                } while consume(",")
            case let other:
                pos = start
                throw error("expected meta, input, const, output or a node, found '\(other)'")
            }
        }
        skipTrivia()
        guard pos == chars.count else { throw error("unexpected text after the graph") }
        return graph
    }

    private mutating func constant() throws(ParseError) -> Constant {
        try expect("%")
        let constantName = try name()
        try expect(":")
        let typeStart = pos
        let constantType = try type()
        guard let shape = constantType.shape.fixedSizes else {
            pos = typeStart
            throw error("a constant needs a fully known shape, got \(constantType)")
        }
        try expect("=")
        let bodyStart = pos
        if consume("[") {
            var items: [String] = []
            if !consume("]") {
                repeat { items.append(try number()) } while consume(",")
                try expect("]")
            }
            let count = CheckedArithmetic.product(shape)
            guard items.count == count else {
                pos = bodyStart
                throw error("\(constantType) needs \(count.map(String.init) ?? "more") elements, found \(items.count)")
            }
            guard let storage = Self.storage(constantType.dtype, items) else {
                pos = bodyStart
                throw error("an element is not a valid \(constantType.dtype.textName)")
            }
            return Constant(constantName, Tensor(shape: shape, storage: storage))
        }
        try expectWord("blob")
        let reference = try string()
        guard reference.hasPrefix("sha256:") else {
            pos = bodyStart
            throw error("a blob reference starts with sha256:")
        }
        let hash = String(reference.dropFirst("sha256:".count))
        guard let tensor = resolveBlob(hash, constantType) else {
            pos = bodyStart
            throw error(
                "constant %\(constantName) refers to weights blob \(reference), which was not found; pass the weights file written beside the .kir"
            )
        }
        guard tensor.type == constantType else {
            pos = bodyStart
            throw error("blob \(reference) holds \(tensor.type), the constant is declared \(constantType)")
        }
        return Constant(constantName, tensor)
    }

    private static func storage(_ dtype: DType, _ items: [String]) -> TensorStorage? {
        func all<T>(_ convert: (String) -> T?) -> [T]? {
            var out: [T] = []
            for item in items {
                guard let v = convert(item) else { return nil }
                out.append(v)
            }
            return out
        }
        switch dtype {
        case .float32: return all { Float($0) }.map(TensorStorage.float32)
        case .float16: return all { Float($0).map { Float16($0).bitPattern } }.map(TensorStorage.float16)
        case .int8: return all { Int8($0) }.map(TensorStorage.int8)
        case .uint8: return all { UInt8($0) }.map(TensorStorage.uint8)
        case .int32: return all { Int32($0) }.map(TensorStorage.int32)
        case .int64: return all { Int64($0) }.map(TensorStorage.int64)
        case .bool: return all { $0 == "true" ? true : $0 == "false" ? false : nil }.map(TensorStorage.bool)
        }
    }

    private mutating func node() throws(ParseError) -> Node {
        var outputNames: [String] = []
        repeat {
            try expect("%")
            outputNames.append(try name())
        } while consume(",")
        try expect("=")
        let opStart = pos
        let opName = try word()
        try expect("(")
        var inputs: [String] = []
        if !consume(")") {
            repeat {
                try expect("%")
                inputs.append(try name())
            } while consume(",")
            try expect(")")
        }
        var attributes: [String: Attribute] = [:]
        if consume("{") {
            if !consume("}") {
                repeat {
                    let key = try word()
                    try expect("=")
                    guard attributes[key] == nil else { throw error("attribute '\(key)' is given twice") }
                    attributes[key] = try attribute()
                } while consume(",")
                try expect("}")
            }
        }
        let op: Op
        do {
            op = try Op(name: opName, attributes: attributes)
        } catch {
            pos = opStart
            throw self.error(error.description)
        }
        try expect(":")
        var types: [TensorType] = []
        repeat { types.append(try type()) } while consume(",")
        guard types.count == outputNames.count else {
            throw error("\(outputNames.count) results but \(types.count) types")
        }
        var nodeName = outputNames[0]
        skipTrivia()
        if lookingAtWord("loc") {
            _ = try word()
            try expect("(")
            nodeName = try string()
            try expect(")")
        }
        return Node(name: nodeName, op: op, inputs: inputs, outputs: zip(outputNames, types).map { Value($0, $1) })
    }

    private mutating func attribute() throws(ParseError) -> Attribute {
        skipTrivia()
        if consume("[") {
            skipTrivia()
            if let ch = peek(), Self.isLetter(ch) {
                // A list of activations: `[Sigmoid, Tanh]`.
                var activations: [Activation] = []
                repeat {
                    let start = pos
                    guard case .activation(let activation) = try attribute() else {
                        pos = start
                        throw error("expected an activation in the list")
                    }
                    activations.append(activation)
                } while consume(",")
                try expect("]")
                return .activations(activations)
            }
            var values: [Int] = []
            if !consume("]") {
                repeat {
                    let text = try number()
                    guard let v = Int(text) else { throw error("expected an integer, found '\(text)'") }
                    values.append(v)
                } while consume(",")
                try expect("]")
            }
            return .ints(values)
        }
        if let ch = peek(), Self.isLetter(ch) {
            let start = pos
            let text = try word()
            switch text {
            case "true": return .bool(true)
            case "false": return .bool(false)
            case "inf", "nan": return .float(Float(text)!)
            default:
                if let dtype = DType(textName: text) { return .dtype(dtype) }
                if Activation.allNames.contains(text) {
                    // An activation value, with its own attributes in parentheses: `LeakyRelu(alpha = 0.2)`.
                    var attributes: [String: Attribute] = [:]
                    if consume("(") {
                        if !consume(")") {
                            repeat {
                                let key = try word()
                                try expect("=")
                                guard attributes[key] == nil else { throw error("attribute '\(key)' is given twice") }
                                attributes[key] = try attribute()
                            } while consume(",")
                            try expect(")")
                        }
                    }
                    do {
                        if let activation = try Activation(name: text, attributes: attributes) { return .activation(activation) }
                    } catch {
                        pos = start
                        throw self.error(error.description)
                    }
                }
                // Choices are lowercase words (`forward`); a capitalized one is a misspelt activation.
                if let first = text.first, first.isLowercase { return .word(text) }
                pos = start
                throw error("unknown attribute value '\(text)'")
            }
        }
        let text = try number()
        if let v = Int(text) { return .int(v) }
        if let v = Float(text) { return .float(v) }
        throw error("bad number '\(text)'")
    }

    private mutating func type() throws(ParseError) -> TensorType {
        let start = pos
        let dtypeName = try word()
        guard let dtype = DType(textName: dtypeName) else {
            pos = start
            throw error("unknown element type '\(dtypeName)'; expected one of \(DType.allCases.map(\.textName).joined(separator: ", "))")
        }
        try expect("[")
        var dims: [Dim] = []
        if !consume("]") {
            repeat {
                skipTrivia()
                if let ch = peek(), Self.isLetter(ch) || ch == UInt8(ascii: "_") {
                    dims.append(.symbolic(try word()))
                } else {
                    let text = try number()
                    guard let size = Int(text), size >= 0 else { throw error("bad dimension '\(text)'") }
                    dims.append(.fixed(size))
                }
            } while consume(",")
            try expect("]")
        }
        // Sizes come from a file: their product (in bytes) must be countable, or later arithmetic overflows.
        guard MemoryLimit.byteCount(of: dims.compactMap(\.fixedValue), elementSize: dtype.byteSize) != nil else {
            pos = start
            throw error("the shape of \(dtype.textName)\(Shape(dims)) holds more bytes than can be counted")
        }
        return TensorType(dtype, Shape(dims))
    }

    // MARK: - Lexing

    private func peek() -> UInt8? { pos < chars.count ? chars[pos] : nil }

    private static func isLetter(_ ch: UInt8) -> Bool { (ch | 0x20) >= UInt8(ascii: "a") && (ch | 0x20) <= UInt8(ascii: "z") }
    private static func isDigit(_ ch: UInt8) -> Bool { ch >= UInt8(ascii: "0") && ch <= UInt8(ascii: "9") }
    private static func isWordCharacter(_ ch: UInt8) -> Bool { isLetter(ch) || isDigit(ch) || ch == UInt8(ascii: "_") }
    private static func isWhitespace(_ ch: UInt8) -> Bool {
        ch == UInt8(ascii: " ") || ch == UInt8(ascii: "\n") || ch == UInt8(ascii: "\t") || ch == UInt8(ascii: "\r")
    }

    private func text(_ range: Range<Int>) -> String { String(decoding: chars[range], as: UTF8.self) }

    /// The character at the position, for messages.
    private func found() -> String? {
        guard pos < chars.count else { return nil }
        var end = pos + 1
        while end < chars.count, chars[end] & 0xC0 == 0x80 { end += 1 }
        return text(pos..<end)
    }

    private mutating func skipTrivia() {
        while pos < chars.count {
            if Self.isWhitespace(chars[pos]) {
                pos += 1
            } else if chars[pos] == UInt8(ascii: "/") && pos + 1 < chars.count && chars[pos + 1] == UInt8(ascii: "/") {
                while pos < chars.count && chars[pos] != UInt8(ascii: "\n") { pos += 1 }
            } else {
                return
            }
        }
    }

    private mutating func consume(_ ch: Unicode.Scalar) -> Bool {
        skipTrivia()
        guard peek() == UInt8(ascii: ch) else { return false }
        pos += 1
        return true
    }

    private mutating func expect(_ ch: Unicode.Scalar) throws(ParseError) {
        guard consume(ch) else { throw error("expected '\(ch)'\(found().map { ", found '\($0)'" } ?? " before the end")") }
    }

    private mutating func lookingAtWord(_ expected: String) -> Bool {
        skipTrivia()
        let bytes = Array(expected.utf8)
        let end = pos + bytes.count
        guard end <= chars.count, chars[pos..<end].elementsEqual(bytes) else { return false }
        return end == chars.count || !Self.isWordCharacter(chars[end])
    }

    private mutating func expectWord(_ expected: String) throws(ParseError) {
        guard lookingAtWord(expected) else { throw error("expected '\(expected)'") }
        pos += expected.utf8.count
    }

    /// An identifier: letters, digits and `_`.
    private mutating func word() throws(ParseError) -> String {
        skipTrivia()
        let start = pos
        while let ch = peek(), Self.isWordCharacter(ch) { pos += 1 }
        guard pos > start else { throw error("expected a word\(found().map { ", found '\($0)'" } ?? "")") }
        return text(start..<pos)
    }

    /// A value or graph name after `%` or `@`: letters, digits and `_ . - /`.
    private mutating func name() throws(ParseError) -> String {
        let start = pos
        while let ch = peek(), Self.isWordCharacter(ch) || ch == UInt8(ascii: ".") || ch == UInt8(ascii: "-") || ch == UInt8(ascii: "/") {
            pos += 1
        }
        guard pos > start else { throw error("expected a name") }
        return text(start..<pos)
    }

    /// Whether a character may appear in a value name.
    public static func isNameCharacter(_ ch: Character) -> Bool {
        ch.isASCII && (ch.isLetter || ch.isNumber || ch == "_" || ch == "." || ch == "-" || ch == "/")
    }

    private mutating func number() throws(ParseError) -> String {
        skipTrivia()
        let start = pos
        while let ch = peek(),
            Self.isLetter(ch) || Self.isDigit(ch) || ch == UInt8(ascii: ".") || ch == UInt8(ascii: "-") || ch == UInt8(ascii: "+")
        {
            pos += 1
        }
        guard pos > start else { throw error("expected a number") }
        return text(start..<pos)
    }

    private mutating func string() throws(ParseError) -> String {
        try expect("\"")
        var out: [UInt8] = []
        while true {
            guard let ch = peek() else { throw error("unterminated string") }
            pos += 1
            switch ch {
            case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard let escaped = peek() else { throw error("unterminated string") }
                pos += 1
                switch escaped {
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(escaped)
                default: throw error("unknown escape '\\\(Character(Unicode.Scalar(escaped)))'")
                }
            default: out.append(ch)
            }
        }
    }

    private func error(_ message: String) -> ParseError {
        var at = min(pos, chars.count)
        while at < chars.count && Self.isWhitespace(chars[at]) { at += 1 }
        // Lines and columns count characters, not bytes.
        let before = String(decoding: chars[0..<at], as: UTF8.self)
        var line = 1, column = 1
        for ch in before {
            if ch == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return ParseError(line: line, column: column, message: message)
    }
}
