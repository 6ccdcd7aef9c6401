import Foundation
import ModelFormats
import TensorCore

// LLaVA-OneVision: a SigLIP tower over AnyRes tiles (the whole image as a base tile plus a grid of tiles of
// the best-fitting resolution), a 2-layer GELU projector, the tile features re-assembled into one grid,
// unpadded, downscaled past `anyres_max_N`, with `image_newline` closing every row; Qwen2 text.
// Mirrors transformers' models/llava_onevision (v5.24): modeling `get_image_features` / `pack_image_features`,
// processing `_get_number_of_features`, image_processing_pil `get_image_patches`.

// MARK: - Configuration

enum LlavaOneVisionFamily: ModelFamily {
    static let modelTypes = ["llava_onevision"]
    static let displayName = "LLaVA-OneVision"

    static func load(_ ctx: LoadContext) throws -> LoadedWeights {
        let c = ctx.config, w = ctx.weights
        let textJSON = try c.requiredChild("text_config")
        let visionJSON = try c.requiredChild("vision_config")
        let textType = try textJSON.optionalString("model_type") ?? "qwen2"
        let text = try TextConfig.parse(textJSON, modelType: textType, outer: c)
        // Hub (4.x) names, or the 5.x in-memory names if a checkpoint was saved with them.
        let hub = w.contains("language_model.model.embed_tokens.weight")
        let names = hub
            ? DecoderWeightNames(prefix: "language_model.model.", lmHead: "language_model.lm_head.weight")
            : DecoderWeightNames(prefix: "model.language_model.", lmHead: "lm_head.weight")
        let language = try DecoderModel(config: text, weights: w, names: names)
        let root = hub ? "" : "model."

        let vision = try SigLIPConfig.parse(visionJSON)
        let model = try LlavaOneVisionConfig.parse(c, vision: vision)
        // The hub keeps `vision_tower.vision_model.*`; 5.x saves `vision_tower.*` (the SigLIP wrapper dropped).
        let towerPrefix = ["\(root)vision_tower.vision_model.", "\(root)vision_tower."].first {
            w.contains("\($0)embeddings.patch_embedding.weight")
        } ?? "\(root)vision_tower.vision_model."
        // Only the blocks up to the selected hidden state are loaded and run (no post_layernorm: hidden
        // states are taken before it).
        let tower = try SigLIPTower(config: vision, weights: w, prefix: towerPrefix,
                                    layerCount: model.featureStateIndex, postNorm: false)
        let th = text.hiddenSize
        let projIn = vision.hidden
        let p = "\(root)multi_modal_projector."
        let projector = LlavaProjector(
            linear1: try w.tensor("\(p)linear_1.weight", shape: [th, projIn]),
            bias1: model.projectorBias ? try w.tensor("\(p)linear_1.bias", shape: [th]) : nil,
            linear2: try w.tensor("\(p)linear_2.weight", shape: [th, th]),
            bias2: model.projectorBias ? try w.tensor("\(p)linear_2.bias", shape: [th]) : nil,
            activation: model.projectorActivation)
        let newline = try w.tensor("\(root)image_newline", shape: [th])
        let processor = try LlavaOneVisionProcessorConfig.load(directory: ctx.directory, model: model, vision: vision)
        let pipeline = LlavaOneVisionPipeline(tower: tower, projector: projector, newline: newline, model: model,
                                              processor: processor, textHidden: th)
        return LoadedWeights(language: language, vision: pipeline)
    }
}

/// The model-level settings of config.json (outside text_config / vision_config).
struct LlavaOneVisionConfig: Sendable {
    var imageTokenID: Int
    /// Resolutions (height, width) AnyRes may choose from.
    var pinpoints: [(height: Int, width: Int)]
    /// Index into the tower's hidden states (0 = embeddings, k = after block k).
    var featureStateIndex: Int
    /// N of `anyres_max_N`: the unpadded grid is downscaled past sqrt(N) tiles' worth of patches per side.
    var maxPatchTiles: Int
    var projectorActivation: Activation
    var projectorBias: Bool

