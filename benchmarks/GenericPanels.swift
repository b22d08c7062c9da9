// Whether the one-row (batch-1) float and int8 panel products can share one generic body, specialized per
// panel element, at no cost: each pair below runs the same loops, once written out per element (`copy`: the
// kilnProduct1x32/1x16 and kilnProduct1x32Int8/1x16Int8 the runtime had) and once as a function generic over
// a `PanelLoad` that widens 8 panel elements to floats (`generic`: what Sources/KilnRuntime/Gemm.swift holds
// now). Measured on the three hidden layers of the 784-512-512-256-10 MLP (784x512, 512x512, 512x256) plus an
// odd one (97x40, whose last panel is a 1x16), weights hot in cache as in `kiln bench`.
// Result (2 shared cores, both builds): the medians agree within noise (|difference| < 2%, most rounds
// < 0.5%), and objdump shows each float specialization and the int8 1x16 compile to the instructions of
// their copies; the int8 1x32 differs only in its odd-k tail, which now follows the float kernel's.
// Build and run, with the two flag sets the generated code is built with:
//   swiftc -O benchmarks/GenericPanels.swift -o /tmp/panels && /tmp/panels
//   swiftc -Ounchecked -target-cpu haswell -D KILN_FMA benchmarks/GenericPanels.swift -o /tmp/panels && /tmp/panels
// Prints the median of 400 runs of all four layers per kernel, in µs, five rounds, each copy and its generic
// taking turns; each round also prints how far apart their sums are (the int8 1x32 copy adds a last odd
// k-step before merging its two sets of accumulators, the generic after, as the float kernel does).
import Foundation

typealias V = SIMD8<Float>

@inline(__always) func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
@inline(__always) func loadInt8(_ p: UnsafePointer<Int8>) -> V {
    V(SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Int8>.self)))
}
@inline(__always) func store(_ v: V, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self) }
@inline(__always) func multiplyAdd(_ a: V, _ b: V, _ c: V) -> V {
    #if KILN_FMA
    c.addingProduct(a, b)
    #else
    a * b + c
    #endif
}

// MARK: - The copies, as in Sources/KilnRuntime (Gemm.swift, Int8Gemv.swift)

@inline(never) func product1x32(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>) {
    var s0 = V(), s1 = V(), t0 = V(), t1 = V()
    var p = b, q = b + k * 16
    #if KILN_FMA
    var i = 0
    var u0 = V(), u1 = V(), v0 = V(), v1 = V()
    while i + 2 <= k {
        let x = V(repeating: a[i]), y = V(repeating: a[i + 1])
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
        i += 2
    }
    s0 += u0
    s1 += u1
    t0 += v0
    t1 += v1
    let rest = i
    #else
    let rest = 0
    #endif
    for j in rest..<k {
        let x = V(repeating: a[j])
        s0 = multiplyAdd(x, load(p), s0)
        s1 = multiplyAdd(x, load(p + 8), s1)
        t0 = multiplyAdd(x, load(q), t0)
        t1 = multiplyAdd(x, load(q + 8), t1)
        p += 16
        q += 16
    }
    store(s0, tile)
    store(s1, tile + 8)
    store(t0, tile + 16)
    store(t1, tile + 24)
}

@inline(never) func product1x16(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ k: Int, _ tile: UnsafeMutablePointer<Float>) {
    var s0 = V(), s1 = V(), t0 = V(), t1 = V()
    var p = b
    var i = 0
    while i + 2 <= k {
        let x = V(repeating: a[i]), y = V(repeating: a[i + 1])
        s0 = multiplyAdd(x, load(p), s0)
        s1 = multiplyAdd(x, load(p + 8), s1)
        t0 = multiplyAdd(y, load(p + 16), t0)
        t1 = multiplyAdd(y, load(p + 24), t1)
        p += 32
        i += 2
    }
    if i < k {
        let x = V(repeating: a[i])
        s0 = multiplyAdd(x, load(p), s0)
        s1 = multiplyAdd(x, load(p + 8), s1)
    }
    store(s0 + t0, tile)
    store(s1 + t1, tile + 8)
}

