// Table lookups (Gather) and the truncating Cast of values held as floats.
import Foundation

/// Copies the slices of `data` [outer, size, inner] picked along the middle dimension by `indices` (whole
/// numbers held as floats) into y [outer, count, inner]. Returns the first index outside [0, size), if any,
/// after writing zeros in its place.
func kilnGather(
    _ data: UnsafePointer<Float>, outer: Int, size: Int, inner: Int, _ indices: UnsafePointer<Float>, count: Int,
    _ y: UnsafeMutablePointer<Float>
) -> Int? {
    var bad: Int? = nil
    for a in 0..<outer {
        for i in 0..<count {
            let target = y + (a * count + i) * inner
            let value = indices[i]
            guard value >= 0, value < Float(size) else {
                if bad == nil { bad = value.isFinite ? Int(value) : Int.min }
                target.update(repeating: 0, count: inner)
                continue
            }
            target.update(from: data + (a * size + Int(value)) * inner, count: inner)
        }
    }
    return bad
}

/// Integer conversion of values held as floats: truncation toward zero, as a Cast to an integer type does.
func kilnTruncate(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    for i in 0..<count { y[i] = x[i].rounded(.towardZero) }
}
