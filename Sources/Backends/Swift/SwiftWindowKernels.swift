/// The sliding-window kernels of convolutions and pooling over channels-last data.
extension SwiftKernels {
    static let window = #"""
        /// The geometry of a channels-last sliding window: input [batch, spatial..., channels], window
        /// sizes, strides, dilations and pads (before each spatial dimension, then after), output spatial
        /// sizes. Static arrays, so nothing is allocated per call.
        fileprivate struct KilnWindow {
            var input: [Int]
            var window: [Int]
            var strides: [Int]
            var dilations: [Int]
            var pads: [Int]
            var output: [Int]
        }

        /// Visits every (output position, window position) pair, passing the flat output position and the
        /// flat input pixel index (batch and spatial, without channels), or -1 where the window reads padding.
        @inline(__always)
        fileprivate func kilnWindows(_ g: KilnWindow, batch: Int, _ body: (Int, Int, Int) -> Void) {
            let spatial = g.window.count
            withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * spatial + 1) { scratch in
                let position = UnsafeMutableBufferPointer(rebasing: scratch[0..<spatial])
                let offset = UnsafeMutableBufferPointer(rebasing: scratch[spatial..<2 * spatial])
                var outputCount = 1, windowCount = 1
                for d in 0..<spatial { outputCount *= g.output[d]; windowCount *= g.window[d] }
                var pixel = 0
                for n in 0..<batch {
                    for d in 0..<spatial { position[d] = 0 }
                    for _ in 0..<outputCount {
                        for d in 0..<spatial { offset[d] = 0 }
                        for w in 0..<windowCount {
                            var index = n
                            for d in 0..<spatial {
                                let at = position[d] * g.strides[d] - g.pads[d] + offset[d] * g.dilations[d]
                                if at < 0 || at >= g.input[d + 1] { index = -1; break }
                                index = index * g.input[d + 1] + at
                            }
                            body(pixel, w, index)
                            var d = spatial - 1
                            while d >= 0 {
                                offset[d] += 1
                                if offset[d] < g.window[d] { break }
                                offset[d] = 0
                                d -= 1
                            }
                        }
                        pixel += 1
                        var d = spatial - 1
                        while d >= 0 {
                            position[d] += 1
                            if position[d] < g.output[d] { break }
                            position[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }

        /// Lays out every window of x as one row of `columns` (window positions x channels), zeros for padding,
        /// so a convolution becomes one matrix product with the kernel.
        fileprivate func kilnIm2col(_ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, _ columns: UnsafeMutablePointer<Float>, batch: Int) {
            var windowCount = 1
            for size in g.window { windowCount *= size }
            let width = windowCount * channels
            kilnWindows(g, batch: batch) { pixel, w, index in
                let row = columns + pixel * width + w * channels
                if index < 0 {
                    row.update(repeating: 0, count: channels)
                } else {
                    row.update(from: x + index * channels, count: channels)
                }
            }
        }

        /// A grouped convolution (depthwise when each group has one input channel), computed directly.
        fileprivate func kilnGroupedConv(
            _ x: UnsafePointer<Float>, _ g: KilnWindow, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
            _ y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, groups: Int, batch: Int, activation: KilnActivation
        ) {
            let perGroupIn = inChannels / groups, perGroupOut = outChannels / groups
            var windowCount = 1, pixels = batch
            for d in 0..<g.window.count { windowCount *= g.window[d]; pixels *= g.output[d] }
            for pixel in 0..<pixels {
                for o in 0..<outChannels { y[pixel * outChannels + o] = bias?[o] ?? 0 }
            }
            kilnWindows(g, batch: batch) { pixel, window, index in
                guard index >= 0 else { return }
                let source = x + index * inChannels
                let kernel = w + window * perGroupIn * outChannels
                let out = y + pixel * outChannels
                for o in 0..<outChannels {
                    let first = (o / perGroupOut) * perGroupIn
                    var sum: Float = 0
                    for i in 0..<perGroupIn { sum += source[first + i] * kernel[i * outChannels + o] }
                    out[o] += sum
                }
            }
            if case .none = activation { return }
            kilnUnary(activation, y, y, pixels * outChannels)
        }

        /// A transposed convolution: every input pixel, times the kernel, is added into the output positions
        /// it reaches. `g` describes the forward convolution from the output (its input) to x (its output).
        fileprivate func kilnConvTranspose(
            _ x: UnsafePointer<Float>, _ g: KilnWindow, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
            _ y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, batch: Int
        ) {
            var outputPixels = batch
            for d in 1..<(g.input.count - 1) { outputPixels *= g.input[d] }
            for pixel in 0..<outputPixels {
                for o in 0..<outChannels { y[pixel * outChannels + o] = bias?[o] ?? 0 }
            }
            kilnWindows(g, batch: batch) { pixel, window, index in
                guard index >= 0 else { return }
                let source = x + pixel * inChannels
                let kernel = w + window * outChannels * inChannels
                let out = y + index * outChannels
                for o in 0..<outChannels {
                    var sum: Float = 0
                    for i in 0..<inChannels { sum += source[i] * kernel[o * inChannels + i] }
                    out[o] += sum
                }
            }
        }

        /// Max or average pooling; the average counts only real (not padded) elements.
        fileprivate func kilnPool(
            _ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, isMax: Bool, _ y: UnsafeMutablePointer<Float>, batch: Int
        ) {
            var pixels = batch
            for size in g.output { pixels *= size }
            withUnsafeTemporaryAllocation(of: Float.self, capacity: pixels) { counts in
                for pixel in 0..<pixels {
                    counts[pixel] = 0
                    for c in 0..<channels { y[pixel * channels + c] = isMax ? -Float.infinity : 0 }
                }
                kilnWindows(g, batch: batch) { pixel, _, index in
                    guard index >= 0 else { return }
                    let source = x + index * channels, out = y + pixel * channels
                    if isMax {
                        for c in 0..<channels { out[c] = Swift.max(out[c], source[c]) }
                    } else {
                        for c in 0..<channels { out[c] += source[c] }
                        counts[pixel] += 1
                    }
                }
                if !isMax {
                    for pixel in 0..<pixels {
                        let scale = 1 / Swift.max(counts[pixel], 1)
                        for c in 0..<channels { y[pixel * channels + c] *= scale }
                    }
                }
            }
        }

        """#
}
