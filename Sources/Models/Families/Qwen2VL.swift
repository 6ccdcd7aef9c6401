import Foundation
import ModelFormats
import TensorCore

// Qwen2-VL and Qwen2.5-VL: a ViT with 2-D rotary positions over native-resolution patches, a 2x2 patch
// merger into the Qwen2 decoder, and M-RoPE (temporal/height/width positions) in the language model.
// Mirrors transformers' models/qwen2_vl and models/qwen2_5_vl (v5.24).

// MARK: - Configuration

enum Qwen2VLFamily: ModelFamily {
    static let modelTypes = ["qwen2_vl", "qwen2_5_vl"]
    static let displayName = "Qwen2-VL"

    static func load(_ ctx: LoadContext) throws -> LoadedWeights {
        let c = ctx.config
        // 5.x nests the text model; 4.x keeps its keys at the top level.
        let textJSON = c.child("text_config") ?? c
        var text = try TextConfig.parse(textJSON, modelType: ctx.modelType, outer: c)
        if text.rope.mropeSection == nil {
            throw ModelError.missingConfigKey(path: c.path, key: "rope_scaling.mrope_section")
        }
        text.qkvBias = true
        let w = ctx.weights
        let v5 = w.contains("model.language_model.embed_tokens.weight")
        let names = DecoderWeightNames(prefix: v5 ? "model.language_model." : "model.", lmHead: "lm_head.weight")
        let language = try DecoderModel(config: text, weights: w, names: names)
        let visionJSON = try c.requiredChild("vision_config")
        let vision = try Qwen2VisionConfig.parse(visionJSON, isV25: ctx.modelType == "qwen2_5_vl", textHidden: text.hiddenSize)
        let tower = try Qwen2VisionTower(config: vision, weights: w, prefix: w.contains("model.visual.patch_embed.proj.weight") ? "model.visual." : "visual.")
        let processor = try Qwen2VLProcessorConfig.load(directory: ctx.directory, vision: vision)
        let imageTokenID = try c.optionalInt("image_token_id") ?? textJSON.optionalInt("image_token_id")
        guard let imageTokenID else { throw ModelError.missingConfigKey(path: c.path, key: "image_token_id") }
        let pipeline = Qwen2VLPipeline(tower: tower, processor: processor, imageTokenID: imageTokenID)
        return LoadedWeights(language: language, vision: pipeline)
    }
}

struct Qwen2VisionConfig: Sendable {
    var isV25: Bool
    var depth: Int
    var embedDim: Int
    var heads: Int
    var mlpHidden: Int
    var outHidden: Int
    var patchSize: Int
    var mergeSize: Int
    var temporalPatchSize: Int
    var inChannels: Int
    var activation: Activation
    var ropeTheta: Double
    /// Qwen2.5-VL: window attention size in pixels, and the blocks that attend over the whole image.
    var windowSize: Int
    var fullAttentionBlocks: Set<Int>
    /// Epsilon of the block and merger norms (transformers hard-codes 1e-6; an mmproj GGUF states it).
    var normEps: Float = 1e-6
    /// llama.cpp's activations (an mmproj GGUF): ggml's f16-table GELUs, and its tanh GELU in the merger
    /// where transformers uses the erf form. See `GGMLActivation`.
    var ggmlActivations = false

    var headDim: Int { embedDim / heads }
    var patchDim: Int { inChannels * temporalPatchSize * patchSize * patchSize }

    static func parse(_ c: JSONConfig, isV25: Bool, textHidden: Int) throws -> Qwen2VisionConfig {
        let depth = try c.positiveInt("depth")
        let heads = try c.positiveInt("num_heads")
        let embed: Int, mlp: Int, out: Int
        if isV25 {
            embed = try c.positiveInt("hidden_size")
            mlp = try c.positiveInt("intermediate_size")
            out = try c.optionalInt("out_hidden_size") ?? textHidden
        } else {
            embed = try c.positiveInt("embed_dim")
            mlp = Int(Double(embed) * (try c.optionalDouble("mlp_ratio") ?? 4))
            out = try c.optionalInt("hidden_size") ?? textHidden
        }
        guard embed % heads == 0, (embed / heads) % 4 == 0 else {
            throw ModelError.invalidConfigValue(path: c.path, key: "num_heads", reason: "head dim must be a multiple of 4")
        }
        let actName = try c.optionalString("hidden_act") ?? (isV25 ? "silu" : "quick_gelu")
        guard let act = VisionOps.activation(named: actName) else {
            throw ModelError.invalidConfigValue(path: c.path, key: "hidden_act", reason: "unsupported activation '\(actName)'")
        }
        let theta = try c.child("rope_parameters")?.optionalDouble("rope_theta") ?? 10000
        let full = (c.object["fullatt_block_indexes"] as? [NSNumber])?.map(\.intValue) ?? []
        return Qwen2VisionConfig(
            isV25: isV25, depth: depth, embedDim: embed, heads: heads, mlpHidden: mlp, outHidden: out,
            patchSize: try c.optionalInt("patch_size") ?? 14,
            mergeSize: try c.optionalInt("spatial_merge_size") ?? 2,
            temporalPatchSize: try c.optionalInt("temporal_patch_size") ?? 2,
            inChannels: try c.optionalInt("in_channels") ?? c.optionalInt("in_chans") ?? 3,
            activation: act, ropeTheta: theta,
            windowSize: try c.optionalInt("window_size") ?? 112,
            fullAttentionBlocks: Set(full))
    }
}

