import Foundation

/// The most bytes a command may allocate for one thing whose size a file declares: a dataset, an archive
/// entry, a `.npy` array, a tensor the interpreter makes. Readers check a declared size against this (and
/// against the file's real size) before allocating anything.
///
/// The default is half the machine's physical memory; `kiln --max-memory` binds another value for one
/// command with `MemoryLimit.$bytes.withValue(limit) { ... }`.
public enum MemoryLimit {
    /// Half the physical memory (at least 64 MiB).
    public static let defaultBytes = max(Int(clamping: ProcessInfo.processInfo.physicalMemory / 2), 64 << 20)

    @TaskLocal public static var bytes: Int = defaultBytes

    /// Whether `count` bytes fit under the limit.
    public static func allows(_ count: Int) -> Bool { count >= 0 && count <= bytes }

    /// `needs 1.5 TiB, more than the memory limit of 12 GiB (--max-memory)`, for a reader's error.
    public static func exceeded(by count: Int) -> String {
        "needs \(describe(count)), more than the memory limit of \(describe(bytes)); raise it with --max-memory if the machine has the room"
    }

    /// The bytes of `shape` elements of `elementSize` bytes each, or nil if a dimension is negative or the
    /// product overflows.
    public static func byteCount(of shape: [Int], elementSize: Int) -> Int? {
        var total = elementSize
        for size in shape {
            guard size >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            guard !overflow else { return nil }
            total = product
        }
        return total
    }

    /// A size in bytes for people: `512 bytes`, `3.0 KiB`, `1.5 TiB`.
    public static func describe(_ count: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        guard count >= 1024 else { return "\(count) bytes" }
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024, unit + 1 < units.count {
            value /= 1024
            unit += 1
        }
        return String(format: value < 10 ? "%.1f" : "%.0f", value) + " " + units[unit]
    }

    /// Parses a `--max-memory` value: a byte count with an optional binary unit, `K`, `M`, `G` or `T`
    /// (`KiB`... and `KB`... mean the same): `4G`, `512M`, `1.5GiB`, `1048576`. Nil unless positive.
    public static func parse(_ text: String) -> Int? {
        var digits = text.trimmingCharacters(in: .whitespaces).uppercased()
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits.removeLast(suffix.count)
            break
        }
        let scales: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var scale = 1.0
        if let last = digits.last, let unit = scales[last] {
            scale = unit
            digits.removeLast()
        }
        guard let number = Double(digits), number.isFinite, number > 0 else { return nil }
        let value = number * scale
        guard value >= 1, value < Double(Int.max) else { return nil }
        return Int(value)
    }
}
