import Foundation
import ModelFormats
import TensorCore

// The SigLIP vision transformer shared by LLaVA-OneVision (`SiglipVisionModel`) and Idefics3 / SmolVLM
// (`Idefics3VisionTransformer`, the same blocks with bucketed positions for variable grids): a patch
// Conv2d with bias, learned position embeddings, pre-LN blocks (LayerNorm, attention with biases,
// fc1 -> GELU(tanh) -> fc2), an optional post LayerNorm. No CLS token.
// Mirrors transformers' models/siglip/modeling_siglip.py and models/idefics3/modeling_idefics3.py (v5.24).

// MARK: - Configuration

struct SigLIPConfig: Sendable {
    var hidden: Int
    var intermediate: Int
    var layers: Int
    var heads: Int
    var patchSize: Int
    var imageSize: Int
    var channels: Int
    var eps: Float
    var activation: Activation
    /// llama.cpp's arithmetic (towers from an mmproj GGUF): ggml's f16-table GELU, and the input of every
    /// product with an F16 matrix rounded to f16 first, as ggml's CPU mul_mat converts it to the matrix's
    /// vec_dot type.
    var ggml = false

    var headDim: Int { hidden / heads }
    var patchDim: Int { channels * patchSize * patchSize }
    /// Patches per side of a full-size tile (the learned position table is this squared).
    var patchesPerSide: Int { imageSize / patchSize }

    /// Class defaults for keys a config leaves out (4.x configs save only non-default values):
    /// `SiglipVisionConfig` and `Idefics3VisionConfig` / `SmolVLMVisionConfig` differ.
    struct Defaults: Sendable {
        var hidden = 768, heads = 12, imageSize = 224, patchSize = 16
        static let siglip = Defaults()
        static let idefics3 = Defaults(hidden: 1152, heads: 16, imageSize: 224, patchSize: 32)
    }

    static func parse(_ c: JSONConfig, defaults: Defaults = .siglip) throws -> SigLIPConfig {
        let hidden = try c.optionalInt("hidden_size") ?? defaults.hidden
        let heads = try c.optionalInt("num_attention_heads") ?? defaults.heads
        guard hidden > 0, heads > 0, hidden % heads == 0 else {
            throw ModelError.invalidConfigValue(path: c.path, key: "num_attention_heads",
                                                reason: "\(heads) heads do not divide hidden_size \(hidden)")
        }
        let actName = try c.optionalString("hidden_act") ?? "gelu_pytorch_tanh"
        guard let act = VisionOps.activation(named: actName) else {
            throw ModelError.invalidConfigValue(path: c.path, key: "hidden_act", reason: "unsupported activation '\(actName)'")
        }
        let patch = try c.optionalInt("patch_size") ?? defaults.patchSize
        let image = try c.optionalInt("image_size") ?? defaults.imageSize
        // The real checkpoints use 384 px tiles with 14 px patches (siglip-so400m-patch14-384 in
        // LLaVA-OneVision, SmolVLM-Instruct): the stride-14 convolution covers 27 x 27 patches and the
        // last 6 px are never read, so the size need not be a multiple of the patch.
        guard patch > 0, image >= patch else {
            throw ModelError.invalidConfigValue(path: c.path, key: "image_size",
                                                reason: "\(image) is smaller than patch_size \(patch)")
        }
        return SigLIPConfig(
            hidden: hidden, intermediate: try c.optionalInt("intermediate_size") ?? 3072,
            layers: try c.optionalInt("num_hidden_layers") ?? 12, heads: heads,
            patchSize: patch, imageSize: image, channels: try c.optionalInt("num_channels") ?? 3,
            eps: Float(try c.optionalDouble("layer_norm_eps") ?? 1e-6), activation: act)
    }
}

// MARK: - Weights

private struct SigLIPBlock: @unchecked Sendable {
    let norm1, norm1Bias, norm2, norm2Bias: TensorView     // [hidden]
    let q, qBias, k, kBias, v, vBias, o, oBias: TensorView // [hidden, hidden], [hidden]
    let fc1, fc1Bias, fc2, fc2Bias: TensorView             // [inter, hidden], [inter], [hidden, inter], [hidden]
}

final class SigLIPTower: @unchecked Sendable {
    let config: SigLIPConfig
    let patchEmbed: TensorView, patchBias: TensorView      // [hidden, C*P*P], [hidden]
    let positions: TensorView                              // [patchesPerSide², hidden]
    private let blocks: [SigLIPBlock]
    let postNorm: TensorView?, postNormBias: TensorView?

