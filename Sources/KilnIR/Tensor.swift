/// The elements of a constant tensor, in row-major order.
public enum TensorStorage: Hashable, Sendable {
    case float32([Float])
    /// IEEE half-precision values kept as their bit patterns.
    case float16([UInt16])
    case int8([Int8])
    case uint8([UInt8])
    case int32([Int32])
    case int64([Int64])
    case bool([Bool])

    public var dtype: DType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .int8: .int8
        case .uint8: .uint8
        case .int32: .int32
        case .int64: .int64
        case .bool: .bool
        }
    }

    public var count: Int {
        switch self {
        case .float32(let v): v.count
        case .float16(let v): v.count
        case .int8(let v): v.count
        case .uint8(let v): v.count
        case .int32(let v): v.count
        case .int64(let v): v.count
        case .bool(let v): v.count
        }
    }
}

/// A dense tensor with a fully known shape: a constant in the graph, or a value in the interpreter.
public struct Tensor: Hashable, Sendable {
    public var shape: [Int]
    public var storage: TensorStorage

    public init(shape: [Int], storage: TensorStorage) {
        precondition(shape.reduce(1, *) == storage.count, "tensor shape \(shape) does not match \(storage.count) elements")
        self.shape = shape
        self.storage = storage
    }

    public init(shape: [Int], floats: [Float]) { self.init(shape: shape, storage: .float32(floats)) }

    public var dtype: DType { storage.dtype }
    public var count: Int { storage.count }
    public var type: TensorType { TensorType(dtype, Shape(fixed: shape)) }

    /// The elements as float32 (converting integer and boolean types), for arithmetic in the interpreter.
    public var floats: [Float] {
        switch storage {
        case .float32(let v): v
        case .float16(let v): v.map { Float(Float16(bitPattern: $0)) }
        case .int8(let v): v.map(Float.init)
        case .uint8(let v): v.map(Float.init)
        case .int32(let v): v.map(Float.init)
        case .int64(let v): v.map(Float.init)
        case .bool(let v): v.map { $0 ? 1 : 0 }
        }
    }

    /// The elements as 64-bit integers, for shape and index arithmetic.
    public var int64s: [Int64] {
        switch storage {
        case .float32(let v): v.map { Int64($0) }
        case .float16(let v): v.map { Int64(Float(Float16(bitPattern: $0))) }
        case .int8(let v): v.map(Int64.init)
        case .uint8(let v): v.map(Int64.init)
        case .int32(let v): v.map(Int64.init)
        case .int64(let v): v
        case .bool(let v): v.map { $0 ? 1 : 0 }
        }
    }

    /// The raw little-endian bytes, as stored in weights files and hashed for the text form.
    public var bytes: [UInt8] {
        switch storage {
        case .float32(let v): v.withUnsafeBytes { Array($0) }
        case .float16(let v): v.withUnsafeBytes { Array($0) }
        case .int8(let v): v.withUnsafeBytes { Array($0) }
        case .uint8(let v): v
        case .int32(let v): v.withUnsafeBytes { Array($0) }
        case .int64(let v): v.withUnsafeBytes { Array($0) }
        case .bool(let v): v.map { $0 ? 1 : 0 }
        }
    }

    /// Rebuilds a tensor from raw little-endian bytes; nil when the byte count does not fit the shape.
    public init?(dtype: DType, shape: [Int], bytes: some Collection<UInt8>) {
        guard shape.allSatisfy({ $0 >= 0 }), let count = CheckedArithmetic.product(shape),
            bytes.count == CheckedArithmetic.multiply(count, dtype.byteSize)
        else { return nil }
        let raw = Array(bytes)
        func load<T>(_: T.Type) -> [T] {
            raw.withUnsafeBytes { buffer in (0..<count).map { buffer.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) }
            }
        }
        let storage: TensorStorage
        switch dtype {
        case .float32: storage = .float32(load(Float.self))
        case .float16: storage = .float16(load(UInt16.self))
        case .int8: storage = .int8(load(Int8.self))
        case .uint8: storage = .uint8(raw)
        case .int32: storage = .int32(load(Int32.self))
        case .int64: storage = .int64(load(Int64.self))
        case .bool: storage = .bool(raw.map { $0 != 0 })
        }
        self.init(shape: shape, storage: storage)
    }

    /// SHA-256 of dtype, shape and bytes: the identity of a constant in the text form and weights files.
    public var contentHash: String {
        var hasher = SHA256()
        hasher.update(Array(dtype.textName.utf8))
        hasher.update(Array(shape.map(String.init).joined(separator: ",").utf8))
        hasher.update([0])
        hasher.update(bytes)
        return hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }

    /// The tensor with its dimensions permuted, as ONNX Transpose: output dimension i is input dimension perm[i].
    public func transposed(_ perm: [Int]) -> Tensor {
        let shape = perm.map { self.shape[$0] }
        var inputStrides = [Int](repeating: 1, count: self.shape.count)
        for d in stride(from: self.shape.count - 2, through: 0, by: -1) { inputStrides[d] = inputStrides[d + 1] * self.shape[d + 1] }
        let strides = perm.map { inputStrides[$0] }
        // The input offset of every output element, in output order.
        var order = [Int](repeating: 0, count: count)
        var index = [Int](repeating: 0, count: shape.count)
        for i in 0..<count {
            order[i] = zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        func gather<T>(_ v: [T]) -> [T] { order.map { v[$0] } }
        let permuted: TensorStorage
        switch storage {
        case .float32(let v): permuted = .float32(gather(v))
        case .float16(let v): permuted = .float16(gather(v))
        case .int8(let v): permuted = .int8(gather(v))
        case .uint8(let v): permuted = .uint8(gather(v))
        case .int32(let v): permuted = .int32(gather(v))
        case .int64(let v): permuted = .int64(gather(v))
        case .bool(let v): permuted = .bool(gather(v))
        }
        return Tensor(shape: shape, storage: permuted)
    }
}
