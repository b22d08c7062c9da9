import KilnIR

/// The element count of a value: `coefficient` times the run-time sizes in `scale` (the batch, and any
/// dimension the model leaves unknown until `predict`), or just `coefficient` when `scale` is empty.
struct ElementCount: Hashable {
    var coefficient: Int
    /// The Swift names of the run-time sizes multiplied (`batch`, `dim_tokens_dim1`), sorted.
    var scale: [String]

    init(coefficient: Int, scale: [String]) {
        self.coefficient = coefficient
        self.scale = scale.sorted()
    }

    init(fixed: Int) { self.init(coefficient: fixed, scale: []) }

    /// Whether the count is known when the code is generated.
    var isFixed: Bool { scale.isEmpty }

    /// The count as a Swift expression over the run-time sizes.
    var expression: String { index.description }

    /// The count as an integer expression over the run-time sizes.
    var index: SwiftIndex { scale.isEmpty ? SwiftIndex(coefficient) : SwiftIndex(scale.joined(separator: " * "), times: coefficient) }

    /// The number of rows of `width` elements.
    func rows(of width: Int) -> ElementCount {
        precondition(coefficient % width == 0, "\(self) is not whole rows of \(width)")
        return ElementCount(coefficient: coefficient / width, scale: scale)
    }
}

/// Where a value lives at run time.
enum Storage: Hashable {
    /// A float offset into the weights.
    case weights(Int)
    /// A region of the arena: `offset` times the pool's scale floats into the pool of values whose counts
    /// scale with `scale` (the batch-sized pool first, the fixed-size pool last).
    case arena(scale: [String], offset: Int)
}

/// Assigns every value a place: constants in the weights file, activations in one arena planned once,
/// with regions reused once their value is dead. Shape-only ops (Identity, Flatten, Reshape, same-type
/// Cast) alias their input.
struct SwiftPlan {
    private(set) var storage: [String: Storage] = [:]
    /// The floats each pool needs per unit of its scale, pools in arena order.
    private(set) var pools: [(scale: [String], size: Int)] = []
    let counts: [String: ElementCount]
    /// The Swift name of each symbolic dimension: `batch` for the batch (the inputs' first dimension),
    /// `dim_NAME` for a dimension the model leaves unknown, given to `predict`.
    let sizeNames: [String: String]
    /// The unknown dimensions besides the batch, in the order `predict` takes them (first appearance in
    /// the inputs), with their Swift names.
    let extraSizes: [(symbol: String, name: String)]

    /// Floats per example of the batch-sized pool (every count of a model without other unknown sizes).
    var arenaUnits: Int { pools.first { $0.scale == ["batch"] }?.size ?? 0 }
    /// Floats of the fixed-size pool.
    var arenaFixed: Int { pools.first { $0.scale.isEmpty }?.size ?? 0 }

    /// The arena's size in floats, over the run-time sizes.
    var arenaSize: SwiftIndex {
        pools.reduce(SwiftIndex(0)) { total, pool in
            total + (pool.scale.isEmpty ? SwiftIndex(pool.size) : SwiftIndex(pool.scale.joined(separator: " * "), times: pool.size))
        }
    }

    /// The symbol of the batch: the first dimension of the inputs.
    static func batchSymbol(of graph: Graph) -> String {
        if case .symbolic(let symbol) = graph.inputs.first?.type.shape.dims.first { return symbol }
        return "N"
    }

