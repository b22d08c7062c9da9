// Transpose, constant padding and cropping: strided copies over shapes whose -1 entries are the batch.
import Foundation

/// y = x transposed by `perm` (output dimension i is input dimension perm[i]).
func kilnTranspose(
    _ x: UnsafePointer<Float>, _ shape: [Int], _ perm: [Int], _ y: UnsafeMutablePointer<Float>, batch: Int
) {
    let rank = shape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 4 * rank + 1) { scratch in
        let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
        let strides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
        let outDims = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
        let index = UnsafeMutableBufferPointer(rebasing: scratch[3 * rank..<4 * rank])
        kilnResolve(shape, batch, dims)
        var step = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            strides[d] = step
            step *= dims[d]
        }
        var count = 1
        for d in 0..<rank {
            outDims[d] = dims[perm[d]]
            count *= outDims[d]
            index[d] = 0
        }
        for i in 0..<count {
            var offset = 0
            for d in 0..<rank { offset += index[d] * strides[perm[d]] }
            y[i] = x[offset]
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < outDims[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}

@inline(__always)
/// Constant padding: `pads` before each dimension, then after each; shapes use -1 for the batch.
func kilnPad(_ x: UnsafePointer<Float>, _ shape: [Int], _ pads: [Int], value: Float, _ y: UnsafeMutablePointer<Float>, batch: Int) {
    let rank = shape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * rank + 1) { scratch in
        let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
        let outStrides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
        let index = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
        kilnResolve(shape, batch, dims)
        var step = 1, total = 1, count = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            outStrides[d] = step
            step *= dims[d] + pads[d] + pads[rank + d]
        }
        total = step
        for d in 0..<rank {
            count *= dims[d]
            index[d] = 0
        }
        y.update(repeating: value, count: total)
        for i in 0..<count {
            var offset = 0
            for d in 0..<rank { offset += (index[d] + pads[d]) * outStrides[d] }
            y[offset] = x[i]
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

/// The inverse of padding: copies the window of x that leaves `pads` out before and after each dimension.
func kilnCrop(
    _ x: UnsafePointer<Float>, _ inShape: [Int], _ outShape: [Int], _ pads: [Int], _ y: UnsafeMutablePointer<Float>, batch: Int
) {
    let rank = outShape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * rank + 1) { scratch in
        let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
        let inStrides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
        let index = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
        kilnResolve(outShape, batch, dims)
        var step = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            inStrides[d] = step
            step *= inShape[d] < 0 ? batch : inShape[d]
        }
        var count = 1
        for d in 0..<rank {
            count *= dims[d]
            index[d] = 0
        }
        for i in 0..<count {
            var offset = 0
            for d in 0..<rank { offset += (index[d] + pads[d]) * inStrides[d] }
            y[i] = x[offset]
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

/// Strided slicing: along each dimension d, y takes x's elements first[d], first[d] + steps[d], ... (a step may be
/// negative); shapes use -1 for the batch, which is taken whole (first 0, step 1).
func kilnSlice(
    _ x: UnsafePointer<Float>, _ inShape: [Int], _ outShape: [Int], _ first: [Int], _ steps: [Int], _ y: UnsafeMutablePointer<Float>,
    batch: Int
) {
    let rank = outShape.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 3 * rank + 1) { scratch in
        let dims = UnsafeMutableBufferPointer(rebasing: scratch[0..<rank])
        let inStrides = UnsafeMutableBufferPointer(rebasing: scratch[rank..<2 * rank])
        let index = UnsafeMutableBufferPointer(rebasing: scratch[2 * rank..<3 * rank])
        kilnResolve(outShape, batch, dims)
        var step = 1
        for d in stride(from: rank - 1, through: 0, by: -1) {
            inStrides[d] = step
            step *= inShape[d] < 0 ? batch : inShape[d]
        }
        var count = 1, offset = 0
        for d in 0..<rank {
            count *= dims[d]
            index[d] = 0
            offset += first[d] * inStrides[d]
        }
        // The offset of the current index, updated as the index counts up.
        for i in 0..<count {
            y[i] = x[offset]
            var d = rank - 1
            while d >= 0 {
                index[d] += 1
                offset += steps[d] * inStrides[d]
                if index[d] < dims[d] { break }
                offset -= dims[d] * steps[d] * inStrides[d]
                index[d] = 0
                d -= 1
            }
        }
    }
}
