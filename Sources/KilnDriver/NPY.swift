import Foundation
import KilnIR

/// Reading and writing NumPy `.npy` files (format versions 1, 2 and 3; C order; little-endian).
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    private static let descriptors: [(String, DType)] = [
        ("<f4", .float32), ("<f2", .float16), ("|i1", .int8), ("|u1", .uint8), ("<i4", .int32), ("<i8", .int64), ("|b1", .bool),
    ]

    /// The longest header read: NumPy itself refuses headers over 10,000 bytes unless told otherwise.
    private static let maxHeaderBytes = 1 << 16

    /// Reads a `.npy` file. Its header is read and checked first (the declared shape against the file's real
    /// size and `MemoryLimit`, with checked arithmetic); only then is the data read.
    public static func read(contentsOf url: URL) throws(NPYError) -> Tensor {
        let path = url.path
        do {
            let file = try InputFile(path)
            let prefix = try file.read(at: 0, count: 12)
            let (headerStart, headerLength) = try headerExtent(prefix, file: path)
            guard headerLength <= maxHeaderBytes else {
                throw NPYError(file: path, "the header claims \(headerLength) bytes; a .npy header is at most \(maxHeaderBytes)")
            }
            guard headerStart + headerLength <= file.size else { throw NPYError(file: path, "truncated header") }
            let header = try parseHeader(file.read(at: headerStart, count: headerLength), file: path)
            let dataStart = headerStart + headerLength
            try checkSize(header, dataBytes: file.size - dataStart, file: path)
            let body = try file.read(at: dataStart, count: header.byteCount)
            guard let tensor = Tensor(dtype: header.dtype, shape: header.shape, bytes: body) else {
                throw NPYError(file: path, "the file changed while it was read")
            }
            return tensor
        } catch let error as InputFileError {
            throw NPYError(file: path, error.reason.isMissing ? "no such file; check the path" : error.message)
        } catch let error as NPYError {
            throw error
        } catch {
            throw NPYError(file: path, "\(error)")
        }
    }

    public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws(NPYError) -> Tensor {
        let (headerStart, headerLength) = try headerExtent(bytes, file: file)
        guard headerStart + headerLength <= bytes.count else { throw NPYError(file: file, "truncated header") }
        let header = try parseHeader(Array(bytes[headerStart..<headerStart + headerLength]), file: file)
        let dataStart = headerStart + headerLength
        try checkSize(header, dataBytes: bytes.count - dataStart, file: file)
        guard let tensor = Tensor(dtype: header.dtype, shape: header.shape, bytes: bytes[dataStart...]) else {
            throw NPYError(file: file, "data does not match its header")
        }
        return tensor
    }

    /// What a header declares.
    private struct Header {
        var dtype: DType
        var descr: String
        var shape: [Int]
        var byteCount: Int
    }

    /// Where the header text starts and how long it is, from the magic, version and length fields.
    private static func headerExtent(_ bytes: [UInt8], file: String) throws(NPYError) -> (start: Int, length: Int) {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NPYError(file: file, "not a .npy file (bad magic)") }
        let major = bytes[6]
        switch major {
        case 1:
            return (10, Int(bytes[8]) | Int(bytes[9]) << 8)
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError(file: file, "truncated header") }
            return (12, (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) })
        default:
            throw NPYError(file: file, "unsupported .npy version \(major)")
        }
    }

    private static func parseHeader(_ bytes: [UInt8], file: String) throws(NPYError) -> Header {
        let header = String(decoding: bytes, as: UTF8.self)
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) else {
            throw NPYError(file: file, "header has no 'descr'")
        }
        let normalized = descr.replacingOccurrences(of: "=", with: "<")
        guard
            let dtype = descriptors.first(where: { $0.0 == normalized || ($0.0.hasPrefix("|") && "<" + $0.0.dropFirst() == normalized) })?.1
        else {
            throw NPYError(file: file, "unsupported element type '\(descr)'; Kiln reads \(descriptors.map(\.0).joined(separator: ", "))")
        }
        if field("fortran_order", in: header)?.trimmingCharacters(in: .whitespaces) == "True" {
            throw NPYError(file: file, "Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        guard let shapeText = shapeField(in: header) else { throw NPYError(file: file, "header has no 'shape'") }
        var shape: [Int] = []
        for part in shapeText.split(separator: ",") {
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let size = Int(trimmed.replacingOccurrences(of: "L", with: "")), size >= 0 else {
                throw NPYError(file: file, "bad shape '(\(shapeText))'")
            }
            shape.append(size)
        }
        guard let byteCount = MemoryLimit.byteCount(of: shape, elementSize: dtype.byteSize) else {
            throw NPYError(file: file, "the shape (\(shapeText)) of \(descr) holds more bytes than can be counted; the header is damaged")
        }
        return Header(dtype: dtype, descr: descr, shape: shape, byteCount: byteCount)
    }

    /// Checks the declared data against the bytes the file really has after its header, then against the
    /// memory limit.
    private static func checkSize(_ header: Header, dataBytes: Int, file: String) throws(NPYError) {
        guard dataBytes >= header.byteCount else {
            throw NPYError(
                file: file,
                "holds \(dataBytes) data bytes, its shape \(header.shape) of \(header.descr) needs \(header.byteCount)"
                    + " (the file is truncated or its header is damaged)")
        }
        guard dataBytes == header.byteCount else {
            throw NPYError(
                file: file,
                "has \(dataBytes - header.byteCount) bytes after the \(header.byteCount) its shape \(header.shape) of \(header.descr) needs;"
                    + " np.save writes none")
        }
        guard MemoryLimit.allows(header.byteCount) else {
            throw NPYError(file: file, "its shape \(header.shape) \(MemoryLimit.exceeded(by: header.byteCount))")
        }
    }

    /// The bytes of a version 1.0 `.npy` file holding `tensor`.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let descr = descriptors.first { $0.1 == tensor.dtype }!.0
        let shapeText =
            tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad with spaces so the data starts on a 64-byte boundary, ending in a newline.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic + [1, 0]
        let length = header.utf8.count
        out += [UInt8(length & 0xff), UInt8(length >> 8)]
        out += Array(header.utf8)
        out += tensor.bytes
        return out
    }

    private static func field(_ key: String, in header: String) -> String? {
        guard let keyRange = header.range(of: "'\(key)'") ?? header.range(of: "\"\(key)\"") else { return nil }
        let rest = header[keyRange.upperBound...].drop { $0 == ":" || $0 == " " }
        return String(rest.prefix { $0 != "," && $0 != "}" })
    }

    private static func shapeField(in header: String) -> String? {
        guard let keyRange = header.range(of: "'shape'"),
            let open = header[keyRange.upperBound...].firstIndex(of: "("),
            let close = header[open...].firstIndex(of: ")")
        else { return nil }
        return String(header[header.index(after: open)..<close])
    }
}

/// A `.npy` file that could not be read.
public struct NPYError: Error, CustomStringConvertible {
    public var file: String
    public var message: String

    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
