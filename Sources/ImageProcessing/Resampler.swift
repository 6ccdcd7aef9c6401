import Foundation

/// Resampling filters of `PIL.Image.resize` (Pillow's Resample.c), for 8-bit RGB.
public enum ResampleFilter: String, Sendable, CaseIterable {
    /// `Image.NEAREST`: Pillow's affine nearest-neighbour path, not a convolution.
    case nearest
    /// `Image.BILINEAR`: triangle filter, support 1.
    case bilinear
    /// `Image.BICUBIC`: cubic convolution with a = -0.5, support 2 (transformers' default for most VLMs).
    case bicubic
    /// `Image.LANCZOS`: windowed sinc with a = 3, support 3.
    case lanczos

    var support: Double {
        switch self {
        case .nearest: return 0
        case .bilinear: return 1
        case .bicubic: return 2
        case .lanczos: return 3
        }
    }

    /// The kernel, written exactly as in Resample.c (same operation order, so the same doubles).
    func weight(_ t: Double) -> Double {
        switch self {
        case .nearest:
            return 0
        case .bilinear:
            let x = t < 0 ? -t : t
            return x < 1 ? 1 - x : 0
        case .bicubic:
            let a = -0.5
            let x = t < 0 ? -t : t
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .lanczos:
            // Truncated sinc; note the half-open window -3 <= t < 3 of Pillow.
            guard -3 <= t && t < 3 else { return 0 }
            return Self.sinc(t) * Self.sinc(t / 3)
        }
    }

    private static func sinc(_ t: Double) -> Double {
        if t == 0 { return 1 }
        let x = t * Double.pi  // M_PI; sin() is glibc's, as in Pillow on Linux
        return sin(x) / x
    }
}

/// Which separable pass runs first. The intermediate image is rounded to uint8, so the order changes
/// some pixels by one step; it is the only behaviour difference between Pillow versions here.
public enum ResamplePassOrder: Sendable {
    /// Pillow 13 (python-pillow PR #9549): the vertical pass runs first when the height shrinks by more
    /// than twice as many pixels as the width does (`inH > outH && inH - outH > 2 * (inW - outW)`),
    /// otherwise the horizontal pass does. This is what the fixture environment's Pillow does.
    case pillow
    /// Pillow up to 12: always horizontal first, as when most released VLMs were trained.
    case horizontalFirst
}

/// `PIL.Image.resize(size, resample)` for RGB images, bit-exact with Pillow.
///
/// Pillow's algorithm (Resample.c), reproduced step by step:
///  - per output pixel, a window of source pixels around `center = (xx + 0.5) * scale`, widened by
///    `scale` when downsampling (antialiasing), weights computed in double and normalised to sum 1;
///  - weights converted to fixed point with PRECISION_BITS = 22, rounding half away from zero;
///  - two separable passes (order: `ResamplePassOrder`), the intermediate rounded and clipped to uint8;
///    horizontal-first only filters the source rows the vertical pass will read;
///  - a pass is skipped when that dimension keeps its size; equal sizes return a copy.
public enum Resampler {
    /// Fixed-point fraction bits of Pillow's 8-bit path: 32 - 8 bits for the value - 2 for overshoot.
    static let precisionBits = 22

