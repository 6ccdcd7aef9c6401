import Foundation
import ImageProcessing
import TensorCore

// MARK: - Processor

/// The checkpoint's image processor and processor settings (`preprocessor_config.json` +
/// `processor_config.json` in 4.x; `processor_config.json` with a nested `image_processor` in 5.x).
struct LlavaOneVisionProcessorConfig: Sendable {
    /// Side of every tile in pixels (`size.height`, which is the tower's `image_size`).
    var tileSize: Int
    var pinpoints: [(height: Int, width: Int)]
    var normalizer: Normalizer
    var mean: [Double]
    var filter: ResampleFilter

    static func load(directory: URL, model: LlavaOneVisionConfig, vision: SigLIPConfig) throws -> LlavaOneVisionProcessorConfig {
        var image: JSONConfig?
        if let p = try JSONConfig.loadIfPresent(directory.appendingPathComponent("preprocessor_config.json")) {
            image = p
        } else if let p = try JSONConfig.loadIfPresent(directory.appendingPathComponent("processor_config.json")) {
            image = p.child("image_processor")
        }
        guard let c = image else {
            throw ModelError.cannotRead(path: directory.appendingPathComponent("preprocessor_config.json").path,
                                        reason: "no image processor settings (preprocessor_config.json or processor_config.json)")
        }
        let size = c.child("size")
        let tile = try size?.optionalInt("height") ?? size?.optionalInt("shortest_edge") ?? vision.imageSize
        let width = try size?.optionalInt("width") ?? tile
        guard tile == vision.imageSize, width == tile else {
            throw ModelError.invalidConfigValue(path: c.path, key: "size",
                reason: "tiles of \(tile) pixels do not match the vision tower's image_size \(vision.imageSize)")
        }
        var pinpoints = try LlavaOneVisionConfig.parsePinpoints(c.object["image_grid_pinpoints"], path: c.path)
        if pinpoints.isEmpty { pinpoints = model.pinpoints }
        guard pinpoints.allSatisfy({ $0.height % tile == 0 && $0.width % tile == 0 }) else {
            throw ModelError.invalidConfigValue(path: c.path, key: "image_grid_pinpoints",
                                                reason: "every resolution must be a whole number of \(tile)-pixel tiles")
        }
        func doubles(_ key: String, _ fallback: [Double]) throws -> [Double] {
            guard let v = c.object[key], !(v is NSNull) else { return fallback }
            guard let list = v as? [NSNumber], list.count == 3 else {
                throw ModelError.invalidConfigValue(path: c.path, key: key, reason: "expected 3 values")
            }
            return list.map(\.doubleValue)
        }
        let clipMean = [0.48145466, 0.4578275, 0.40821073], clipStd = [0.26862954, 0.26130258, 0.27577711]
        let mean = try doubles("image_mean", clipMean), std = try doubles("image_std", clipStd)
        let rescale = try c.optionalBool("do_rescale") ?? true
        let normalize = try c.optionalBool("do_normalize") ?? true
        let normalizer: Normalizer
        do {
            normalizer = try Normalizer(rescaleFactor: rescale ? (try c.optionalDouble("rescale_factor") ?? 1 / 255) : nil,
                                        mean: normalize ? mean : nil, std: normalize ? std : nil)
        } catch {
            throw ModelError.invalidConfigValue(path: c.path, key: "image_std", reason: "\(error)")
        }
        return LlavaOneVisionProcessorConfig(tileSize: tile, pinpoints: pinpoints, normalizer: normalizer, mean: mean,
                                             filter: try resampleFilter(c))
    }
}

/// PIL's resample codes as transformers configs write them (`resample`: 0 nearest, 1 lanczos,
/// 2 bilinear, 3 bicubic).
func resampleFilter(_ c: JSONConfig, default fallback: ResampleFilter = .bicubic) throws -> ResampleFilter {
    guard let code = try c.optionalInt("resample") else { return fallback }
    switch code {
    case 0: return .nearest
    case 1: return .lanczos
    case 2: return .bilinear
    case 3: return .bicubic
    default: throw ModelError.invalidConfigValue(path: c.path, key: "resample", reason: "unsupported PIL filter \(code)")
    }
}

