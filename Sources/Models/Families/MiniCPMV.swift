import Foundation
import ImageProcessing
import TensorCore

/// MiniCPM-V 2.5 / 2.6 (and the later versions that keep the Resampler) as llama.cpp runs them from an
/// mmproj file (projector `resampler`): the image is sliced (`MiniCPMVSlicing`), the overview and each
/// slice go through SigLIP at their own patch grid (positions bucketed into the 70 x 70 table) and the
/// Resampler, each becoming `queries` rows of the language model, laid out with MiniCPM-V's special tokens.
///
/// `PreparedImage.grid` of this family: `[entries, cols, rows, w0, h0, w1, h1, ...]`, the overview first,
/// then the slices row by row; `pixels` holds each entry `[3, h, w]` in turn.
final class MiniCPMVPipeline: VisionLanguage, @unchecked Sendable {
    /// The prompt layout of the slices (mtmd.cpp's `MTMD_SLICE_TMPL_MINICPMV_2_5` / `_2_6`).
    enum Layout: Sendable {
        /// `<image>` overview `</image><slice><image>` slice `</image><image>` slice `</image>\n ... </slice>`.
        case v25
        /// `<image>` overview `</image><slice>` slice `</slice><slice>` slice `</slice>\n ...`.
        case v26
    }

    let tower: SigLIPTower
    let resampler: MiniCPMVResampler
    let slicing: MiniCPMVSlicing
    let layout: Layout
    let mean: [Float], std: [Float]
    /// The patch kernel is F16: ggml's conv_2d then reads the pixels through an F16 im2col.
    let roundPixelsToF16: Bool
    let imageTokenID: Int
    /// What the chat template is given for each image (MiniCPM-V's `chat()` writes this in the content
    /// string), replaced by the image's tokens.
    let imagePlaceholder = "(<image>./</image>)"
    /// The text of one image row in the expanded prompt (its id is `imageTokenID`).
    let rowToken = "<unk>"
    var imagePartText: String? { imagePlaceholder }

    init(tower: SigLIPTower, resampler: MiniCPMVResampler, slicing: MiniCPMVSlicing, layout: Layout,
         mean: [Float], std: [Float], roundPixelsToF16: Bool, imageTokenID: Int) {
        self.tower = tower
        self.resampler = resampler
        self.slicing = slicing
        self.layout = layout
        self.mean = mean
        self.std = std
        self.roundPixelsToF16 = roundPixelsToF16
        self.imageTokenID = imageTokenID
    }

    func tokenCount(width: Int, height: Int, settings: ImageSettings) throws -> Int {
        let plan = try slicing.plan(width: width, height: height)
        return (1 + plan.slices.count) * resampler.queries
    }

    func prepare(rgb: [UInt8], width: Int, height: Int, settings: ImageSettings) throws -> PreparedImage {
        let image = try RGBImage(width: width, height: height, checking: rgb)
        let plan = try slicing.plan(width: width, height: height)
        // llama.cpp: the overview is resized directly (PAD_NONE), the refined image fitted and padded
        // black (PAD_CEIL); both with its Pillow-style bicubic, horizontal pass first.
        var entries = [Resampler.resize(image, width: plan.overview.width, height: plan.overview.height,
                                        filter: .bicubic, passOrder: .horizontalFirst)]
        if let refined = plan.refined {
            let big = SmartResize.llamaCppFit(image, width: refined.width, height: refined.height)
            for s in plan.slices { entries.append(try big.cropped(x: s.x, y: s.y, width: s.width, height: s.height)) }
        }
        // u8 / 255.0f, then (x - mean) / std in f32 (clip_image_f32::normalize).
        var table = [Float](repeating: 0, count: 256 * 3)
        for v in 0..<256 {
            for ch in 0..<3 {
                var x = (Float(v) / 255 - mean[ch]) / std[ch]
                if roundPixelsToF16 { x = Half.f16ToFloat(Half.floatToF16(x)) }
                table[v * 3 + ch] = x
            }
        }
        var pixels: [Float] = []
        pixels.reserveCapacity(entries.reduce(0) { $0 + 3 * $1.width * $1.height })
        var grid = [entries.count, plan.cols, plan.rows]
        for e in entries {
            grid += [e.width, e.height]
            let plane = e.width * e.height
            var chw = [Float](repeating: 0, count: 3 * plane)
            for i in 0..<plane {
                for ch in 0..<3 { chw[ch * plane + i] = table[Int(e.pixels[i * 3 + ch]) * 3 + ch] }
            }
            pixels += chw
        }
        let key = "minicpmv:\(slicing.sliceSize):\(ImageHash.fnv1a(rgb, width: width, height: height))"
        return PreparedImage(pixels: pixels, grid: grid, tokenCount: entries.count * resampler.queries, key: key,
                             resized: (plan.overview.width, plan.overview.height))
    }

