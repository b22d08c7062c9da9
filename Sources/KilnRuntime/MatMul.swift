// Matrix products of two computed values (neither operand a constant that could be packed).
import Foundation

/// Y[batch][m, n] = A[batch][m, k] x B[batch][k, n] (or B[batch][n, k] transposed); strides of 0
/// broadcast an operand over the batch.
func kilnMatMul(
    _ a: UnsafePointer<Float>, strideA: Int, _ b: UnsafePointer<Float>, strideB: Int, _ y: UnsafeMutablePointer<Float>,
    batch: Int, m: Int, n: Int, k: Int, transposeB: Bool
) {
    for index in 0..<batch {
        let pa = a + index * strideA, pb = b + index * strideB, py = y + index * m * n
        for i in 0..<m {
            let row = py + i * n
            if transposeB {
                for j in 0..<n {
                    var sum: Float = 0
                    for l in 0..<k { sum += pa[i * k + l] * pb[j * k + l] }
                    row[j] = sum
                }
            } else {
                row.update(repeating: 0, count: n)
                for l in 0..<k {
                    let x = pa[i * k + l], column = pb + l * n
                    for j in 0..<n { row[j] += x * column[j] }
                }
            }
        }
    }
}
