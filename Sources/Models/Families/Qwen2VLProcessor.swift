import Foundation
import ImageProcessing
import TensorCore

// MARK: - Processor

/// The checkpoint's image processor settings (`preprocessor_config.json` in 4.x, the `image_processor`
/// entry of `processor_config.json` in 5.x). Never class defaults where the file says otherwise.
struct Qwen2VLProcessorConfig: Sendable {
    var minPixels: Int
    var maxPixels: Int
    var patchSize: Int
    var mergeSize: Int
    var temporalPatchSize: Int
    var mean: [Float]
    var std: [Float]
    var rescaleFactor: Double
    var doRescale: Bool
    var doNormalize: Bool
    /// Whose preprocessing to reproduce: transformers' PIL processor (a hub checkpoint) or llama.cpp's
    /// (an mmproj GGUF, `mtmd_image_preprocessor_dyn_size`).
    var flavor: Flavor = .transformers

    enum Flavor: Sendable { case transformers, llamaCpp }

    /// The target size of an image (both sides multiples of patch x merge).
    func targetSize(width: Int, height: Int, minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        let factor = patchSize * mergeSize
        switch flavor {
        case .transformers:
            return try SmartResize.size(height: height, width: width, factor: factor, minPixels: minPixels, maxPixels: maxPixels)
        case .llamaCpp:
            return try SmartResize.llamaCppSize(height: height, width: width, factor: factor, minPixels: minPixels, maxPixels: maxPixels)
        }
    }

    static func load(directory: URL, vision: Qwen2VisionConfig) throws -> Qwen2VLProcessorConfig {
        var c: JSONConfig?
        if let p = try JSONConfig.loadIfPresent(directory.appendingPathComponent("preprocessor_config.json")) {
            c = p
        } else if let p = try JSONConfig.loadIfPresent(directory.appendingPathComponent("processor_config.json")) {
            c = p.child("image_processor") ?? p
        }
        guard let c else {
            throw ModelError.cannotRead(path: directory.appendingPathComponent("preprocessor_config.json").path,
                                        reason: "no preprocessor_config.json or processor_config.json")
        }
        let size = c.child("size")
        func floats(_ key: String, _ fallback: [Float]) throws -> [Float] {
            guard let list = c.object[key] as? [NSNumber] else { return fallback }
            guard list.count == 3 else {
                throw ModelError.invalidConfigValue(path: c.path, key: key, reason: "expected 3 values")
            }
            return list.map(\.floatValue)
        }
        let minPixels = try c.optionalInt("min_pixels") ?? size?.optionalInt("shortest_edge") ?? 56 * 56
        let maxPixels = try c.optionalInt("max_pixels") ?? size?.optionalInt("longest_edge") ?? 28 * 28 * 1280
        let clipMean: [Float] = [0.48145466, 0.4578275, 0.40821073], clipStd: [Float] = [0.26862954, 0.26130258, 0.27577711]
        return Qwen2VLProcessorConfig(
            minPixels: minPixels, maxPixels: maxPixels,
            patchSize: try c.optionalInt("patch_size") ?? vision.patchSize,
            mergeSize: try c.optionalInt("merge_size") ?? vision.mergeSize,
            temporalPatchSize: try c.optionalInt("temporal_patch_size") ?? vision.temporalPatchSize,
            mean: try floats("image_mean", clipMean), std: try floats("image_std", clipStd),
            rescaleFactor: try c.optionalDouble("rescale_factor") ?? 1.0 / 255.0,
            doRescale: try c.optionalBool("do_rescale") ?? true,
            doNormalize: try c.optionalBool("do_normalize") ?? true)
    }
}

enum SmartResize {
    /// llama.cpp's `img_tool::resize` with PAD_CEIL, which Qwen2-VL's mmproj path uses (clip_hparams'
    /// default): the image is scaled to fit `width` x `height` keeping its aspect ratio (f32 scale, sides
    /// rounded up), centred, and the rest filled black, where transformers stretches it to the target.
    /// Resampling is llama.cpp's Pillow-style bicubic, always horizontal pass first (Pillow <= 12's order).
    static func llamaCppFit(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        let scale = min(Float(width) / Float(image.width), Float(height) / Float(image.height))
        let fw = min(Int((Float(image.width) * scale).rounded(.up)), width)
        let fh = min(Int((Float(image.height) * scale).rounded(.up)), height)
        let fitted = fw == image.width && fh == image.height
            ? image
            : Resampler.resize(image, width: fw, height: fh, filter: .bicubic, passOrder: .horizontalFirst)
        var canvas = [UInt8](repeating: 0, count: width * height * 3)
        let ox = (width - fw) / 2, oy = (height - fh) / 2
        for y in 0..<fh {
            let src = y * fw * 3, dst = ((y + oy) * width + ox) * 3
            canvas.replaceSubrange(dst..<(dst + fw * 3), with: fitted.pixels[src..<(src + fw * 3)])
        }
        return RGBImage(width: width, height: height, pixels: canvas)
    }

