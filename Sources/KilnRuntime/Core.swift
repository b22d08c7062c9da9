// Vector helpers, the elementwise functions (standalone and as epilogues), and shape resolution.
//
// The files of KilnRuntime are the kernels generated Swift executors run, one section each; the Swift backend
// copies a section into an executor whose graph needs it (the core always). scripts/embed-runtime.sh writes
// the text after each file's `import Foundation` into Sources/Backends/Swift/EmbeddedRuntime.swift, with
// `fileprivate` on every top-level declaration (so declare them with no access modifier here); the comments
// above the import stay behind. After changing a kernel, run the script and commit both.
//
// The kernels need only the standard library and Foundation's math functions, and are written for the
// default `-O`: products are `a * b + c`, which compiles to SSE multiplies and adds. With `-D KILN_FMA` and a
// target that has FMA (`-target-cpu haswell` or later), products become fused multiply-adds and the matrix
// kernel switches to a 6x16 register tile. Without an FMA target `KILN_FMA` is slow (each fused
// multiply-add becomes a libm call), so it is never on by default. `KILN_FMA=1 swift build` builds this
// target that way.
import Foundation

// MARK: - Kiln runtime kernels

typealias KilnVector = SIMD8<Float>

@inline(__always)
func kilnMultiplyAdd(_ a: KilnVector, _ b: KilnVector, _ c: KilnVector) -> KilnVector {
    #if KILN_FMA
    return c.addingProduct(a, b)
    #else
    return a * b + c
    #endif
}

@inline(__always)
func kilnLoad(_ p: UnsafePointer<Float>) -> KilnVector {
    UnsafeRawPointer(p).loadUnaligned(as: KilnVector.self)
}

@inline(__always)
func kilnStore(_ v: KilnVector, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: KilnVector.self)
}

/// An elementwise function: a standalone activation, or what a matrix product applies to its results
/// before they leave the cache.
enum KilnActivation {
    case none, relu, sigmoid, tanh, exp, softplus, softsign, swish, geluExact, geluTanh, sqrt, log, abs, neg, erf, reciprocal
    case thresholdedRelu(Float)
    case elu(Float)
    case selu(Float, Float)
    case hardSigmoid(Float, Float)
    case leakyRelu(Float)
    case clip(Float, Float)

    /// Whether `kilnActivate` computes it on vectors; the others call libm one element at a time.
    var isVectorized: Bool {
        switch self {
        case .none, .relu, .softsign, .sqrt, .thresholdedRelu, .hardSigmoid, .leakyRelu, .clip, .abs, .neg, .reciprocal: return true
        case .sigmoid, .tanh, .exp, .softplus, .swish, .geluExact, .geluTanh, .elu, .selu, .log, .erf: return false
        }
    }
}

/// The vectorized activations; the others pass through unchanged (see `isVectorized`).
@inline(__always)
func kilnActivate(_ v: KilnVector, _ f: KilnActivation) -> KilnVector {
    switch f {
    case .relu: return v.replacing(with: 0, where: v .< 0)
    case .softsign: return v / (1 + v.replacing(with: -v, where: v .< 0))
    case .sqrt: return v.squareRoot()
    case .thresholdedRelu(let theta): return v.replacing(with: 0, where: .!(v .> theta))
    case .hardSigmoid(let alpha, let beta):
        let t = v * alpha + beta
        return t.replacing(with: 0, where: t .< 0).replacing(with: 1, where: t .> 1)
    case .leakyRelu(let alpha): return v.replacing(with: v * alpha, where: v .< 0)
    case .clip(let low, let high): return v.replacing(with: low, where: v .< low).replacing(with: high, where: v .> high)
    case .abs: return v.replacing(with: -v, where: v .< 0)
    case .neg: return -v
    case .reciprocal: return 1 / v
    case .none, .sigmoid, .tanh, .exp, .softplus, .swish, .geluExact, .geluTanh, .elu, .selu, .log, .erf: return v
    }
}

/// y[i] = f(x[i]); x and y may be the same buffer.
func kilnUnary(_ f: KilnActivation, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    if f.isVectorized {
        var i = 0
        while i + 8 <= count {
            kilnStore(kilnActivate(kilnLoad(x + i), f), y + i)
            i += 8
        }
        while i < count {
            y[i] = kilnActivate(KilnVector(repeating: x[i]), f)[0]
            i += 1
        }
        return
    }
    switch f {
    case .none, .relu, .softsign, .sqrt, .thresholdedRelu, .hardSigmoid, .leakyRelu, .clip, .abs, .neg, .reciprocal: break
    case .sigmoid: for i in 0..<count { y[i] = 1 / (1 + Foundation.exp(-x[i])) }
    case .tanh: for i in 0..<count { y[i] = Foundation.tanh(x[i]) }
    case .exp: for i in 0..<count { y[i] = Foundation.exp(x[i]) }
    case .softplus: for i in 0..<count { y[i] = Swift.max(x[i], 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x[i]))) }
    case .swish: for i in 0..<count { y[i] = x[i] / (1 + Foundation.exp(-x[i])) }
    case .geluExact: for i in 0..<count { y[i] = 0.5 * x[i] * (1 + Foundation.erf(x[i] * 0.70710678118654752)) }
    case .geluTanh:
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + Foundation.tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)))
        }
    case .elu(let alpha): for i in 0..<count { y[i] = x[i] > 0 ? x[i] : alpha * Foundation.expm1(x[i]) }
    case .selu(let alpha, let gamma): for i in 0..<count { y[i] = gamma * (x[i] > 0 ? x[i] : alpha * Foundation.expm1(x[i])) }
    case .log: for i in 0..<count { y[i] = Foundation.log(x[i]) }
    case .erf: for i in 0..<count { y[i] = Foundation.erf(x[i]) }
    }
}

/// Resolves a static shape whose -1 entries are the batch size.
@inline(__always)
func kilnResolve(_ shape: [Int], _ batch: Int, _ into: UnsafeMutableBufferPointer<Int>) {
    for d in 0..<shape.count { into[d] = shape[d] < 0 ? batch : shape[d] }
}
