import Foundation
import ModelFormats
import TensorCore
import Tokenizers

/// The vision half of a vision-language model from llama.cpp's `mmproj` GGUF file (general.architecture
/// `clip`, written by `convert_hf_to_gguf.py --mmproj`), run by the same tower as the hub checkpoints.
///
/// Supported projectors: `qwen2vl_merger` (Qwen2-VL) and `qwen2.5vl_merger` (Qwen2.5-VL) here, `resampler`
/// (MiniCPM-V) in `GGUFMiniCPMV`, `idefics3` (SmolVLM / Idefics3) in `GGUFSmolVLM`. llama.cpp's tensor
/// names (tools/mtmd/clip-impl.h) are mapped onto transformers' names, so `Qwen2VisionTower` loads them
/// unchanged; preprocessing and activations follow llama.cpp (clip.cpp, mtmd-image.cpp), its reference.
enum GGUFVision {
    static let projectors = ["qwen2vl_merger", "qwen2.5vl_merger", "resampler", "idefics3"]
    /// The text architectures each projector goes with (MiniCPM-V 2.6's language model is Qwen2, 2.5's
    /// Llama 3; SmolVLM's and Idefics3's are Llama).
    static func textArchitectures(for projector: String) -> [String] {
        switch projector {
        case "resampler": return ["qwen2", "llama"]
        case "idefics3": return ["llama"]
        default: return ["qwen2vl"]
        }
    }
    /// llama.cpp's image token budget for Qwen2-VL / 2.5 (clip.cpp `set_limit_image_tokens(8, 4096)`); the
    /// checkpoint's min/max_pixels are not in the mmproj file and llama.cpp does not read them.
    static let minTokens = 8, maxTokens = 4096

    /// Checks that `url` is an mmproj file and returns its projector type.
    static func projectorType(_ file: GGUFFile) throws -> String {
        let m = GGUFMetadata(file)
        let arch = try m.optionalString("general.architecture") ?? "(none)"
        guard arch == "clip" else {
            throw ModelError.invalidConfigValue(path: file.path, key: "general.architecture",
                reason: "'\(arch)' is not a llama.cpp mmproj file (expected 'clip')")
        }
        let type = try m.optionalString("clip.vision.projector_type") ?? m.optionalString("clip.projector_type")
        guard let type else { throw ModelError.missingConfigKey(path: file.path, key: "clip.projector_type") }
        guard projectors.contains(type) else {
            throw ModelError.invalidConfigValue(path: file.path, key: "clip.projector_type",
                reason: "projector '\(type)' is not supported (supported: \(projectors.joined(separator: ", ")))")
        }
        return type
    }

