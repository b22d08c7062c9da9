import KilnIR

/// Classification accuracy of a model's scores against labels, for the pruning and quantization reports.
public enum Accuracy {
    /// The fraction of rows of `scores` (examples by classes) whose largest score is at the label's class.
    public static func top1(_ scores: Tensor, _ labels: [Int64]) throws -> Double {
        guard let classes = scores.shape.last, classes > 0, scores.count / classes == labels.count, !labels.isEmpty else {
            throw InputError("--labels holds \(labels.count) labels for outputs of shape \(scores.shape); give one label per example")
        }
        let values = scores.floats
        var correct = 0
        for (row, label) in labels.enumerated() {
            let slice = values[(row * classes)..<((row + 1) * classes)]
            if let best = slice.indices.max(by: { slice[$0] < slice[$1] }), Int64(best - row * classes) == label { correct += 1 }
        }
        return Double(correct) / Double(labels.count)
    }

    /// A fraction as a percentage with two decimals, "92.89%".
    public static func percent(_ value: Double) -> String {
        let hundredths = Int((value * 10000).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)%"
    }
}
