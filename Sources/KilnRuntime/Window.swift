// The sliding-window kernels of convolutions and pooling over channels-last data.
import Foundation

/// The geometry of a channels-last sliding window: input [batch, spatial..., channels], window
/// sizes, strides, dilations and pads (before each spatial dimension, then after), output spatial
/// sizes. Static arrays, so nothing is allocated per call.
struct KilnWindow {
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
func kilnWindows(_ g: KilnWindow, batch: Int, _ body: (Int, Int, Int) -> Void) {
    let spatial = g.window.count
    withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * spatial + 1) { scratch in
        let position = UnsafeMutableBufferPointer(rebasing: scratch[0..<spatial])
        let offset = UnsafeMutableBufferPointer(rebasing: scratch[spatial..<2 * spatial])
        var outputCount = 1, windowCount = 1
        for d in 0..<spatial {
            outputCount *= g.output[d]
            windowCount *= g.window[d]
        }
        var pixel = 0
        for n in 0..<batch {
            for d in 0..<spatial { position[d] = 0 }
            for _ in 0..<outputCount {
                for d in 0..<spatial { offset[d] = 0 }
                for w in 0..<windowCount {
                    var index = n
                    for d in 0..<spatial {
                        let at = position[d] * g.strides[d] - g.pads[d] + offset[d] * g.dilations[d]
                        if at < 0 || at >= g.input[d + 1] {
                            index = -1
                            break
                        }
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
func kilnIm2col(_ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, _ columns: UnsafeMutablePointer<Float>, batch: Int) {
    if g.window.count == 2 {
        kilnIm2col2D(x, g, channels: channels, columns, batch: batch)
        return
    }
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
func kilnGroupedConv(
    _ x: UnsafePointer<Float>, _ g: KilnWindow, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, groups: Int, batch: Int, activation: KilnActivation
) {
    let perGroupIn = inChannels / groups, perGroupOut = outChannels / groups
    var windowCount = 1, pixels = batch
    for d in 0..<g.window.count {
        windowCount *= g.window[d]
        pixels *= g.output[d]
    }
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
func kilnConvTranspose(
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
/// im2col for images: a window row whose positions all fall inside the image is one contiguous run of
/// the channels-last input (with dilation 1), copied at once.
func kilnIm2col2D(_ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, _ columns: UnsafeMutablePointer<Float>, batch: Int) {
    let height = g.input[1], width = g.input[2], outHeight = g.output[0], outWidth = g.output[1]
    let kernelHeight = g.window[0], kernelWidth = g.window[1]
    let strideY = g.strides[0], strideX = g.strides[1], padY = g.pads[0], padX = g.pads[1]
    let dilationY = g.dilations[0], dilationX = g.dilations[1]
    let rowLength = kernelWidth * channels
    var row = columns
    for n in 0..<batch {
        let image = x + n * height * width * channels
        for oy in 0..<outHeight {
            for ox in 0..<outWidth {
                let left = ox * strideX - padX
                let contiguous = dilationX == 1 && left >= 0 && left + kernelWidth <= width
                for ky in 0..<kernelHeight {
                    let iy = oy * strideY - padY + ky * dilationY
                    if iy < 0 || iy >= height {
                        for i in 0..<rowLength { row[i] = 0 }
                    } else if contiguous {
                        let source = image + (iy * width + left) * channels
                        for i in 0..<rowLength { row[i] = source[i] }
                    } else {
                        for kx in 0..<kernelWidth {
                            let ix = left + kx * dilationX
                            let target = row + kx * channels
                            if ix < 0 || ix >= width {
                                for c in 0..<channels { target[c] = 0 }
                            } else {
                                let source = image + (iy * width + ix) * channels
                                for c in 0..<channels { target[c] = source[c] }
                            }
                        }
                    }
                    row += rowLength
                }
            }
        }
    }
}

/// One window tap of a pair of output pixels in kilnDirectConv2D: for each input channel, the two
/// pixels' inputs (s and s + pixelStep) broadcast times the kernel row, into 16 (or, not `two`, 8)
/// output channels each.
@inline(__always)
func kilnDirectTap(
    _ s: UnsafePointer<Float>, _ pixelStep: Int, _ kernel: UnsafePointer<Float>, _ inChannels: Int, _ outChannels: Int, _ two: Bool,
    _ a0: inout KilnVector, _ a1: inout KilnVector, _ c0: inout KilnVector, _ c1: inout KilnVector
) {
    var kernel = kernel
    if two {
        for c in 0..<inChannels {
            let k0 = kilnLoad(kernel), k1 = kilnLoad(kernel + 8)
            let p = KilnVector(repeating: s[c]), q = KilnVector(repeating: s[c + pixelStep])
            a0 = kilnMultiplyAdd(p, k0, a0)
            a1 = kilnMultiplyAdd(p, k1, a1)
            c0 = kilnMultiplyAdd(q, k0, c0)
            c1 = kilnMultiplyAdd(q, k1, c1)
            kernel += outChannels
        }
    } else {
        for c in 0..<inChannels {
            let k0 = kilnLoad(kernel)
            a0 = kilnMultiplyAdd(KilnVector(repeating: s[c]), k0, a0)
            c0 = kilnMultiplyAdd(KilnVector(repeating: s[c + pixelStep]), k0, c0)
            kernel += outChannels
        }
    }
}

/// A convolution over images computed directly, for few input channels and output channels a multiple of
/// 8: two neighbouring output pixels at a time keep 16 of their channels each in vector registers and
/// add, per window tap and input channel, the input broadcast times a kernel row (two pixels give the
/// adds independent chains to overlap). The kernel is Keras's [kh, kw, Cin, Cout].
func kilnDirectConv2D(
    _ x: UnsafePointer<Float>, _ g: KilnWindow, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, inChannels: Int, outChannels: Int, batch: Int, activation: KilnActivation
) {
    let height = g.input[1], width = g.input[2], outHeight = g.output[0], outWidth = g.output[1]
    let kernelHeight = g.window[0], kernelWidth = g.window[1]
    let strideY = g.strides[0], strideX = g.strides[1], padY = g.pads[0], padX = g.pads[1]
    let dilationY = g.dilations[0], dilationX = g.dilations[1]
    let tapStride = inChannels * outChannels, pixelStep = strideX * inChannels
    let zero = KilnVector(repeating: 0)
    // Input offsets of the window's taps from its top-left corner, for windows inside the image.
    var tapOffsets: [Int] = []
    for ky in 0..<kernelHeight {
        for kx in 0..<kernelWidth { tapOffsets.append((ky * dilationY * width + kx * dilationX) * inChannels) }
    }
    let taps = tapOffsets.count
    for n in 0..<batch {
        let image = x + n * height * width * inChannels
        for oy in 0..<outHeight {
            let top = oy * strideY - padY
            let rowsInside = top >= 0 && top + (kernelHeight - 1) * dilationY < height
            var ox = 0
            while ox < outWidth {
                let pair = ox + 1 < outWidth
                let out = y + ((n * outHeight + oy) * outWidth + ox) * outChannels
                let left = ox * strideX - padX
                // Both windows of the pair inside the image: no bounds to test per tap.
                let inside = rowsInside && pair && left >= 0 && left + strideX + (kernelWidth - 1) * dilationX < width
                var block = 0
                while block < outChannels {
                    let two = block + 16 <= outChannels
                    let b0 = bias.map { kilnLoad($0 + block) } ?? zero
                    let b1 = two ? (bias.map { kilnLoad($0 + block + 8) } ?? zero) : zero
                    var a0 = b0, a1 = b1, c0 = b0, c1 = b1
                    if inside {
                        let corner = image + (top * width + left) * inChannels
                        for t in 0..<taps {
                            kilnDirectTap(
                                corner + tapOffsets[t], pixelStep, w + t * tapStride + block, inChannels, outChannels, two, &a0, &a1, &c0,
                                &c1)
                        }
                    } else {
                        for ky in 0..<kernelHeight {
                            let iy = oy * strideY - padY + ky * dilationY
                            if iy < 0 || iy >= height { continue }
                            let rowStart = image + iy * width * inChannels
                            for kx in 0..<kernelWidth {
                                let ix = ox * strideX - padX + kx * dilationX
                                let first = ix >= 0 && ix < width
                                let second = pair && ix + strideX >= 0 && ix + strideX < width
                                var kernel = w + (ky * kernelWidth + kx) * tapStride + block
                                if first && second {
                                    kilnDirectTap(
                                        rowStart + ix * inChannels, pixelStep, kernel, inChannels, outChannels, two, &a0, &a1, &c0, &c1)
                                } else if first || second {
                                    let s = rowStart + (first ? ix : ix + strideX) * inChannels
                                    var u0 = first ? a0 : c0, u1 = first ? a1 : c1
                                    for c in 0..<inChannels {
                                        let p = KilnVector(repeating: s[c])
                                        u0 = kilnMultiplyAdd(p, kilnLoad(kernel), u0)
                                        if two { u1 = kilnMultiplyAdd(p, kilnLoad(kernel + 8), u1) }
                                        kernel += outChannels
                                    }
                                    if first {
                                        a0 = u0
                                        a1 = u1
                                    } else {
                                        c0 = u0
                                        c1 = u1
                                    }
                                }
                            }
                        }
                    }
                    kilnStore(kilnActivate(a0, activation), out + block)
                    if two { kilnStore(kilnActivate(a1, activation), out + block + 8) }
                    if pair {
                        kilnStore(kilnActivate(c0, activation), out + outChannels + block)
                        if two { kilnStore(kilnActivate(c1, activation), out + outChannels + block + 8) }
                    }
                    block += two ? 16 : 8
                }
                ox += pair ? 2 : 1
            }
        }
    }
    // Activations that are not vectorized run over the finished output.
    if !activation.isVectorized { kilnUnary(activation, y, y, batch * outHeight * outWidth * outChannels) }
}

/// Pooling over images, one output pixel at a time; averages count only the real elements.
func kilnPool2D(
    _ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, isMax: Bool, _ y: UnsafeMutablePointer<Float>, batch: Int
) {
    let height = g.input[1], width = g.input[2], outHeight = g.output[0], outWidth = g.output[1]
    let strideY = g.strides[0], strideX = g.strides[1], padY = g.pads[0], padX = g.pads[1]
    let windowHeight = g.window[0], windowWidth = g.window[1]
    var out = y
    for n in 0..<batch {
        let image = x + n * height * width * channels
        for oy in 0..<outHeight {
            let top = oy * strideY - padY
            let y0 = Swift.max(top, 0), y1 = Swift.min(top + windowHeight, height)
            for ox in 0..<outWidth {
                let left = ox * strideX - padX
                let x0 = Swift.max(left, 0), x1 = Swift.min(left + windowWidth, width)
                for c in 0..<channels { out[c] = isMax ? -Float.infinity : 0 }
                if y0 < y1 && x0 < x1 {
                    for iy in y0..<y1 {
                        for ix in x0..<x1 {
                            let source = image + (iy * width + ix) * channels
                            if isMax {
                                for c in 0..<channels { out[c] = Swift.max(out[c], source[c]) }
                            } else {
                                for c in 0..<channels { out[c] += source[c] }
                            }
                        }
                    }
                    if !isMax {
                        let scale = 1 / Float((y1 - y0) * (x1 - x0))
                        for c in 0..<channels { out[c] *= scale }
                    }
                }
                out += channels
            }
        }
    }
}

func kilnPool(
    _ x: UnsafePointer<Float>, _ g: KilnWindow, channels: Int, isMax: Bool, _ y: UnsafeMutablePointer<Float>, batch: Int
) {
    if g.window.count == 2 && g.dilations.allSatisfy({ $0 == 1 }) {
        kilnPool2D(x, g, channels: channels, isMax: isMax, y, batch: batch)
        return
    }
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
