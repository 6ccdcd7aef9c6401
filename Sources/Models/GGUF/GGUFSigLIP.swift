import Foundation
import ModelFormats
import TensorCore

/// The SigLIP tower of an mmproj file (`v.*`, written for MiniCPM-V's `resampler` and SmolVLM / Idefics3's
/// `idefics3` projectors), renamed to transformers' SigLIP names so `SigLIPTower` loads it unchanged.
enum GGUFSigLIP {
    /// The tower's size as `clip.vision.*` gives it.
    struct Shape {
        var embed, heads, depth, ffn, patch, imageSize: Int
    }

    static func shape(_ mp: GGUFMmproj) throws -> Shape {
        let m = mp.meta
        let s = Shape(embed: try m.positiveInt("clip.vision.embedding_length"),
                      heads: try m.positiveInt("clip.vision.attention.head_count"),
                      depth: try m.positiveInt("clip.vision.block_count"),
                      ffn: try m.positiveInt("clip.vision.feed_forward_length"),
                      patch: try m.positiveInt("clip.vision.patch_size"),
                      imageSize: try m.positiveInt("clip.vision.image_size"))
        guard s.embed % s.heads == 0 else {
            throw ModelError.invalidConfigValue(path: mp.url.path, key: "clip.vision.attention.head_count",
                reason: "\(s.heads) heads do not divide the embedding length \(s.embed)")
        }
        return s
    }

    /// The `SigLIPTower` over the file's `v.*` tensors with ggml's arithmetic; `imageSize` sets the
    /// position table's side (`imageSize / patch`).
    static func tower(_ mp: GGUFMmproj, _ s: Shape, imageSize: Int) throws -> SigLIPTower {
        var config = SigLIPConfig(hidden: s.embed, intermediate: s.ffn, layers: s.depth, heads: s.heads, patchSize: s.patch,
                                  imageSize: imageSize, channels: 3, eps: try mp.normEps(), activation: try mp.activation())
        config.ggml = true
        let renamed = try hubNames(tensor: mp.tensor, embed: s.embed, ffn: s.ffn, depth: s.depth, patch: s.patch, path: mp.url.path)
        return try SigLIPTower(config: config, weights: WeightStore(tensors: renamed, directory: mp.url), prefix: "",
                               layerCount: s.depth, postNorm: mp.store.contains("v.post_ln.weight"))
    }

    /// llama.cpp's names -> transformers' SigLIP names. MiniCPM-V's legacy converter names fc1 `ffn_down`
    /// and fc2 `ffn_up` (convert_hf_to_gguf.py writes them the right way round); clip.cpp recognises the
    /// swap by shape, and so is it done here (fc1 is [ffn, embed]).
    static func hubNames(tensor: (String) throws -> TensorView, embed e: Int, ffn f: Int, depth: Int,
                         patch: Int, path: String) throws -> [TensorView] {
        func alias(_ t: TensorView, _ name: String, shape: [Int]? = nil) -> TensorView {
            TensorView(name: name, dtype: t.dtype, shape: shape ?? t.shape, data: t.data, owner: t.owner)
        }
        var out: [TensorView] = []
        let conv = try tensor("v.patch_embd.weight")
        guard conv.count == e * 3 * patch * patch else {
            throw ModelFormatError.invalidTensorEntry(path: path, tensor: "v.patch_embd.weight",
                reason: "shape \(conv.shape) does not match \(e) x 3 x \(patch)²")
        }
        out.append(alias(conv, "embeddings.patch_embedding.weight", shape: [e, 3, patch, patch]))
        out.append(alias(try tensor("v.patch_embd.bias"), "embeddings.patch_embedding.bias"))
        out.append(alias(try tensor("v.position_embd.weight"), "embeddings.position_embedding.weight"))
        for i in 0..<depth {
            let g = "v.blk.\(i).", h = "encoder.layers.\(i)."
            for s in ["weight", "bias"] {
                for (a, b) in [("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
                               ("attn_out", "self_attn.out_proj"), ("ln1", "layer_norm1"), ("ln2", "layer_norm2")] {
                    out.append(alias(try tensor(g + a + "." + s), h + b + "." + s))
                }
            }
            let up = try tensor(g + "ffn_up.weight"), down = try tensor(g + "ffn_down.weight")
            let swapped = down.shape == [f, e] && up.shape == [e, f]
            guard swapped || (up.shape == [f, e] && down.shape == [e, f]) else {
                throw ModelFormatError.invalidTensorEntry(path: path, tensor: g + "ffn_up.weight",
                    reason: "ffn_up \(up.shape) / ffn_down \(down.shape) do not fit embed \(e) and ffn \(f)")
            }
            let (fc1, fc2) = swapped ? ("ffn_down", "ffn_up") : ("ffn_up", "ffn_down")
            for s in ["weight", "bias"] {
                out.append(alias(try tensor(g + fc1 + "." + s), h + "mlp.fc1." + s))
                out.append(alias(try tensor(g + fc2 + "." + s), h + "mlp.fc2." + s))
            }
        }
        for s in ["weight", "bias"] {
            let name = "v.post_ln." + s
            if let t = try? tensor(name) { out.append(alias(t, "post_layernorm." + s)) }
        }
        return out
    }
}