    /// The Qwen2-VL pipeline over an mmproj file, for a text model of `textHidden` width whose vocabulary
    /// holds `<|image_pad|>`.
    static func load(mmproj url: URL, textHidden: Int, tokenizer: Tokenizer, textPath: String) throws -> Qwen2VLPipeline {
        let mp = try GGUFMmproj(url)
        let m = mp.meta, store = mp.store, tensor = mp.tensor
        let isV25 = mp.projector == "qwen2.5vl_merger"
        let depth = try m.positiveInt("clip.vision.block_count")
        let embed = try m.positiveInt("clip.vision.embedding_length")
        let heads = try m.positiveInt("clip.vision.attention.head_count")
        guard embed % heads == 0, (embed / heads) % 4 == 0 else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.attention.head_count",
                reason: "head size \(embed)/\(heads) must be a multiple of 4")
        }
        let out = try m.positiveInt("clip.vision.projection_dim")
        guard out == textHidden else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.projection_dim",
                reason: "\(out) does not match the text model's embedding length \(textHidden) (\(textPath)): mmproj of another model?")
        }
        // Qwen2-VL's converter writes the merger's width as feed_forward_length; the MLP's own width is
        // read from its weight, as clip.cpp does.
        let mlp = try tensor("v.blk.0.ffn_up.weight").shape.first ?? 0
        let act = try mp.activation()
        var full = Set<Int>()
        var window = 112
        if isV25 {
            // clip.cpp: block il attends over the whole image when (il + 1) % n_wa_pattern == 0; windows are
            // clip.vision.window_size pixels, 112 when absent (the converter does not write it).
            let pattern = try m.positiveInt("clip.vision.n_wa_pattern")
            full = Set((0..<depth).filter { ($0 + 1) % pattern == 0 })
            window = try m.optionalInt("clip.vision.window_size") ?? 112
        }
        let merge = try m.optionalInt("clip.vision.spatial_merge_size") ?? 2
        let patch = try m.positiveInt("clip.vision.patch_size")
        guard merge == 2 else {
            throw ModelError.invalidConfigValue(path: url.path, key: "clip.vision.spatial_merge_size", reason: "\(merge) is not supported (2)")
        }
        var config = Qwen2VisionConfig(
            isV25: isV25, depth: depth, embedDim: embed, heads: heads, mlpHidden: mlp, outHidden: out,
            patchSize: patch, mergeSize: merge, temporalPatchSize: 2, inChannels: 3, activation: act,
            ropeTheta: 10000, windowSize: window, fullAttentionBlocks: full)
        config.normEps = try mp.normEps()
        config.ggmlActivations = true

        let renamed = try hubNames(config: config, tensor: tensor, has: store.contains, path: url.path)
        let tower = try Qwen2VisionTower(config: config, weights: WeightStore(tensors: renamed, directory: url), prefix: "visual.")

        let (mean, std) = try mp.normalization()
        let unit = (patch * merge) * (patch * merge)
        let processor = Qwen2VLProcessorConfig(
            minPixels: minTokens * unit, maxPixels: maxTokens * unit, patchSize: patch, mergeSize: merge,
            temporalPatchSize: 2, mean: mean, std: std,
            rescaleFactor: 1.0 / 255.0, doRescale: true, doNormalize: true, flavor: .llamaCpp)
        guard let imageToken = tokenizer.id(forToken: "<|image_pad|>") else {
            throw ModelError.invalidConfigValue(path: textPath, key: "tokenizer.ggml.tokens",
                reason: "no <|image_pad|> token: not a Qwen2-VL text model")
        }
        return Qwen2VLPipeline(tower: tower, processor: processor, imageTokenID: imageToken)
    }

    /// llama.cpp's names -> transformers' (under `visual.`). q/k/v are stacked back into one qkv matrix
    /// (row-wise, so the stored bytes concatenate, quantized blocks included); the two Conv2d halves of the
    /// patch embedding (`v.patch_embd.weight` and `.weight.1`, the converter's split of the Conv3d over its
    /// 2 temporal taps) are interleaved back into the Conv3d kernel `[embed, C, T, P, P]`.
    private static func hubNames(config c: Qwen2VisionConfig, tensor: (String) throws -> TensorView,
                                 has: (String) -> Bool, path: String) throws -> [TensorView] {
        func alias(_ t: TensorView, _ name: String) -> TensorView {
            TensorView(name: name, dtype: t.dtype, shape: t.shape, data: t.data, owner: t.owner)
        }
        var out: [TensorView] = []
        let p0 = try tensor("v.patch_embd.weight"), p1 = try tensor("v.patch_embd.weight.1")
        let e = c.embedDim, plane = c.inChannels * c.patchSize * c.patchSize, taps = c.patchSize * c.patchSize
        guard p0.count == e * plane, p1.count == e * plane else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: "v.patch_embd.weight",
                reason: "shape \(p0.shape) / \(p1.shape) does not match \(e) x \(c.inChannels) x \(c.patchSize)²")
        }
        let f0 = p0.toFloats(), f1 = p1.toFloats()
        var conv = [Float](repeating: 0, count: 2 * e * plane)
        for o in 0..<e {
            for ch in 0..<c.inChannels {
                let src = (o * c.inChannels + ch) * taps, dst = ((o * c.inChannels + ch) * 2) * taps
                for i in 0..<taps {
                    conv[dst + i] = f0[src + i]
                    conv[dst + taps + i] = f1[src + i]
                }
            }
        }
        // ggml_conv_2d runs im2col into F16 and its mul_mat then rounds the kernel to F16 as well (the
        // vec_dot type of an F16 operand): llama.cpp's patch embedding is an f16 x f16 product summed in
        // f32, whatever the file stores. The kernel is kept in F16 for that; the pixels are rounded by
        // the processor (`Qwen2VLProcessorConfig.Flavor.llamaCpp`).
        out.append(OwnedBuffer.tensor(name: "visual.patch_embed.proj.weight",
                                      shape: [e, c.inChannels, 2, c.patchSize, c.patchSize], values: conv, dtype: .f16))
        for i in 0..<c.depth {
            let g = "v.blk.\(i).", h = "visual.blocks.\(i)."
            for suffix in ["weight", "bias"] {
                let parts = try ["attn_q", "attn_k", "attn_v"].map { try tensor(g + $0 + "." + suffix) }
                guard Set(parts.map(\.dtype)).count == 1, Set(parts.map(\.shape)).count == 1 else {
                    throw ModelFormatError.invalidTensorEntry(path: path, tensor: g + "attn_q." + suffix,
                        reason: "q, k and v differ in type or shape (\(parts.map(\.dtype)), \(parts.map(\.shape)))")
                }
                var bytes = [UInt8]()
                bytes.reserveCapacity(3 * parts[0].byteCount)
                for t in parts { bytes += UnsafeRawBufferPointer(start: t.data, count: t.byteCount) }
                var shape = parts[0].shape
                shape[0] *= 3
                out.append(OwnedBuffer.tensor(name: h + "attn.qkv." + suffix, shape: shape, dtype: parts[0].dtype, bytes: bytes))
                out.append(alias(try tensor(g + "attn_out." + suffix), h + "attn.proj." + suffix))
                // LayerNorm (Qwen2-VL) has biases, RMSNorm (Qwen2.5-VL) none.
                if suffix == "weight" || !c.isV25 {
                    out.append(alias(try tensor(g + "ln1." + suffix), h + "norm1." + suffix))
                    out.append(alias(try tensor(g + "ln2." + suffix), h + "norm2." + suffix))
                }
                if !c.isV25 {
                    out.append(alias(try tensor(g + "ffn_up." + suffix), h + "mlp.fc1." + suffix))
                    out.append(alias(try tensor(g + "ffn_down." + suffix), h + "mlp.fc2." + suffix))
                } else {
                    // Qwen2.5-VL's MLP biases are optional in the tower, as in transformers' config.
                    for (gg, hh) in [("ffn_gate.", "mlp.gate_proj."), ("ffn_up.", "mlp.up_proj."), ("ffn_down.", "mlp.down_proj.")]
                    where suffix == "weight" || has(g + gg + suffix) {
                        out.append(alias(try tensor(g + gg + suffix), h + hh + suffix))
                    }
                }
            }
        }
        out.append(alias(try tensor("v.post_ln.weight"), "visual.merger.ln_q.weight"))
        if !c.isV25 { out.append(alias(try tensor("v.post_ln.bias"), "visual.merger.ln_q.bias")) }
        for (g, h) in [("mm.0.", "visual.merger.mlp.0."), ("mm.2.", "visual.merger.mlp.2.")] {
            for suffix in ["weight", "bias"] { out.append(alias(try tensor(g + suffix), h + suffix)) }
        }
        return out
    }
}