    static func parse(_ c: JSONConfig, vision: SigLIPConfig) throws -> LlavaOneVisionConfig {
        // Defaults are LlavaOnevisionConfig's, for 4.x configs that leave them out.
        let id = try c.optionalInt("image_token_id") ?? c.optionalInt("image_token_index") ?? 151646
        var pinpoints = try parsePinpoints(c.object["image_grid_pinpoints"], path: c.path)
        if pinpoints.isEmpty {
            pinpoints = (1...6).flatMap { i in (1...6).map { j in (height: 384 * i, width: 384 * j) } }
        }
        // Only one feature layer (an int) is supported; LLaVA-OneVision checkpoints use -1.
        let layer: Int
        if let n = c.object["vision_feature_layer"] as? NSNumber {
            layer = n.intValue
        } else if c.object["vision_feature_layer"] == nil {
            layer = -1
        } else {
            throw ModelError.invalidConfigValue(path: c.path, key: "vision_feature_layer",
                                                reason: "only a single feature layer is supported")
        }
        let strategy = try c.optionalString("vision_feature_select_strategy") ?? "full"
        guard strategy == "full" else {
            // "default" drops a CLS token SigLIP does not have (transformers drops a real patch).
            throw ModelError.invalidConfigValue(path: c.path, key: "vision_feature_select_strategy",
                                                reason: "'\(strategy)' is not supported (SigLIP has no CLS token; expected 'full')")
        }
        let aspect = try c.optionalString("vision_aspect_ratio") ?? "anyres_max_9"
        let actName = try c.optionalString("projector_hidden_act") ?? "gelu"
        guard let act = VisionOps.activation(named: actName) else {
            throw ModelError.invalidConfigValue(path: c.path, key: "projector_hidden_act", reason: "unsupported activation '\(actName)'")
        }
        return LlavaOneVisionConfig(
            imageTokenID: id, pinpoints: pinpoints,
            featureStateIndex: try SigLIPTower.hiddenStateIndex(layer, layers: vision.layers, path: c.path),
            maxPatchTiles: try parseAnyResMax(aspect, path: c.path),
            projectorActivation: act,
            projectorBias: try c.optionalBool("multimodal_projector_bias") ?? true)
    }

    static func parsePinpoints(_ value: Any?, path: String) throws -> [(height: Int, width: Int)] {
        guard let value, !(value is NSNull) else { return [] }
        guard let list = value as? [[NSNumber]], list.allSatisfy({ $0.count == 2 && $0[0].intValue > 0 && $0[1].intValue > 0 }) else {
            throw ModelError.invalidConfigValue(path: path, key: "image_grid_pinpoints", reason: "expected [[height, width], ...]")
        }
        return list.map { ($0[0].intValue, $0[1].intValue) }
    }

    /// `int(vision_aspect_ratio.strip("anyres_max_"))`.
    static func parseAnyResMax(_ s: String, path: String) throws -> Int {
        let digits = s.trimmingCharacters(in: CharacterSet(charactersIn: "anyres_max_"))
        guard let n = Int(digits), n > 0 else {
            throw ModelError.invalidConfigValue(path: path, key: "vision_aspect_ratio", reason: "expected anyres_max_N, found '\(s)'")
        }
        return n
    }
}

// MARK: - Vision

/// linear_1 -> act -> linear_2, per patch.
struct LlavaProjector: @unchecked Sendable {
    let linear1: TensorView, bias1: TensorView?     // [text, vision], [text]
    let linear2: TensorView, bias2: TensorView?     // [text, text], [text]
    let activation: Activation

    /// `[rows, vision] -> [rows, text]`.
    func callAsFunction(_ x: [Float], rows: Int) -> [Float] {
        let th = linear1.rows
        var h = [Float](repeating: 0, count: rows * th)
        var out = h
        x.withUnsafeBufferPointer { xp in h.withUnsafeMutableBufferPointer { hp in
            Ops.linear(linear1, bias1, xp.baseAddress!, hp.baseAddress!, n: rows)
            VisionOps.apply(activation, hp.baseAddress!, count: hp.count)
        } }
        h.withUnsafeBufferPointer { hp in out.withUnsafeMutableBufferPointer { op in
            Ops.linear(linear2, bias2, hp.baseAddress!, op.baseAddress!, n: rows)
        } }
        return out
    }
}
