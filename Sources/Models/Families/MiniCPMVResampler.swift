import Foundation
import ModelFormats
import TensorCore

/// MiniCPM-V's Resampler (resampler.py of MiniCPM-V 2.5 / 2.6; llama.cpp's clip_graph_minicpmv): a fixed
/// set of learned queries cross-attends to the vision tower's patch features, so that every image or
/// slice becomes `queries` rows, whatever its size.
///
///     kv = LN_kv(x Wkv)                         x: [patches, vision hidden]
///     q  = LN_q(query)                          [queries, hidden]
///     out = MHA(q, key = kv + pos, value = kv)  heads of 128, with q/k/v/out biases
///     y  = LN_post(out) Wproj
///
/// `pos` is a 2-D sin-cos embedding of each patch's (row, column) in the slice's own patch grid, computed
/// as llama.cpp computes it (omega_i = 1 / 10000^(i / (hidden / 4)) in f32; [sin x, cos x, sin y, cos y],
/// x the column). The `resampler.pos_embed_k` table the converter also writes (70 x 70) is not read by
/// llama.cpp, nor here.
struct MiniCPMVResampler: @unchecked Sendable {
    let query: TensorView            // [queries, hidden]
    let kv: TensorView               // [hidden, vision hidden]
    let q, k, v, o: TensorView       // [hidden, hidden]
    let qBias, kBias, vBias, oBias: TensorView
    let lnQ, lnQBias, lnKV, lnKVBias, lnPost, lnPostBias: TensorView
    let proj: TensorView             // [hidden, hidden]
    let hidden: Int
    let queries: Int
    let eps: Float
    /// clip.cpp fixes the resampler's head size at 128 (`d_head = 128`).
    static let headDim = 128

    var heads: Int { hidden / Self.headDim }

    /// Sin-cos positions `[rows * cols, hidden]` of a `rows` x `cols` patch grid (row-major).
    func positions(rows: Int, cols: Int) -> [Float] {
        let quarter = hidden / 4
        let omega = (0..<quarter).map { i in 1 / powf(10000, Float(i) / Float(quarter)) }
        var out = [Float](repeating: 0, count: rows * cols * hidden)
        for i in 0..<(rows * cols) {
            let y = Float(i / cols), x = Float(i % cols)
            let base = i * hidden
            for j in 0..<quarter {
                let tx = omega[j] * x, ty = omega[j] * y
                out[base + j] = sinf(tx)
                out[base + quarter + j] = cosf(tx)
                out[base + 2 * quarter + j] = sinf(ty)
                out[base + 3 * quarter + j] = cosf(ty)
            }
        }
        return out
    }

    /// `[queries, hidden]` from the tower's `[rows * cols, vision hidden]` features of one slice.
    func callAsFunction(_ features: [Float], rows: Int, cols: Int) -> [Float] {
        let n = rows * cols, h = hidden
        var kvOut = [Float](repeating: 0, count: n * h)
        Self.linear(kv, nil, features, &kvOut, rows: n)
        var vNorm = kvOut
        norm(kvOut, &vNorm, rows: n, lnKV, lnKVBias)
        let qIn = query.toFloats()
        var qNorm = qIn
        norm(qIn, &qNorm, rows: queries, lnQ, lnQBias)
        let pos = positions(rows: rows, cols: cols)
        var keyIn = vNorm
        VisionOps.add(&keyIn, pos)

        var qq = [Float](repeating: 0, count: queries * h)
        var kk = [Float](repeating: 0, count: n * h), vv = kk
        Self.linear(q, qBias, qNorm, &qq, rows: queries)
        Self.linear(k, kBias, keyIn, &kk, rows: n)
        Self.linear(v, vBias, vNorm, &vv, rows: n)
        var attn = [Float](repeating: 0, count: queries * h)
        let hd = Self.headDim
        let layout = AttentionLayout.packed(nHeads: heads, kvHeads: heads, headDim: hd,
                                            scale: 1 / Float(hd).squareRoot(), causal: false)
        qq.withUnsafeBufferPointer { qp in kk.withUnsafeBufferPointer { kp in vv.withUnsafeBufferPointer { vp in
            attn.withUnsafeMutableBufferPointer { op in
                Kernels.attention(q: qp.baseAddress!, k: kp.baseAddress!, v: vp.baseAddress!, out: op.baseAddress!,
                                  nq: queries, p0: 0, nkv: n, layout: layout)
            }
        } } }
        var out = [Float](repeating: 0, count: queries * h)
        Self.linear(o, oBias, attn, &out, rows: queries)
        var post = out
        norm(out, &post, rows: queries, lnPost, lnPostBias)
        Self.linear(proj, nil, post, &out, rows: queries)
        return out
    }

    /// A product as ggml's CPU backend computes it: with an F16 matrix the input is rounded to f16 first.
    static func linear(_ w: TensorView, _ b: TensorView?, _ x: [Float], _ y: inout [Float], rows: Int) {
        if w.dtype == .f16 {
            VisionOps.linear(w, b, x.map { Half.f16ToFloat(Half.floatToF16($0)) }, &y, rows: rows)
        } else {
            VisionOps.linear(w, b, x, &y, rows: rows)
        }
    }

    private func norm(_ x: [Float], _ out: inout [Float], rows: Int, _ w: TensorView, _ b: TensorView) {
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
            VisionOps.layerNorm(xp.baseAddress!, out: op.baseAddress!, rows: rows, dim: hidden, weight: w, bias: b, eps: eps)
        } }
    }
}
