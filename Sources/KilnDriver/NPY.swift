import Foundation
import KilnIR

/// Reading and writing NumPy `.npy` files (format versions 1, 2 and 3; C order; little-endian).
public enum NPY {
    private static let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)

    private static let descriptors: [(String, DType)] = [
        ("<f4", .float32), ("<f2", .float16), ("|i1", .int8), ("|u1", .uint8), ("<i4", .int32), ("<i8", .int64), ("|b1", .bool),
    ]

    public static func read(contentsOf url: URL) throws(NPYError) -> Tensor {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw NPYError(file: url.path, "cannot read the file: \(error.localizedDescription)")
        }
        return try decode([UInt8](data), file: url.path)
    }

    public static func decode(_ bytes: [UInt8], file: String = "<memory>") throws(NPYError) -> Tensor {
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw NPYError(file: file, "not a .npy file (bad magic)") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError(file: file, "truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw NPYError(file: file, "unsupported .npy version \(major)")
        }
        guard headerStart + headerLength <= bytes.count else { throw NPYError(file: file, "truncated header") }
        let header = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        guard let descr = field("descr", in: header)?.trimmingCharacters(in: CharacterSet(charactersIn: "'\" ")) else {
            throw NPYError(file: file, "header has no 'descr'")
        }
        let normalized = descr.replacingOccurrences(of: "=", with: "<")
        guard let dtype = descriptors.first(where: { $0.0 == normalized || ($0.0.hasPrefix("|") && "<" + $0.0.dropFirst() == normalized) })?.1 else {
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
        let body = bytes[(headerStart + headerLength)...]
        let expected = shape.reduce(1, *) * dtype.byteSize
        guard body.count >= expected else {
            throw NPYError(file: file, "holds \(body.count) data bytes, its shape \(shape) of \(descr) needs \(expected)")
        }
        guard let tensor = Tensor(dtype: dtype, shape: shape, bytes: body.prefix(expected)) else {
            throw NPYError(file: file, "data does not match its header")
        }
        return tensor
    }

    /// The bytes of a version 1.0 `.npy` file holding `tensor`.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let descr = descriptors.first { $0.1 == tensor.dtype }!.0
        let shapeText = tensor.shape.count == 1 ? "(\(tensor.shape[0]),)" : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
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
