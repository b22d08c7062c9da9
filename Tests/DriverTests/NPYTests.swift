import KilnDriver
import KilnIR
import XCTest

final class NPYTests: XCTestCase {
    func testRoundTripEveryType() throws {
        let tensors = [
            Tensor(shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.25]),
            Tensor(shape: [4], storage: .int32([1, -2, 3, Int32.max])),
            Tensor(shape: [2, 1], storage: .int64([Int64.min, 7])),
            Tensor(shape: [3], storage: .bool([true, false, true])),
            Tensor(shape: [], floats: [42]),
        ]
        for tensor in tensors {
            let bytes = NPY.encode(tensor)
            XCTAssertEqual((bytes.count - tensor.bytes.count) % 64, 0, "data starts 64-byte aligned")
            XCTAssertEqual(try NPY.decode(bytes), tensor)
        }
    }

    func testReadsNumPyWrittenHeader() throws {
        // The exact header NumPy 2 writes for np.zeros((2, 3), np.float32).
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        let padded = header + String(repeating: " ", count: 118 - header.count - 1) + "\n"
        bytes += [UInt8(padded.count), 0] + Array(padded.utf8) + [UInt8](repeating: 0, count: 24)
        XCTAssertEqual(try NPY.decode(bytes), Tensor(shape: [2, 3], floats: [0, 0, 0, 0, 0, 0]))
    }

    func testRejectsTruncatedData() {
        let bytes = NPY.encode(Tensor(shape: [8], floats: Array(repeating: 1, count: 8)))
        XCTAssertThrowsError(try NPY.decode(Array(bytes.dropLast(4)))) { error in
            XCTAssertTrue("\(error)".contains("needs 32"), "\(error)")
        }
        XCTAssertThrowsError(try NPY.decode(Array("hello world".utf8)))
    }
}