// MARK: - Vision

/// One ViT block's weights.
private struct Qwen2VisionBlock: @unchecked Sendable {
    let norm1, norm2: TensorView
    let norm1Bias, norm2Bias: TensorView?     // LayerNorm (Qwen2-VL); RMSNorm has none (Qwen2.5-VL)
    let qkv, qkvBias, proj, projBias: TensorView
    // Qwen2-VL: fc1/fc2; Qwen2.5-VL: gate/up/down (all with biases).
    let fc1, fc1Bias, fc2, fc2Bias: TensorView?
    let gate, gateBias, up, upBias, down, downBias: TensorView?
}

final class Qwen2VisionTower: @unchecked Sendable {
    let config: Qwen2VisionConfig
    let patchEmbed: TensorView          // [embed, patchDim] (the Conv3d kernel, flattened)
    private let blocks: [Qwen2VisionBlock]
    let mergerNorm: TensorView, mergerNormBias: TensorView?
    let merger0, merger0Bias, merger2, merger2Bias: TensorView
    let invFreq: [Float]                // [headDim/4]

    init(config: Qwen2VisionConfig, weights w: WeightStore, prefix p: String) throws {
        self.config = config
        let e = config.embedDim, m = config.mlpHidden
        let conv = try w.tensor("\(p)patch_embed.proj.weight")
        guard conv.count == e * config.patchDim, conv.shape.first == e else {
            throw ModelFormatError.invalidTensorEntry(path: w.directory.path, tensor: conv.name,
                reason: "shape \(conv.shape) does not match embed \(e) x patch \(config.patchDim)")
        }
        patchEmbed = TensorView(name: conv.name, dtype: conv.dtype, shape: [e, config.patchDim], data: conv.data, owner: conv.owner)
        var blocks: [Qwen2VisionBlock] = []
        for i in 0..<config.depth {
            let b = "\(p)blocks.\(i)."
            func t(_ n: String, _ s: [Int]) throws -> TensorView { try w.tensor(b + n, shape: s) }
            func o(_ n: String, _ s: [Int]) throws -> TensorView? { try w.optionalTensor(b + n, shape: s) }
            let v25 = config.isV25
            blocks.append(Qwen2VisionBlock(
                norm1: try t("norm1.weight", [e]), norm2: try t("norm2.weight", [e]),
                norm1Bias: v25 ? nil : try t("norm1.bias", [e]), norm2Bias: v25 ? nil : try t("norm2.bias", [e]),
                qkv: try t("attn.qkv.weight", [3 * e, e]), qkvBias: try t("attn.qkv.bias", [3 * e]),
                proj: try t("attn.proj.weight", [e, e]), projBias: try t("attn.proj.bias", [e]),
                fc1: v25 ? nil : try t("mlp.fc1.weight", [m, e]), fc1Bias: v25 ? nil : try t("mlp.fc1.bias", [m]),
                fc2: v25 ? nil : try t("mlp.fc2.weight", [e, m]), fc2Bias: v25 ? nil : try t("mlp.fc2.bias", [e]),
                gate: v25 ? try t("mlp.gate_proj.weight", [m, e]) : nil, gateBias: v25 ? try o("mlp.gate_proj.bias", [m]) : nil,
                up: v25 ? try t("mlp.up_proj.weight", [m, e]) : nil, upBias: v25 ? try o("mlp.up_proj.bias", [m]) : nil,
                down: v25 ? try t("mlp.down_proj.weight", [e, m]) : nil, downBias: v25 ? try o("mlp.down_proj.bias", [e]) : nil))
        }
        self.blocks = blocks
        let hidden = e * config.mergeSize * config.mergeSize
        mergerNorm = try w.tensor("\(p)merger.ln_q.weight", shape: [e])
        mergerNormBias = config.isV25 ? nil : try w.tensor("\(p)merger.ln_q.bias", shape: [e])
        merger0 = try w.tensor("\(p)merger.mlp.0.weight", shape: [hidden, hidden])
        merger0Bias = try w.tensor("\(p)merger.mlp.0.bias", shape: [hidden])
        merger2 = try w.tensor("\(p)merger.mlp.2.weight", shape: [config.outHidden, hidden])
        merger2Bias = try w.tensor("\(p)merger.mlp.2.bias", shape: [config.outHidden])
        // transformers `compute_axial_rope_parameters`: spatial_dim = head_dim / 2,
        // inv_freq = 1 / theta^(arange(0, spatial_dim, 2) / spatial_dim), in f32.
        let spatial = config.headDim / 2
        invFreq = stride(from: 0, to: spatial, by: 2).map { i in
            1 / powf(Float(config.ropeTheta), Float(i) / Float(spatial))
        }
    }