    /// llama.cpp's `img_tool::calc_size_preserved_ratio` (mtmd-image.cpp): the same rule as `smart_resize`
    /// but in f32 with C's round() (halves away from zero, so 70 px -> 84 where Python gives 56), and no
    /// aspect-ratio limit.
    static func llamaCppSize(height: Int, width: Int, factor: Int, minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        guard height > 0, width > 0 else { throw ModelError.invalidConfigValue(path: "image", key: "size", reason: "empty image") }
        let f = Float(factor)
        func round(_ x: Float) -> Int { Int((x / f).rounded(.toNearestOrAwayFromZero)) * factor }
        func ceil(_ x: Float) -> Int { Int((x / f).rounded(.up)) * factor }
        func floor(_ x: Float) -> Int { Int((x / f).rounded(.down)) * factor }
        var w = max(factor, round(Float(width)))
        var h = max(factor, round(Float(height)))
        if maxPixels > 0 && h * w > maxPixels {
            let beta = (Float(height) * Float(width) / Float(maxPixels)).squareRoot()
            h = max(factor, floor(Float(height) / beta))
            w = max(factor, floor(Float(width) / beta))
        } else if minPixels > 0 && h * w < minPixels {
            let beta = (Float(minPixels) / (Float(height) * Float(width))).squareRoot()
            h = ceil(Float(height) * beta)
            w = ceil(Float(width) * beta)
        }
        return (h, w)
    }

    /// transformers `smart_resize`: both sides multiples of `factor`, pixels within [min, max], aspect
    /// kept. Python's round() rounds halves to even, as `rounded(.toNearestOrEven)` does.
    static func size(height: Int, width: Int, factor: Int, minPixels: Int, maxPixels: Int) throws -> (height: Int, width: Int) {
        guard height > 0, width > 0 else { throw ModelError.invalidConfigValue(path: "image", key: "size", reason: "empty image") }
        let ratio = Double(max(height, width)) / Double(min(height, width))
        guard ratio <= 200 else {
            throw ModelError.invalidConfigValue(path: "image", key: "aspect ratio",
                                                reason: "\(width)x\(height) is more than 200:1, which Qwen2-VL cannot take")
        }
        let f = Double(factor)
        var h = Int((Double(height) / f).rounded(.toNearestOrEven)) * factor
        var w = Int((Double(width) / f).rounded(.toNearestOrEven)) * factor
        if h * w > maxPixels {
            let beta = (Double(height * width) / Double(maxPixels)).squareRoot()
            h = max(factor, Int((Double(height) / beta / f).rounded(.down)) * factor)
            w = max(factor, Int((Double(width) / beta / f).rounded(.down)) * factor)
        } else if h * w < minPixels {
            let beta = (Double(minPixels) / Double(height * width)).squareRoot()
            h = Int((Double(height) * beta / f).rounded(.up)) * factor
            w = Int((Double(width) * beta / f).rounded(.up)) * factor
        }
        return (h, w)
    }
}

final class Qwen2VLPipeline: VisionLanguage, @unchecked Sendable {
    let tower: Qwen2VisionTower
    let processor: Qwen2VLProcessorConfig
    let imageTokenID: Int
    let imagePlaceholder = "<|image_pad|>"

    init(tower: Qwen2VisionTower, processor: Qwen2VLProcessorConfig, imageTokenID: Int) {
        self.tower = tower
        self.processor = processor
        self.imageTokenID = imageTokenID
    }

    private func bounds(_ s: ImageSettings) -> (Int, Int) {
        (s.minPixels ?? processor.minPixels, s.maxPixels ?? processor.maxPixels)
    }

    func tokenCount(width: Int, height: Int, settings: ImageSettings) throws -> Int {
        let (lo, hi) = bounds(settings)
        let p = processor.patchSize, m = processor.mergeSize
        let size = try processor.targetSize(width: width, height: height, minPixels: lo, maxPixels: hi)
        return (size.height / p) * (size.width / p) / (m * m)
    }