/// AnyRes geometry, as transformers computes it.
enum AnyRes {
    /// `select_best_resolution`: the pinpoint keeping the most of the image's pixels, then wasting least.
    static func bestResolution(height: Int, width: Int, pinpoints: [(height: Int, width: Int)]) -> (height: Int, width: Int)? {
        var best: (height: Int, width: Int)?
        var maxEffective = 0, minWasted = Int.max
        for (h, w) in pinpoints {
            let scale = min(Double(w) / Double(width), Double(h) / Double(height))
            let dw = Int(Double(width) * scale), dh = Int(Double(height) * scale)
            let effective = min(dw * dh, width * height)
            let wasted = w * h - effective
            if effective > maxEffective || (effective == maxEffective && wasted < minWasted) {
                maxEffective = effective
                minWasted = wasted
                best = (h, w)
            }
        }
        return best
    }

    /// `get_patch_output_size`: the size the image is resized to inside the target, aspect kept.
    static func fittedSize(height: Int, width: Int, target: (height: Int, width: Int)) -> (height: Int, width: Int) {
        let sw = Double(target.width) / Double(width), sh = Double(target.height) / Double(height)
        if sw < sh {
            return (min(Int((Double(height) * sw).rounded(.up)), target.height), target.width)
        }
        return (target.height, min(Int((Double(width) * sh).rounded(.up)), target.width))
    }

    /// Python's `int(round(x, 7))` for the non-negative sizes here.
    private static func round7(_ x: Double) -> Int { Int(((x * 1e7).rounded(.toNearestOrEven) / 1e7)) }

    /// The packed feature grid of one image: the tile grid in features, the rows/columns kept by
    /// `unpad_image`, and the size after the `anyres_max_N` downscale.
    struct Layout: Equatable {
        var tileRows: Int, tileCols: Int
        var top: Int, left: Int, rows: Int, cols: Int           // unpadded window of the full feature grid
        var outRows: Int, outCols: Int                          // after interpolation (== rows/cols if none)
        /// Base tile features + the grid with one newline per row.
        func tokenCount(base: Int) -> Int { base + outRows * (outCols + 1) }
    }

    static func layout(originalHeight oh: Int, originalWidth ow: Int, best: (height: Int, width: Int),
                       tileSize: Int, side: Int, maxPatchTiles: Int) -> Layout {
        let tr = best.height / tileSize, tc = best.width / tileSize
        let ch = tr * side, cw = tc * side
        var top = 0, left = 0, rows = ch, cols = cw
        // `unpad_image`: compare aspect ratios, drop the centred padding of the longer side.
        if Double(ow) / Double(oh) > Double(cw) / Double(ch) {
            let newH = round7(Double(oh) * (Double(cw) / Double(ow)))
            let pad = (ch - newH) / 2
            top = pad; rows = ch - 2 * pad
        } else {
            let newW = round7(Double(ow) * (Double(ch) / Double(oh)))
            let pad = (cw - newW) / 2
            left = pad; cols = cw - 2 * pad
        }
        var outRows = rows, outCols = cols
        let ratio = (Double(rows * cols) / Double(maxPatchTiles * side * side)).squareRoot()
        if ratio > 1.1 {
            // `int(curr_height // ratio)`: Python floor division of an int by a float.
            outRows = Int((Double(rows) / ratio).rounded(.down))
            outCols = Int((Double(cols) / ratio).rounded(.down))
        }
        return Layout(tileRows: tr, tileCols: tc, top: top, left: left, rows: rows, cols: cols,
                      outRows: outRows, outCols: outCols)
    }

    /// `nn.functional.interpolate(mode="bilinear", align_corners=False)` (no antialias) of a
    /// `[rows, cols, channels]` grid to `[outRows, outCols, channels]`, with torch's float index math.
    static func bilinear(_ x: [Float], rows: Int, cols: Int, channels c: Int, outRows: Int, outCols: Int) -> [Float] {
        func taps(_ inSize: Int, _ outSize: Int) -> [(Int, Int, Float, Float)] {
            let scale = Float(inSize) / Float(outSize)
            return (0..<outSize).map { d in
                let src = max(scale * (Float(d) + 0.5) - 0.5, 0)
                let i0 = Int(src)
                let i1 = i0 < inSize - 1 ? i0 + 1 : i0
                let l1 = src - Float(i0)
                return (i0, i1, 1 - l1, l1)
            }
        }
        let ty = taps(rows, outRows), tx = taps(cols, outCols)
        var out = [Float](repeating: 0, count: outRows * outCols * c)
        for (oy, (y0, y1, wy0, wy1)) in ty.enumerated() {
            for (ox, (x0, x1, wx0, wx1)) in tx.enumerated() {
                let a = (y0 * cols + x0) * c, b = (y0 * cols + x1) * c
                let d = (y1 * cols + x0) * c, e = (y1 * cols + x1) * c
                let o = (oy * outCols + ox) * c
                for k in 0..<c {
                    out[o + k] = wy0 * (wx0 * x[a + k] + wx1 * x[b + k]) + wy1 * (wx0 * x[d + k] + wx1 * x[e + k])
                }
            }
        }
        return out
    }
}