    /// The entries' sizes from `grid`, checked against the pixels.
    private func entrySizes(_ image: PreparedImage) throws -> [(width: Int, height: Int)] {
        let g: [Int] = image.grid
        guard g.count >= 3, g[0] >= 1, g.count == 3 + 2 * g[0] else {
            throw ModelError.invalidConfigValue(path: "image", key: "grid", reason: "not prepared by MiniCPM-V")
        }
        var sizes: [(width: Int, height: Int)] = []
        var total = 0
        for i in 0..<g[0] {
            let w: Int = g[3 + 2 * i], h: Int = g[4 + 2 * i]
            sizes.append((width: w, height: h))
            total += 3 * w * h
        }
        guard total == image.pixels.count else {
            throw ModelError.invalidConfigValue(path: "image", key: "pixels", reason: "size does not match the slices")
        }
        return sizes
    }

    func encode(_ image: PreparedImage) throws -> [Float] {
        let p = tower.config.patchSize, side = tower.config.patchesPerSide
        var out: [Float] = []
        out.reserveCapacity(image.tokenCount * resampler.hidden)
        var offset = 0
        try image.pixels.withUnsafeBufferPointer { px in
            for (w, h) in try entrySizes(image) {
                let rows = h / p, cols = w / p
                let features = tower.encode(tile: px.baseAddress! + offset, height: h, width: w,
                                            layers: tower.loadedLayers, applyPostNorm: true,
                                            positionIDs: Self.positionIDs(rows: rows, cols: cols, side: side))
                out += resampler(features, rows: rows, cols: cols)
                offset += 3 * w * h
            }
        }
        return out
    }

    /// clip.cpp's positions for MiniCPM-V: each patch's row and column bucketed into the `side` x `side`
    /// table as floor(side * i / n) (f64), whatever the grid's size.
    static func positionIDs(rows: Int, cols: Int, side: Int) -> [Int] {
        let br = (0..<rows).map { Int((Double(side) * Double($0) / Double(rows)).rounded(.down)) }
        let bc = (0..<cols).map { Int((Double(side) * Double($0) / Double(cols)).rounded(.down)) }
        var ids: [Int] = []
        ids.reserveCapacity(rows * cols)
        for r in br { for c in bc { ids.append(r * side + c) } }
        return ids
    }

    /// The tokens of one image, as mtmd_tokenize lays them out (the overview first).
    func promptString(cols: Int, rows: Int) -> String {
        let run = String(repeating: rowToken, count: resampler.queries)
        var s = "<image>" + run + "</image>"
        guard cols > 0 && rows > 0 else { return s }
        let sliceStart = layout == .v26 ? "<slice>" : "<image>", sliceEnd = layout == .v26 ? "</slice>" : "</image>"
        if layout == .v25 { s += "<slice>" }
        for r in 0..<rows {
            for _ in 0..<cols { s += sliceStart + run + sliceEnd }
            if r != rows - 1 { s += "\n" }
        }
        if layout == .v25 { s += "</slice>" }
        return s
    }

    func expandPlaceholders(in text: String, images: [PreparedImage]) throws -> String {
        let parts = text.components(separatedBy: imagePlaceholder)
        guard parts.count - 1 == images.count else {
            throw ModelError.invalidConfigValue(path: "prompt", key: imagePlaceholder,
                reason: "the prompt has \(parts.count - 1) image placeholders for \(images.count) images")
        }
        var out = parts[0]
        for (i, image) in images.enumerated() {
            _ = try entrySizes(image)
            out += promptString(cols: image.grid[1], rows: image.grid[2]) + parts[i + 1]
        }
        return out
    }

    /// Plain 1-D positions: image rows count like text.
    func positions(for ids: [Int], images: [PreparedImage]) throws -> (PositionIDs, delta: Int) {
        (.sequential(start: 0), 0)
    }
}
