import KilnIR

/// What a local rule does with the node it matched (the root).
public struct Rewrite: Sendable {
    /// Nodes computing the root's results, in order; together with `constants` they define every result
    /// of the root under its name and type. They may read any value defined before the root.
    public var nodes: [Node]
    /// New constants: weights the replacement reads, or the root's results themselves (folding).
    public var constants: [Constant]
    /// The root's only result is this existing value: readers of the result read it instead.
    public var forward: String?

    public init(nodes: [Node], constants: [Constant] = []) {
        self.nodes = nodes
        self.constants = constants
        self.forward = nil
    }

    /// The root replaced by one node that defines its results.
    public static func replace(with node: Node, constants: [Constant] = []) -> Rewrite {
        Rewrite(nodes: [node], constants: constants)
    }

    /// The root's only result is `value`, which already exists.
    public static func forward(to value: String) -> Rewrite {
        var rewrite = Rewrite(nodes: [])
        rewrite.forward = value
        return rewrite
    }

    /// The root's results are these constants.
    public static func fold(into constants: [Constant]) -> Rewrite { Rewrite(nodes: [], constants: constants) }
}

/// A local rewrite: given a node and what it may look at, the rewrite that replaces the node, or nil when
/// the rule does not apply (MLIR's RewritePattern, tinygrad's UPat rules).
public typealias RewriteRule = @Sendable (_ node: Node, _ context: RewriteContext) -> Rewrite?

/// Named rules, tried in order on each node; tables combine with `+`.
public struct RuleTable: Sendable {
    public var rules: [(name: String, rule: RewriteRule)]

    public init(_ rules: [(name: String, rule: RewriteRule)]) { self.rules = rules }

    public static func + (lhs: RuleTable, rhs: RuleTable) -> RuleTable { RuleTable(lhs.rules + rhs.rules) }
}

/// What a rule may look at: types, producers, readers and constants of the graph as it is now. Reading is
/// O(1) (a value's readers: O(readers)). `freshName` reserves a name no value has.
public struct RewriteContext {
    unowned(unsafe) let state: RewriterState

    /// The type of a value (input, constant or node result).
    public func type(_ value: String) -> TensorType? { state.id(value).flatMap { state.types[$0] } }

    /// The node defining a value; nil for graph inputs and constants.
    public func producer(_ value: String) -> Node? {
        guard let id = state.id(value), state.producer[id] >= 0 else { return nil }
        return state.slots[state.producer[id]]
    }

    /// The contents of a constant.
    public func constant(_ value: String) -> Tensor? { state.id(value).flatMap { state.constants[$0] } }

    /// How many times the value is read: once per node input slot, plus once if it is a graph output.
    public func uses(_ value: String) -> Int { state.id(value).map { state.uses[$0] } ?? 0 }

    /// Whether the graph returns the value.
    public func isOutput(_ value: String) -> Bool { state.id(value).map { state.isOutput[$0] } ?? false }

    /// The nodes reading the value, each once, in no particular order.
    public func readers(_ value: String) -> [Node] {
        guard let id = state.id(value) else { return [] }
        var seen: Set<Int> = []
        return state.readerSlots(of: id).filter { seen.insert($0).inserted }.compactMap { state.slots[$0] }
    }

    /// Whether only `reader` reads the value (in one or more of its inputs), and the graph does not return it.
    public func isOnlyRead(_ value: String, by reader: Node) -> Bool {
        !isOutput(value) && uses(value) == reader.inputs.filter { $0 == value }.count
    }

    /// A value name not yet used in the graph, derived from `base` (`base`, `base.1`, ...), reserved.
    public func freshName(_ base: String) -> String { state.freshName(base) }

    /// The graph's metadata.
    public var metadata: [String: String] { state.original.metadata }
}

/// Why a rewrite could not run to the end.
public enum RewriteError: Error, CustomStringConvertible {
    /// The rules kept rewriting: they undo each other somewhere.
    case didNotConverge(rewrites: Int, lastRule: String)
    /// A rule's rewrite does not define the root's results as the root did.
    case badRewrite(rule: String, node: String, reason: String)

    public var description: String {
        switch self {
        case .didNotConverge(let rewrites, let rule):
            "the rewrite did not converge after \(rewrites) rewrites (last rule: \(rule)); two rules undo each other"
        case .badRewrite(let rule, let node, let reason): "rule \(rule) rewrote node '\(node)' wrongly: \(reason)"
        }
    }
}