// MARK: - Model

/// `PreparedImage.grid` of this family: `[tiles, bestHeight, bestWidth, originalHeight, originalWidth]`;
/// best = 0 x 0 for an image of a multi-image prompt (one padded-square tile, no AnyRes).
final class LlavaOneVisionPipeline: VisionLanguage, @unchecked Sendable {
    let tower: SigLIPTower
    let projector: LlavaProjector
    let newline: TensorView                 // [text hidden]
    let model: LlavaOneVisionConfig
    let processor: LlavaOneVisionProcessorConfig
    let textHidden: Int
    let imagePlaceholder = "<image>"
    var imageTokenID: Int { model.imageTokenID }
    /// Patches per tile side (27 for SigLIP-so400m at 384).
    var side: Int { tower.config.patchesPerSide }

    init(tower: SigLIPTower, projector: LlavaProjector, newline: TensorView, model: LlavaOneVisionConfig,
         processor: LlavaOneVisionProcessorConfig, textHidden: Int) {
        self.tower = tower
        self.projector = projector
        self.newline = newline
        self.model = model
        self.processor = processor
        self.textHidden = textHidden
    }

    /// What happens to an image of this size: the AnyRes resolution and feature layout, or nil for the
    /// multi-image path (transformers' `batch_num_images > 1`: no tiling, base features + one newline).
    private func plan(width: Int, height: Int, settings: ImageSettings) throws -> (best: (height: Int, width: Int), layout: AnyRes.Layout)? {
        guard width > 0, height > 0 else { throw ModelError.invalidConfigValue(path: "image", key: "size", reason: "empty image") }
        if (settings.imagesInPrompt ?? 1) > 1 { return nil }
        let t = processor.tileSize
        var pinpoints = processor.pinpoints
        if let maxTiles = settings.maxTiles {
            // The budget knob: AnyRes only chooses among resolutions of at most `maxTiles` tiles.
            pinpoints = pinpoints.filter { ($0.height / t) * ($0.width / t) <= maxTiles }
            guard !pinpoints.isEmpty else {
                throw ModelError.invalidConfigValue(path: "settings", key: "max-tiles",
                    reason: "\(maxTiles) allows none of the checkpoint's grid resolutions (smallest: \(processor.pinpoints.map { ($0.height / t) * ($0.width / t) }.min() ?? 0) tiles)")
            }
        }
        guard let best = AnyRes.bestResolution(height: height, width: width, pinpoints: pinpoints) else {
            throw ModelError.invalidConfigValue(path: "image", key: "size", reason: "no grid resolution fits \(width)x\(height)")
        }
        let layout = AnyRes.layout(originalHeight: height, originalWidth: width, best: best, tileSize: t,
                                   side: side, maxPatchTiles: model.maxPatchTiles)
        return (best, layout)
    }

    func tokenCount(width: Int, height: Int, settings: ImageSettings) throws -> Int {
        guard let (_, layout) = try plan(width: width, height: height, settings: settings) else { return side * side + 1 }
        return layout.tokenCount(base: side * side)
    }

    func prepare(rgb: [UInt8], width: Int, height: Int, settings: ImageSettings) throws -> PreparedImage {
        let image = try RGBImage(width: width, height: height, checking: rgb)
        let t = processor.tileSize, f = processor.filter
        var tiles: [RGBImage] = []
        let grid: [Int], tokens: Int, mode: String
        var resizedTo = (width: t, height: t)
        if let (best, layout) = try plan(width: width, height: height, settings: settings) {
            // `get_image_patches`: fit inside the best resolution, pad centred with black, cut tiles
            // row-major; the whole image squashed to one tile goes first.
            let fitted = AnyRes.fittedSize(height: height, width: width, target: best)
            let resized = Resampler.resize(image, width: fitted.width, height: fitted.height, filter: f)
            let padded = try resized.padded(toWidth: best.width, height: best.height, centred: true)
            tiles.append(Resampler.resize(image, width: t, height: t, filter: f))
            for y in stride(from: 0, to: best.height, by: t) {
                for x in stride(from: 0, to: best.width, by: t) {
                    tiles.append(try padded.cropped(x: x, y: y, width: t, height: t))
                }
            }
            grid = [tiles.count, best.height, best.width, height, width]
            resizedTo = (fitted.width, fitted.height)
            tokens = layout.tokenCount(base: side * side)
            mode = "anyres\(best.height)x\(best.width)"
        } else {
            // `pad_to_square` with the mean colour (`int(m * 255)`), then squashed to one tile.
            let fill = processor.mean.map { UInt8(clamping: Int($0 * 255)) }
            let s = max(width, height)
            let square = try image.padded(toWidth: s, height: s, centred: true, fill: (fill[0], fill[1], fill[2]))
            tiles.append(Resampler.resize(square, width: t, height: t, filter: f))
            grid = [1, 0, 0, height, width]
            tokens = side * side + 1
            mode = "multi"
        }
        var pixels: [Float] = []
        pixels.reserveCapacity(tiles.count * 3 * t * t)
        for tile in tiles { pixels += processor.normalizer.apply(tile, layout: .channelsFirst) }   // [tiles, 3, t, t]
        let key = "llava-ov:\(mode):\(t):\(ImageHash.fnv1a(rgb, width: width, height: height))"
        return PreparedImage(pixels: pixels, grid: grid, tokenCount: tokens, key: key, resized: resizedTo)
    }

