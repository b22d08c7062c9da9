import Foundation
import KilnIR
import ONNXBackend
import ONNXProto
import XCTest

/// Each IR op as ONNX nodes: op types, attributes, helper constants and their names.
final class ONNXLoweringTests: XCTestCase {
    func testArithmeticAndShapeOps() throws {
        let model = try emitONNX(
            """
            graph @g {
              input %a : f32[N,4]
              input %b : f32[N,4]
              const %w : f32[4,3] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
              const %wt : f32[4,3] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
              %add = Add(%a, %b) : f32[N,4]
              %sub = Sub(%add, %b) : f32[N,4]
              %mul = Mul(%sub, %a) : f32[N,4]
              %div = Div(%mul, %b) : f32[N,4]
              %max = Max(%div, %a) : f32[N,4]
              %min = Min(%max, %b) : f32[N,4]
              %mm = MatMul(%min, %w) : f32[N,3]
              %gt = Gemm(%mm, %wt) {transB = true} : f32[N,4]
              %sm = Softmax(%gt) {axis = 0} : f32[N,4]
              %r = Reshape(%sm) {shape = [-1, 4, 1]} : f32[N,4,1]
              %t = Transpose(%r) {perm = [0, 2, 1]} : f32[N,1,4]
              %f = Flatten(%t) {axis = 1} : f32[N,4]
              %c = Cast(%f) {to = i64} : i64[N,4]
              output %c
            }
            """)
        let graph = model.graph
        XCTAssertEqual(
            graph.node.map(\.opType),
            ["Add", "Sub", "Mul", "Div", "Max", "Min", "MatMul", "Gemm", "Softmax", "Reshape", "Transpose", "Flatten", "Cast"])
        let gemm = try graph.node(named: "gt")
        XCTAssertEqual(gemm.input, ["mm", "wt"], "ONNX's Gemm C is optional")
        XCTAssertEqual(gemm.attribute("transB")?.i, 1)
        XCTAssertEqual(gemm.attribute("transB")?.type, .int)
        XCTAssertEqual(try graph.node(named: "sm").attribute("axis")?.i, 0)
        XCTAssertEqual(try graph.node(named: "f").attribute("axis")?.i, 1)
        XCTAssertEqual(try graph.node(named: "t").attribute("perm")?.ints, [0, 2, 1])
        XCTAssertEqual(try graph.node(named: "t").attribute("perm")?.type, .ints)
        XCTAssertEqual(try graph.node(named: "c").attribute("to")?.i, Int64(Onnx_TensorProto.DataType.int64.rawValue))
        XCTAssertEqual(try graph.node(named: "r").input, ["sm", "r.shape"])
        XCTAssertEqual(try graph.initializer(named: "r.shape").rawInt64s, [-1, 4, 1])
        XCTAssertEqual(model.graph.output[0].type.tensorType.elemType, Int32(Onnx_TensorProto.DataType.int64.rawValue))
    }

    func testActivationsWithAttributes() throws {
        let model = try emitONNX(
            """
            graph @g {
              input %x : f32[N,2]
              %relu = Relu(%x) : f32[N,2]
              %sigmoid = Sigmoid(%relu) : f32[N,2]
              %tanh = Tanh(%sigmoid) : f32[N,2]
              %exp = Exp(%tanh) : f32[N,2]
              %softplus = Softplus(%exp) : f32[N,2]
              %softsign = Softsign(%softplus) : f32[N,2]
              %sqrt = Sqrt(%softsign) : f32[N,2]
              %elu = Elu(%sqrt) {alpha = 0.7} : f32[N,2]
              %selu = Selu(%elu) : f32[N,2]
              %leaky = LeakyRelu(%selu) {alpha = 0.1} : f32[N,2]
              %hard = HardSigmoid(%leaky) {alpha = 0.25, beta = 0.375} : f32[N,2]
              %thresholded = ThresholdedRelu(%hard) {theta = 0.3} : f32[N,2]
              output %thresholded
            }
            """)
        let graph = model.graph
        XCTAssertEqual(
            graph.node.map(\.opType),
            [
                "Relu", "Sigmoid", "Tanh", "Exp", "Softplus", "Softsign", "Sqrt", "Elu", "Selu", "LeakyRelu", "HardSigmoid",
                "ThresholdedRelu",
            ])
        XCTAssertEqual(try graph.node(named: "elu").attribute("alpha")?.f, 0.7)
        XCTAssertEqual(try graph.node(named: "elu").attribute("alpha")?.type, .float)
        XCTAssertEqual(try graph.node(named: "selu").attribute("alpha")?.f, Activation.seluAlpha)
        XCTAssertEqual(try graph.node(named: "selu").attribute("gamma")?.f, Activation.seluGamma)
        XCTAssertEqual(try graph.node(named: "leaky").attribute("alpha")?.f, 0.1)
        XCTAssertEqual(try graph.node(named: "hard").attribute("alpha")?.f, 0.25)
        XCTAssertEqual(try graph.node(named: "hard").attribute("beta")?.f, 0.375)
        XCTAssertEqual(try graph.node(named: "thresholded").attribute("alpha")?.f, 0.3, "ONNX calls theta alpha")
        XCTAssertTrue(graph.initializer.isEmpty)
    }

