import Foundation
import ImageProcessing
import TensorCore

// MARK: - Processor

/// The checkpoint's image processor and processor settings (`preprocessor_config.json` +
/// `processor_config.json` in 4.x; `processor_config.json` with a nested `image_processor` in 5.x).
struct SmolVLMProcessorConfig: Sendable {
    /// `size.longest_edge`: the first resize.
    var longestEdge: Int
    /// `max_image_size.longest_edge`: the tile side (the tower's `image_size`).
    var tileSize: Int
    var splitImages: Bool
    var filter: ResampleFilter
    var normalizer: Normalizer
    /// `<image>` tokens per tile.
    var imageSeqLen: Int
    /// Whose tiling rules: transformers' (hub checkpoints) or llama.cpp's (mmproj files).
    var flavor: Flavor = .transformers

    enum Flavor: Sendable, Equatable {
        /// Idefics3ImageProcessor: an image that fits one tile after the rounding is that tile alone; the
        /// second side of the tile rounding follows the aspect ratio; Pillow's resize pass order.
        case transformers
        /// llama.cpp's `mtmd_image_preprocessor_idefics3`: always the tiles plus the overview (a 1 x 1 grid
        /// too), each side rounded up to whole tiles on its own, horizontal pass first (its Pillow port),
        /// pixels as clip_image_f32 makes them: u8 / 255.0f, then (x - mean) / std in f32.
        case llamaCpp(mean: [Float], std: [Float])
    }

    var isLlamaCpp: Bool { if case .llamaCpp = flavor { return true } else { return false } }

    /// The tiles as the tower's input, `[tiles, 3, t, t]`.
    func pixels(_ tiles: [RGBImage], roundToF16: Bool) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(tiles.count * 3 * tileSize * tileSize)
        guard case let .llamaCpp(mean, std) = flavor else {
            for tile in tiles { out += normalizer.apply(tile, layout: .channelsFirst) }
            return out
        }
        var table = [Float](repeating: 0, count: 256 * 3)
        for v in 0..<256 {
            for ch in 0..<3 {
                let x = (Float(v) / 255 - mean[ch]) / std[ch]
                table[ch * 256 + v] = roundToF16 ? Half.f16ToFloat(Half.floatToF16(x)) : x
            }
        }
        for tile in tiles {
            let plane = tile.width * tile.height
            for ch in 0..<3 {
                for i in 0..<plane { out.append(table[ch * 256 + Int(tile.pixels[i * 3 + ch])]) }
            }
        }
        return out
    }

    static func load(directory: URL, vision: SigLIPConfig, scale: Int) throws -> SmolVLMProcessorConfig {
        let pre = try JSONConfig.loadIfPresent(directory.appendingPathComponent("preprocessor_config.json"))
        let proc = try JSONConfig.loadIfPresent(directory.appendingPathComponent("processor_config.json"))
        guard let c = pre ?? proc?.child("image_processor") else {
            throw ModelError.cannotRead(path: directory.appendingPathComponent("preprocessor_config.json").path,
                                        reason: "no image processor settings (preprocessor_config.json or processor_config.json)")
        }
        let tile = try c.child("max_image_size")?.optionalInt("longest_edge") ?? vision.imageSize
        guard tile == vision.imageSize else {
            throw ModelError.invalidConfigValue(path: c.path, key: "max_image_size",
                reason: "tiles of \(tile) pixels do not match the vision tower's image_size \(vision.imageSize)")
        }
        let longest = try c.child("size")?.optionalInt("longest_edge") ?? 4 * tile
        func doubles(_ key: String) throws -> [Double] {
            guard let v = c.object[key], !(v is NSNull) else { return [0.5, 0.5, 0.5] }   // IMAGENET_STANDARD
            guard let list = v as? [NSNumber], list.count == 3 else {
                throw ModelError.invalidConfigValue(path: c.path, key: key, reason: "expected 3 values")
            }
            return list.map(\.doubleValue)
        }
        let rescale = try c.optionalBool("do_rescale") ?? true
        let normalize = try c.optionalBool("do_normalize") ?? true
        let normalizer: Normalizer
        do {
            normalizer = try Normalizer(rescaleFactor: rescale ? (try c.optionalDouble("rescale_factor") ?? 1 / 255) : nil,
                                        mean: normalize ? try doubles("image_mean") : nil,
                                        std: normalize ? try doubles("image_std") : nil)
        } catch let error as ModelError {
            throw error
        } catch {
            throw ModelError.invalidConfigValue(path: c.path, key: "image_std", reason: "\(error)")
        }
        let seq = (vision.patchesPerSide * vision.patchesPerSide) / (scale * scale)
        // The processor's own `image_seq_len` must agree with what the connector produces.
        let processorSeq = try proc?.optionalInt("image_seq_len") ?? seq
        guard processorSeq == seq else {
            throw ModelError.invalidConfigValue(path: proc?.path ?? c.path, key: "image_seq_len",
                reason: "\(processorSeq) tokens per tile, but the connector gives \(seq)")
        }
        return SmolVLMProcessorConfig(longestEdge: longest, tileSize: tile,
                                      splitImages: try c.optionalBool("do_image_splitting") ?? true,
                                      filter: try resampleFilter(c, default: .lanczos), normalizer: normalizer,
                                      imageSeqLen: seq)
    }
}