extension Graph {
    /// Applies the rules until none matches anywhere, with a worklist (MLIR's greedy pattern driver):
    /// every node is offered to the rules once, and after a rewrite only the nodes it touched are offered
    /// again (the new nodes, the readers of the root's results, the producers of values that lost a
    /// reader). Nodes left without readers are erased as they appear; unused constants at the end. Returns
    /// how many times each rule fired, and the graph unchanged when none did.
    @discardableResult
    public mutating func rewrite(with table: RuleTable, limit: Int? = nil) throws -> [String: Int] {
        let state = RewriterState(self)
        let fired = try state.run(table, limit: limit ?? (10 * nodes.count + 1000))
        if !fired.isEmpty { self = state.graph() }
        return fired
    }
}

/// The graph in a form that changes in O(1) per edit: value names interned to numbers once; nodes in
/// slots linked in graph order; for each value its producer, type, use count and readers (a linked list of
/// input edges in flat arrays, so no value costs an allocation). Only the driver mutates it, between rule
/// calls, so its properties skip the dynamic exclusivity checks.
final class RewriterState {
    // Values, by interned number.
    @exclusivity(unchecked) private var ids: [String: Int] = [:]
    @exclusivity(unchecked) private(set) var names: [String] = []
    @exclusivity(unchecked) var types: [TensorType?] = []
    @exclusivity(unchecked) var constants: [Tensor?] = []
    /// The slot of the node defining each value; -1 for inputs, constants and values no node defines.
    @exclusivity(unchecked) var producer: [Int] = []
    @exclusivity(unchecked) var uses: [Int] = []
    @exclusivity(unchecked) var isOutput: [Bool] = []
    /// The first input edge reading each value (-1: none). An edge is one input of one node: its value,
    /// its node's slot, and the previous and next edges reading the same value.
    @exclusivity(unchecked) private var firstEdge: [Int] = []
    @exclusivity(unchecked) private var edgeValue: [Int] = [], edgeSlot: [Int] = []
    @exclusivity(unchecked) private var edgeNext: [Int] = [], edgePrevious: [Int] = []
    @exclusivity(unchecked) private var nextSuffix: [String: Int] = [:]

    // Nodes, by slot.
    @exclusivity(unchecked) var slots: [Node?] = []
    /// A slot's inputs are the edges firstInputEdge[slot] ..< firstInputEdge[slot] + inputs.count.
    @exclusivity(unchecked) private var firstInputEdge: [Int] = []
    /// The order of the nodes: a doubly linked list over slots, with -1 marking both ends.
    @exclusivity(unchecked) private var next: [Int] = [], previous: [Int] = []
    @exclusivity(unchecked) private var first = -1, last = -1

    @exclusivity(unchecked) private var constantOrder: [Int] = []
    let original: Graph
    @exclusivity(unchecked) private var worklist: [Int] = []
    @exclusivity(unchecked) private var queued: [Bool] = []

    init(_ graph: Graph) {
        original = graph
        let capacity = graph.inputs.count + graph.constants.count + graph.nodes.count * 2
        ids.reserveCapacity(capacity)
        for input in graph.inputs { types[intern(input.name)] = input.type }
        for constant in graph.constants {
            let id = intern(constant.name)
            guard constants[id] == nil else { continue }
            constants[id] = constant.tensor
            types[id] = constant.tensor.type
            constantOrder.append(id)
        }
        for output in graph.outputs {
            let id = intern(output)
            uses[id] += 1
            isOutput[id] = true
        }
        slots.reserveCapacity(graph.nodes.count)
        for node in graph.nodes { link(register(node), before: -1) }
    }

    // MARK: Values

    func id(_ name: String) -> Int? { ids[name] }

    /// The number of a value name, adding it if new.
    @discardableResult
    private func intern(_ name: String) -> Int {
        // One hash and probe: the defaulted subscript's modify accessor inserts the next number if absent.
        let next = names.count
        let id = Self.value(of: &ids[name, default: next])
        guard id == next else { return id }
        names.append(name)
        types.append(nil)
        constants.append(nil)
        producer.append(-1)
        uses.append(0)
        isOutput.append(false)
        firstEdge.append(-1)
        return id
    }

    @inline(__always)
    private static func value(of slot: inout Int) -> Int { slot }