    /// `[grid.t * grid.h * grid.w / merge², outHidden]` features of one image's patches `[N, patchDim]`.
    func encode(pixels: [Float], grid: [Int]) throws -> [Float] {
        let c = config
        let (t, h, w) = (grid[0], grid[1], grid[2])
        let m = c.mergeSize, unit = m * m
        let n = t * h * w
        let e = c.embedDim, hd = c.headDim, heads = c.heads
        precondition(pixels.count == n * c.patchDim, "pixels do not match the grid")

        // Patch positions in the processor's order [t][h/m][w/m][m][m] (transformers `get_vision_position_ids`).
        var hpos = [Int32](repeating: 0, count: n), wpos = [Int32](repeating: 0, count: n)
        var k = 0
        for _ in 0..<t {
            for bh in 0..<(h / m) { for bw in 0..<(w / m) { for ih in 0..<m { for iw in 0..<m {
                hpos[k] = Int32(bh * m + ih); wpos[k] = Int32(bw * m + iw); k += 1
            } } } }
        }
        // Qwen2.5-VL: reorder merge units window by window; `order[j]` is the unit placed at slot j.
        var order = Array(0..<(n / unit))
        var windowBounds: [Int] = [0, n]
        if c.isV25 { (order, windowBounds) = Self.windowIndex(t: t, h: h, w: w, merge: m, window: c.windowSize / m / c.patchSize) }
        func permuteRows(_ src: [Float], width: Int) -> [Float] {
            var out = [Float](repeating: 0, count: src.count)
            for (slot, u) in order.enumerated() {
                for r in 0..<unit {
                    let from = (u * unit + r) * width, to = (slot * unit + r) * width
                    for i in 0..<width { out[to + i] = src[from + i] }
                }
            }
            return out
        }

        var x = [Float](repeating: 0, count: n * e)                       // [N, embed]
        pixels.withUnsafeBufferPointer { px in x.withUnsafeMutableBufferPointer { Kernels.matmul(patchEmbed, px.baseAddress!, $0.baseAddress!, n: n) } }
        if c.isV25 { x = permuteRows(x, width: e) }

        // Rotary tables [N, headDim/2]: the first quarter of the pairs rotate by h, the second by w.
        let quarter = invFreq.count, half = hd / 2
        var cosT = [Float](repeating: 0, count: n * half), sinT = cosT
        var slotPos = [Int](repeating: 0, count: n)
        for (slot, u) in order.enumerated() { for r in 0..<unit { slotPos[slot * unit + r] = u * unit + r } }
        for j in 0..<n {
            let src = slotPos[j]
            for i in 0..<half {
                let angle = i < quarter ? Float(hpos[src]) * invFreq[i] : Float(wpos[src]) * invFreq[i - quarter]
                cosT[j * half + i] = Foundation.cos(angle)
                sinT[j * half + i] = Foundation.sin(angle)
            }
        }
        // Full attention is block-diagonal per frame.
        let frameBounds = (0...t).map { $0 * h * w }

        var xn = [Float](repeating: 0, count: n * e)
        var qkv = [Float](repeating: 0, count: n * 3 * e)
        var attn = [Float](repeating: 0, count: n * e)
        var mlpA = [Float](repeating: 0, count: n * c.mlpHidden), mlpB = mlpA
        for (bi, b) in blocks.enumerated() {
            norm(x, &xn, rows: n, dim: e, weight: b.norm1, bias: b.norm1Bias)
            VisionOps.linear(b.qkv, b.qkvBias, xn, &qkv, rows: n)                    // [N, 3, heads, hd]
            qkv.withUnsafeMutableBufferPointer { q in
                for j in 0..<n {
                    for part in 0..<2 {                                     // q and k, not v
                        for hh in 0..<heads {
                            let v = q.baseAddress! + j * 3 * e + part * e + hh * hd
                            for i in 0..<half {
                                let a = v[i], bb = v[i + half]
                                let cs = cosT[j * half + i], sn = sinT[j * half + i]
                                v[i] = a * cs - bb * sn
                                v[i + half] = bb * cs + a * sn
                            }
                        }
                    }
                }
            }
            let bounds = (!c.isV25 || c.fullAttentionBlocks.contains(bi)) ? frameBounds : windowBounds
            qkv.withUnsafeBufferPointer { q in attn.withUnsafeMutableBufferPointer { o in
                VisionOps.segmentAttention(qkv: q.baseAddress!, out: o.baseAddress!, bounds: bounds, heads: heads, headDim: hd)
            } }
            VisionOps.linear(b.proj, b.projBias, attn, &xn, rows: n)
            VisionOps.add(&x, xn)
            norm(x, &xn, rows: n, dim: e, weight: b.norm2, bias: b.norm2Bias)
            if let fc1 = b.fc1, let fc2 = b.fc2 {
                VisionOps.linear(fc1, b.fc1Bias, xn, &mlpA, rows: n)
                mlpA.withUnsafeMutableBufferPointer { activate($0.baseAddress!, count: $0.count) }
                VisionOps.linear(fc2, b.fc2Bias, mlpA, &xn, rows: n)
            } else if let gate = b.gate, let up = b.up, let down = b.down {
                VisionOps.linear(gate, b.gateBias, xn, &mlpA, rows: n)
                VisionOps.linear(up, b.upBias, xn, &mlpB, rows: n)
                mlpA.withUnsafeMutableBufferPointer { activate($0.baseAddress!, count: $0.count) }
                for i in 0..<mlpA.count { mlpA[i] *= mlpB[i] }
                VisionOps.linear(down, b.downBias, mlpA, &xn, rows: n)
            }
            VisionOps.add(&x, xn)
        }
        // Merger: norm each patch, then 2x2 groups of consecutive rows form one row of the MLP.
        norm(x, &xn, rows: n, dim: e, weight: mergerNorm, bias: mergerNormBias)
        let groups = n / unit, hidden = e * unit
        var h1 = [Float](repeating: 0, count: groups * hidden)
        VisionOps.linear(merger0, merger0Bias, xn, &h1, rows: groups)
        h1.withUnsafeMutableBufferPointer {
            if c.ggmlActivations { GGMLActivation.gelu.apply($0.baseAddress!, count: $0.count) }
            else { VisionOps.apply(.geluErf, $0.baseAddress!, count: $0.count) }
        }
        var out = [Float](repeating: 0, count: groups * c.outHidden)
        VisionOps.linear(merger2, merger2Bias, h1, &out, rows: groups)
        if c.isV25 {
            // Undo the window order: slot j holds unit order[j].
            var restored = out
            for (slot, u) in order.enumerated() {
                for i in 0..<c.outHidden { restored[u * c.outHidden + i] = out[slot * c.outHidden + i] }
            }
            out = restored
        }
        return out
    }

