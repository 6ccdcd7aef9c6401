import Foundation
import ModelFormats
import TensorCore

// SmolVLM and Idefics3: the image resized (LANCZOS) to a longest edge, rounded up to whole tiles, cut into
// rows x cols tiles plus a global tile; each tile through a SigLIP tower (bucketed positions,
// post_layernorm), pixel-shuffled by the scale factor and projected by one bias-free linear layer into a
// Llama text model. The prompt spells the layout with <fake_token_around_image>, <row_r_col_c>, <global-img>.
// Mirrors transformers' models/smolvlm and models/idefics3 (v5.24).

// MARK: - Configuration

enum SmolVLMFamily: ModelFamily {
    static let modelTypes = ["smolvlm", "idefics3"]
    static let displayName = "SmolVLM"

    static func load(_ ctx: LoadContext) throws -> LoadedWeights {
        let c = ctx.config, w = ctx.weights
        let textJSON = try c.requiredChild("text_config")
        let visionJSON = try c.requiredChild("vision_config")
        let textType = try textJSON.optionalString("model_type") ?? "llama"
        let text = try TextConfig.parse(textJSON, modelType: textType, outer: c)
        let language = try DecoderModel(config: text, weights: w,
                                        names: DecoderWeightNames(prefix: "model.text_model.", lmHead: "lm_head.weight"))
        let vision = try SigLIPConfig.parse(visionJSON, defaults: .idefics3)
        let scale = try c.optionalInt("scale_factor") ?? 2
        let side = vision.patchesPerSide
        guard scale > 0, side % scale == 0 else {
            throw ModelError.invalidConfigValue(path: c.path, key: "scale_factor",
                                                reason: "\(scale) does not divide the \(side) patches per tile side")
        }
        // The config classes' default (Idefics3 on Llama 3's vocabulary) when a 4.x config omits it.
        let imageTokenID = try c.optionalInt("image_token_id") ?? textJSON.optionalInt("image_token_id") ?? 128257
        let tower = try SigLIPTower(config: vision, weights: w, prefix: "model.vision_model.",
                                    layerCount: vision.layers, postNorm: true)
        let proj = try w.tensor("model.connector.modality_projection.proj.weight",
                                shape: [text.hiddenSize, vision.hidden * scale * scale])
        let processor = try SmolVLMProcessorConfig.load(directory: ctx.directory, vision: vision, scale: scale)
        let pipeline = SmolVLMPipeline(tower: tower, projection: proj, scale: scale, processor: processor,
                                       imageTokenID: imageTokenID)
        return LoadedWeights(language: language, vision: pipeline)
    }
}

// MARK: - Vision

extension SmolVLMPipeline {
    /// The connector's `pixel_shuffle`: `[side², D] -> [(side/f)², D f²]`, output token (i, j) the
    /// concatenation over a < f (rows), then b < f (columns) of patch (i f + a, j f + b).
    static func pixelShuffle(_ x: [Float], side: Int, dim d: Int, factor f: Int) -> [Float] {
        let s = side / f
        var out = [Float](repeating: 0, count: x.count)
        var o = 0
        for i in 0..<s {
            for j in 0..<s {
                for a in 0..<f {
                    for b in 0..<f {
                        let src = ((i * f + a) * side + (j * f + b)) * d
                        for k in 0..<d { out[o + k] = x[src + k] }
                        o += d
                    }
                }
            }
        }
        return out
    }

    func encode(_ image: PreparedImage) throws -> [Float] {
        let t = processor.tileSize, side = tower.config.patchesPerSide, d = tower.config.hidden
        let tiles = image.grid.first ?? 0
        guard image.grid.count == 3, tiles >= 1, image.pixels.count == tiles * 3 * t * t else {
            throw ModelError.invalidConfigValue(path: "image", key: "pixels", reason: "prepared image does not match its tiles")
        }
        let rowsPerTile = side * side / (scale * scale), th = projection.rows
        var out = [Float](repeating: 0, count: tiles * rowsPerTile * th)     // [tiles * seq, text hidden]
        try image.pixels.withUnsafeBufferPointer { px in
            try out.withUnsafeMutableBufferPointer { op in
                for i in 0..<tiles {
                    // Every tile fills the whole grid: the patch mask is all ones, the bucketed ids fixed.
                    let hidden = tower.encode(tile: px.baseAddress! + i * 3 * t * t, height: t, width: t,
                                              layers: tower.loadedLayers, applyPostNorm: true, positionIDs: positionIDs)
                    var shuffled = Self.pixelShuffle(hidden, side: side, dim: d, factor: scale)
                    // ggml's mul_mat with an F16 matrix (an mmproj file's connector) rounds the input to f16.
                    if tower.config.ggml && projection.dtype == .f16 {
                        shuffled = shuffled.map { Half.f16ToFloat(Half.floatToF16($0)) }
                    }
                    guard shuffled.count == rowsPerTile * d * scale * scale else {
                        throw ModelError.invalidConfigValue(path: "image", key: "tile", reason: "unexpected tower output")
                    }
                    shuffled.withUnsafeBufferPointer { sp in
                        Ops.linear(projection, nil, sp.baseAddress!, op.baseAddress! + i * rowsPerTile * th, n: rowsPerTile)
                    }
                }
            }
        }
        return out
    }
}
