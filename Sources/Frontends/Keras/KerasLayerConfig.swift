import KilnIR

/// A layer's `config`, read through checked accessors: the one place a layer takes a value from the file.
///
/// Each accessor checks the value where it is read and throws `KerasImportError.invalidConfig`, which names
/// the file, the layer, the field, the value and what the value must be:
/// `layer 'dense_3' (Dense): 'units' is 1e+20; it must be a whole number from 1 to 2^31`. A field that is
/// absent or `null` takes the default Keras gives it; without a default it is an error. Sizes are at most
/// `maxSize` (2^31, more than any real model has along one dimension), so a product of a few of them is
/// checked with overflow-reporting arithmetic rather than trusted.
///
/// A new layer reads its settings with `let settings = config(of: layer)` and, for example,
/// `try settings.size("units")`, `try settings.sizes("strides", count: 2, default: 1)`,
/// `try settings.axis("axis", rank: rank, default: -1)` or `try settings.choice("padding", ["valid", "same"], default: "valid")`.
struct LayerConfig {
    let json: JSON
    let file: String
    let layer: String
    let className: String

    /// The largest size (units, filters, a kernel, a stride, a padding, a repeat count) a layer may have.
    static let maxSize = 1 << 31

    init(_ layer: LayerSpec, file: String) {
        json = layer.config
        self.file = file
        self.layer = layer.name
        className = layer.className
    }

    /// Settings recorded elsewhere than the layer's config (an op layer's call arguments), read the same way.
    init(_ json: JSON, of layer: LayerSpec, file: String) {
        self.json = json
        self.file = file
        self.layer = layer.name
        className = layer.className
    }

    /// The field's value, or nil when it is absent or `null`.
    subscript(key: String) -> JSON? {
        guard let value = json[key], !value.isNull else { return nil }
        return value
    }

    /// The error for field `key`, whose value must be `requirement` ("a whole number from 1 to 2^31").
    func invalid(_ key: String, _ requirement: String, value: JSON? = nil) -> KerasImportError {
        .invalidConfig(
            file: file, layer: layer, className: className, field: key, value: Self.describe(value ?? json[key]),
            requirement: requirement)
    }

    // MARK: Integers

    /// A whole number in `range`.
    func int(_ key: String, default fallback: Int? = nil, in range: ClosedRange<Int>) throws(KerasImportError) -> Int {
        guard let value = self[key] else {
            guard let fallback else { throw invalid(key, Self.wholeNumber(in: range)) }
            return fallback
        }
        return try int(value, key: key, in: range)
    }

    /// A size: a whole number from 1 to `maxSize`.
    func size(_ key: String, default fallback: Int? = nil) throws(KerasImportError) -> Int {
        try int(key, default: fallback, in: 1...Self.maxSize)
    }

    /// One size per spatial dimension: one whole number for all of them, or a list of `count` (Keras's
    /// `kernel_size`, `strides`, `dilation_rate`, `pool_size`, `size`).
    func sizes(_ key: String, count: Int, default fallback: Int? = nil, in range: ClosedRange<Int> = 1...maxSize) throws(KerasImportError)
        -> [Int]
    {
        guard let value = self[key] else {
            guard let fallback else { throw invalid(key, "\(Self.wholeNumber(in: range)), or a list of \(count)") }
            return Array(repeating: fallback, count: count)
        }
        if case .number = value { return Array(repeating: try int(value, key: key, in: range), count: count) }
        guard let items = value.array, items.count == count else {
            throw invalid(key, "\(Self.wholeNumber(in: range)), or a list of \(count) of them")
        }
        var result: [Int] = []
        for item in items { result.append(try int(item, key: key, in: range)) }
        return result
    }

    /// A (before, after) pair per spatial dimension, each from 0 to `maxSize`: one whole number for all, one
    /// per dimension, or a pair per dimension (ZeroPadding's `padding`, Cropping's `cropping`); in one
    /// dimension also a bare pair.
    func pairs(_ key: String, count: Int) throws(KerasImportError) -> [(Int, Int)] {
        let range = 0...Self.maxSize
        let requirement = "\(Self.wholeNumber(in: range)), a list of \(count), or a list of \(count) (before, after) pairs"
        guard let value = self[key] else { throw invalid(key, requirement) }
        if case .number = value {
            let size = try int(value, key: key, in: range)
            return Array(repeating: (size, size), count: count)
        }
        guard let items = value.array, items.count == count || (count == 1 && items.count == 2) else { throw invalid(key, requirement) }
        if count == 1 && items.count == 2, items.allSatisfy({ $0.array == nil }) {
            return [(try int(items[0], key: key, in: range), try int(items[1], key: key, in: range))]
        }
        var pairs: [(Int, Int)] = []
        for item in items {
            if let pair = item.array {
                guard pair.count == 2 else { throw invalid(key, requirement) }
                pairs.append((try int(pair[0], key: key, in: range), try int(pair[1], key: key, in: range)))
            } else {
                let size = try int(item, key: key, in: range)
                pairs.append((size, size))
            }
        }
        return pairs
    }

    /// A list of whole numbers in `range` (Reshape's `target_shape`, Permute's `dims`).
    func ints(_ key: String, in range: ClosedRange<Int>) throws(KerasImportError) -> [Int] {
        guard let items = self[key]?.array else { throw invalid(key, "a list of \(Self.wholeNumbers(in: range))") }
        var result: [Int] = []
        for item in items { result.append(try int(item, key: key, in: range)) }
        return result
    }

    /// One axis of an input of `rank`, counted from the front (a negative one counts from the end, as in
    /// Keras); a list of one axis is that axis.
    func axis(_ key: String, rank: Int, default fallback: Int = -1) throws(KerasImportError) -> Int {
        var value = self[key] ?? .number(Double(fallback))
        if let items = value.array, items.count == 1 { value = items[0] }
        return try axis(value, key: key, rank: rank)
    }