@inline(never) func product1x32Int8(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Int8>, _ k: Int, _ tile: UnsafeMutablePointer<Float>) {
    var s0 = V(), s1 = V(), t0 = V(), t1 = V()
    var u0 = V(), u1 = V(), v0 = V(), v1 = V()
    var p = b, q = b + k * 16
    var i = 0
    while i + 2 <= k {
        let x = V(repeating: a[i]), y = V(repeating: a[i + 1])
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
        i += 2
    }
    if i < k {
        let x = V(repeating: a[i])
        s0 = multiplyAdd(x, loadInt8(p), s0)
        s1 = multiplyAdd(x, loadInt8(p + 8), s1)
        t0 = multiplyAdd(x, loadInt8(q), t0)
        t1 = multiplyAdd(x, loadInt8(q + 8), t1)
    }
    store(s0 + u0, tile)
    store(s1 + u1, tile + 8)
    store(t0 + v0, tile + 16)
    store(t1 + v1, tile + 24)
}

@inline(never) func product1x16Int8(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Int8>, _ k: Int, _ tile: UnsafeMutablePointer<Float>) {
    var s0 = V(), s1 = V(), t0 = V(), t1 = V()
    var p = b
    var i = 0
    while i + 2 <= k {
        let x = V(repeating: a[i]), y = V(repeating: a[i + 1])
        s0 = multiplyAdd(x, loadInt8(p), s0)
        s1 = multiplyAdd(x, loadInt8(p + 8), s1)
        t0 = multiplyAdd(y, loadInt8(p + 16), t0)
        t1 = multiplyAdd(y, loadInt8(p + 24), t1)
        p += 32
        i += 2
    }
    if i < k {
        let x = V(repeating: a[i])
        s0 = multiplyAdd(x, loadInt8(p), s0)
        s1 = multiplyAdd(x, loadInt8(p + 8), s1)
    }
    store(s0 + t0, tile)
    store(s1 + t1, tile + 8)
}

// MARK: - One generic body per product, specialized by the panel element's load

protocol PanelLoad {
    associatedtype Element
    static func load(_ p: UnsafePointer<Element>) -> V
}

enum FloatPanel: PanelLoad {
    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
}

enum Int8Panel: PanelLoad {
    @inline(__always) static func load(_ p: UnsafePointer<Int8>) -> V { loadInt8(p) }
}

@inline(never) func generic1x32<L: PanelLoad>(
    _: L.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<L.Element>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
) {
    var s0 = V(), s1 = V(), t0 = V(), t1 = V()
    var p = b, q = b + k * 16
    #if KILN_FMA
    var i = 0
    var u0 = V(), u1 = V(), v0 = V(), v1 = V()
    while i + 2 <= k {
        let x = V(repeating: a[i]), y = V(repeating: a[i + 1])
        s0 = multiplyAdd(x, L.load(p), s0)
        s1 = multiplyAdd(x, L.load(p + 8), s1)
        t0 = multiplyAdd(x, L.load(q), t0)
        t1 = multiplyAdd(x, L.load(q + 8), t1)
        u0 = multiplyAdd(y, L.load(p + 16), u0)
        u1 = multiplyAdd(y, L.load(p + 24), u1)
        v0 = multiplyAdd(y, L.load(q + 16), v0)
        v1 = multiplyAdd(y, L.load(q + 24), v1)
        p += 32
        q += 32
        i += 2
    }
    s0 += u0
    s1 += u1
    t0 += v0
    t1 += v1
    let rest = i
    #else
    let rest = 0
    #endif
    for j in rest..<k {
        let x = V(repeating: a[j])
        s0 = multiplyAdd(x, L.load(p), s0)
        s1 = multiplyAdd(x, L.load(p + 8), s1)
        t0 = multiplyAdd(x, L.load(q), t0)
        t1 = multiplyAdd(x, L.load(q + 8), t1)
        p += 16
        q += 16
    }
    store(s0, tile)
    store(s1, tile + 8)
    store(t0, tile + 16)
    store(t1, tile + 24)
}

@inline(never) func generic1x16<L: PanelLoad>(
    _: L.Type, _ a: UnsafePointer<Float>, _ b: UnsafePointer<L.Element>, _ k: Int, _ tile: UnsafeMutablePointer<Float>
) {
    var s0 = V(), s1 = V(), t0 = V(), t1 = V()
    var p = b
    var i = 0
    while i + 2 <= k {
        let x = V(repeating: a[i]), y = V(repeating: a[i + 1])
        s0 = multiplyAdd(x, L.load(p), s0)
        s1 = multiplyAdd(x, L.load(p + 8), s1)
        t0 = multiplyAdd(y, L.load(p + 16), t0)
        t1 = multiplyAdd(y, L.load(p + 24), t1)
        p += 32
        i += 2
    }
    if i < k {
        let x = V(repeating: a[i])
        s0 = multiplyAdd(x, L.load(p), s0)
        s1 = multiplyAdd(x, L.load(p + 8), s1)
    }
    store(s0 + t0, tile)
    store(s1 + t1, tile + 8)
}