    private func activate(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if config.ggmlActivations, let g = GGMLActivation.matching(config.activation) {
            g.apply(x, count: count)
        } else {
            VisionOps.apply(config.activation, x, count: count)
        }
    }

    private func norm(_ x: [Float], _ out: inout [Float], rows: Int, dim: Int, weight: TensorView, bias: TensorView?) {
        let eps = config.normEps
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            if config.isV25 {
                Kernels.rmsnorm(x: xp.baseAddress!, weight: weight, out: op.baseAddress!, n: dim, rows: rows, eps: eps)
            } else {
                VisionOps.layerNorm(xp.baseAddress!, out: op.baseAddress!, rows: rows, dim: dim, weight: weight, bias: bias, eps: eps)
            }
        } }
    }


    /// transformers `get_vision_window_index` for one image: the merge-unit order window by window and
    /// the token boundaries of the windows (empty windows dropped, as `unique_consecutive` does).
    static func windowIndex(t: Int, h: Int, w: Int, merge m: Int, window vws: Int) -> ([Int], [Int]) {
        let lh = h / m, lw = w / m, unit = m * m
        // Python's `vws - x % vws` pads a whole window when x divides evenly; that window is empty.
        let padH = vws - lh % vws, padW = vws - lw % vws
        let nwh = (lh + padH) / vws, nww = (lw + padW) / vws
        var order: [Int] = []
        var bounds = [0]
        for f in 0..<t {
            for wy in 0..<nwh {
                for wx in 0..<nww {
                    var count = 0
                    for y in (wy * vws)..<((wy + 1) * vws) where y < lh {
                        for x in (wx * vws)..<((wx + 1) * vws) where x < lw {
                            order.append(f * lh * lw + y * lw + x)
                            count += 1
                        }
                    }
                    let next = bounds.last! + count * unit
                    if next != bounds.last! { bounds.append(next) }
                }
            }
        }
        return (order, bounds)
    }
}
