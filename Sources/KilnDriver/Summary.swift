import KilnIR

/// A table of a graph in the spirit of Keras's `model.summary()`.
public enum Summary {
    /// The op's name, with a fused epilogue after a `+`: `Conv+Relu`.
    public static func kind(_ op: Op) -> String {
        if case .fused(let product, let epilogue) = op { return "\(product.name)+\(epilogue.name)" }
        return op.name
    }

    public static func render(_ graph: Graph) -> String {
        let constants = graph.constantsByName
        var counted = Set<String>()
        var rows: [[String]] = [["Node (op)", "Output", "Params", "Inputs"]]
        for node in graph.nodes {
            var params = 0
            for input in node.inputs where constants[input] != nil && !counted.contains(input) {
                counted.insert(input)
                params += constants[input]!.count
            }
            let consumed = node.inputs.filter { constants[$0] == nil }.map { "%" + $0 }.joined(separator: ", ")
            rows.append([
                "\(node.name) (\(Self.kind(node.op)))", node.outputs.map(\.type.description).joined(separator: ", "),
                grouped(params), consumed,
            ])
        }
        let widths = (0..<4).map { column in rows.map { $0[column].count }.max() ?? 0 }
        func line(_ row: [String]) -> String {
            row.enumerated().map { i, cell in
                i == 2
                    ? String(repeating: " ", count: widths[i] - cell.count) + cell
                    : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        let rule = String(repeating: "─", count: widths.reduce(0, +) + 6)
        var out = "Model: \"\(graph.name)\""
        if let source = graph.metadata["source"] { out += " (from \(source))" }
        out += "\n" + rule + "\n" + line(rows[0]) + "\n" + rule + "\n"
        for row in rows.dropFirst() { out += line(row) + "\n" }
        out += rule + "\n"
        out += "Inputs:  " + graph.inputs.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + "\n"
        out += "Outputs: " + graph.outputValues.map { "\($0.name) \($0.type)" }.joined(separator: ", ") + "\n"
        out += "Nodes: \(graph.nodes.count)   Params: \(grouped(graph.parameterCount))   Weights: \(bytes(graph.parameterBytes))\n"
        return out
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }

    static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format1(Double(n) / 1024)) + " KiB" }
        return String(format1(Double(n) / 1024 / 1024)) + " MiB"
    }

    private static func format1(_ x: Double) -> String {
        let tenths = Int((x * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
