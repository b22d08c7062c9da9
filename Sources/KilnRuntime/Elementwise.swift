// Broadcasting arithmetic and comparisons, softmax, reductions and per-channel affine maps.
import Foundation

/// An elementwise operation of two operands. The comparisons give 1 or 0, as the executor holds bool values.
enum KilnBinary { case add, sub, mul, div, max, min, pow, equal, notEqual, greater, greaterOrEqual, less, lessOrEqual }

@inline(__always)
func kilnCombine(_ op: KilnBinary, _ a: Float, _ b: Float) -> Float {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .max: return Swift.max(a, b)
    case .min: return Swift.min(a, b)
    case .pow: return Foundation.pow(a, b)
    case .equal: return a == b ? 1 : 0
    case .notEqual: return a != b ? 1 : 0
    case .greater: return a > b ? 1 : 0
    case .greaterOrEqual: return a >= b ? 1 : 0
    case .less: return a < b ? 1 : 0
    case .lessOrEqual: return a <= b ? 1 : 0
    }
}

/// y[i] = a[i % aCount] op b[i % bCount], for operands that repeat along leading dimensions.
func kilnBinary(
    _ op: KilnBinary, _ a: UnsafePointer<Float>, _ aCount: Int, _ b: UnsafePointer<Float>, _ bCount: Int,
    _ y: UnsafeMutablePointer<Float>, _ count: Int
) {
    if aCount == count && bCount == count {
        switch op {
        case .add: for i in 0..<count { y[i] = a[i] + b[i] }
        case .sub: for i in 0..<count { y[i] = a[i] - b[i] }
        case .mul: for i in 0..<count { y[i] = a[i] * b[i] }
        case .div: for i in 0..<count { y[i] = a[i] / b[i] }
        case .max: for i in 0..<count { y[i] = Swift.max(a[i], b[i]) }
        case .min: for i in 0..<count { y[i] = Swift.min(a[i], b[i]) }
        case .pow, .equal, .notEqual, .greater, .greaterOrEqual, .less, .lessOrEqual:
            for i in 0..<count { y[i] = kilnCombine(op, a[i], b[i]) }
        }
        return
    }
    var base = 0
    let period = Swift.max(aCount, bCount)
    while base < count {
        for j in 0..<period { y[base + j] = kilnCombine(op, a[(base + j) % aCount], b[(base + j) % bCount]) }
        base += period
    }
}

/// General NumPy broadcasting, walking the output index by index.
func kilnBinaryStrided(
    _ op: KilnBinary, _ a: UnsafePointer<Float>, _ aShape: [Int], _ b: UnsafePointer<Float>, _ bShape: [Int],
    _ y: UnsafeMutablePointer<Float>, _ shape: [Int], batch: Int
) {
    let rank = shape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * rank + 1) { scratch in
        let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
        let sa = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
        let sb = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
        let index = UnsafeMutableBufferPointer(rebasing: scratch[3 * rank..<4 * rank])
        kilnResolve(shape, batch, dims)
        func broadcastStrides(_ operand: [Int], _ strides: UnsafeMutableBufferPointer<Int>) {
            var step = 1
            for d in stride(from: rank - 1, through: 0, by: -1) {
                let od = d - (rank - operand.count)
                let size = od >= 0 ? (operand[od] < 0 ? batch : operand[od]) : 1
                strides[d] = size == 1 ? 0 : step
                step *= size
            }
        }
        broadcastStrides(aShape, sa)
        broadcastStrides(bShape, sb)
        var count = 1
        for d in 0..<rank {
            count *= dims[d]
            index[d] = 0
        }
        for i in 0..<count {
            var oa = 0, ob = 0
            for d in 0..<rank {
                oa += index[d] * sa[d]
                ob += index[d] * sb[d]
            }
            y[i] = kilnCombine(op, a[oa], b[ob])
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < dims[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
/// y = x * scale + shift along a channel axis of size `channels`, with `inner` elements per channel step.
func kilnAffine(
    _ x: UnsafePointer<Float>, _ scale: UnsafePointer<Float>, _ shift: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
    outer: Int, channels: Int, inner: Int
) {
    var i = 0
    for _ in 0..<outer {
        for c in 0..<channels {
            let s = scale[c], t = shift[c]
            for _ in 0..<inner {
                y[i] = x[i] * s + t
                i += 1
            }
        }
    }
}

/// Reduces a [outer, size, inner] view over its middle dimension.
func kilnReduce(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, size: Int, inner: Int, kind: Int) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * size * inner + i
            var acc: Float = kind == 1 ? -Float.infinity : kind == 2 ? Float.infinity : 0
            for j in 0..<size {
                let v = x[base + j * inner]
                switch kind {
                case 1: acc = Swift.max(acc, v)
                case 2: acc = Swift.min(acc, v)
                default: acc += v
                }
            }
            y[o * inner + i] = kind == 3 ? acc / Float(size) : acc
        }
    }
}

/// Softmax over the middle dimension of an [outer, size, inner] view, subtracting the maximum first.
func kilnSoftmax(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, size: Int, inner: Int) {
    for o in 0..<outer {
        for i in 0..<inner {
            let base = o * size * inner + i
            var maximum = -Float.infinity
            for j in 0..<size { maximum = Swift.max(maximum, x[base + j * inner]) }
            var sum: Float = 0
            for j in 0..<size {
                let e = Foundation.exp(x[base + j * inner] - maximum)
                y[base + j * inner] = e
                sum += e
            }
            let scale = 1 / sum
            for j in 0..<size { y[base + j * inner] *= scale }
        }
    }
}
