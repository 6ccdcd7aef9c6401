import Foundation

/// MiniCPM-V's image slicing (LLaVA-UHD) as llama.cpp does it (tools/mtmd/mtmd-image.cpp,
/// `mtmd_image_preprocessor_llava_uhd` without grid pinpoints): an image within the slice size in both
/// sides is one overview stretched to slice x slice; a larger one gets an overview resized to about the
/// slice's area (aspect kept, sides multiples of the patch) plus a grid of slices cut from a refined
/// resize, the grid chosen among splits of about area / slice² pieces by the closest aspect ratio.
///
/// The arithmetic is llama.cpp's: f32 ratios, truncating casts, C's round() (halves away from zero).
struct MiniCPMVSlicing: Sendable, Equatable {
    /// `clip.vision.image_size` (448 in MiniCPM-V 2.6).
    var sliceSize: Int
    /// Sides are multiples of this (`patch_size * n_merge`; MiniCPM-V: 14).
    var patchSize: Int
    /// llama.cpp's `max_slice_nums` (fixed at 9).
    var maxSlices = 9

    struct Size: Equatable, Sendable { var width: Int; var height: Int }
    struct Slice: Equatable, Sendable { var x: Int; var y: Int; var width: Int; var height: Int }

    struct Plan: Equatable, Sendable {
        var overview: Size
        /// The size the image is resized (fit and padded) to before cutting slices; nil: no slices.
        var refined: Size?
        /// Grid columns and rows (0 x 0 without slices).
        var cols: Int
        var rows: Int
        /// Row-major.
        var slices: [Slice]
    }

    func plan(width: Int, height: Int) throws -> Plan {
        guard width > 0, height > 0 else {
            throw ModelError.invalidConfigValue(path: "image", key: "size", reason: "empty image")
        }
        let s = sliceSize
        guard width > s || height > s else {
            return Plan(overview: Size(width: s, height: s), refined: nil, cols: 0, rows: 0, slices: [])
        }
        let overview = bestResize(Size(width: width, height: height), allowUpscale: false)
        // log((float)w / h) and (float)w * h / (s * s) in f32; the grid's error in f64, stored as f32.
        let logRatio = Float(Foundation.log(Double(Float(width) / Float(height))))
        let ratio = Float(width) * Float(height) / Float(s * s)
        let multiple = Int(min(ratio.rounded(.up), Float(maxSlices)))
        let grid = bestGrid(multiple: multiple, logRatio: logRatio)
        let refined = refineSize(Size(width: width, height: height), grid: grid)
        let cellW = refined.width / grid.width, cellH = refined.height / grid.height
        var slices: [Slice] = []
        var y = 0, row = 0
        while y < refined.height && row < grid.height {
            var x = 0, col = 0
            while x < refined.width && col < grid.width {
                slices.append(Slice(x: x, y: y, width: cellW, height: cellH))
                x += cellW
                col += 1
            }
            y += cellH
            row += 1
        }
        return Plan(overview: overview, refined: refined, cols: grid.width, rows: grid.height, slices: slices)
    }

    /// `ensure_divide`: the nearest multiple of `patch` (C round, in f32), at least one patch.
    func ensureDivide(_ length: Int, _ patch: Int) -> Int {
        max(Int((Float(length) / Float(patch)).rounded(.toNearestOrAwayFromZero) * Float(patch)), patch)
    }

    /// `get_best_resize`: scaled to about slice² pixels when larger (or when upscaling is allowed).
    func bestResize(_ size: Size, allowUpscale: Bool) -> Size {
        var w = size.width, h = size.height
        let s = sliceSize
        if w * h > s * s || allowUpscale {
            let r = Float(w) / Float(h)
            h = Int(Float(s) / r.squareRoot())
            w = Int(Float(h) * r)
        }
        return Size(width: ensureDivide(w, patchSize), height: ensureDivide(h, patchSize))
    }

    /// `get_refine_size`: each grid cell resized like a slice (upscaling allowed), times the grid.
    func refineSize(_ size: Size, grid: Size) -> Size {
        let rw = ensureDivide(size.width, grid.width), rh = ensureDivide(size.height, grid.height)
        let cell = bestResize(Size(width: rw / grid.width, height: rh / grid.height), allowUpscale: true)
        return Size(width: cell.width * grid.width, height: cell.height * grid.height)
    }

    /// `get_best_grid`: among the factorisations (cols x rows) of multiple - 1, multiple and multiple + 1
    /// pieces (1 and more than `maxSlices` excluded), the first with the smallest |log ratio difference|.
    func bestGrid(multiple: Int, logRatio: Float) -> Size {
        var candidates: [Size] = []
        for n in [multiple - 1, multiple, multiple + 1] where n != 1 && n <= maxSlices {
            var m = 1
            while m <= n {
                if n % m == 0 { candidates.append(Size(width: m, height: n / m)) }
                m += 1
            }
        }
        var best = Size(width: 1, height: 1)
        var minError = Float.infinity
        for g in candidates {
            let error = Float(abs(Double(logRatio) - Foundation.log(Double(g.width) / Double(g.height))))
            if error < minError {
                best = g
                minError = error
            }
        }
        return best
    }
}