    func encode(_ image: PreparedImage) throws -> [Float] {
        let t = processor.tileSize, n = side * side, th = textHidden
        let tileCount = image.grid.first ?? 0
        guard image.grid.count == 5, tileCount >= 1, image.pixels.count == tileCount * 3 * t * t else {
            throw ModelError.invalidConfigValue(path: "image", key: "pixels", reason: "prepared image does not match its tiles")
        }
        // Every tile through the tower and the projector: [tiles][n, text hidden].
        var tileFeatures: [[Float]] = []
        image.pixels.withUnsafeBufferPointer { px in
            for i in 0..<tileCount {
                let hidden = tower.encode(tile: px.baseAddress! + i * 3 * t * t, height: t, width: t,
                                          layers: model.featureStateIndex, applyPostNorm: false)
                tileFeatures.append(projector(hidden, rows: n))
            }
        }
        var newlineRow = [Float](repeating: 0, count: th)
        newlineRow.withUnsafeMutableBufferPointer { Kernels.convertRow(newline, row: 0, into: $0.baseAddress!) }
        var out = tileFeatures[0]
        let (bestH, bestW, oh, ow) = (image.grid[1], image.grid[2], image.grid[3], image.grid[4])
        guard bestH > 0 else { return out + newlineRow }                    // multi-image: base + newline
        let layout = AnyRes.layout(originalHeight: oh, originalWidth: ow, best: (bestH, bestW), tileSize: t,
                                   side: side, maxPatchTiles: model.maxPatchTiles)
        guard tileCount == 1 + layout.tileRows * layout.tileCols else {
            throw ModelError.invalidConfigValue(path: "image", key: "tiles", reason: "\(tileCount) tiles for a \(layout.tileRows)x\(layout.tileCols) grid")
        }
        // The unpadded window of the full grid: feature (Y, X) is patch (Y % side, X % side) of tile
        // (Y / side, X / side), as `view(rows, cols, side, side, -1).permute(4, 0, 2, 1, 3)` arranges it.
        var grid = [Float](repeating: 0, count: layout.rows * layout.cols * th)     // [rows, cols, th]
        for r in 0..<layout.rows {
            let y = layout.top + r
            for c in 0..<layout.cols {
                let x = layout.left + c
                let tile = 1 + (y / side) * layout.tileCols + x / side
                let src = ((y % side) * side + x % side) * th
                let dst = (r * layout.cols + c) * th
                for k in 0..<th { grid[dst + k] = tileFeatures[tile][src + k] }
            }
        }
        if layout.outRows != layout.rows || layout.outCols != layout.cols {
            grid = AnyRes.bilinear(grid, rows: layout.rows, cols: layout.cols, channels: th,
                                   outRows: layout.outRows, outCols: layout.outCols)
        }
        out.reserveCapacity(layout.tokenCount(base: n) * th)
        for r in 0..<layout.outRows {
            out += grid[(r * layout.outCols * th)..<((r + 1) * layout.outCols * th)]
            out += newlineRow
        }
        return out
    }

    func expandPlaceholders(in text: String, images: [PreparedImage]) throws -> String {
        try VisionPrompt.repeatPlaceholders(in: text, placeholder: imagePlaceholder, counts: images.map(\.tokenCount))
    }

    /// Plain 1-D positions: image rows count like text.
    func positions(for ids: [Int], images: [PreparedImage]) throws -> (PositionIDs, delta: Int) {
        (.sequential(start: 0), 0)
    }
}
