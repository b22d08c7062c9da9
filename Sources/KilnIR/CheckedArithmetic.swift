/// Integer arithmetic for shape and size computations that reports overflow instead of trapping.
///
/// Sizes come from files (a Keras config, a `.kir`, a `.npy` header), so any product or sum of them may
/// exceed `Int`. Each function returns nil where `*` or `+` would trap; callers turn nil into an error that
/// says which size it was (`Op.inferTypes` into a `TypeError`, the Keras frontend into a `KerasImportError`).
public enum CheckedArithmetic {
    /// `a * b`, or nil when it overflows `Int`.
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : result
    }

    /// `a + b`, or nil when it overflows `Int`.
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// `a - b`, or nil when it overflows `Int`.
    public static func subtract(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.subtractingReportingOverflow(b)
        return overflow ? nil : result
    }

    /// The product of `values` (1 when empty), or nil when any partial product overflows, taken left to
    /// right as every other product of these sizes is.
    public static func product(_ values: some Sequence<Int>) -> Int? {
        var total = 1
        for value in values {
            guard let next = multiply(total, value) else { return nil }
            total = next
        }
        return total
    }

    /// The sum of `values` (0 when empty), or nil when it overflows.
    public static func sum(_ values: some Sequence<Int>) -> Int? {
        var total = 0
        for value in values {
            guard let next = add(total, value) else { return nil }
            total = next
        }
        return total
    }
}

extension Op {
    /// `a * b` for shape inference: a `TypeError` naming `what` when it overflows.
    func multiply(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws(TypeError) -> Int {
        guard let result = CheckedArithmetic.multiply(a, b) else { throw overflow(what()) }
        return result
    }

    /// `a + b` for shape inference: a `TypeError` naming `what` when it overflows.
    func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws(TypeError) -> Int {
        guard let result = CheckedArithmetic.add(a, b) else { throw overflow(what()) }
        return result
    }

    /// `a - b` for shape inference: a `TypeError` naming `what` when it overflows.
    func subtract(_ a: Int, _ b: Int, _ what: @autoclosure () -> String) throws(TypeError) -> Int {
        guard let result = CheckedArithmetic.subtract(a, b) else { throw overflow(what()) }
        return result
    }

    func overflow(_ what: String) -> TypeError {
        TypeError(op: name, "\(what) is larger than a 64-bit integer holds; no tensor has sizes like these")
    }

    /// Throws unless every known dimension of `type` is non-negative and its elements' bytes (symbolic
    /// dimensions counted as 1) fit in an `Int`: the sizes every other rule and every backend may multiply.
    func requireCountable(_ type: TensorType, _ role: String) throws(TypeError) {
        let sizes = type.shape.dims.compactMap(\.fixedValue)
        if let negative = sizes.first(where: { $0 < 0 }) {
            throw TypeError(op: name, "\(role) \(type) has a negative dimension (\(negative))")
        }
        // Bytes first: then every partial product of the sizes, in any code that multiplies them, fits too.
        guard CheckedArithmetic.product([type.dtype.byteSize] + sizes) != nil else {
            throw TypeError(op: name, "\(role) \(type) holds more bytes than a 64-bit integer can count")
        }
    }
}
