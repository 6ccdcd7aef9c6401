import Foundation
import ImageProcessing
import ModelFormats
import TensorCore
import Tokenizers

/// SmolVLM / Idefics3's mmproj file (projector `idefics3`, written by convert_hf_to_gguf.py --mmproj): the
/// SigLIP tower (`v.*`), the pixel shuffle by `clip.vision.projector.scale_factor` and the bias-free
/// connector `mm.model.fc.weight`, run by the hub checkpoints' `SmolVLMPipeline` with llama.cpp's tiling
/// (`SmolVLMProcessorConfig.Flavor.llamaCpp`) and arithmetic (`SigLIPConfig.ggml`).
enum GGUFSmolVLM {
    static func load(mmproj url: URL, textHidden: Int, tokenizer: Tokenizer, textPath: String) throws -> SmolVLMPipeline {
        let mp = try GGUFMmproj(url)
        let m = mp.meta, tensor = mp.tensor
        let siglip = try GGUFSigLIP.shape(mp)
        let (embed, patch, tile) = (siglip.embed, siglip.patch, siglip.imageSize)
        // SmolVLM-Instruct's 384 px tiles hold 27 patches of 14: the conv's stride drops the last 6 px, in
        // clip.cpp as in transformers, and so does the tower here (floor).
        guard tile >= patch else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.image_size",
                reason: "\(tile) is smaller than the patch size \(patch)")
        }
        // clip.cpp leaves n_merge at 1 without the key and its pixel shuffle then asserts: required here.
        guard let scale = try m.optionalInt("clip.vision.projector.scale_factor") else {
            throw ModelError.missingConfigKey(path: url.path, key: "clip.vision.projector.scale_factor")
        }
        let side = tile / patch
        guard scale > 1, side % scale == 0 else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.projector.scale_factor",
                reason: "\(scale) must be above 1 and divide the \(side) patches per tile side")
        }
        // Files from converters before the key go down another llama.cpp path (min/max pixels); not read.
        guard let longest = try m.optionalInt("clip.vision.preproc_image_size") else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.preproc_image_size",
                reason: "missing: an mmproj from an older converter; convert it again with convert_hf_to_gguf.py --mmproj")
        }
        guard longest >= tile else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.preproc_image_size",
                reason: "\(longest) is smaller than one tile (\(tile))")
        }
        let out = try m.positiveInt("clip.vision.projection_dim")
        guard out == textHidden else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.projection_dim",
                reason: "\(out) does not match the text model's embedding length \(textHidden) (\(textPath)): mmproj of another model?")
        }
        let proj = try tensor("mm.model.fc.weight")
        guard proj.shape == [textHidden, embed * scale * scale] else {
            throw ModelFormatError.invalidTensorEntry(path: url.path, tensor: "mm.model.fc.weight",
                reason: "shape \(proj.shape), expected [\(textHidden), \(embed * scale * scale)]")
        }

        let tower = try GGUFSigLIP.tower(mp, siglip, imageSize: tile)
        let (mean, std) = try mp.normalization()
        let layoutTokens = ["<image>", "<fake_token_around_image>", "<global-img>", "<row_1_col_1>"]
        guard let imageToken = tokenizer.id(forToken: "<image>"),
              layoutTokens.allSatisfy({ tokenizer.id(forToken: $0) != nil }) else {
            throw ModelError.invalidConfigValue(path: textPath, key: "tokenizer.ggml.tokens",
                reason: "no \(layoutTokens.joined(separator: ", ")) tokens: not a SmolVLM / Idefics3 text model")
        }
        let processor = SmolVLMProcessorConfig(
            longestEdge: longest, tileSize: tile, splitImages: true, filter: .lanczos,
            normalizer: try Normalizer(rescaleFactor: 1.0 / 255.0, mean: mean.map(Double.init), std: std.map(Double.init)),
            imageSeqLen: (side / scale) * (side / scale), flavor: .llamaCpp(mean: mean, std: std))
        let pipeline = SmolVLMPipeline(tower: tower, projection: proj, scale: scale, processor: processor, imageTokenID: imageToken)
        pipeline.roundPixelsToF16 = try tensor("v.patch_embd.weight").dtype == .f16
        return pipeline
    }
}
