import KilnIR

/// A constant the model holds as int8: `DequantizeLinear(values, scales, zero points)` of constants whose
/// zero points are all 0 (the symmetric weights the quantize pass writes). The weights file stores the int8
/// values and the scales, a quarter of the float bytes; the executor widens them to floats once, when it
/// loads, into exactly the values the interpreter dequantizes (`Float(q) * scale`).
struct Int8Weights {
    var values: [Int8]
    var scales: [Float]
    /// The axis the scales run along; nil when one scale covers the tensor.
    var axis: Int?
    var shape: [Int]

    /// Elements sharing one scale run `inner` long; the scales repeat every `size` runs.
    var inner: Int { axis.map { shape[($0 + 1)...].reduce(1, *) } ?? values.count }
    var size: Int { axis.map { shape[$0] } ?? 1 }

    /// The int8 form of a DequantizeLinear of constants, or nil when it is not one the executor stores
    /// as int8 (other value types, nonzero zero points): those are stored as floats.
    init?(_ node: Node, _ constants: [String: Tensor]) {
        guard case .dequantizeLinear(let axis) = node.op, let q = constants[node.inputs[0]], let scale = constants[node.inputs[1]],
            q.dtype == .int8, scale.dtype == .float32, scale.shape.count <= 1
        else { return nil }
        if node.inputs.count > 2 {
            guard let zero = constants[node.inputs[2]], zero.int64s.allSatisfy({ $0 == 0 }) else { return nil }
        }
        guard case .int8(let values) = q.storage else { return nil }
        self.values = values
        self.scales = scale.floats
        self.shape = q.shape
        if scale.shape.count == 1 && !q.shape.isEmpty {
            let a = axis < 0 ? axis + q.shape.count : axis
            guard q.shape.indices.contains(a), q.shape[a] == scales.count else { return nil }
            self.axis = a
        } else {
            guard scales.count == 1 else { return nil }
            self.axis = nil
        }
    }

    /// One scale per column of the matrix B this tensor is ([k, n], or [n, k] when `transposed`, after
    /// flattening all but the last axis), when the scales run along the columns; else nil.
    func columnScales(n: Int, transposed: Bool) -> [Float]? {
        guard let axis else { return [Float](repeating: scales[0], count: n) }
        let columnAxis = transposed ? 0 : shape.count - 1
        guard axis == columnAxis, scales.count == n else { return nil }
        return scales
    }
}

/// Where the executor widens an int8 block, at load: from the int8 values at `source` (a float offset in
/// the weights; four values a float) into `count` floats at `destination`, each times its scale.
struct Widening {
    enum Layout {
        /// The tensor's own layout: element i takes scales[i / inner % size].
        case plain(inner: Int, size: Int)
        /// Packed in panels of 16 columns of `panelFloats` floats each: element i takes
        /// scales[i / panelFloats * 16 + i % 16] (one scale per packed column).
        case panels(panelFloats: Int)
    }

    var source: Int
    var scales: Int
    var destination: Int
    var count: Int
    var layout: Layout
}

/// A matrix product's B stored as int8 panels: the weight offsets of the panels and of their column
/// scales, and, when A is a dequantized activation, its scale (A / scale are then its integers).
struct Int8Panels {
    var values: Int
    var scales: Int
    var inputScale: Float?
}
