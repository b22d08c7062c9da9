// Which one-row (batch-1) int8 product the generated Swift should use, measured on the three hidden layers
// of the 784-512-512-256-10 MLP (784x512, 512x512, 512x256), weights hot in cache as in `kiln bench`:
//   f32             the float panels the float executor reads (the baseline)
//   int8 registers  int8 panels widened to floats in registers, each panel's sums scaled once
//   int8 panel      int8 panels widened into a float panel first, then the float kernel
//   int32           integer activations times int8 panels summed in int32 (needs a quantized input)
// Build and run, with the two flag sets the generated code is built with:
//   swiftc -O benchmarks/Int8Kernels.swift -o /tmp/int8 && /tmp/int8
//   swiftc -Ounchecked -target-cpu haswell -D KILN_FMA benchmarks/Int8Kernels.swift -o /tmp/int8 && /tmp/int8
// Prints the median of 400 runs of all three layers per kernel, in µs, three rounds.
import Foundation

typealias V = SIMD8<Float>
typealias I = SIMD8<Int32>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
@inline(__always) func loadInt8(_ p: UnsafePointer<Int8>) -> V {
    V(I(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self)))
}
@inline(__always) func loadInt32(_ p: UnsafePointer<Int8>) -> I {
    I(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self))
}
@inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
@inline(__always) func multiplyAdd(_ a: V, _ b: V, _ c: V) -> V {
    #if KILN_FMA
    c.addingProduct(a, b)
    #else
    a * b + c
    #endif
}

/// c[n] = a[k] x B, B in panels of 16 columns, two panels per pass, two k-steps per iteration.
@inline(never) func f32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int, _ n: Int, _ c: UnsafeMutablePointer<Float>) {
    for pair in stride(from: 0, to: n / 16, by: 2) {
        var s0 = V(), s1 = V(), t0 = V(), t1 = V(), u0 = V(), u1 = V(), v0 = V(), v1 = V()
        var p = b + pair * k * 16, q = p + k * 16
        for j in stride(from: 0, to: k, by: 2) {
            let x = V(repeating: a[j]), y = V(repeating: a[j + 1])
            s0 = multiplyAdd(x, load(p), s0)
            s1 = multiplyAdd(x, load(p + 8), s1)
            t0 = multiplyAdd(x, load(q), t0)
            t1 = multiplyAdd(x, load(q + 8), t1)
            u0 = multiplyAdd(y, load(p + 16), u0)
            u1 = multiplyAdd(y, load(p + 24), u1)
            v0 = multiplyAdd(y, load(q + 16), v0)
            v1 = multiplyAdd(y, load(q + 24), v1)
            p += 32
            q += 32
        }
        let o = c + pair * 16
        store(s0 + u0, o)
        store(s1 + u1, o + 8)
        store(t0 + v0, o + 16)
        store(t1 + v1, o + 24)
    }
}

@inline(never) func int8Registers(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Int8>, _ scale: UnsafePointer<Float>, _ k: Int, _ n: Int, _ c: UnsafeMutablePointer<Float>
) {
    for pair in stride(from: 0, to: n / 16, by: 2) {
        var s0 = V(), s1 = V(), t0 = V(), t1 = V(), u0 = V(), u1 = V(), v0 = V(), v1 = V()
        var p = b + pair * k * 16, q = p + k * 16
        for j in stride(from: 0, to: k, by: 2) {
            let x = V(repeating: a[j]), y = V(repeating: a[j + 1])
            s0 = multiplyAdd(x, loadInt8(p), s0)
            s1 = multiplyAdd(x, loadInt8(p + 8), s1)
            t0 = multiplyAdd(x, loadInt8(q), t0)
            t1 = multiplyAdd(x, loadInt8(q + 8), t1)
            u0 = multiplyAdd(y, loadInt8(p + 16), u0)
            u1 = multiplyAdd(y, loadInt8(p + 24), u1)
            v0 = multiplyAdd(y, loadInt8(q + 16), v0)
            v1 = multiplyAdd(y, loadInt8(q + 24), v1)
            p += 32
            q += 32
        }
        let o = c + pair * 16, g = scale + pair * 16
        store((s0 + u0) * load(g), o)
        store((s1 + u1) * load(g + 8), o + 8)
        store((t0 + v0) * load(g + 16), o + 16)
        store((t1 + v1) * load(g + 24), o + 24)
    }
}