    func freshName(_ base: String) -> String {
        var name = base
        if ids[name] != nil {
            var i = nextSuffix[base, default: 1]
            while ids["\(base).\(i)"] != nil { i += 1 }
            nextSuffix[base] = i + 1
            name = "\(base).\(i)"
        }
        intern(name)
        return name
    }

    /// The slots of the nodes reading a value, once per input that reads it.
    func readerSlots(of id: Int) -> [Int] {
        var result: [Int] = []
        var edge = firstEdge[id]
        while edge >= 0 {
            result.append(edgeSlot[edge])
            edge = edgeNext[edge]
        }
        return result
    }

    /// Adds `edge` to the readers of `value`.
    private func attach(_ edge: Int, to value: Int) {
        edgeValue[edge] = value
        edgePrevious[edge] = -1
        edgeNext[edge] = firstEdge[value]
        if firstEdge[value] >= 0 { edgePrevious[firstEdge[value]] = edge }
        firstEdge[value] = edge
        uses[value] += 1
    }

    /// Removes `edge` from the readers of its value.
    private func detach(_ edge: Int) {
        let value = edgeValue[edge], before = edgePrevious[edge], after = edgeNext[edge]
        if before >= 0 { edgeNext[before] = after } else { firstEdge[value] = after }
        if after >= 0 { edgePrevious[after] = before }
        uses[value] -= 1
    }

    // MARK: Nodes

    /// Stores a node in a new slot, not yet in the order, and records its edges.
    private func register(_ node: Node) -> Int {
        let slot = slots.count
        slots.append(node)
        next.append(-1)
        previous.append(-1)
        queued.append(false)
        firstInputEdge.append(edgeValue.count)
        for input in node.inputs {
            let edge = edgeValue.count
            edgeValue.append(-1)
            edgeSlot.append(slot)
            edgeNext.append(-1)
            edgePrevious.append(-1)
            attach(edge, to: intern(input))
        }
        for output in node.outputs {
            let id = intern(output.name)
            producer[id] = slot
            types[id] = output.type
        }
        return slot
    }

    /// Puts a slot into the order before `anchor` (-1: at the end).
    private func link(_ slot: Int, before anchor: Int) {
        let before = anchor < 0 ? last : previous[anchor]
        previous[slot] = before
        next[slot] = anchor
        if anchor < 0 { last = slot } else { previous[anchor] = slot }
        if before < 0 { first = slot } else { next[before] = slot }
    }

    /// Removes a node from the order and from the readers of its inputs; returns those inputs.
    private func unlink(_ slot: Int) -> [Int] {
        guard let node = slots[slot] else { return [] }
        slots[slot] = nil
        let before = previous[slot], after = next[slot]
        if before < 0 { first = after } else { next[before] = after }
        if after < 0 { last = before } else { previous[after] = before }
        let edges = firstInputEdge[slot]..<(firstInputEdge[slot] + node.inputs.count)
        let inputs = edges.map { edgeValue[$0] }
        for edge in edges { detach(edge) }
        for output in node.outputs {
            if let id = ids[output.name], producer[id] == slot { producer[id] = -1 }
        }
        return inputs
    }

    /// Erases nodes that nothing reads any more, starting from the producers of `values`, and queues the
    /// producers whose readers changed.
    private func eraseDead(from values: [Int]) {
        var pending = values
        while let value = pending.popLast() {
            let slot = producer[value]
            guard slot >= 0, let node = slots[slot] else { continue }
            if node.outputs.allSatisfy({ uses[ids[$0.name]!] == 0 }) {
                pending += unlink(slot)
            } else {
                enqueue(slot)
            }
        }
    }

    private func enqueue(_ slot: Int) {
        guard slot >= 0, slots[slot] != nil, !queued[slot] else { return }
        queued[slot] = true
        worklist.append(slot)
    }

    /// Makes every reader of `old` read `new` instead.
    private func replaceUses(of old: Int, with new: Int) {
        for slot in Set(readerSlots(of: old)) {
            guard var node = slots[slot] else { continue }
            node.inputs = node.inputs.map { $0 == names[old] ? names[new] : $0 }
            slots[slot] = node
            for edge in firstInputEdge[slot]..<(firstInputEdge[slot] + node.inputs.count) where edgeValue[edge] == old {
                detach(edge)
                attach(edge, to: new)
            }
            enqueue(slot)
        }
    }