    /// Precondition: `width` and `height` in 1...16_777_216 (Pillow raises for zero sizes too; callers
    /// compute targets from a processor's rules, which never give zero).
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: ResampleFilter,
                              passOrder: ResamplePassOrder = .pillow) -> RGBImage {
        precondition(width > 0 && height > 0 && width <= 1 << 24 && height <= 1 << 24,
                     "Resampler.resize: target \(width)x\(height) out of range")
        if width == image.width && height == image.height { return image }
        if filter == .nearest { return nearest(image, width: width, height: height) }

        let needHorizontal = width != image.width, needVertical = height != image.height
        let vertical = Coefficients(inSize: image.height, outSize: height, filter: filter)
        let horizontal = needHorizontal ? Coefficients(inSize: image.width, outSize: width, filter: filter) : nil
        let verticalFirst = passOrder == .pillow && image.height > height
            && image.height - height > 2 * (image.width - width)

        if let horizontal, needVertical, verticalFirst {
            let tall = verticalPass(image, outHeight: height, bounds: vertical.bounds, coefficients: vertical)
            return horizontalPass(tall, rows: 0..<height, coefficients: horizontal)
        }
        var current = image
        var verticalBounds = vertical.bounds
        if let horizontal {
            // Rows of the source the vertical pass uses: [first, last).
            let first = Int(vertical.bounds[0])
            let last = Int(vertical.bounds[2 * (height - 1)] + vertical.bounds[2 * (height - 1) + 1])
            current = horizontalPass(image, rows: first..<last, coefficients: horizontal)
            for i in 0..<height { verticalBounds[2 * i] -= Int32(first) }
        }
        if needVertical {
            current = verticalPass(current, outHeight: height, bounds: verticalBounds, coefficients: vertical)
        }
        return current
    }

    // MARK: - Coefficients

    /// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the full box [0, inSize).
    struct Coefficients {
        /// Maximum taps per output pixel (the row stride of `weights`).
        let ksize: Int
        /// Per output pixel: first source index and number of taps.
        let bounds: [Int32]
        /// Fixed-point weights, `ksize` per output pixel (unused tail entries are 0).
        let weights: [Int32]

        init(inSize: Int, outSize: Int, filter: ResampleFilter) {
            // Pillow passes the box as C floats; for a whole-image box in1 - in0 is exactly inSize.
            let scale = Double(Float(inSize)) / Double(outSize)
            let filterScale = max(scale, 1.0)
            let support = filter.support * filterScale
            let ksize = Int(support.rounded(.up)) * 2 + 1
            var bounds = [Int32](repeating: 0, count: outSize * 2)
            var weights = [Int32](repeating: 0, count: outSize * ksize)
            var k = [Double](repeating: 0, count: ksize)
            let ss = 1.0 / filterScale
            let one = Double(1 << Resampler.precisionBits)
            for xx in 0..<outSize {
                let center = 0.0 + (Double(xx) + 0.5) * scale
                // (int)(v + 0.5) in C truncates toward zero; then clamp into the image.
                let xmin = max(Int(center - support + 0.5), 0)
                let xmax = min(Int(center + support + 0.5), inSize) - xmin
                var total = 0.0
                for x in 0..<max(xmax, 0) {
                    let w = filter.weight((Double(x + xmin) - center + 0.5) * ss)
                    k[x] = w
                    total += w
                }
                for x in 0..<max(xmax, 0) {
                    let w = total != 0 ? k[x] / total : k[x]
                    // Round half away from zero, truncating like C's (int) cast.
                    weights[xx * ksize + x] = Int32(w < 0 ? (-0.5 + w * one).rounded(.towardZero)
                                                          : (0.5 + w * one).rounded(.towardZero))
                }
                bounds[2 * xx] = Int32(xmin)
                bounds[2 * xx + 1] = Int32(max(xmax, 0))
            }
            self.ksize = ksize
            self.bounds = bounds
            self.weights = weights
        }
    }

    @inline(__always)
    static func clip8(_ acc: Int32) -> UInt8 {
        UInt8(clamping: acc >> Int32(precisionBits))
    }

    // MARK: - Passes

    /// Horizontal pass over source rows `rows`, giving an image `coefficients`-wide and `rows.count` tall.
    static func horizontalPass(_ image: RGBImage, rows: Range<Int>, coefficients c: Coefficients) -> RGBImage {
        let outW = c.bounds.count / 2
        let inRowBytes = image.width * 3
        let half: Int32 = 1 << Int32(precisionBits - 1)
        var out = [UInt8](repeating: 0, count: outW * rows.count * 3)
        image.pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { kk in
                c.bounds.withUnsafeBufferPointer { bounds in
                    out.withUnsafeMutableBufferPointer { dst in
                        var d = 0
                        for y in rows {
                            let rowStart = y * inRowBytes
                            for xx in 0..<outW {
                                let xmin = Int(bounds[2 * xx]), n = Int(bounds[2 * xx + 1])
                                let k = xx * c.ksize
                                var s0 = half, s1 = half, s2 = half
                                var p = rowStart + xmin * 3
                                for x in 0..<n {
                                    let w = kk[k + x]
                                    s0 &+= Int32(src[p]) &* w
                                    s1 &+= Int32(src[p + 1]) &* w
                                    s2 &+= Int32(src[p + 2]) &* w
                                    p += 3
                                }
                                dst[d] = clip8(s0)
                                dst[d + 1] = clip8(s1)
                                dst[d + 2] = clip8(s2)
                                d += 3
                            }
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: outW, height: rows.count, pixels: out)
    }

    /// Vertical pass: output row `yy` mixes rows `bounds[2yy] ..< +bounds[2yy+1]` of `image`.
    static func verticalPass(_ image: RGBImage, outHeight: Int, bounds: [Int32], coefficients c: Coefficients)
        -> RGBImage {
        let rowBytes = image.width * 3
        let half: Int32 = 1 << Int32(precisionBits - 1)
        var out = [UInt8](repeating: 0, count: rowBytes * outHeight)
        var acc = [Int32](repeating: 0, count: rowBytes)
        image.pixels.withUnsafeBufferPointer { src in
            c.weights.withUnsafeBufferPointer { kk in
                out.withUnsafeMutableBufferPointer { dst in
                    acc.withUnsafeMutableBufferPointer { acc in
                        for yy in 0..<outHeight {
                            let ymin = Int(bounds[2 * yy]), n = Int(bounds[2 * yy + 1])
                            let k = yy * c.ksize
                            // Row-wise accumulation (cache friendly); per pixel the sum is the same
                            // integer sequence as Pillow's, so the result is identical.
                            for i in 0..<rowBytes { acc[i] = half }
                            for y in 0..<n {
                                let w = kk[k + y]
                                let base = (ymin + y) * rowBytes
                                for i in 0..<rowBytes { acc[i] &+= Int32(src[base + i]) &* w }
                            }
                            let o = yy * rowBytes
                            for i in 0..<rowBytes { dst[o + i] = clip8(acc[i]) }
                        }
                    }
                }
            }
        }
        return RGBImage(unchecked: image.width, height: outHeight, pixels: out)
    }

    // MARK: - Nearest

    /// Pillow's NEAREST resize is an affine transform (ImagingScaleAffine): source coordinate
    /// `(x + 0.5) * in/out`, accumulated by repeated addition in double, truncated.
    static func nearest(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        func table(_ inSize: Int, _ outSize: Int) -> [Int] {
            let a = Double(Float(inSize)) / Double(outSize)
            var pos = a * 0.5
            var out = [Int](repeating: 0, count: outSize)
            for i in 0..<outSize {
                out[i] = min(max(pos < 0 ? -1 : Int(pos), 0), inSize - 1)
                pos += a
            }
            return out
        }
        let xs = table(image.width, width), ys = table(image.height, height)
        var out = [UInt8](repeating: 0, count: width * height * 3)
        image.pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                var d = 0
                for y in 0..<height {
                    let row = ys[y] * image.width
                    for x in 0..<width {
                        let s = (row + xs[x]) * 3
                        dst[d] = src[s]
                        dst[d + 1] = src[s + 1]
                        dst[d + 2] = src[s + 2]
                        d += 3
                    }
                }
            }
        }
        return RGBImage(unchecked: width, height: height, pixels: out)
    }
}
