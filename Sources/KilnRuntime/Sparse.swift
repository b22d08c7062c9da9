// The matrix product with a constant B stored sparse by row (pruned weights).
import Foundation

/// C[m, n] = A[m, :] x B (+ bias[n]) with B [k, n] sparse, stored by row: `starts[i]..<starts[i + 1]`
/// index the columns and values of row i's nonzeros. Each nonzero B[i, j] adds A[:, i] * B[i, j] into
/// column j, and rows of B meeting a zero of A (after a Relu, often half) are skipped. Eight rows of A
/// at a time go through `scratch` transposed ([k][8], then C's block as [n][8]), so a nonzero costs one
/// vector multiply-add; the last rows go one at a time.
func kilnSparseGemm(
    _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, nonzeros: Int, bias: UnsafePointer<Float>?,
    _ c: UnsafeMutablePointer<Float>, ldc: Int, m: Int, n: Int, k: Int, scratch: UnsafeMutablePointer<Float>, activation: KilnActivation
) {
    let starts = UnsafeRawPointer(b).assumingMemoryBound(to: UInt32.self)
    let columns = starts + (k + 1)
    let values = b + (k + 1 + nonzeros)
    let at = scratch, ct = scratch + k * 8
    var row = 0
    while row + 8 <= m {
        for r in 0..<8 {
            let source = a + (row + r) * lda
            for i in 0..<k { at[i * 8 + r] = source[i] }
        }
        for j in 0..<n { kilnStore(KilnVector(repeating: bias?[j] ?? 0), ct + j * 8) }
        for i in 0..<k {
            let x = kilnLoad(at + i * 8)
            if x == KilnVector(repeating: 0) { continue }
            for e in Int(starts[i])..<Int(starts[i + 1]) {
                let target = ct + Int(columns[e]) * 8
                kilnStore(kilnMultiplyAdd(x, KilnVector(repeating: values[e]), kilnLoad(target)), target)
            }
        }
        for j in 0..<n {
            let v = kilnLoad(ct + j * 8)
            for r in 0..<8 { c[(row + r) * ldc + j] = v[r] }
        }
        row += 8
    }
    while row < m {
        let source = a + row * lda, out = c + row * ldc
        for j in 0..<n { out[j] = bias?[j] ?? 0 }
        for i in 0..<k {
            let x = source[i]
            if x == 0 { continue }
            for e in Int(starts[i])..<Int(starts[i + 1]) { out[Int(columns[e])] += x * values[e] }
        }
        row += 1
    }
    if case .none = activation { return }
    for r in 0..<m { kilnUnary(activation, c + r * ldc, c + r * ldc, n) }
}
