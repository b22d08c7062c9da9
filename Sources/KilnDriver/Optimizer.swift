import KilnIR
import KilnInterpreter
import KilnPasses
import SwiftBackend

/// Builds pass pipelines with the reference interpreter as the constant-folding evaluator.
public enum Optimizer {
    /// The passes of a preset (`O0`, `O1`, `O2`) or of an explicit comma-separated list. fuse-activation
    /// fuses the epilogues `epilogues` runs (the Swift executor's kernels by default: ONNX runs none and
    /// its legalization splits them all).
    public static func pipeline(
        level: String = "O2", passes: [String]? = nil, epilogues: EpilogueSupport = Backend.swift.epilogueSupport,
        verifyEach: Bool = PassManager.isDebugBuild
    ) throws -> PassManager {
        let names: [String]
        if let passes {
            names = passes
        } else {
            guard let preset = PassManager.presets[level] else {
                throw InputError("unknown optimization level -\(level); use -O0, -O1 or -O2")
            }
            names = preset
        }
        return try PassManager(pipeline: names, evaluator: Interpreter.evaluate, epilogues: epilogues, verifyEach: verifyEach)
    }

    /// A table of what each pass changed.
    public static func renderStats(_ trace: [PassRecord]) -> String {
        var out = "pass                 nodes        constants    parameters\n"
        for record in trace {
            func cell(_ a: Int, _ b: Int) -> String {
                let text = a == b ? "\(a)" : "\(a) -> \(b)"
                return text + String(repeating: " ", count: max(1, 13 - text.count))
            }
            out += record.pass + String(repeating: " ", count: max(1, 21 - record.pass.count))
            out += cell(record.nodesBefore, record.nodesAfter) + cell(record.constantsBefore, record.constantsAfter)
            out +=
                (record.parametersBefore == record.parametersAfter
                    ? "\(record.parametersBefore)" : "\(record.parametersBefore) -> \(record.parametersAfter)")
            out += "\n"
        }
        return out
    }
}
