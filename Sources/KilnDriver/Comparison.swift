import KilnIR

/// How far one engine's output is from the reference's.
public struct OutputComparison: Sendable {
    public var name: String
    public var maxAbsoluteError: Float
    /// The largest |actual - expected| / |expected| over elements whose expected value is not zero.
    public var maxRelativeError: Float
    /// Whether every element satisfies |actual - expected| <= atol + rtol * |expected| and shapes agree.
    public var withinTolerance: Bool
    /// Set when the shapes or element types differ; the errors are then meaningless.
    public var mismatch: String?
}

/// Element-wise comparison with an absolute plus relative tolerance (NumPy's `allclose` rule).
public struct Tolerance: Sendable {
    public var absolute: Float
    public var relative: Float

    public init(absolute: Float = 1e-5, relative: Float = 1e-4) {
        precondition(absolute >= 0 && relative >= 0, "tolerances are never negative")
        self.absolute = absolute
        self.relative = relative
    }

    /// The project's bar: atol 1e-5, rtol 1e-4.
    public static let standard = Tolerance()

    public func compare(name: String, actual: Tensor, expected: Tensor) -> OutputComparison {
        guard actual.shape == expected.shape else {
            return OutputComparison(
                name: name, maxAbsoluteError: .infinity, maxRelativeError: .infinity, withinTolerance: false,
                mismatch: "shape \(actual.shape) vs expected \(expected.shape)")
        }
        let a = actual.floats, e = expected.floats
        var maxAbs: Float = 0, maxRel: Float = 0
        var within = true
        for (x, y) in zip(a, e) {
            let diff = abs(x - y)
            if x.isNaN != y.isNaN || !(diff <= absolute + relative * abs(y)) && !(x == y) { within = false }
            if diff.isNaN { continue }
            maxAbs = max(maxAbs, diff)
            if y != 0 { maxRel = max(maxRel, diff / abs(y)) }
        }
        return OutputComparison(name: name, maxAbsoluteError: maxAbs, maxRelativeError: maxRel, withinTolerance: within, mismatch: nil)
    }

    /// Compares every expected output; an output missing from `actual` fails.
    public func compare(actual: [String: Tensor], expected: [String: Tensor]) -> [OutputComparison] {
        expected.keys.sorted().map { name in
            guard let value = actual[name] else {
                return OutputComparison(
                    name: name, maxAbsoluteError: .infinity, maxRelativeError: .infinity, withinTolerance: false,
                    mismatch: "the engine produced no output '\(name)'")
            }
            return compare(name: name, actual: value, expected: expected[name]!)
        }
    }
}
