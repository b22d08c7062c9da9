import KilnIR

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The child's side of the `HDF5Snapshot` pipe: records of bytes, little-endian 64-bit integers,
/// length-prefixed UTF-8 strings and raw float32 arrays, buffered and written with `write`. A failed write
/// (the parent stopped reading) ends the child. `inMemory()` keeps every byte instead (the fuzzer's
/// in-process walk).
struct SnapshotWriter {
    /// The pipe, or -1 to keep everything in `buffer`.
    private let descriptor: Int32
    private var buffer: [UInt8] = []

    init(descriptor: Int32) {
        self.descriptor = descriptor
        buffer.reserveCapacity(1 << 20)
    }

    /// A writer that keeps what it is given, for `collected`.
    static func inMemory() -> SnapshotWriter { SnapshotWriter(descriptor: -1) }

    /// Everything an `inMemory()` writer was given.
    var collected: [UInt8] { buffer }

    mutating func byte(_ value: UInt8) {
        if buffer.count >= 1 << 20 { flush() }
        buffer.append(value)
    }

    mutating func integer(_ value: Int) {
        if buffer.count >= 1 << 20 { flush() }
        withUnsafeBytes(of: Int64(value).littleEndian) { buffer.append(contentsOf: $0) }
    }

    mutating func bytes(_ value: [UInt8]) {
        integer(value.count)
        buffer.append(contentsOf: value)
    }

    mutating func string(_ value: String) { bytes(Array(value.utf8)) }

    mutating func strings(_ values: [String]) {
        integer(values.count)
        for value in values { string(value) }
    }

    mutating func integers(_ values: [Int]) {
        integer(values.count)
        for value in values { integer(value) }
    }

