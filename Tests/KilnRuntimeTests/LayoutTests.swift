import KilnIR
import XCTest

@testable import KilnRuntime

/// Transpose, constant padding, cropping and slicing over shapes whose -1 entries are the batch, against the
/// interpreter's Transpose, Pad, Crop and Slice.
final class LayoutTests: XCTestCase {
    func testTranspose() throws {
        var random = SeededGenerator(seed: 21)
        let cases: [(shape: [Int], perm: [Int])] = [
            ([-1, 5], [1, 0]), ([-1, 3, 7], [0, 2, 1]), ([-1, 3, 7], [2, 0, 1]), ([-1, 2, 5, 3], [0, 3, 1, 2]),
            ([4, -1, 3, 5], [3, 1, 2, 0]),
        ]
        for (shape, perm) in cases {
            for batch in [1, 2] {
                let concrete = shape.map { $0 < 0 ? batch : $0 }
                let x = random.floats(concrete.reduce(1, *))
                var y = [Float](repeating: .nan, count: x.count)
                kilnTranspose(x, shape, perm, &y, batch: batch)
                let expected = try reference(
                    "Transpose(%x) {perm = \(perm)}", ["x": tensor(concrete, x)], result: perm.map { concrete[$0] })
                assertClose(y, expected.floats, "\(concrete) by \(perm)")
            }
        }
    }

    func testPad() throws {
        var random = SeededGenerator(seed: 22)
        for shape in [[-1, 5], [-1, 3, 4], [-1, 2, 3, 5]] {
            for batch in [1, 3] {
                let concrete = shape.map { $0 < 0 ? batch : $0 }
                let pads = (0..<(2 * shape.count)).map { $0 % shape.count == 0 ? 0 : Int.random(in: 0...2, using: &random) }
                let x = random.floats(concrete.reduce(1, *))
                let padded = concrete.indices.map { concrete[$0] + pads[$0] + pads[shape.count + $0] }
                var y = [Float](repeating: .nan, count: padded.reduce(1, *))
                kilnPad(x, shape, pads, value: 0.5, &y, batch: batch)
                let expected = try reference("Pad(%x) {pads = \(pads), value = 0.5}", ["x": tensor(concrete, x)], result: padded)
                assertClose(y, expected.floats, "\(concrete) padded by \(pads)")
            }
        }
    }

    /// Strided slices with positive and negative steps, starts and ends from either end and clamped, along any
    /// axis but the batch.
    func testSlice() throws {
        var random = SeededGenerator(seed: 24)
        for shape in [[-1, 7], [-1, 5, 6], [-1, 4, 5, 3]] {
            for batch in [1, 2] {
                let concrete = shape.map { $0 < 0 ? batch : $0 }
                var axes: [Int] = [], starts: [Int] = [], ends: [Int] = [], steps: [Int] = []
                var first = shape.map { _ in 0 }, step = shape.map { _ in 1 }, outShape = shape, sliced = concrete
                for axis in 1..<shape.count {
                    let size = shape[axis]
                    var range: SliceRange
                    var bounds: (Int, Int, Int)
                    repeat {
                        bounds = (
                            Int.random(in: -size - 2...size + 2, using: &random), Int.random(in: -size - 2...size + 2, using: &random),
                            [-3, -2, -1, 1, 2, 3].randomElement(using: &random)!
                        )
                        range = SliceRange(start: bounds.0, end: bounds.1, step: bounds.2, size: size)
                    } while range.count == 0
                    axes.append(axis == 1 ? axis : axis - shape.count)
                    starts.append(bounds.0)
                    ends.append(bounds.1)
                    steps.append(bounds.2)
                    (first[axis], step[axis], outShape[axis], sliced[axis]) = (range.first, range.step, range.count, range.count)
                }
                let x = random.floats(concrete.reduce(1, *))
                var y = [Float](repeating: .nan, count: sliced.reduce(1, *))
                kilnSlice(x, shape, outShape, first, step, &y, batch: batch)
                let node = "Slice(%x) {axes = \(axes), starts = \(starts), ends = \(ends), steps = \(steps)}"
                let expected = try reference(node, ["x": tensor(concrete, x)], result: sliced)
                XCTAssertEqual(y, expected.floats, "\(concrete) \(node)")
            }
        }
    }

    func testCrop() throws {
        var random = SeededGenerator(seed: 23)
        for shape in [[-1, 7], [-1, 5, 6], [-1, 4, 5, 3]] {
            for batch in [1, 2] {
                let concrete = shape.map { $0 < 0 ? batch : $0 }
                let pads = (0..<(2 * shape.count)).map { $0 % shape.count == 0 ? 0 : Int.random(in: 0...1, using: &random) }
                let cropped = concrete.indices.map { concrete[$0] - pads[$0] - pads[shape.count + $0] }
                let outShape = shape.indices.map { shape[$0] < 0 ? -1 : cropped[$0] }
                let x = random.floats(concrete.reduce(1, *))
                var y = [Float](repeating: .nan, count: cropped.reduce(1, *))
                kilnCrop(x, shape, outShape, pads, &y, batch: batch)
                let expected = try reference("Crop(%x) {pads = \(pads)}", ["x": tensor(concrete, x)], result: cropped)
                assertClose(y, expected.floats, "\(concrete) cropped by \(pads)")
            }
        }
    }
}