/// The Idefics3 image processor's size rules (image_processing_pil_idefics3.py).
enum SmolVLMSizes {
    /// `_resize_output_size_rescale_to_max_len` then `_resize_output_size_scale_below_upper_bound(4096)`:
    /// the longest edge becomes `maxLen` (up or down), the other follows the aspect ratio, rounded up to
    /// even.
    static func longestEdge(height: Int, width: Int, maxLen: Int) -> (height: Int, width: Int) {
        var h = height, w = width
        let aspect = Double(width) / Double(height)
        if w >= h {
            w = maxLen
            h = Int(Double(w) / aspect)
            if h % 2 != 0 { h += 1 }
        } else {
            h = maxLen
            w = Int(Double(h) * aspect)
            if w % 2 != 0 { w += 1 }
        }
        h = max(h, 1); w = max(w, 1)
        let upper = 4096
        let aspect2 = Double(w) / Double(h)
        if w >= h && w > upper {
            w = upper; h = Int(Double(w) / aspect2)
        } else if h > w && h > upper {
            h = upper; w = Int(Double(h) * aspect2)
        }
        return (max(h, 1), max(w, 1))
    }

    /// `resize_for_vision_encoder`: both sides rounded up to whole tiles, the second through the aspect ratio.
    static func wholeTiles(height: Int, width: Int, tile: Int) -> (height: Int, width: Int) {
        let aspect = Double(width) / Double(height)
        func up(_ x: Int) -> Int { (x + tile - 1) / tile * tile }
        if width >= height {
            let w = up(width)
            return (up(Int(Double(w) / aspect)), w)
        }
        let h = up(height)
        return (h, up(Int(Double(h) * aspect)))
    }
}

// MARK: - Model

/// `PreparedImage.grid` of this family: `[tiles, rows, cols]` (rows = cols = 0: the image is one tile).
final class SmolVLMPipeline: VisionLanguage, @unchecked Sendable {
    let tower: SigLIPTower
    let projection: TensorView          // [text hidden, vision hidden * scale²]
    let scale: Int
    let processor: SmolVLMProcessorConfig
    let imageTokenID: Int
    let positionIDs: [Int]
    /// An F16 patch kernel from an mmproj file: ggml's conv_2d reads the pixels through an F16 im2col.
    var roundPixelsToF16 = false
    let imagePlaceholder = "<image>"
    let fakeToken = "<fake_token_around_image>"
    let globalToken = "<global-img>"

    init(tower: SigLIPTower, projection: TensorView, scale: Int, processor: SmolVLMProcessorConfig, imageTokenID: Int) {
        self.tower = tower
        self.projection = projection
        self.scale = scale
        self.processor = processor
        self.imageTokenID = imageTokenID
        let side = tower.config.patchesPerSide
        // clip.cpp adds the position table row by row; transformers' bucketing of a full grid is the
        // identity only where 1/side is exact enough (not for every side, e.g. 19 or 25).
        positionIDs = processor.isLlamaCpp ? Array(0..<(side * side))
            : SigLIPTower.bucketedPositionIDs(rows: side, cols: side, side: side)
    }

