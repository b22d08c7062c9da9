/// Prints a graph in Kiln's text form (`.kir`). The output is deterministic, and `TextParser` reads it
/// back to an equal graph.
///
///     graph @mlp {
///       meta "source" = "keras 3.12.0"
///       input %input : f32[N,784]
///       const %dense.kernel : f32[784,128] = blob "sha256:9f2c…"
///       const %dense.bias : f32[4] = [0.5, -1.0, 0.25, 0.0]
///       %dense = Gemm(%input, %dense.kernel, %dense.bias) {transB = false} : f32[N,128]
///       %dense.relu = Relu(%dense) : f32[N,128] loc("dense")
///       output %dense.relu
///     }
///
/// Constants with at most `inlineLimit` elements are written inline; larger ones by content hash, with
/// their bytes kept in a weights file (`WeightsFile`).
public struct TextPrinter {
    public var inlineLimit: Int

    public init(inlineLimit: Int = 16) { self.inlineLimit = inlineLimit }

    public func print(_ graph: Graph) -> String {
        var out = "graph @\(graph.name) {\n"
        for key in graph.metadata.keys.sorted() {
            out += "  meta \(quote(key)) = \(quote(graph.metadata[key]!))\n"
        }
        for input in graph.inputs {
            out += "  input %\(input.name) : \(input.type)\n"
        }
        for constant in graph.constants {
            out += "  const %\(constant.name) : \(constant.tensor.type) = \(constantBody(constant.tensor))\n"
        }
        for node in graph.nodes {
            out += "  " + node.outputs.map { "%" + $0.name }.joined(separator: ", ")
            out += " = \(node.op.name)(" + node.inputs.map { "%" + $0 }.joined(separator: ", ") + ")"
            let attributes = node.op.attributes
            if !attributes.isEmpty {
                out += " {" + attributes.map { "\($0.name) = \($0.value)" }.joined(separator: ", ") + "}"
            }
            out += " : " + node.outputs.map(\.type.description).joined(separator: ", ")
            if node.name != node.outputs.first?.name { out += " loc(\(quote(node.name)))" }
            out += "\n"
        }
        out += "  output " + graph.outputs.map { "%" + $0 }.joined(separator: ", ") + "\n"
        out += "}\n"
        return out
    }

    private func constantBody(_ tensor: Tensor) -> String {
        guard tensor.count <= inlineLimit else { return "blob \"sha256:\(tensor.contentHash)\"" }
        let elements: [String]
        switch tensor.storage {
        case .float32(let v): elements = v.map(formatFloat)
        case .float16(let v): elements = v.map { formatFloat(Float(Float16(bitPattern: $0))) }
        case .int8(let v): elements = v.map { String($0) }
        case .uint8(let v): elements = v.map { String($0) }
        case .int32(let v): elements = v.map { String($0) }
        case .int64(let v): elements = v.map { String($0) }
        case .bool(let v): elements = v.map { $0 ? "true" : "false" }
        }
        return "[" + elements.joined(separator: ", ") + "]"
    }
}

/// A double-quoted string with `\\`, `\"` and `\n` escaped.
func quote(_ text: String) -> String {
    var out = "\""
    for ch in text {
        switch ch {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        default: out.append(ch)
        }
    }
    return out + "\""
}

extension Graph {
    /// The graph in text form, with large constants by hash.
    public var text: String { TextPrinter().print(self) }
}
