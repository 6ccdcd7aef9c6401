import Foundation
import ModelFormats
import TensorCore
import Tokenizers

/// MiniCPM-V's mmproj file (projector `resampler`, written by llama.cpp's
/// tools/mtmd/legacy-models/minicpmv-convert-image-encoder-to-gguf.py): a SigLIP tower (`v.*`) and the
/// Resampler (`resampler.*`), read as llama.cpp's clip.cpp reads them.
enum GGUFMiniCPMV {
    /// `clip.minicpmv_version` values whose mmproj llama.cpp runs with this graph: 2 = MiniCPM-V 2.5
    /// (the default when absent), 3 = 2.6, 4 = MiniCPM-o 2.6, 5 = MiniCPM-V 4.0, 6 = MiniCPM-o 4.0,
    /// 100045 = MiniCPM-o 4.5. Only 2 uses the 2.5 prompt layout.
    static let versions = [2, 3, 4, 5, 6, 100045]
    /// clip.cpp's bucketed position table is 70 x 70 (SigLIP at 980 px, patch 14).
    static let positionSide = 70

    static func load(mmproj url: URL, textHidden: Int, tokenizer: Tokenizer, textPath: String) throws -> MiniCPMVPipeline {
        let mp = try GGUFMmproj(url)
        let m = mp.meta, tensor = mp.tensor
        func shaped(_ name: String, _ shape: [Int]) throws -> TensorView {
            let t = try tensor(name)
            guard t.shape == shape else {
                throw ModelFormatError.invalidTensorEntry(path: url.path, tensor: name,
                    reason: "shape \(t.shape), expected \(shape)")
            }
            return t
        }
        let versionValue = try m.optionalInt("clip.minicpmv_version") ?? 0
        let version = versionValue == 0 ? 2 : versionValue
        guard versions.contains(version) else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.minicpmv_version",
                reason: "\(version) is not supported (supported: \(versions.map(String.init).joined(separator: ", ")))")
        }
        var queries = try m.optionalInt("clip.minicpmv_query_num") ?? 0
        if queries == 0 { queries = version == 2 ? 96 : 64 }   // clip.cpp's fallbacks for old files
        guard queries > 0 else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.minicpmv_query_num", reason: "must be positive")
        }

        let siglip = try GGUFSigLIP.shape(mp)
        let (embed, patch, sliceSize) = (siglip.embed, siglip.patch, siglip.imageSize)
        guard sliceSize % patch == 0 else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.image_size",
                reason: "\(sliceSize) is not a multiple of the patch size \(patch)")
        }
        let eps = try mp.normEps()

        // The resampler works at the language model's width, in heads of 128.
        let query = try tensor("resampler.query")
        guard query.shape.count == 2, query.shape[0] == queries else {
            throw ModelFormatError.invalidTensorEntry(path: url.path, tensor: "resampler.query",
                reason: "shape \(query.shape), expected [\(queries), hidden] (clip.minicpmv_query_num \(queries))")
        }
        let hidden = query.shape[1]
        guard hidden == textHidden else {
            throw ModelError.invalidConfigValue(path: url.path, key: "resampler.query",
                reason: "width \(hidden) does not match the text model's embedding length \(textHidden) (\(textPath)): mmproj of another model?")
        }
        guard hidden % MiniCPMVResampler.headDim == 0 else {
            throw ModelFormatError.invalidTensorEntry(path: url.path, tensor: "resampler.query",
                reason: "width \(hidden) is not a multiple of the resampler's head size \(MiniCPMVResampler.headDim)")
        }
        func attn(_ n: String, _ s: String, _ shape: [Int]) throws -> TensorView { try shaped("resampler.attn.\(n).\(s)", shape) }
        func ln(_ n: String, _ s: String) throws -> TensorView { try shaped("resampler.ln_\(n).\(s)", [hidden]) }
        let resampler = MiniCPMVResampler(
            query: query, kv: try shaped("resampler.kv.weight", [hidden, embed]),
            q: try attn("q", "weight", [hidden, hidden]), k: try attn("k", "weight", [hidden, hidden]),
            v: try attn("v", "weight", [hidden, hidden]), o: try attn("out", "weight", [hidden, hidden]),
            qBias: try attn("q", "bias", [hidden]), kBias: try attn("k", "bias", [hidden]),
            vBias: try attn("v", "bias", [hidden]), oBias: try attn("out", "bias", [hidden]),
            lnQ: try ln("q", "weight"), lnQBias: try ln("q", "bias"), lnKV: try ln("kv", "weight"),
            lnKVBias: try ln("kv", "bias"), lnPost: try ln("post", "weight"), lnPostBias: try ln("post", "bias"),
            proj: try shaped("resampler.proj.weight", [hidden, hidden]),
            hidden: hidden, queries: queries, eps: eps)

        // clip.cpp's position table is 70 x 70 whatever the slice size: built at 70 patches a side.
        let tower = try GGUFSigLIP.tower(mp, siglip, imageSize: positionSide * patch)
        let (mean, std) = try mp.normalization()
        guard let row = tokenizer.id(forToken: "<unk>"),
              ["<image>", "</image>", "<slice>", "</slice>"].allSatisfy({ tokenizer.id(forToken: $0) != nil }) else {
            throw ModelError.invalidConfigValue(path: textPath, key: "tokenizer.ggml.tokens",
                reason: "no <unk>, <image>, </image>, <slice> or </slice> token: not a MiniCPM-V text model")
        }
        return MiniCPMVPipeline(
            tower: tower, resampler: resampler, slicing: MiniCPMVSlicing(sliceSize: sliceSize, patchSize: patch),
            layout: version == 2 ? .v25 : .v26, mean: mean, std: std,
            roundPixelsToF16: try tensor("v.patch_embd.weight").dtype == .f16, imageTokenID: row)
    }
}