    /// Loads the embeddings and the first `layerCount` blocks under `prefix` (e.g.
    /// `vision_tower.vision_model.`); `postNorm` also loads `post_layernorm`.
    init(config: SigLIPConfig, weights w: WeightStore, prefix p: String, layerCount: Int, postNorm: Bool) throws {
        self.config = config
        let e = config.hidden, m = config.intermediate
        let conv = try w.tensor("\(p)embeddings.patch_embedding.weight")
        guard conv.count == e * config.patchDim, conv.shape.first == e else {
            throw ModelFormatError.invalidTensorEntry(path: w.directory.path, tensor: conv.name,
                reason: "shape \(conv.shape) does not match hidden \(e) x patch \(config.patchDim)")
        }
        patchEmbed = TensorView(name: conv.name, dtype: conv.dtype, shape: [e, config.patchDim], data: conv.data, owner: conv.owner)
        patchBias = try w.tensor("\(p)embeddings.patch_embedding.bias", shape: [e])
        let side = config.patchesPerSide
        positions = try w.tensor("\(p)embeddings.position_embedding.weight", shape: [side * side, e])
        var blocks: [SigLIPBlock] = []
        for i in 0..<layerCount {
            let b = "\(p)encoder.layers.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> TensorView { try w.tensor(b + n, shape: s) }
            blocks.append(SigLIPBlock(
                norm1: try t("layer_norm1.weight", [e]), norm1Bias: try t("layer_norm1.bias", [e]),
                norm2: try t("layer_norm2.weight", [e]), norm2Bias: try t("layer_norm2.bias", [e]),
                q: try t("self_attn.q_proj.weight", [e, e]), qBias: try t("self_attn.q_proj.bias", [e]),
                k: try t("self_attn.k_proj.weight", [e, e]), kBias: try t("self_attn.k_proj.bias", [e]),
                v: try t("self_attn.v_proj.weight", [e, e]), vBias: try t("self_attn.v_proj.bias", [e]),
                o: try t("self_attn.out_proj.weight", [e, e]), oBias: try t("self_attn.out_proj.bias", [e]),
                fc1: try t("mlp.fc1.weight", [m, e]), fc1Bias: try t("mlp.fc1.bias", [m]),
                fc2: try t("mlp.fc2.weight", [e, m]), fc2Bias: try t("mlp.fc2.bias", [e])))
        }
        self.blocks = blocks
        self.postNorm = postNorm ? try w.tensor("\(p)post_layernorm.weight", shape: [e]) : nil
        self.postNormBias = postNorm ? try w.tensor("\(p)post_layernorm.bias", shape: [e]) : nil
    }

    /// Blocks loaded (hidden state k of transformers' `hidden_states` is the output of block k-1).
    var loadedLayers: Int { blocks.count }

    /// transformers' hidden-state index for a `vision_feature_layer` value (negative counts from the end of
    /// the checkpoint's `num_hidden_layers + 1` states).
    static func hiddenStateIndex(_ layer: Int, layers: Int, path: String) throws -> Int {
        let index = layer < 0 ? layers + 1 + layer : layer
        guard index >= 0, index <= layers else {
            throw ModelError.invalidConfigValue(path: path, key: "vision_feature_layer",
                                                reason: "\(layer) is outside 0...\(layers)")
        }
        return index
    }

    /// Idefics3's position ids for a `rows` x `cols` patch grid: fractional coordinates bucketed into
    /// the square table (`torch.bucketize(..., right=True)` over boundaries `arange(1/n, 1, 1/n)`).
    /// For a full-size grid this is the identity whenever 1/n is exact; computed as torch does anyway.
    static func bucketedPositionIDs(rows: Int, cols: Int, side n: Int) -> [Int] {
        // torch.arange(1/n, 1.0, 1/n) in float32, as torch's CPU arange kernel fills it (checked against
        // torch 2.15 for n < 400): length ceil((end - start) / step) in double; start and step in double.
        // Blocks of 16 go through Vectorized<float>::arange in 8-lane halves: each half's base
        // start + step * i rounded to float, then lane j = float(double(base) + j * step); the tail is scalar,
        // float(start + step * i). Not the identity for every n (n = 19, 25, ...), so the ids are not either.
        let step = 1.0 / Double(n)
        let count = max(Int(((1.0 - step) / step).rounded(.up)), 0)
        let vectorized = count / 16 * 16
        let boundaries = (0..<count).map { i -> Float in
            guard i < vectorized else { return Float(step + step * Double(i)) }
            let lane = i % 8
            let base = Float(step + step * Double(i - lane))
            return Float(Double(base) + Double(lane) * step)
        }
        func bucket(_ index: Int, of total: Int) -> Int {
            // step_h = 1.0 / nb_patches (float32 tensor division), coords = index * step (float32), clamped.
            let s = Float(1) / Float(total)
            let x = min(Float(index) * s, Float(1) - Float(1e-6))
            // right=True: the number of boundaries <= x.
            return boundaries.reduce(0) { $0 + ($1 <= x ? 1 : 0) }
        }
        var ids: [Int] = []
        ids.reserveCapacity(rows * cols)
        for r in 0..<rows {
            let br = bucket(r, of: rows)
            for c in 0..<cols { ids.append(br * n + bucket(c, of: cols)) }
        }
        return ids
    }