@inline(never) func int8Panel(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Int8>, _ scale: UnsafePointer<Float>, _ k: Int, _ n: Int,
    _ c: UnsafeMutablePointer<Float>,
    _ scratch: UnsafeMutablePointer<Float>
) {
    for pair in stride(from: 0, to: n / 16, by: 2) {
        let g = scale + pair * 16
        let g0 = load(g), g1 = load(g + 8), g2 = load(g + 16), g3 = load(g + 24)
        var p = b + pair * k * 16, w = scratch
        for _ in 0..<k {
            store(loadInt8(p) * g0, w)
            store(loadInt8(p + 8) * g1, w + 8)
            store(loadInt8(p + k * 16) * g2, w + k * 16)
            store(loadInt8(p + k * 16 + 8) * g3, w + k * 16 + 8)
            p += 16
            w += 16
        }
        f32(a, scratch, k, 32, c + pair * 16)
    }
}

@inline(never) func int32(
    _ a: UnsafePointer<Int32>, _ b: UnsafePointer<Int8>, _ scale: UnsafePointer<Float>, _ k: Int, _ n: Int, _ c: UnsafeMutablePointer<Float>
) {
    for pair in stride(from: 0, to: n / 16, by: 2) {
        var s0 = I(), s1 = I(), t0 = I(), t1 = I()
        var p = b + pair * k * 16, q = p + k * 16
        for j in 0..<k {
            let x = I(repeating: a[j])
            s0 &+= x &* loadInt32(p)
            s1 &+= x &* loadInt32(p + 8)
            t0 &+= x &* loadInt32(q)
            t1 &+= x &* loadInt32(q + 8)
            p += 16
            q += 16
        }
        let o = c + pair * 16, g = scale + pair * 16
        store(V(s0) * load(g), o)
        store(V(s1) * load(g + 8), o + 8)
        store(V(t0) * load(g + 16), o + 16)
        store(V(t1) * load(g + 24), o + 24)
    }
}

struct Layer {
    let k: Int, n: Int
    let a: UnsafeMutablePointer<Float>, integers: UnsafeMutablePointer<Int32>
    let floats: UnsafeMutablePointer<Float>, int8: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>
    let c: UnsafeMutablePointer<Float>

    init(k: Int, n: Int) {
        self.k = k
        self.n = n
        a = .allocate(capacity: k)
        integers = .allocate(capacity: k)
        for i in 0..<k {
            integers[i] = Int32(i % 7) * 30
            a[i] = Float(integers[i]) / 255
        }
        floats = .allocate(capacity: k * n)
        int8 = .allocate(capacity: k * n)
        for i in 0..<(k * n) {
            int8[i] = Int8(truncatingIfNeeded: (i * 37) % 255 - 127)
            floats[i] = Float(int8[i]) * 0.01
        }
        scales = .allocate(capacity: n)
        scales.update(repeating: 0.01, count: n)
        c = .allocate(capacity: n)
    }
}

let layers = [Layer(k: 784, n: 512), Layer(k: 512, n: 512), Layer(k: 512, n: 256)]
let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 784 * 32)

func median(_ body: () -> Void) -> Double {
    var times: [Double] = []
    for _ in 0..<400 {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
    }
    return times.sorted()[times.count / 2]
}

for round in 1...3 {
    let results = [
        ("f32", median { for l in layers { f32(l.a, l.floats, l.k, l.n, l.c) } }),
        ("int8 registers", median { for l in layers { int8Registers(l.a, l.int8, l.scales, l.k, l.n, l.c) } }),
        ("int8 panel", median { for l in layers { int8Panel(l.a, l.int8, l.scales, l.k, l.n, l.c, scratch) } }),
        ("int32", median { for l in layers { int32(l.integers, l.int8, l.scales, l.k, l.n, l.c) } }),
    ]
    print("round \(round): " + results.map { "\($0.0) \(String(format: "%.1f", $0.1)) µs" }.joined(separator: ", "))
}