// MARK: - The layers and the timing

/// One row times all panels of a layer, two panels per call and a 1x16 for an odd last one, as kilnGemm's
/// and kilnGemvInt8's one-row paths do (their bias, scale and activation left out: the same for both).
@inline(__always) func row<E>(
    _ k: Int, _ n: Int, _ b: UnsafePointer<E>, _ c: UnsafeMutablePointer<Float>,
    _ two: (UnsafePointer<E>, UnsafeMutablePointer<Float>) -> Void, _ one: (UnsafePointer<E>, UnsafeMutablePointer<Float>) -> Void
) {
    let panels = (n + 15) / 16
    for pair in stride(from: 0, to: panels, by: 2) {
        if pair + 1 < panels { two(b + pair * k * 16, c + pair * 16) } else { one(b + pair * k * 16, c + pair * 16) }
    }
}

struct Layer {
    let k: Int, n: Int
    let a: UnsafeMutablePointer<Float>
    let floats: UnsafeMutablePointer<Float>, int8: UnsafeMutablePointer<Int8>
    let c: UnsafeMutablePointer<Float>

    init(k: Int, n: Int) {
        self.k = k
        self.n = n
        let padded = (n + 15) / 16 * 16
        a = .allocate(capacity: k)
        for i in 0..<k { a[i] = Float(i % 7) * 30 / 255 }
        floats = .allocate(capacity: k * padded)
        int8 = .allocate(capacity: k * padded)
        for i in 0..<(k * padded) {
            int8[i] = Int8(truncatingIfNeeded: (i * 37) % 255 - 127)
            floats[i] = Float(int8[i]) * 0.01
        }
        c = .allocate(capacity: padded)
    }

    func floatCopy() { row(k, n, UnsafePointer(floats), c, { product1x32(a, $0, k, $1) }, { product1x16(a, $0, k, $1) }) }
    func floatGeneric() {
        row(k, n, UnsafePointer(floats), c, { generic1x32(FloatPanel.self, a, $0, k, $1) }, { generic1x16(FloatPanel.self, a, $0, k, $1) })
    }
    func int8Copy() { row(k, n, UnsafePointer(int8), c, { product1x32Int8(a, $0, k, $1) }, { product1x16Int8(a, $0, k, $1) }) }
    func int8Generic() {
        row(k, n, UnsafePointer(int8), c, { generic1x32(Int8Panel.self, a, $0, k, $1) }, { generic1x16(Int8Panel.self, a, $0, k, $1) })
    }

    /// The largest difference between the copy's and the generic's sums, relative to the sums' size.
    func difference(_ copy: () -> Void, _ generic: () -> Void) -> Float {
        let padded = (n + 15) / 16 * 16
        copy()
        let first = Array(UnsafeBufferPointer(start: c, count: padded))
        generic()
        var worst: Float = 0
        for j in 0..<padded { worst = max(worst, abs(first[j] - c[j]) / max(1, abs(first[j]))) }
        return worst
    }
}

let layers = [Layer(k: 784, n: 512), Layer(k: 512, n: 512), Layer(k: 512, n: 256), Layer(k: 97, n: 40)]

/// Medians of 400 timings each of `copy` and `generic`, the two taking turns (and turns at going first) so
/// that whatever else the machine does falls on both alike.
func medians(_ copy: () -> Void, _ generic: () -> Void) -> (Double, Double) {
    var times: ([Double], [Double]) = ([], [])
    func time(_ body: () -> Void) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1000
    }
    for sample in 0..<400 {
        if sample % 2 == 0 {
            times.0.append(time(copy))
            times.1.append(time(generic))
        } else {
            times.1.append(time(generic))
            times.0.append(time(copy))
        }
    }
    return (times.0.sorted()[200], times.1.sorted()[200])
}

func format(_ name: String, _ times: (Double, Double)) -> String {
    String(format: "%@ copy %.1f µs, generic %.1f µs (%+.1f%%)", name, times.0, times.1, (times.1 / times.0 - 1) * 100)
}

for round in 1...5 {
    var difference: Float = 0
    for l in layers {
        difference = max(difference, l.difference(l.floatCopy, l.floatGeneric), l.difference(l.int8Copy, l.int8Generic))
    }
    let float = medians({ for l in layers { l.floatCopy() } }, { for l in layers { l.floatGeneric() } })
    let int8 = medians({ for l in layers { l.int8Copy() } }, { for l in layers { l.int8Generic() } })
    print("round \(round): \(format("f32", float)); \(format("int8", int8)); largest relative difference \(difference)")
}
