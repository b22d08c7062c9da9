/// One dimension of a shape: a known size, or a named symbol such as the batch dimension `N`.
public enum Dim: Hashable, Sendable, CustomStringConvertible {
    case fixed(Int)
    case symbolic(String)

    public var description: String {
        switch self {
        case .fixed(let size): String(size)
        case .symbolic(let name): name
        }
    }

    public var fixedValue: Int? {
        if case .fixed(let size) = self { return size }
        return nil
    }
}

/// A tensor shape whose dimensions may be symbolic.
public struct Shape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    public var dims: [Dim]

    public init(_ dims: [Dim]) { self.dims = dims }
    public init(fixed sizes: [Int]) { self.dims = sizes.map(Dim.fixed) }
    public init(arrayLiteral elements: Dim...) { self.dims = elements }

    public var rank: Int { dims.count }

    /// The sizes, when every dimension is known.
    public var fixedSizes: [Int]? {
        var sizes: [Int] = []
        for dim in dims {
            guard let size = dim.fixedValue else { return nil }
            sizes.append(size)
        }
        return sizes
    }

    /// The product of the dimensions, or nil if any is symbolic or the product overflows `Int`.
    public var elementCount: Int? { fixedSizes.flatMap { CheckedArithmetic.product($0) } }

    /// Substitutes every symbolic dimension named in `bindings`.
    public func binding(_ bindings: [String: Int]) -> Shape {
        Shape(
            dims.map { dim in
                if case .symbolic(let name) = dim, let size = bindings[name] { return .fixed(size) }
                return dim
            })
    }

    public var description: String { "[" + dims.map(\.description).joined(separator: ",") + "]" }
}

extension Dim: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    public init(integerLiteral value: Int) { self = .fixed(value) }
    public init(stringLiteral value: String) { self = .symbolic(value) }
}

/// The static type of a value: element type and shape.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: Shape

    public init(_ dtype: DType, _ shape: Shape) {
        self.dtype = dtype
        self.shape = shape
    }

    /// `f32[N,28,28]`
    public var description: String { dtype.textName + shape.description }
}
