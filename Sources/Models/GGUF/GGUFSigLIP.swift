import Foundation
import ModelFormats
import TensorCore

/// The SigLIP tower of an mmproj file (`v.*`, written for MiniCPM-V's `resampler` and SmolVLM / Idefics3's
/// `idefics3` projectors), renamed to transformers' SigLIP names so `SigLIPTower` loads it unchanged.
enum GGUFSigLIP {
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