    /// The Swift names of a graph's symbolic dimensions that its inputs define, and the order of the
    /// unknown ones.
    static func sizeNames(of graph: Graph) -> (names: [String: String], extra: [(symbol: String, name: String)]) {
        let batch = batchSymbol(of: graph)
        var names = [batch: "batch"]
        var extra: [(symbol: String, name: String)] = []
        for input in graph.inputs {
            for dim in input.type.shape.dims.dropFirst() {
                guard case .symbolic(let symbol) = dim, names[symbol] == nil else { continue }
                let name = "dim_" + String(symbol.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
                names[symbol] = name
                extra.append((symbol, name))
            }
        }
        return (names, extra)
    }

    /// The arena name of a node's scratch space (e.g. im2col columns), live only while the node runs.
    static func scratchName(_ index: Int) -> String { "#scratch\(index)" }

    init(graph: Graph, weightOffsets: [String: Int], scratch: [Int: ElementCount] = [:]) throws(SwiftEmitError) {
        (sizeNames, extraSizes) = Self.sizeNames(of: graph)
        var counts: [String: ElementCount] = [:]
        for (name, type) in graph.valueTypes { counts[name] = try Self.count(of: type, value: name, sizeNames: sizeNames) }
        for (index, count) in scratch { counts[Self.scratchName(index)] = count }
        self.counts = counts

        // Alias groups: a shape-only op's output shares its input's storage.
        var root: [String: String] = [:]
        func find(_ v: String) -> String { root[v].map(find) ?? v }
        for node in graph.nodes where Self.isAlias(node) { root[node.outputs[0].name] = find(node.inputs[0]) }

        var lastUse: [String: Int] = [:]
        for (index, node) in graph.nodes.enumerated() { for input in node.inputs { lastUse[find(input), default: index] = index } }
        for output in graph.outputs { lastUse[find(output)] = Int.max }

        for (name, offset) in weightOffsets { storage[name] = .weights(offset) }
        // One pool per scale: values whose counts grow alike share regions.
        var regionPools: [[String]: RegionPool] = [:]
        var live: [(name: String, scale: [String], start: Int, size: Int, lastUse: Int)] = []
        func place(_ name: String, at index: Int) {
            let count = counts[name]!
            let start = regionPools[count.scale, default: RegionPool()].allocate(count.coefficient)
            storage[name] = .arena(scale: count.scale, offset: start)
            live.append((name, count.scale, start, count.coefficient, lastUse[name] ?? index))
        }
        for input in graph.inputs { place(input.name, at: -1) }
        for (index, node) in graph.nodes.enumerated() {
            // Free what died before this node; a node never writes over its own inputs.
            live.removeAll { region in
                guard region.lastUse < index else { return false }
                regionPools[region.scale]!.free(region.start, region.size)
                return true
            }
            for output in node.outputs where root[output.name] == nil { place(output.name, at: index) }
            if scratch[index] != nil {
                lastUse[Self.scratchName(index)] = index
                place(Self.scratchName(index), at: index)
            }
        }
        for node in graph.nodes where Self.isAlias(node) {
            storage[node.outputs[0].name] = storage[find(node.outputs[0].name)]
        }
        // The batch-sized pool first and the fixed-size pool last, so a model without other unknown sizes
        // lays out `units * batch` then `arenaUnits * batch + fixed`.
        func rank(_ scale: [String]) -> Int { scale == ["batch"] ? 0 : scale.isEmpty ? 2 : 1 }
        pools = regionPools.map { (scale: $0.key, size: $0.value.high) }
            .sorted { (rank($0.scale), $0.scale.joined(separator: " ")) < (rank($1.scale), $1.scale.joined(separator: " ")) }
        if !pools.contains(where: { $0.scale == ["batch"] }) { pools.insert((["batch"], 0), at: 0) }
        if !pools.contains(where: { $0.scale.isEmpty }) { pools.append(([], 0)) }
    }

    static func isAlias(_ node: Node) -> Bool {
        switch node.op {
        case .identity, .flatten, .reshape: true
        case .cast(let to): to == .float32
        case .activation, .binary, .compare, .matMul, .gemm, .softmax, .transpose, .conv, .pool, .reduce,
            .batchNorm, .concat, .pad, .crop, .slice, .convTranspose, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .fused,
            .layerNorm, .recurrent, .attention:
            false
        }
    }

    /// A value's element count: the product of its fixed dimensions, scaled by its symbolic ones, each of
    /// which must be the batch or a size the inputs define.
    static func count(of type: TensorType, value: String, sizeNames: [String: String]) throws(SwiftEmitError) -> ElementCount {
        var fixed = 1
        var scale: [String] = []
        for dim in type.shape.dims {
            switch dim {
            case .fixed(let size): fixed *= size
            case .symbolic(let symbol):
                guard let name = sizeNames[symbol] else {
                    throw .unsupported(
                        node: value, reason: "the size \(symbol) of \(type) is not a dimension of any input, so predict cannot be given it")
                }
                scale.append(name)
            }
        }
        return ElementCount(coefficient: fixed, scale: scale)
    }

    /// The offset of a pool's first float: the sizes of the pools before it.
    private func base(of scale: [String]) -> SwiftIndex {
        var total = SwiftIndex(0)
        for pool in pools {
            if pool.scale == scale { break }
            total = total + (pool.scale.isEmpty ? SwiftIndex(pool.size) : SwiftIndex(pool.scale.joined(separator: " * "), times: pool.size))
        }
        return total
    }

    /// A Swift pointer expression for a value, `plus` elements further on, given the names of the weights
    /// and the arena in scope (`w` and `a` inside `run`); `sizes` renames run-time sizes (`batch` ->
    /// `batchSize` inside `predict`). The offset is folded into one term per name and one constant.
    func pointer(
        _ value: String, plus extra: SwiftIndex = SwiftIndex(0), weights w: String = "w", arena a: String = "a",
        sizes: [String: String] = [:]
    ) -> String {
        let base: String, offset: SwiftIndex
        switch storage[value]! {
        case .weights(let start): (base, offset) = (w, SwiftIndex(start))
        case .arena(let scale, let start):
            base = a
            offset = self.base(of: scale) + (scale.isEmpty ? SwiftIndex(start) : SwiftIndex(scale.joined(separator: " * "), times: start))
        }
        let total = (offset + extra).renamed(sizes)
        return total.isZero ? base : "\(base) + \(total)"
    }

    func isConstant(_ value: String) -> Bool {
        if case .weights = storage[value] { return true }
        return false
    }
}

/// First-fit allocation of regions in a line of floats.
struct RegionPool {
    private var free: [(start: Int, size: Int)] = []
    private(set) var high = 0

    mutating func allocate(_ size: Int) -> Int {
        if let index = free.firstIndex(where: { $0.size >= size }) {
            let region = free[index]
            if region.size == size {
                free.remove(at: index)
            } else {
                free[index] = (region.start + size, region.size - size)
            }
            return region.start
        }
        defer { high += size }
        return high
    }

    mutating func free(_ start: Int, _ size: Int) {
        free.append((start, size))
        free.sort { $0.start < $1.start }
        var merged: [(start: Int, size: Int)] = []
        for region in free {
            if let last = merged.last, last.start + last.size == region.start {
                merged[merged.count - 1].size += region.size
            } else {
                merged.append(region)
            }
        }
        free = merged
    }
}