    /// Large arrays go straight from their storage to the pipe.
    mutating func floats(_ values: [Float]) {
        integer(values.count)
        if values.count < 1 << 14 {
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { buffer.append(contentsOf: $0) } }
            return
        }
        flush()
        values.withUnsafeBytes { send($0) }
    }

    mutating func error(_ error: HDF5Error) {
        string(error.origin)
        string(error.message)
        byte(error.refusal ? 1 : 0)
    }

    mutating func result<T>(_ result: Result<T, HDF5Error>, _ body: (inout SnapshotWriter, T) -> Void) {
        switch result {
        case .success(let value):
            byte(0)
            body(&self, value)
        case .failure(let failure):
            byte(1)
            error(failure)
        }
    }

    mutating func record(_ record: HDF5Snapshot.RecordKind, path: String? = nil, _ failure: HDF5Error) {
        byte(record.rawValue)
        if let path { string(path) }
        error(failure)
    }

    mutating func flush() {
        guard descriptor >= 0 else { return }
        buffer.withUnsafeBytes { send($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private mutating func send(_ bytes: UnsafeRawBufferPointer) {
        guard descriptor >= 0 else { return buffer.append(contentsOf: bytes) }
        var done = 0
        while done < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if written < 0 {
                if errno == EINTR { continue }
                _exit(1)
            }
            done += written
        }
    }
}

/// The parent's side: reads what `SnapshotWriter` wrote; every read returns nil if the stream ends first
/// (the child died) or holds what the child never writes.
struct SnapshotReader {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var position = 0
    /// The child sent nothing for `silence` seconds (it is stuck, in libhdf5 or on a lock it inherited).
    private(set) var timedOut = false
    /// Seconds without a byte after which the child is given up.
    let silence: Int32
    /// The child closed its end: it has exited, or is exiting.
    private(set) var ended = false
    init(descriptor: Int32, silence: Int32) {
        self.descriptor = descriptor
        self.silence = silence
    }

    /// Reads records from memory (what an in-memory `SnapshotWriter` collected), not from a pipe.
    init(bytes: [UInt8]) {
        self.descriptor = -1
        self.silence = 0
        self.buffer = bytes
    }

    /// How long a child reading a file of `bytes` may send nothing: 10 seconds and one more per 10 MiB,
    /// far more than libhdf5 takes to read (and inflate) the largest dataset of a file that size; a
    /// corrupt byte can send libhdf5 into an endless loop.
    /// The seconds of silence allowed to any file, before the allowance for its size. The HDF5 fuzzer lowers
    /// it: every hang it finds costs it this long.
    nonisolated(unsafe) static var baseSilence = 10
    static func silence(forFileOf bytes: Int) -> Int32 { Int32(clamping: baseSilence + bytes / (10 << 20)) }

    /// `read`, after waiting at most `silence` seconds for data: the bytes read, 0 at the end of the
    /// stream, -1 on an error, -2 if nothing came in time.
    private static func receive(_ descriptor: Int32, _ target: UnsafeMutableRawPointer, _ count: Int, silence: Int32) -> Int {
        guard descriptor >= 0 else { return 0 }
        var request = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while true {
            let ready = poll(&request, 1, silence * 1000)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { return -2 }
            break
        }
        while true {
            let got = read(descriptor, target, count)
            if got < 0 && errno == EINTR { continue }
            return got
        }
    }

    /// Notes how a read that got nothing ended.
    private mutating func note(_ got: Int) {
        if got == 0 { ended = true }
        if got == -2 { timedOut = true }
    }

    /// Makes `count` bytes available at `position`; false at the end of the stream.
    private mutating func fill(_ count: Int) -> Bool {
        if buffer.count - position >= count { return true }
        buffer.removeFirst(position)
        position = 0
        while buffer.count < count {
            let chunk = max(count - buffer.count, 1 << 16)
            let start = buffer.count
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            let descriptor = descriptor, silence = silence
            let got = buffer.withUnsafeMutableBytes { Self.receive(descriptor, $0.baseAddress! + start, chunk, silence: silence) }
            buffer.removeLast(chunk - max(got, 0))
            if got <= 0 {
                note(got)
                return false
            }
        }
        return true
    }

    mutating func byte() -> UInt8? {
        guard fill(1) else { return nil }
        position += 1
        return buffer[position - 1]
    }

    mutating func integer() -> Int? {
        guard fill(8) else { return nil }
        var value: Int64 = 0
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: buffer[position..<position + 8]) }
        position += 8
        return Int(Int64(littleEndian: value))
    }

    /// A count the child wrote, checked to be one it could have written.
    private mutating func count(elementBytes: Int) -> Int? {
        guard let count = integer(), count >= 0, count <= Int.max / elementBytes, MemoryLimit.allows(count * elementBytes) else {
            return nil
        }
        return count
    }

    mutating func bytes() -> [UInt8]? {
        guard let count = count(elementBytes: 1), fill(count) else { return nil }
        position += count
        return Array(buffer[position - count..<position])
    }

    mutating func string() -> String? { bytes().map { String(decoding: $0, as: UTF8.self) } }

    mutating func strings() -> [String]? {
        guard let count = count(elementBytes: 8) else { return nil }
        var values: [String] = []
        for _ in 0..<count {
            guard let value = string() else { return nil }
            values.append(value)
        }
        return values
    }

    mutating func integers() -> [Int]? {
        guard let count = count(elementBytes: 8) else { return nil }
        var values: [Int] = []
        for _ in 0..<count {
            guard let value = integer() else { return nil }
            values.append(value)
        }
        return values
    }

    /// Read straight into the array's storage, past the buffer.
    mutating func floats() -> [Float]? {
        guard let count = count(elementBytes: 4) else { return nil }
        var values = [Float](repeating: 0, count: count)
        let ready = min(buffer.count - position, count * 4)
        let descriptor = descriptor, silence = silence
        let buffered = buffer[position..<position + ready]
        let last = values.withUnsafeMutableBytes { target -> Int in
            target.copyBytes(from: buffered)
            var done = ready
            while done < target.count {
                let got = Self.receive(descriptor, target.baseAddress! + done, target.count - done, silence: silence)
                if got <= 0 { return got }
                done += got
            }
            return 1
        }
        position += ready
        guard last > 0 else {
            note(last)
            return nil
        }
        #if _endian(big)
        values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
        return values
    }

    mutating func error() -> HDF5Error? {
        guard let origin = string(), let message = string(), let refusal = byte() else { return nil }
        return HDF5Error(origin: origin, message, refusal: refusal == 1)
    }

    mutating func result<T>(_ body: (inout SnapshotReader) -> T?) -> Result<T, HDF5Error>? {
        guard let kind = byte() else { return nil }
        if kind == 0 { return body(&self).map { .success($0) } }
        return error().map { .failure($0) }
    }
}
