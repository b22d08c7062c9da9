/// File names for a model's output tensors, as `kiln run` writes them and `verify --expected` reads them.
public enum OutputFiles {
    /// Distinct file names for a model's outputs, `OUTPUT.npy` each, by output name.
    ///
    /// An output whose name is already a plain file name keeps it; one with a `/` has it replaced by `_`.
    /// When that would give two outputs one file (`x/y` and `x_y`, or names differing only in case), the
    /// later one in the model's output order, among those whose name had to change, gets `_2`, `_3`, ...:
    /// `x_y` -> `x_y.npy`, `x/y` -> `x_y_2.npy`. The mapping depends only on the output names and their order.
    public static func fileNames(for outputs: [String]) -> [String: String] {
        var names: [String: String] = [:]
        var taken: Set<String> = []
        func claim(_ output: String, _ stem: String) {
            var candidate = stem, suffix = 2
            while taken.contains(candidate.lowercased()) {
                candidate = "\(stem)_\(suffix)"
                suffix += 1
            }
            taken.insert(candidate.lowercased())
            names[output] = candidate + ".npy"
        }
        let unique = outputs.enumerated().filter { index, name in !outputs[..<index].contains(name) }.map(\.element)
        for output in unique where !output.contains("/") { claim(output, output) }
        for output in unique where output.contains("/") { claim(output, String(output.map { $0 == "/" ? "_" : $0 })) }
        return names
    }
}
