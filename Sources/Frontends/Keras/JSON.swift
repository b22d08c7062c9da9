import Foundation

/// A parsed JSON value with typed accessors, for reading Keras configurations.
enum JSON: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    /// Parses JSON text (RFC 8259; no NaN or Infinity, as Python writes only with `allow_nan`). Linear in the
    /// text's length: JSONDecoder, which this replaces, builds an error for every type a value is not, so a
    /// 4 MB configuration of 20,000 layers took seconds. Nesting deeper than `maxDepth` is an error, not a
    /// stack overflow.
    init(parsing text: String) throws {
        var parser = JSONParser(Array(text.utf8))
        self = try parser.document()
    }

    subscript(key: String) -> JSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var array: [JSON]? { if case .array(let a) = self { a } else { nil } }
    var object: [String: JSON]? { if case .object(let o) = self { o } else { nil } }
    var double: Double? { if case .number(let n) = self { n } else { nil } }
    var bool: Bool? { if case .bool(let b) = self { b } else { nil } }
    var isNull: Bool { self == .null }

    var int: Int? {
        // Beyond ±2^53 a Double no longer holds every integer, and beyond Int's range Int(n) would trap.
        guard let n = double, n == n.rounded(), Swift.abs(n) <= 9_007_199_254_740_992 else { return nil }
        return Int(n)
    }
}

/// Why a text is not JSON, and where.
struct JSONSyntaxError: Error, CustomStringConvertible {
    var offset: Int
    var reason: String
    var description: String { "not valid JSON at byte \(offset): \(reason)" }
}

/// A recursive-descent JSON parser over UTF-8 bytes.
private struct JSONParser {
    /// Deeper nesting than any model configuration has (a Keras model nested in models nests a few dozen).
    static let maxDepth = 512

    private let bytes: [UInt8]
    private var position = 0
    private var depth = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(JSONSyntaxError) -> JSON {
        let value = try self.value()
        skipWhitespace()
        guard position == bytes.count else { throw fail("text after the value") }
        return value
    }

    private func fail(_ reason: String) -> JSONSyntaxError { JSONSyntaxError(offset: position, reason: reason) }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
    }

    private mutating func literal(_ word: StaticString, _ value: JSON) throws(JSONSyntaxError) -> JSON {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count,
            word.withUTF8Buffer({ bytes[position..<position + count].elementsEqual($0) })
        else { throw fail("expected \(word)") }
        position += count
        return value
    }

    private mutating func value() throws(JSONSyntaxError) -> JSON {
        skipWhitespace()
        guard position < bytes.count else { throw fail("the text ends where a value should be") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try nested { parser throws(JSONSyntaxError) in try parser.object() }
        case UInt8(ascii: "["): return try nested { parser throws(JSONSyntaxError) in try parser.array() }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
        default: throw fail("unexpected character")
        }
    }

    private mutating func nested(_ body: (inout JSONParser) throws(JSONSyntaxError) -> JSON) throws(JSONSyntaxError) -> JSON {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("nested more than \(Self.maxDepth) deep") }
        defer { depth -= 1 }
        return try body(&self)
    }

    private mutating func object() throws(JSONSyntaxError) -> JSON {
        position += 1
        var members: [String: JSON] = [:]
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count && bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try string()
            skipWhitespace()
            guard position < bytes.count && bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            position += 1
            members[key] = try value()
            skipWhitespace()
            guard position < bytes.count else { throw fail("the text ends inside an object") }
            if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            guard bytes[position] == UInt8(ascii: ",") else { throw fail("expected ',' or '}'") }
            position += 1
        }
    }

    private mutating func array() throws(JSONSyntaxError) -> JSON {
        position += 1
        var items: [JSON] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(items)
        }
        while true {
            items.append(try value())
            skipWhitespace()
            guard position < bytes.count else { throw fail("the text ends inside an array") }
            if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            guard bytes[position] == UInt8(ascii: ",") else { throw fail("expected ',' or ']'") }
            position += 1
        }
    }

    private func isDigit(_ offset: Int) -> Bool {
        offset < bytes.count && bytes[offset] >= UInt8(ascii: "0") && bytes[offset] <= UInt8(ascii: "9")
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, converted by the standard library.
    private mutating func number() throws(JSONSyntaxError) -> Double {
        let start = position
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard isDigit(position) else { throw fail("expected a digit") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard isDigit(position) else { throw fail("expected a digit after '.'") }
            while isDigit(position) { position += 1 }
        }
        if position < bytes.count && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
            position += 1
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) { position += 1 }
            guard isDigit(position) else { throw fail("expected a digit in the exponent") }
            while isDigit(position) { position += 1 }
        }
        guard let value = Double(String(decoding: bytes[start..<position], as: UTF8.self)) else { throw fail("not a number") }
        return value
    }

    /// A string, its escapes decoded (`\uXXXX` with surrogate pairs); invalid UTF-8 becomes U+FFFD.
    private mutating func string() throws(JSONSyntaxError) -> String {
        position += 1
        var run = position
        var result: [UInt8] = []
        while true {
            guard position < bytes.count else { throw fail("the text ends inside a string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                result.append(contentsOf: bytes[run..<position])
                position += 1
                return String(decoding: result, as: UTF8.self)
            }
            guard byte >= 0x20 else { throw fail("a control character inside a string") }
            guard byte == UInt8(ascii: "\\") else {
                position += 1
                continue
            }
            result.append(contentsOf: bytes[run..<position])
            position += 1
            guard position < bytes.count else { throw fail("the text ends inside an escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): result.append(escape)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0c)
            case UInt8(ascii: "n"): result.append(0x0a)
            case UInt8(ascii: "r"): result.append(0x0d)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                {
                    position += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a high surrogate without its low half") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                result.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
            default: throw fail("an unknown escape")
            }
            run = position
        }
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard position < bytes.count, let digit = Character(Unicode.Scalar(bytes[position])).hexDigitValue else {
                throw fail("expected four hexadecimal digits")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}