    /// Renames a node result everywhere it is defined or read: its readers read `new`, which its producer
    /// now defines.
    private func rename(_ old: Int, to new: Int) {
        let slot = producer[old]
        guard slot >= 0, var node = slots[slot], let type = types[old] else { return }
        node.outputs = node.outputs.map { $0.name == names[old] ? Value(names[new], type) : $0 }
        slots[slot] = node
        producer[old] = -1
        producer[new] = slot
        types[new] = type
        replaceUses(of: old, with: new)
    }

    // MARK: Driving

    func run(_ table: RuleTable, limit: Int) throws -> [String: Int] {
        let context = RewriteContext(state: self)
        // Offered in graph order: the worklist is a stack, so push the last node first.
        var slot = last
        while slot >= 0 {
            enqueue(slot)
            slot = previous[slot]
        }
        var fired: [String: Int] = [:]
        var rewrites = 0
        while let slot = worklist.popLast() {
            queued[slot] = false
            guard let node = slots[slot] else { continue }
            for (name, rule) in table.rules {
                guard let rewrite = rule(node, context) else { continue }
                guard try apply(rewrite, at: slot, rule: name) else { continue }
                fired[name, default: 0] += 1
                rewrites += 1
                if rewrites > limit { throw RewriteError.didNotConverge(rewrites: rewrites, lastRule: name) }
                break
            }
        }
        return fired
    }

    /// Carries out a rewrite of the node in `slot`; false when it cannot be done as asked (a graph output
    /// would lose its name).
    private func apply(_ rewrite: Rewrite, at slot: Int, rule: String) throws -> Bool {
        guard let root = slots[slot] else { return false }
        if let forward = rewrite.forward {
            guard root.outputs.count == 1, rewrite.nodes.isEmpty, rewrite.constants.isEmpty, let value = ids[forward],
                types[value] == root.outputs[0].type
            else {
                throw RewriteError.badRewrite(rule: rule, node: root.name, reason: "a forward needs an existing value of the result's type")
            }
            let result = ids[root.outputs[0].name]!
            if value == result { return false }
            if isOutput[result] {
                // The graph output keeps its name: the forwarded value takes it, if a node defines it and
                // the graph does not return it under its own name.
                let p = producer[value]
                guard p >= 0, p != slot, !isOutput[value] else { return false }
                let inputs = unlink(slot)
                rename(value, to: result)
                enqueue(p)
                eraseDead(from: inputs)
                return true
            }
            replaceUses(of: result, with: value)
            enqueue(producer[value])
            eraseDead(from: unlink(slot))
            return true
        }
        // The replacement defines every result of the root, with the same types.
        var defined: [String: TensorType] = [:]
        for node in rewrite.nodes { for output in node.outputs { defined[output.name] = output.type } }
        for constant in rewrite.constants { defined[constant.name] = constant.tensor.type }
        for output in root.outputs where defined[output.name] != output.type {
            throw RewriteError.badRewrite(
                rule: rule, node: root.name,
                reason: "result %\(output.name) : \(output.type) is \(defined[output.name].map { "\($0)" } ?? "not defined") in the rewrite"
            )
        }
        for constant in rewrite.constants {
            let id = intern(constant.name)
            constants[id] = constant.tensor
            types[id] = constant.tensor.type
            constantOrder.append(id)
        }
        // The new nodes take the root's place in the order; the root's results now come from them.
        for node in rewrite.nodes {
            let new = register(node)
            link(new, before: slot)
            enqueue(new)
        }
        let inputs = unlink(slot)
        for output in root.outputs {
            for reader in readerSlots(of: ids[output.name]!) { enqueue(reader) }
        }
        eraseDead(from: inputs)
        return true
    }

    /// The graph as it is now: nodes in order, without those no graph output depends on, and without
    /// constants nothing reads.
    func graph() -> Graph {
        // Liveness in one backward sweep over the order, by value number.
        var live = isOutput
        var kept: [Int] = []
        var slot = last
        while slot >= 0 {
            if let node = slots[slot], node.outputs.contains(where: { live[ids[$0.name]!] }) {
                kept.append(slot)
                for edge in firstInputEdge[slot]..<(firstInputEdge[slot] + node.inputs.count) { live[edgeValue[edge]] = true }
            }
            slot = previous[slot]
        }
        var graph = original
        graph.nodes = kept.reversed().map { slots[$0]! }
        var seen = Array(repeating: false, count: names.count)
        graph.constants = constantOrder.compactMap { id in
            guard live[id], !seen[id], let tensor = constants[id] else { return nil }
            seen[id] = true
            return Constant(names[id], tensor)
        }
        return graph
    }
}
