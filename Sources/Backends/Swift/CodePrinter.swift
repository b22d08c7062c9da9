/// Accumulates generated source text with indentation managed by `withIndentation`.
struct CodePrinter {
    private(set) var text = ""
    private var indentation = ""

    mutating func line(_ content: String = "") {
        text += content.isEmpty ? "\n" : indentation + content + "\n"
    }

    /// Writes several lines, each at the current indentation.
    mutating func lines(_ block: String) {
        for content in block.split(separator: "\n", omittingEmptySubsequences: false) { line(String(content)) }
    }

    mutating func withIndentation(_ body: (inout CodePrinter) -> Void) {
        let saved = indentation
        indentation += "    "
        body(&self)
        indentation = saved
    }

    /// `header {` ... `}` with the body indented.
    mutating func block(_ header: String, _ body: (inout CodePrinter) -> Void) {
        line(header + " {")
        withIndentation(body)
        line("}")
    }
}
