/// An integer expression in the generated code: a sum of whole multiples of run-time integers (`batch`, loop
/// counters, their products) and a constant, kept folded as it is built, so the source never holds a sum
/// or product of constants. swiftc type-checks `a + 8 * batch + o * (56) + (4) + (4) + ...` by trying every
/// integer and pointer `+` for every literal, which takes minutes once there are a dozen terms.
struct SwiftIndex: Hashable, CustomStringConvertible {
    /// Coefficients by product of names (sorted, joined by " * "); "" is the constant.
    private(set) var terms: [String: Int] = [:]

    init(_ constant: Int) {
        if constant != 0 { terms[""] = constant }
    }

    /// `coefficient * name`.
    init(_ name: String, times coefficient: Int = 1) {
        if coefficient != 0 { terms[name] = coefficient }
    }

    var isZero: Bool { terms.isEmpty }

    static func + (a: SwiftIndex, b: SwiftIndex) -> SwiftIndex {
        var sum = a
        for (key, coefficient) in b.terms { sum.terms[key, default: 0] += coefficient }
        sum.terms = sum.terms.filter { $0.value != 0 }
        return sum
    }

    static func * (a: SwiftIndex, b: SwiftIndex) -> SwiftIndex {
        var product = SwiftIndex(0)
        for (x, p) in a.terms {
            for (y, q) in b.terms {
                let key = (x.split(separator: " * ") + y.split(separator: " * ")).map(String.init).sorted().joined(separator: " * ")
                product = product + SwiftIndex(key, times: p * q)
            }
        }
        return product
    }

    static func * (a: SwiftIndex, k: Int) -> SwiftIndex { a * SwiftIndex(k) }

    /// The same expression with names replaced (`batch` -> `batchSize`); names not in `names` stay.
    func renamed(_ names: [String: String]) -> SwiftIndex {
        guard !names.isEmpty else { return self }
        var result = SwiftIndex(0)
        for (key, coefficient) in terms {
            let renamed = key.split(separator: " * ").map { names[String($0)] ?? String($0) }.sorted().joined(separator: " * ")
            result = result + SwiftIndex(renamed, times: coefficient)
        }
        return result
    }

    /// Names in order, the constant last: `8 * batch + o + 12`; `0` when empty.
    var description: String {
        let ordered = terms.keys.filter { !$0.isEmpty }.sorted() + (terms[""] == nil ? [] : [""])
        var text = ""
        for key in ordered {
            let coefficient = terms[key]!
            let magnitude = key.isEmpty ? "\(abs(coefficient))" : abs(coefficient) == 1 ? key : "\(abs(coefficient)) * \(key)"
            text += text.isEmpty ? (coefficient < 0 ? "-" : "") + magnitude : (coefficient < 0 ? " - " : " + ") + magnitude
        }
        return text.isEmpty ? "0" : text
    }
}
