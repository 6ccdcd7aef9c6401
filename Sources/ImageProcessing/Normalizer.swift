/// `rescale` then `normalize` to Float, bit-exact with transformers' slow image processors:
///   rescale:   Float(Double(pixel) * factor)      (numpy: uint8 -> float64, * scale, -> float32)
///   normalize: (x - Float(mean[c])) / Float(std[c]) in Float32 arithmetic
/// Because a channel only has 256 possible inputs, the result is tabulated per channel.
public struct Normalizer: Sendable, Equatable {
    public enum Layout: Sendable { case channelsFirst, channelsLast }  // [C, H, W] or [H, W, C]

    public var rescaleFactor: Double?
    public var mean: [Double]?
    public var std: [Double]?

    /// `rescaleFactor` nil skips rescaling (`do_rescale=False`); `mean`/`std` nil skips normalising.
    /// mean and std need 3 values each.
    public init(rescaleFactor: Double? = 1.0 / 255.0, mean: [Double]?, std: [Double]?) throws {
        guard (mean == nil) == (std == nil), mean.map({ $0.count == 3 }) ?? true,
              std.map({ $0.count == 3 && !$0.contains(0) }) ?? true else {
            throw ImageError.invalidArgument("mean and std need 3 values each (std non-zero), or both nil")
        }
        self.rescaleFactor = rescaleFactor
        self.mean = mean
        self.std = std
    }

    /// OPENAI_CLIP_MEAN / OPENAI_CLIP_STD, used by Qwen2-VL, CLIP and many others.
    public static let openAICLIP = Normalizer(
        unchecked: 1.0 / 255.0, mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711])
    /// IMAGENET_STANDARD_MEAN / STD (0.5 everywhere), used by SigLIP and Idefics-style processors.
    public static let imagenetStandard = Normalizer(unchecked: 1.0 / 255.0, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5])
    /// IMAGENET_DEFAULT_MEAN / STD.
    public static let imagenetDefault = Normalizer(
        unchecked: 1.0 / 255.0, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

    private init(unchecked factor: Double, mean: [Double], std: [Double]) {
        rescaleFactor = factor
        self.mean = mean
        self.std = std
    }

    /// The 3 x 256 lookup table: `table[c * 256 + v]` is the output for value v in channel c.
    public func table() -> [Float] {
        var out = [Float](repeating: 0, count: 3 * 256)
        for c in 0..<3 {
            let m = mean.map { Float($0[c]) }, s = std.map { Float($0[c]) }
            for v in 0..<256 {
                var x = rescaleFactor.map { Float(Double(v) * $0) } ?? Float(v)
                if let m, let s { x = (x - m) / s }
                out[c * 256 + v] = x
            }
        }
        return out
    }

    /// All pixels of `image` as Float in `layout` order.
    public func apply(_ image: RGBImage, layout: Layout = .channelsFirst) -> [Float] {
        let lut = table()
        let plane = image.width * image.height
        var out = [Float](repeating: 0, count: plane * 3)
        image.pixels.withUnsafeBufferPointer { src in
            lut.withUnsafeBufferPointer { lut in
                out.withUnsafeMutableBufferPointer { dst in
                    switch layout {
                    case .channelsLast:
                        for i in 0..<(plane * 3) { dst[i] = lut[(i % 3) * 256 + Int(src[i])] }
                    case .channelsFirst:
                        for p in 0..<plane {
                            dst[p] = lut[Int(src[3 * p])]
                            dst[plane + p] = lut[256 + Int(src[3 * p + 1])]
                            dst[2 * plane + p] = lut[512 + Int(src[3 * p + 2])]
                        }
                    }
                }
            }
        }
        return out
    }
}