    /// One axis as `axis(_:rank:default:)` checks it, but as written: a negative one stays negative (the IR's
    /// ops take both).
    func axisAsWritten(_ key: String, rank: Int, default fallback: Int = -1) throws(KerasImportError) -> Int {
        let normalized = try axis(key, rank: rank, default: fallback)
        var value = self[key] ?? .number(Double(fallback))
        if let items = value.array, items.count == 1 { value = items[0] }
        return (value.int ?? normalized) < 0 ? normalized - rank : normalized
    }

    /// Several distinct axes of an input of `rank` (one, or a list), made non-negative and sorted.
    func axes(_ key: String, rank: Int, default fallback: [Int]) throws(KerasImportError) -> [Int] {
        let items = self[key].map { $0.array ?? [$0] } ?? fallback.map { .number(Double($0)) }
        var axes: [Int] = []
        for item in items { axes.append(try axis(item, key: key, rank: rank)) }
        guard Set(axes).count == axes.count else { throw invalid(key, "a list of distinct axes") }
        return axes.sorted()
    }

    // MARK: Other values

    /// One of `allowed` (Keras's `padding`, `data_format`, `interpolation`).
    func choice(_ key: String, _ allowed: [String], default fallback: String) throws(KerasImportError) -> String {
        guard let value = self[key] else { return fallback }
        guard let text = value.string, allowed.contains(text) else {
            throw invalid(key, "one of " + allowed.map { "'\($0)'" }.joined(separator: ", "))
        }
        return text
    }

    /// true or false; 1 and 0 too, which some files write for Python's True and False (a real model's
    /// BatchNormalization has `"scale": 1`).
    func bool(_ key: String, default fallback: Bool) throws(KerasImportError) -> Bool {
        guard let value = self[key] else { return fallback }
        switch value {
        case .bool(let bool): return bool
        case .number(1): return true
        case .number(0): return false
        default: throw invalid(key, "true or false")
        }
    }

    /// A finite number.
    func double(_ key: String, default fallback: Double) throws(KerasImportError) -> Double {
        guard let value = self[key] else { return fallback }
        guard let number = value.double, number.isFinite else { throw invalid(key, "a finite number") }
        return number
    }

    /// A finite number that a `Float` holds (epsilons, slopes, scales).
    func float(_ key: String, default fallback: Float) throws(KerasImportError) -> Float {
        let number = try double(key, default: Double(fallback))
        guard Float(number).isFinite else { throw invalid(key, "a number within Float's range (about ±3.4e38)") }
        return Float(number)
    }

    /// The activation's name and, for a serialized function object, that object; "linear" when absent. Keras
    /// writes a name or `{"class_name": ..., "config": ...}`; anything else (a number) is an error.
    func activation(_ key: String = "activation") throws(KerasImportError) -> (name: String, object: JSON?) {
        guard let value = self[key] else { return ("linear", nil) }
        guard let name = KerasLowering.activationName(value) else {
            throw invalid(key, "the name of an activation (a string such as 'relu') or a serialized activation object")
        }
        return (name, value.object == nil ? nil : value)
    }

    // MARK: Helpers

    private func int(_ value: JSON, key: String, in range: ClosedRange<Int>) throws(KerasImportError) -> Int {
        // JSON.int refuses non-whole numbers and those beyond ±2^53, where a Double stops holding every
        // integer; the range keeps every size far below that.
        guard let int = value.int, range.contains(int) else { throw invalid(key, Self.wholeNumber(in: range), value: value) }
        return int
    }

    private func axis(_ value: JSON, key: String, rank: Int) throws(KerasImportError) -> Int {
        let requirement = rank == 0 ? "an axis, but the input has none" : "an axis of the rank-\(rank) input, from \(-rank) to \(rank - 1)"
        guard let axis = value.int, rank > 0, (-rank..<rank).contains(axis) else { throw invalid(key, requirement, value: value) }
        return axis < 0 ? axis + rank : axis
    }

    /// `a whole number from 1 to 2^31`, `a whole number of at least 0`.
    static func wholeNumber(in range: ClosedRange<Int>) -> String { "a whole number " + describe(range) }

    static func wholeNumbers(in range: ClosedRange<Int>) -> String { "whole numbers " + describe(range) }

    private static func describe(_ range: ClosedRange<Int>) -> String {
        func bound(_ value: Int) -> String {
            value == maxSize ? "2^31" : value == -maxSize ? "-2^31" : String(value)
        }
        return range.upperBound == Int.max
            ? "of at least \(bound(range.lowerBound))" : "from \(bound(range.lowerBound)) to \(bound(range.upperBound))"
    }

    /// A value as the error shows it: `1e+20`, `'same'`, `[2, 0]`, `missing`.
    static func describe(_ value: JSON?) -> String {
        guard let value else { return "missing" }
        switch value {
        case .null: return "null"
        case .bool(let bool): return String(bool)
        case .number(let number):
            if number == number.rounded(), Swift.abs(number) <= 0x1p53 { return String(Int(number)) }
            return String(number)
        case .string(let text): return "'\(text.count > 40 ? String(text.prefix(40)) + "..." : text)'"
        case .array(let items):
            let shown = items.prefix(8).map { describe($0) }
            return "[" + (shown + (items.count > 8 ? ["..."] : [])).joined(separator: ", ") + "]"
        case .object: return "an object"
        }
    }
}

extension KerasLowering {
    /// The checked reader of a layer's config.
    func config(of layer: LayerSpec) -> LayerConfig { LayerConfig(layer, file: file) }
}
