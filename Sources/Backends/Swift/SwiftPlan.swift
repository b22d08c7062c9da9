import KilnIR

/// The element count of a value: `perBatch * batch` when its shape has the batch dimension, or `fixed`.
struct ElementCount: Hashable {
    var perBatch: Int
    var fixed: Int

    /// The count as a Swift expression over `batch`.
    var expression: String { perBatch > 0 ? (perBatch == 1 ? "batch" : "\(perBatch) * batch") : "\(fixed)" }
}

/// Where a value lives at run time.
enum Storage: Hashable {
    /// A float offset into the weights.
    case weights(Int)
    /// A region of the arena: `units * batch` floats in, or past all batch-sized regions, `fixed` floats in.
    case arena(units: Int, fixed: Int, batchSized: Bool)
}

/// Assigns every value a place: constants in the weights file, activations in one arena planned once,
/// with regions reused once their value is dead. Shape-only ops (Identity, Flatten, Reshape, same-type
/// Cast) alias their input.
struct SwiftPlan {
    private(set) var storage: [String: Storage] = [:]
    private(set) var arenaUnits = 0
    private(set) var arenaFixed = 0
    let counts: [String: ElementCount]

    /// The arena name of a node's scratch space (e.g. im2col columns), live only while the node runs.
    static func scratchName(_ index: Int) -> String { "#scratch\(index)" }

    init(graph: Graph, weightOffsets: [String: Int], scratch: [Int: ElementCount] = [:]) throws(SwiftEmitError) {
        var counts: [String: ElementCount] = [:]
        for (name, type) in graph.valueTypes { counts[name] = try Self.count(of: type, value: name) }
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
        var batchPool = RegionPool(), fixedPool = RegionPool()
        var live: [(name: String, batchSized: Bool, start: Int, size: Int, lastUse: Int)] = []
        func place(_ name: String, at index: Int) {
            let count = counts[name]!
            let batchSized = count.perBatch > 0
            let size = batchSized ? count.perBatch : count.fixed
            let start = batchSized ? batchPool.allocate(size) : fixedPool.allocate(size)
            storage[name] = .arena(units: batchSized ? start : 0, fixed: batchSized ? 0 : start, batchSized: batchSized)
            live.append((name, batchSized, start, size, lastUse[name] ?? index))
        }
        for input in graph.inputs { place(input.name, at: -1) }
        for (index, node) in graph.nodes.enumerated() {
            // Free what died before this node; a node never writes over its own inputs.
            live.removeAll { region in
                guard region.lastUse < index else { return false }
                if region.batchSized { batchPool.free(region.start, region.size) } else { fixedPool.free(region.start, region.size) }
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
        arenaUnits = batchPool.high
        arenaFixed = fixedPool.high
    }

    static func isAlias(_ node: Node) -> Bool {
        switch node.op {
        case .identity, .flatten, .reshape: true
        case .cast(let to): to == .float32
        case .activation, .binary, .compare, .matMul, .gemm, .softmax, .transpose, .conv, .pool, .reduce,
            .batchNorm, .concat, .pad, .crop, .slice, .convTranspose, .upsample, .gather, .quantizeLinear, .dequantizeLinear, .fused, .layerNorm:
            false
        }
    }

    static func count(of type: TensorType, value: String) throws(SwiftEmitError) -> ElementCount {
        var fixed = 1
        var symbols = 0
        for dim in type.shape.dims {
            switch dim {
            case .fixed(let size): fixed *= size
            case .symbolic: symbols += 1
            }
        }
        guard symbols <= 1 else {
            throw .unsupported(node: value, reason: "\(type) has more than one symbolic dimension; only a batch dimension is supported")
        }
        return symbols == 1 ? ElementCount(perBatch: fixed, fixed: 0) : ElementCount(perBatch: 0, fixed: fixed)
    }

    /// A Swift pointer expression for a value, given the names of the weights, the arena and the batch size
    /// in scope (`w`, `a` and `batch` inside `run(batch:)`).
    func pointer(_ value: String, weights w: String = "w", arena a: String = "a", batch: String = "batch") -> String {
        switch storage[value]! {
        case .weights(let offset): return offset == 0 ? w : "\(w) + \(offset)"
        case .arena(let units, let fixed, let batchSized):
            if batchSized { return units == 0 ? a : "\(a) + \(units) * \(batch)" }
            return "\(a) + \(arenaUnits) * \(batch) + \(fixed)"
        }
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
