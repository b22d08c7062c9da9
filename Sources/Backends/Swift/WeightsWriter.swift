import KilnIR

/// Lays out the floats the executor reads, each block 64-byte aligned, and writes the weights file: a
/// 64-byte header, then the payload of little-endian floats at the offsets baked into the source. Int8
/// weights are blocks of bytes in the payload (four to a float slot); the executor widens them at load
/// into floats after the payload (`widenings`), so it holds `memoryBytes` in all.
///
/// Header: bytes 0..<8 the magic `KILNWGTS`; 8..<12 the format version (UInt32); 12..<16 the header size;
/// 16..<24 the payload byte count (UInt64); 24..<32 the fingerprint of the payload, which the source also
/// holds, so a weights file is never read by a source generated for another model; zeros to 64.
struct WeightsWriter {
    static let magic = "KILNWGTS"
    static let version: UInt32 = 1
    static let headerSize = 64

    private(set) var floats: [Float] = []
    /// Where the floats widened from int8 at load begin in memory (after the file's payload, once it is
    /// known), how many there are, and what fills them.
    var widenedBase = 0
    private(set) var widenedFloats = 0
    private(set) var widenings: [Widening] = []

    /// Appends floats at the next 64-byte boundary and returns their offset in floats.
    mutating func add(_ values: [Float]) -> Int {
        while floats.count % 16 != 0 { floats.append(0) }
        let offset = floats.count
        floats += values
        return offset
    }

    /// Appends B ([k, n], or [n, k] when `transposed`) packed in 16-column panels, as the kernels read it:
    /// panel p holds rows 0..<k of columns 16p..<16p+16, zero-padded.
    mutating func add(packing b: Tensor, k: Int, n: Int, transposed: Bool) -> Int {
        let source = b.floats
        let panels = (n + 15) / 16
        var packed = [Float](repeating: 0, count: panels * k * 16)
        for panel in 0..<panels {
            for row in 0..<k {
                for j in 0..<16 {
                    let column = panel * 16 + j
                    guard column < n else { continue }
                    packed[panel * k * 16 + row * 16 + j] = transposed ? source[column * k + row] : source[row * n + column]
                }
            }
        }
        return add(packed)
    }

    /// Appends B ([k, n], or [n, k] when `transposed`) stored sparse by row, as the sparse kernel reads it:
    /// k + 1 row starts, then the column of every nonzero, then their values; starts and columns are UInt32
    /// bit patterns in the float payload. Returns the offset and the number of nonzeros.
    mutating func add(sparse b: Tensor, k: Int, n: Int, transposed: Bool) -> (offset: Int, nonzeros: Int) {
        let source = b.floats
        var starts: [UInt32] = [0], indices: [UInt32] = [], values: [Float] = []
        for row in 0..<k {
            for column in 0..<n {
                let value = transposed ? source[column * k + row] : source[row * n + column]
                if value != 0 {
                    indices.append(UInt32(column))
                    values.append(value)
                }
            }
            starts.append(UInt32(values.count))
        }
        let offset = add(starts.map { Float(bitPattern: $0) } + indices.map { Float(bitPattern: $0) } + values)
        return (offset, values.count)
    }

    /// Appends int8 values at the next 64-byte boundary, four to a float slot, and returns their offset in floats.
    mutating func add(bytes: [Int8]) -> Int {
        var words: [Float] = []
        words.reserveCapacity((bytes.count + 3) / 4)
        for start in stride(from: 0, to: bytes.count, by: 4) {
            var word: UInt32 = 0
            for (shift, byte) in bytes[start..<min(start + 4, bytes.count)].enumerated() {
                word |= UInt32(UInt8(bitPattern: byte)) << (8 * shift)
            }
            words.append(Float(bitPattern: word))
        }
        return add(words)
    }

    /// Stores an int8 constant in its own layout and returns where its floats will be in memory once
    /// widened at load.
    mutating func add(widening weights: Int8Weights) -> Int {
        let source = add(bytes: weights.values), scales = add(weights.scales)
        return reserveWidened(count: weights.values.count) { destination in
            Widening(
                source: source, scales: scales, destination: destination, count: weights.values.count,
                layout: .plain(inner: weights.inner, size: weights.size))
        }
    }

    /// Stores an int8 B packed in panels like `add(packing:)`, with one scale per column, and returns the
    /// offsets of the int8 panels and scales in the file and of the widened panels in memory.
    mutating func add(packing weights: Int8Weights, columnScales: [Float], k: Int, n: Int, transposed: Bool)
        -> (values: Int, scales: Int, widened: Int)
    {
        let panels = (n + 15) / 16
        var packed = [Int8](repeating: 0, count: panels * k * 16)
        for panel in 0..<panels {
            for row in 0..<k {
                for j in 0..<16 where panel * 16 + j < n {
                    let column = panel * 16 + j
                    packed[panel * k * 16 + row * 16 + j] = weights.values[transposed ? column * k + row : row * n + column]
                }
            }
        }
        let source = add(bytes: packed)
        let scales = add(columnScales + [Float](repeating: 0, count: panels * 16 - n))
        let widened = reserveWidened(count: packed.count) { destination in
            Widening(source: source, scales: scales, destination: destination, count: packed.count, layout: .panels(panelFloats: k * 16))
        }
        return (source, scales, widened)
    }

    private mutating func reserveWidened(count: Int, _ widening: (Int) -> Widening) -> Int {
        widenedFloats = (widenedFloats + 15) / 16 * 16
        let destination = widenedBase + widenedFloats
        widenedFloats += count
        widenings.append(widening(destination))
        return destination
    }

    var payloadBytes: Int { floats.count * 4 }

    /// Where widened floats could begin: the payload rounded up to a 64-byte boundary.
    var payloadEnd: Int { (floats.count + 15) / 16 * 16 }

    /// The bytes the executor holds in memory: the payload, then the widened floats.
    var memoryBytes: Int { widenings.isEmpty ? payloadBytes : (widenedBase + widenedFloats) * 4 }

    func fileBytes(fingerprint: UInt64) -> [UInt8] {
        var out = Array(Self.magic.utf8)
        withUnsafeBytes(of: Self.version.littleEndian) { out += $0 }
        withUnsafeBytes(of: UInt32(Self.headerSize).littleEndian) { out += $0 }
        withUnsafeBytes(of: UInt64(payloadBytes).littleEndian) { out += $0 }
        withUnsafeBytes(of: fingerprint.littleEndian) { out += $0 }
        out += [UInt8](repeating: 0, count: Self.headerSize - out.count)
        floats.withUnsafeBytes { out += $0 }
        return out
    }

    /// FNV-1a over the payload: ties a weights file to the source generated with it.
    var payloadFingerprint: UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        floats.withUnsafeBytes { bytes in
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        return hash
    }
}
