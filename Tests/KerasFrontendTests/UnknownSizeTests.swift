import Foundation
import KilnIR
import XCTest

@testable import KerasFrontend

/// Inputs saved with unknown sizes besides the batch: symbols through the layers that keep them, a clear
/// error where a layer needs them known, and `--input-shape` (`inputShapes`) fixing them at conversion.
final class UnknownSizeTests: XCTestCase {
    /// x [None, 4] -> Flatten -> Dense(2): Flatten into Dense needs the length known.
    private func flattenModel(form: ModelConfigBuilder.Form) -> ModelConfigBuilder {
        var model = ModelConfigBuilder(form)
        model.input("x", unknown: [nil, 4])
        model.layer("Flatten", "flatten", on: ["x"], shape: [12])
        model.dense("dense", units: 2, on: "flatten")
        model.outputs = ["dense"]
        return model
    }

    func testAnUnknownSizeIsASymbolNamedAfterItsInputAndAxis() throws {
        var model = ModelConfigBuilder(.keras3)
        model.input("x", unknown: [nil, 4])
        model.dense("dense", units: 2, on: "x")
        model.outputs = ["dense"]
        let graph = try model.lower()
        XCTAssertEqual(graph.inputs[0].type.shape, Shape([.symbolic("N"), .symbolic("x_dim1"), 4]))
        XCTAssertEqual(graph.outputValues[0].type.shape, Shape([.symbolic("N"), .symbolic("x_dim1"), 2]))
    }

    func testALayerThatNeedsTheSizeNamesTheDimensionAndTheOption() {
        for form in [ModelConfigBuilder.Form.keras2, .keras3] {
            let message = loweringError(flattenModel(form: form))
            XCTAssertTrue(message.contains("dimension 1 of input 'x'"), message)
            XCTAssertTrue(message.contains("--input-shape x=SIZEx4"), message)
        }
    }

    func testInputShapesFixTheSizeAtConversion() throws {
        let graph = try flattenModel(form: .keras2).lower(inputShapes: ["x": [3, 4]])
        XCTAssertEqual(graph.inputs[0].type.shape, Shape([.symbolic("N"), 3, 4]))
        XCTAssertEqual(graph.outputValues[0].type.shape, Shape([.symbolic("N"), 2]))
    }

    func testInputShapesMustFitTheSavedShapeAndNameAnInput() {
        let model = flattenModel(form: .keras3)
        XCTAssertThrowsError(try model.lower(inputShapes: ["x": [3, 5]])) { error in
            XCTAssertTrue("\(error)".contains("does not fit the saved shape ?x4"), "\(error)")
        }
        XCTAssertThrowsError(try model.lower(inputShapes: ["y": [3, 4]])) { error in
            XCTAssertTrue("\(error)".contains("'y', which is no input of the model; its inputs: x"), "\(error)")
        }
    }

    func testSameConvolutionsKeepTheSizeAndStridedOnesNeedIt() throws {
        var same = ModelConfigBuilder(.keras3)
        same.input("image", unknown: [nil, nil, 3])
        same.conv2D("conv", filters: 2, kernel: 3, strides: 1, padding: "same", on: "image")
        same.outputs = ["conv"]
        let graph = try same.lower()
        XCTAssertEqual(graph.outputValues[0].type.shape, Shape([.symbolic("N"), .symbolic("image_dim1"), .symbolic("image_dim2"), 2]))

        var strided = ModelConfigBuilder(.keras3)
        strided.input("image", unknown: [nil, nil, 3])
        strided.conv2D("conv", filters: 2, kernel: 3, strides: 2, padding: "same", on: "image")
        strided.outputs = ["conv"]
        let message = loweringError(strided)
        XCTAssertTrue(message.contains("stride 2 depends on the size of spatial dimension 1"), message)
        XCTAssertTrue(message.contains("--input-shape image=SIZExSIZEx3"), message)
    }
}