    func prepare(rgb: [UInt8], width: Int, height: Int, settings: ImageSettings) throws -> PreparedImage {
        let (lo, hi) = bounds(settings)
        let p = processor.patchSize, m = processor.mergeSize, tp = processor.temporalPatchSize
        let size = try processor.targetSize(width: width, height: height, minPixels: lo, maxPixels: hi)
        let (rh, rw) = size
        let llamaCpp = processor.flavor == .llamaCpp
        // PIL bicubic on uint8, then rescale (f64 multiply, cast to f32) and normalise in f32, as the
        // PIL image processor does. llama.cpp: its Pillow-style bicubic, always the horizontal pass first
        // (Pillow <= 12's order), then u8 / 255.0f and (x - mean) / std in f32 (clip_image_f32::normalize).
        let resized: [UInt8]
        if rw == width && rh == height {
            resized = rgb
        } else if llamaCpp {
            resized = SmartResize.llamaCppFit(RGBImage(width: width, height: height, pixels: rgb), width: rw, height: rh).pixels
        } else {
            resized = Resampler.resize(RGBImage(width: width, height: height, pixels: rgb),
                                       width: rw, height: rh, filter: .bicubic).pixels
        }
        let gh = rh / p, gw = rw / p
        let patchDim = 3 * tp * p * p
        var out = [Float](repeating: 0, count: gh * gw * patchDim)
        var scaled = [Float](repeating: 0, count: 256 * 3)
        for v in 0..<256 {
            for ch in 0..<3 {
                var x: Float
                if llamaCpp { x = Float(v) / 255 }
                else { x = processor.doRescale ? Float(Double(v) * processor.rescaleFactor) : Float(v) }
                if processor.doNormalize { x = (x - processor.mean[ch]) / processor.std[ch] }
                // llama.cpp's Qwen2-VL patch embedding (ggml_conv_2d) reads the pixels through an F16 im2col.
                if llamaCpp { x = Half.f16ToFloat(Half.floatToF16(x)) }
                scaled[v * 3 + ch] = x
            }
        }
        // Patch order [gh/m][gw/m][m][m], each patch [C][T][P][P] with the still frame repeated over T.
        var row = 0
        for bh in 0..<(gh / m) { for bw in 0..<(gw / m) { for ih in 0..<m { for iw in 0..<m {
            let py = (bh * m + ih) * p, px = (bw * m + iw) * p
            var o = row * patchDim
            for ch in 0..<3 {
                for _ in 0..<tp {
                    for y in 0..<p {
                        let base = ((py + y) * rw + px) * 3 + ch
                        for x in 0..<p { out[o] = scaled[Int(resized[base + x * 3]) * 3 + ch]; o += 1 }
                    }
                }
            }
            row += 1
        } } } }
        let tokens = gh * gw / (m * m)
        let key = "qwen2vl:\(rw)x\(rh):\(ImageHash.fnv1a(rgb, width: width, height: height))"
        return PreparedImage(pixels: out, grid: [1, gh, gw], tokenCount: tokens, key: key, resized: (rw, rh))
    }

    func encode(_ image: PreparedImage) throws -> [Float] {
        try tower.encode(pixels: image.pixels, grid: image.grid)
    }

    func expandPlaceholders(in text: String, images: [PreparedImage]) throws -> String {
        try VisionPrompt.repeatPlaceholders(in: text, placeholder: imagePlaceholder, counts: images.map(\.tokenCount))
    }

    /// transformers `get_rope_index`: text runs count up on all three axes; an image run takes
    /// (start, start + row, start + column) and the text after it resumes at start + max(h, w) / merge.
    func positions(for ids: [Int], images: [PreparedImage]) throws -> (PositionIDs, delta: Int) {
        var t = [Int32](), h = [Int32](), w = [Int32]()
        t.reserveCapacity(ids.count); h.reserveCapacity(ids.count); w.reserveCapacity(ids.count)
        var pos = 0, i = 0, image = 0
        let m = processor.mergeSize
        while i < ids.count {
            if ids[i] == imageTokenID {
                guard image < images.count else {
                    throw ModelError.invalidConfigValue(path: "prompt", key: imagePlaceholder, reason: "more image tokens than images")
                }
                let g = images[image].grid
                let lt = g[0], lh = g[1] / m, lw = g[2] / m
                guard i + lt * lh * lw <= ids.count else {
                    throw ModelError.invalidConfigValue(path: "prompt", key: imagePlaceholder, reason: "image token run is cut short")
                }
                for a in 0..<lt { for b in 0..<lh { for c in 0..<lw {
                    t.append(Int32(pos + a)); h.append(Int32(pos + b)); w.append(Int32(pos + c))
                } } }
                i += lt * lh * lw
                pos += max(lh, lw)
                image += 1
            } else {
                t.append(Int32(pos)); h.append(Int32(pos)); w.append(Int32(pos))
                pos += 1
                i += 1
            }
        }
        let maxPos = Int(max(t.max() ?? -1, h.max() ?? -1, w.max() ?? -1))
        return (.multimodal(t: t, h: h, w: w), maxPos + 1 - ids.count)
    }
}

enum ImageHash {
    /// FNV-1a over the size and pixels: identifies image content for the embedding cache.
    static func fnv1a(_ bytes: [UInt8], width: Int, height: Int) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for v in [UInt64(width), UInt64(height)] { hash = (hash ^ v) &* 0x100_0000_01b3 }
        for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
        return String(hash, radix: 16)
    }
}