    /// Runs one tile `[C, height, width]` (normalised pixels, channels first) through the patch embedding
    /// and the first `layers` blocks; returns `[patches, hidden]` in row-major patch order, through
    /// `post_layernorm` when `applyPostNorm`. `positionIDs` nil: patch i takes position row i.
    func encode(tile: UnsafePointer<Float>, height: Int, width: Int, layers: Int, applyPostNorm: Bool,
                positionIDs: [Int]? = nil) -> [Float] {
        let c = config, p = c.patchSize, e = c.hidden, hd = c.headDim
        let gh = height / p, gw = width / p, n = gh * gw
        precondition(layers <= blocks.count, "SigLIP: \(layers) layers requested, \(blocks.count) loaded")
        // Conv2d(stride = kernel) as a matmul: each patch flattened [C][P][P] like the kernel.
        var patches = [Float](repeating: 0, count: n * c.patchDim)               // [N, C*P*P]
        let plane = height * width
        for py in 0..<gh {
            for px in 0..<gw {
                var o = (py * gw + px) * c.patchDim
                for ch in 0..<c.channels {
                    for y in 0..<p {
                        let src = tile + ch * plane + (py * p + y) * width + px * p
                        for x in 0..<p { patches[o] = src[x]; o += 1 }
                    }
                }
            }
        }
        var x = [Float](repeating: 0, count: n * e)                               // [N, hidden]
        VisionOps.linear(patchEmbed, patchBias, patches, &x, rows: n)
        var row = [Float](repeating: 0, count: e)
        for i in 0..<n {
            let pid = positionIDs?[i] ?? i
            row.withUnsafeMutableBufferPointer { Kernels.convertRow(positions, row: pid, into: $0.baseAddress!) }
            for j in 0..<e { x[i * e + j] += row[j] }
        }

        var xn = [Float](repeating: 0, count: n * e)
        var q = xn, k = xn, v = xn, attn = xn
        let ggml = c.ggml
        func linear(_ w: TensorView, _ b: TensorView?, _ x: [Float], _ y: inout [Float], rows: Int) {
            if ggml && w.dtype == .f16 {
                VisionOps.linear(w, b, x.map { Half.f16ToFloat(Half.floatToF16($0)) }, &y, rows: rows)
            } else {
                VisionOps.linear(w, b, x, &y, rows: rows)
            }
        }
        var mlp = [Float](repeating: 0, count: n * c.intermediate)
        let layout = AttentionLayout.packed(nHeads: c.heads, kvHeads: c.heads, headDim: hd,
                                            scale: 1 / Float(hd).squareRoot(), causal: false)
        for b in blocks.prefix(layers) {
            norm(x, &xn, rows: n, weight: b.norm1, bias: b.norm1Bias)
            linear(b.q, b.qBias, xn, &q, rows: n)                                 // [N, heads, hd]
            linear(b.k, b.kBias, xn, &k, rows: n)
            linear(b.v, b.vBias, xn, &v, rows: n)
            q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                attn.withUnsafeMutableBufferPointer { op in
                    Kernels.attention(q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, out: op.baseAddress!,
                                      nq: n, p0: 0, nkv: n, layout: layout)
                }
            } } }
            linear(b.o, b.oBias, attn, &xn, rows: n)
            VisionOps.add(&x, xn)
            norm(x, &xn, rows: n, weight: b.norm2, bias: b.norm2Bias)
            linear(b.fc1, b.fc1Bias, xn, &mlp, rows: n)                          // [N, inter]
            mlp.withUnsafeMutableBufferPointer {
                if ggml, let g = GGMLActivation.matching(c.activation) { g.apply($0.baseAddress!, count: $0.count) }
                else { VisionOps.apply(c.activation, $0.baseAddress!, count: $0.count) }
            }
            linear(b.fc2, b.fc2Bias, mlp, &xn, rows: n)
            VisionOps.add(&x, xn)
        }
        if applyPostNorm, let postNorm {
            norm(x, &xn, rows: n, weight: postNorm, bias: postNormBias)
            return xn
        }
        return x
    }

    private func norm(_ x: [Float], _ out: inout [Float], rows: Int, weight: TensorView, bias: TensorView?) {
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            VisionOps.layerNorm(xp.baseAddress!, out: op.baseAddress!, rows: rows, dim: config.hidden,
                                weight: weight, bias: bias, eps: config.eps)
        } }
    }

}