    /// The sizes of the two resizes and the tile grid (rows = cols = 0 when the image is one tile).
    private func plan(width: Int, height: Int, settings: ImageSettings)
        throws -> (first: (height: Int, width: Int), tiles: (height: Int, width: Int)?, rows: Int, cols: Int) {
        guard width > 0, height > 0 else { throw ModelError.invalidConfigValue(path: "image", key: "size", reason: "empty image") }
        let edge = settings.longestEdge ?? processor.longestEdge
        guard edge > 0 else { throw ModelError.invalidConfigValue(path: "settings", key: "longest-edge", reason: "must be positive") }
        let t = processor.tileSize
        let first = SmolVLMSizes.longestEdge(height: height, width: width, maxLen: edge)
        guard settings.splitImages ?? processor.splitImages else { return (first, nil, 0, 0) }
        if processor.isLlamaCpp {
            let rows = (first.height + t - 1) / t, cols = (first.width + t - 1) / t
            return (first, (rows * t, cols * t), rows, cols)
        }
        let tiled = SmolVLMSizes.wholeTiles(height: first.height, width: first.width, tile: t)
        if tiled.height > t || tiled.width > t {
            return (first, tiled, (tiled.height - t) / t + 1, (tiled.width - t) / t + 1)
        }
        return (first, tiled, 0, 0)
    }

    func tokenCount(width: Int, height: Int, settings: ImageSettings) throws -> Int {
        let p = try plan(width: width, height: height, settings: settings)
        return (p.rows * p.cols + 1) * processor.imageSeqLen
    }

    func prepare(rgb: [UInt8], width: Int, height: Int, settings: ImageSettings) throws -> PreparedImage {
        let image = try RGBImage(width: width, height: height, checking: rgb)
        let t = processor.tileSize, f = processor.filter
        let p = try plan(width: width, height: height, settings: settings)
        let order: ResamplePassOrder = processor.isLlamaCpp ? .horizontalFirst : .pillow
        func resize(_ im: RGBImage, _ w: Int, _ h: Int) -> RGBImage {
            Resampler.resize(im, width: w, height: h, filter: f, passOrder: order)
        }
        // All resizes on uint8 with Pillow's filter, as the PIL backend (and llama.cpp's port) does.
        let first = resize(image, p.first.width, p.first.height)
        var tiles: [RGBImage] = []
        if let size = p.tiles {
            let tiled = resize(first, size.width, size.height)
            if p.rows > 0 {
                for r in 0..<p.rows {
                    for c in 0..<p.cols { tiles.append(try tiled.cropped(x: c * t, y: r * t, width: t, height: t)) }
                }
                tiles.append(resize(tiled, t, t))   // the global image
            } else {
                tiles.append(tiled)
            }
        } else {
            tiles.append(resize(first, t, t))
        }
        let pixels = processor.pixels(tiles, roundToF16: roundPixelsToF16)
        let split = p.tiles == nil ? "global" : "split"
        let key = "smolvlm:\(p.first.width)x\(p.first.height):\(split):\(ImageHash.fnv1a(rgb, width: width, height: height))"
        return PreparedImage(pixels: pixels, grid: [tiles.count, p.rows, p.cols],
                             tokenCount: tiles.count * processor.imageSeqLen, key: key,
                             resized: (p.tiles?.width ?? t, p.tiles?.height ?? t))
    }

    /// The processor's `get_image_prompt_string`.
    func promptString(rows: Int, cols: Int) -> String {
        let run = String(repeating: imagePlaceholder, count: processor.imageSeqLen)
        let global = fakeToken + globalToken + run + fakeToken
        guard rows > 0 || cols > 0 else { return global }
        var s = ""
        for r in 0..<rows {
            for c in 0..<cols { s += fakeToken + "<row_\(r + 1)_col_\(c + 1)>" + run }
            s += "\n"
        }
        return s + "\n" + global
    }

    func expandPlaceholders(in text: String, images: [PreparedImage]) throws -> String {
        let parts = text.components(separatedBy: imagePlaceholder)
        guard parts.count - 1 == images.count else {
            throw ModelError.invalidConfigValue(path: "prompt", key: imagePlaceholder,
                reason: "the prompt has \(parts.count - 1) image placeholders for \(images.count) images")
        }
        var out = parts[0]
        for (i, image) in images.enumerated() {
            guard image.grid.count == 3 else {
                throw ModelError.invalidConfigValue(path: "image", key: "grid", reason: "not prepared by SmolVLM")
            }
            out += promptString(rows: image.grid[1], cols: image.grid[2]) + parts[i + 1]
        }
        return out
    }

    /// Plain 1-D positions: image rows count like text.
    func positions(for ids: [Int], images: [PreparedImage]) throws -> (PositionIDs, delta: Int) {
        (.sequential(start: 0), 0)
    }
}