    func testClipBoundsAreScalarInitializerInputs() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,4]
              %y = Clip(%x) {min = -0.5, max = 6.0} : f32[N,4]
              output %y
            }
            """
        ).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Clip"])
        XCTAssertEqual(graph.node[0].input, ["x", "y.min", "y.max"])
        XCTAssertTrue(graph.node[0].attribute.isEmpty, "opset 11+ form: bounds are inputs")
        XCTAssertEqual(try graph.initializer(named: "y.min").dims, [])
        XCTAssertEqual(try graph.initializer(named: "y.min").rawFloats, [-0.5])
        XCTAssertEqual(try graph.initializer(named: "y.max").rawFloats, [6.0])
    }

    func testSwishIsXTimesSigmoidX() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,4]
              %y = Swish(%x) : f32[N,4]
              output %y
            }
            """
        ).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Sigmoid", "Mul"])
        XCTAssertEqual(graph.node[0].name, "y.sigmoid")
        XCTAssertEqual(graph.node[0].input, ["x"])
        XCTAssertEqual(graph.node[1].name, "y")
        XCTAssertEqual(graph.node[1].input, ["x", graph.node[0].output[0]])
        XCTAssertEqual(graph.node[1].output, ["y"])
    }

    private func gelu(approximate: Bool) -> String {
        """
        graph @g {
          input %x : f32[N,4]
          %y = Gelu(%x) {approximate = \(approximate)} : f32[N,4]
          output %y
        }
        """
    }

    func testExactGeluIsDecomposedBeforeOpset20() throws {
        for opset in [13, 17, 19] {
            let graph = try emitONNX(gelu(approximate: false), opset: opset).graph
            XCTAssertEqual(graph.node.map(\.opType), ["Div", "Erf", "Add", "Mul", "Mul"], "opset \(opset)")
            XCTAssertEqual(try graph.initializer(named: "y.sqrt_2").rawFloats, [Float(2.0.squareRoot())])
            XCTAssertEqual(try graph.initializer(named: "y.one").rawFloats, [1])
            XCTAssertEqual(try graph.initializer(named: "y.half").rawFloats, [0.5])
            XCTAssertEqual(graph.node.last?.name, "y")
            XCTAssertEqual(graph.node.last?.output, ["y"])
            XCTAssertEqual(Set(graph.node.map(\.name)).count, graph.node.count)
        }
    }

    func testTanhGeluIsDecomposedBeforeOpset20() throws {
        let graph = try emitONNX(gelu(approximate: true), opset: 17).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"])
        XCTAssertEqual(try graph.initializer(named: "y.coefficient").rawFloats, [0.044715])
        XCTAssertEqual(try graph.initializer(named: "y.sqrt_2_over_pi").rawFloats, [Float((2 / Double.pi).squareRoot())])
        XCTAssertTrue(graph.initializer.allSatisfy { $0.dims.isEmpty }, "scalar constants")
        XCTAssertEqual(graph.node.last?.output, ["y"])
    }

    func testGeluIsONNXsGeluFromOpset20() throws {
        for opset in [20, 21] {
            for approximate in [false, true] {
                let graph = try emitONNX(gelu(approximate: approximate), opset: opset).graph
                XCTAssertEqual(graph.node.map(\.opType), ["Gelu"])
                XCTAssertEqual(graph.node[0].attribute("approximate")?.s, Data((approximate ? "tanh" : "none").utf8))
                XCTAssertEqual(graph.node[0].attribute("approximate")?.type, .string)
                XCTAssertTrue(graph.initializer.isEmpty)
            }
        }
    }

    func testHelperNamesAreUniqueAndDeterministic() throws {
        // The IR already uses the names the helpers would take.
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,4]
              const %y.min : f32[] = [0.0]
              %y.sigmoid = Swish(%x) : f32[N,4]
              %y = Clip(%y.sigmoid) {min = -1.0, max = 1.0} : f32[N,4]
              %z = Add(%y, %y.min) : f32[N,4]
              %w = Swish(%z) : f32[N,4] loc("y")
              output %w
            }
            """
        ).graph
        let values = graph.node.flatMap(\.output) + graph.initializer.map(\.name) + graph.input.map(\.name)
        XCTAssertEqual(Set(values).count, values.count, "every value is defined once: \(values)")
        XCTAssertEqual(Set(graph.node.map(\.name)).count, graph.node.count, "node names are unique: \(graph.node.map(\.name))")
        XCTAssertEqual(graph.node.map(\.name), ["y.sigmoid.sigmoid", "y.sigmoid", "y", "z", "w.sigmoid", "w"])
        XCTAssertEqual(graph.node.map(\.opType), ["Sigmoid", "Mul", "Clip", "Add", "Sigmoid", "Mul"])
        XCTAssertEqual(try graph.node(named: "y.sigmoid.sigmoid").output, ["y.sigmoid.sigmoid"])
        XCTAssertEqual(try graph.node(named: "y").input, ["y.sigmoid", "y.min.1", "y.max"])
    }

    func testReductionAxesFollowTheOpset() throws {
        let text = """
            graph @g {
              input %x : f32[N,3,4]
              %mean = ReduceMean(%x) {axes = [1], keepDims = true} : f32[N,1,4]
              %sum = ReduceSum(%mean) {axes = [2], keepDims = false} : f32[N,1]
              %none = ReduceMax(%sum) {axes = [], keepDims = false} : f32[N,1]
              output %none
            }
            """
        let old = try emitONNX(text, opset: 17).graph
        XCTAssertEqual(old.node.map(\.opType), ["ReduceMean", "ReduceSum", "Identity"], "reducing no axes is the identity")
        XCTAssertEqual(try old.node(named: "mean").attribute("axes")?.ints, [1])
        XCTAssertEqual(try old.node(named: "mean").attribute("keepdims")?.i, 1)
        XCTAssertEqual(try old.node(named: "sum").input, ["mean", "sum.axes"], "ReduceSum takes axes as an input from opset 13")
        XCTAssertEqual(try old.node(named: "sum").attribute("keepdims")?.i, 0)
        let new = try emitONNX(text, opset: 18).graph
        XCTAssertEqual(try new.node(named: "mean").input, ["x", "mean.axes"])
        XCTAssertNil(try new.node(named: "mean").attribute("axes"))
        XCTAssertEqual(try new.initializer(named: "mean.axes").rawInt64s, [1])
    }

    func testConvolutionsRunChannelsFirstWithTransposesOnlyAtTheEdges() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,4,4,1]
              const %k : f32[2,2,1,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
              const %b : f32[2] = [0.5, -0.5]
              %c = Conv(%x, %k, %b) {strides = [1, 1], dilations = [1, 1], pads = [0, 0, 1, 1], groups = 1} : f32[N,4,4,2]
              %r = Relu(%c) : f32[N,4,4,2]
              %p = MaxPool(%r) {window = [2, 2], strides = [2, 2], pads = [0, 0, 0, 0]} : f32[N,2,2,2]
              output %p
            }
            """
        ).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Transpose", "Conv", "Relu", "MaxPool", "Transpose"])
        XCTAssertEqual(graph.node.first?.attribute("perm")?.ints, [0, 3, 1, 2])
        XCTAssertEqual(graph.node.last?.attribute("perm")?.ints, [0, 2, 3, 1])
        XCTAssertEqual(graph.node.last?.output, ["p"])
        let conv = try graph.node(named: "c")
        XCTAssertEqual(conv.attribute("kernel_shape")?.ints, [2, 2])
        XCTAssertEqual(conv.attribute("pads")?.ints, [0, 0, 1, 1])
        XCTAssertEqual(conv.attribute("group")?.i, 1)
        // Keras's [kh, kw, cin, cout] kernel as ONNX's [cout, cin, kh, kw].
        let kernel = try graph.initializer(named: conv.input[1])
        XCTAssertEqual(kernel.dims, [2, 1, 2, 2])
        XCTAssertEqual(kernel.rawFloats, [1, 3, 5, 7, 2, 4, 6, 8])
        XCTAssertEqual(graph.initializer.map(\.name).sorted(), ["b", "k.oihw"], "the channels-last kernel is not kept")
    }

    func testFusedEpiloguesAreStandardActivationOpsAfterTheProduct() throws {
        let text = """
            graph @g {
              input %x : f32[N,4,4,1]
              input %v : f32[N,2]
              const %k : f32[2,2,1,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
              const %w : f32[2,2] = [1.0, -1.0, 0.5, 2.0]
              %c = Conv(%x, %k) {strides = [1, 1], dilations = [1, 1], pads = [0, 0, 1, 1], groups = 1, epilogue = LeakyRelu(alpha = 0.2)} : f32[N,4,4,2]
              %g = Gemm(%v, %w) {transB = false, epilogue = Swish} : f32[N,2]
              %m = MatMul(%v, %w) {epilogue = Gelu(approximate = false)} : f32[N,2]
              output %c, %g, %m
            }
            """
        let old = try emitONNX(text, opset: 17).graph
        XCTAssertEqual(
            old.node.map(\.opType),
            ["Transpose", "Conv", "LeakyRelu", "Transpose", "Gemm", "Sigmoid", "Mul", "MatMul", "Div", "Erf", "Add", "Mul", "Mul"])
        // The activation runs on the channels-first result, before the one Transpose back.
        XCTAssertEqual(old.node[2].input, old.node[1].output)
        XCTAssertEqual(old.node[2].attribute("alpha")?.f, 0.2)
        XCTAssertEqual(old.node[3].output, ["c"])
        XCTAssertEqual(Set(old.node.map(\.name)).count, old.node.count, "node names are unique")
        for output in ["g", "m"] { XCTAssertEqual(old.node.filter { $0.output.contains(output) }.count, 1) }
        let new = try emitONNX(text, opset: 20).graph
        XCTAssertEqual(new.node.suffix(2).map(\.opType), ["MatMul", "Gelu"])
    }

    func testLayerNormIsLayerNormalizationFromOpset17() throws {
        let text = """
            graph @g {
              input %x : f32[N,3,4]
              const %g : f32[4] = [1.0, 0.5, -2.0, 1.5]
              const %b : f32[4] = [0.1, -0.2, 0.3, 0.0]
              const %g2 : f32[3,4] = [1.0, 2.0, 3.0, 4.0, 0.5, 0.25, -1.0, 1.0, 2.0, -0.5, 0.75, 1.25]
              %a = LayerNorm(%x, %g, %b) {axis = -1, epsilon = 0.001} : f32[N,3,4]
              %c = LayerNorm(%a, %g2) {axis = 1, epsilon = 1e-05} : f32[N,3,4]
              output %c
            }
            """
        let new = try emitONNX(text, opset: 17).graph
        XCTAssertEqual(new.node.map(\.opType), ["LayerNormalization", "Reshape", "LayerNormalization", "Reshape"])
        XCTAssertEqual(try new.node(named: "a").attribute("axis")?.i, 2)
        XCTAssertEqual(try new.node(named: "a").attribute("epsilon")?.f, 0.001)
        XCTAssertEqual(try new.node(named: "a").input, ["x", "g", "b"])
        // Over two dimensions: flattened to one, with a 1-D scale, and shaped back.
        XCTAssertEqual(new.node[2].attribute("axis")?.i, -1)
        XCTAssertEqual(try new.initializer(named: new.node[2].input[1]).dims, [12])
        XCTAssertEqual(try new.initializer(named: new.node[1].input[1]).rawInt64s, [0, -1])
        XCTAssertEqual(try new.initializer(named: new.node[3].input[1]).rawInt64s, [0, 3, 4])
        XCTAssertEqual(new.node.last?.output, ["c"])
        let old = try emitONNX(text, opset: 16).graph
        XCTAssertEqual(old.node.prefix(9).map(\.opType), ["ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"])
        XCTAssertFalse(old.node.contains { $0.opType == "LayerNormalization" })
        XCTAssertEqual(try old.node(named: "a").output, ["a"])
    }

    func testPadAndCrop() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,3,4]
              %p = Pad(%x) {pads = [0, 1, 0, 0, 2, 1], value = 0.5} : f32[N,6,5]
              %c = Crop(%p) {pads = [0, 1, 0, 0, 0, 2]} : f32[N,5,3]
              output %c
            }
            """
        ).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Pad", "Slice"])
        XCTAssertEqual(try graph.node(named: "p").attribute("mode")?.s, Data("constant".utf8))
        XCTAssertEqual(try graph.initializer(named: "p.pads").rawInt64s, [0, 1, 0, 0, 2, 1])
        XCTAssertEqual(try graph.initializer(named: "p.value").rawFloats, [0.5])
        XCTAssertEqual(try graph.node(named: "c").input, ["p", "c.starts", "c.ends", "c.axes"])
        XCTAssertEqual(try graph.initializer(named: "c.starts").rawInt64s, [0, 1, 0])
        XCTAssertEqual(try graph.initializer(named: "c.ends").rawInt64s, [Int64.max, Int64.max, -2])
    }

    func testSliceIsONNXSliceWithEveryBoundAsAnInput() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,6,5]
              %s = Slice(%x) {axes = [1, -1], starts = [5, 0], ends = [-7, 100], steps = [-2, 3]} : f32[N,3,2]
              output %s
            }
            """
        ).graph
        XCTAssertEqual(graph.node.map(\.opType), ["Slice"])
        XCTAssertEqual(try graph.node(named: "s").input, ["x", "s.starts", "s.ends", "s.axes", "s.steps"])
        XCTAssertEqual(try graph.initializer(named: "s.starts").rawInt64s, [5, 0])
        XCTAssertEqual(try graph.initializer(named: "s.ends").rawInt64s, [-7, 100])
        XCTAssertEqual(try graph.initializer(named: "s.axes").rawInt64s, [1, -1])
        XCTAssertEqual(try graph.initializer(named: "s.steps").rawInt64s, [-2, 3])
    }

    func testRecurrentOpsAreNativeNodesBetweenTransposesToSequenceMajor() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,T,1]
              input %h0 : f32[N,1,1]
              input %c0 : f32[N,1,1]
              const %w : f32[1,4,1] = [0.1, 0.2, 0.3, 0.4]
              const %r : f32[1,4,1] = [0.5, 0.6, 0.7, 0.8]
              const %b : f32[1,8] = [0, 0, 0, 0, 0, 0, 0, 0]
              const %gw : f32[1,3,1] = [0.1, 0.2, 0.3]
              const %gr : f32[1,3,1] = [0.5, 0.6, 0.7]
              const %gb : f32[1,6] = [0, 0, 0, 0, 0, 0]
              %y, %yh, %yc = LSTM(%x, %w, %r, %b, %h0, %c0) {hiddenSize = 1, direction = reverse, activations = [HardSigmoid(alpha = 0.2, beta = 0.5), Tanh, Softsign]} : f32[N,T,1,1], f32[N,1,1], f32[N,1,1]
              %g, %gh = GRU(%x, %gw, %gr, %gb) {hiddenSize = 1, direction = forward, activations = [Sigmoid, LeakyRelu(alpha = 0.3)], linearBeforeReset = true} : f32[N,T,1,1], f32[N,1,1]
              output %y, %yc, %gh
            }
            """
        ).graph
        XCTAssertEqual(graph.node.map(\.opType).filter { $0 != "Transpose" }, ["LSTM", "GRU"])
        XCTAssertFalse(graph.node.contains { ["Loop", "Scan"].contains($0.opType) })
        let lstm = try graph.node(named: "y")
        XCTAssertEqual(lstm.input.count, 7)
        XCTAssertEqual(lstm.input[1...4], ["w", "r", "b", ""], "sequence_lens is left out")
        XCTAssertEqual(lstm.attribute("direction")?.s, Data("reverse".utf8))
        XCTAssertEqual(lstm.attribute("hidden_size")?.i, 1)
        XCTAssertEqual(lstm.attribute("activations")?.strings, ["HardSigmoid", "Tanh", "Softsign"].map { Data($0.utf8) })
        XCTAssertEqual(lstm.attribute("activation_alpha")?.floats, [0.2], "only the activations that take an alpha consume one")
        XCTAssertEqual(lstm.attribute("activation_beta")?.floats, [0.5])
        let gru = try graph.node(named: "g")
        XCTAssertEqual(gru.attribute("linear_before_reset")?.i, 1)
        XCTAssertEqual(gru.attribute("activation_alpha")?.floats, [0.3])
        XCTAssertNil(gru.attribute("activation_beta"))
        XCTAssertEqual(gru.input.count, 4)
    }

    func testAttentionIsMatMulSoftmaxMatMulBetweenTransposes() throws {
        let text = """
            graph @g {
              input %q : f32[N,T,2,4]
              input %k : f32[N,S,2,4]
              input %v : f32[N,S,2,3]
              input %m : f32[N,T,S]
              %y = Attention(%q, %q, %q) {scale = 0.5} : f32[N,T,2,4]
              %z, %w = Attention(%q, %k, %v, %m) {scale = 0.5, causal = true, fullyMaskedRows = zero, returnsScores = true} : f32[N,T,2,3], f32[N,2,T,S]
              output %y, %z, %w
            }
            """
        for opset in [13, 21] {
            let graph = try emitONNX(text, opset: opset).graph
            let plain = graph.node.prefix { $0.output != ["y"] }.map(\.opType) + ["Transpose"]
            XCTAssertEqual(plain, ["Transpose", "Mul", "Transpose", "MatMul", "Softmax", "Transpose", "MatMul", "Transpose"])
            let masked = Array(graph.node.dropFirst(plain.count).map(\.opType))
            // The mask as bool, one per head; the causal mask from the run-time lengths; where neither allows, the
            // large negative of Keras 3; the weights times the mask, which zeroes rows masked everywhere.
            for op in ["Cast", "Unsqueeze", "Shape", "Range", "GreaterOrEqual", "And", "Where", "Softmax", "Mul", "MatMul"] {
                XCTAssertTrue(masked.contains(op), "opset \(opset): \(op) in \(masked)")
            }
            XCTAssertEqual(try graph.node(named: "z").opType, "Softmax")
            XCTAssertTrue(graph.node.contains { $0.opType == "Mul" && $0.output == ["w"] })
            XCTAssertEqual(graph.node.last?.output, ["z"])
            XCTAssertFalse(graph.node.contains { $0.domain != "" }, "standard operators only")
        }
    }

    func testComparisonsPowAndMathFunctions() throws {
        let graph = try emitONNX(
            """
            graph @g {
              input %x : f32[N,4]
              input %y : f32[N,4]
              %p = Pow(%x, %y) : f32[N,4]
              %l = Log(%p) : f32[N,4]
              %a = Abs(%l) : f32[N,4]
              %n = Neg(%a) : f32[N,4]
              %e = Erf(%n) : f32[N,4]
              %r = Reciprocal(%e) : f32[N,4]
              %eq = Equal(%r, %x) : bool[N,4]
              %ne = NotEqual(%r, %x) : bool[N,4]
              %gt = Greater(%r, %x) : bool[N,4]
              %ge = GreaterOrEqual(%r, %x) : bool[N,4]
              %lt = Less(%r, %x) : bool[N,4]
              %le = LessOrEqual(%r, %x) : bool[N,4]
              output %eq, %ne, %gt, %ge, %lt, %le
            }
            """
        ).graph
        XCTAssertEqual(
            graph.node.map(\.opType),
            ["Pow", "Log", "Abs", "Neg", "Erf", "Reciprocal", "Equal", "Equal", "Not", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"])
        XCTAssertEqual(try graph.node(named: "ne").input, ["ne.equal"])
        XCTAssertEqual(try graph.node(named: "ne.equal").input, ["r", "x"])
        XCTAssertEqual(graph.output[1].type.tensorType.elemType, Int32(Onnx_TensorProto.DataType.bool.rawValue))
    }
}
