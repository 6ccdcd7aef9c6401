import Foundation
import TensorCore

/// Layer operations of vision towers (LayerNorm with bias, GELU variants, block-diagonal attention),
/// in f32 as transformers computes them.
enum VisionOps {
    /// torch.nn.LayerNorm over the last `dim` of each row: biased variance, f32.
    static func layerNorm(_ x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                          weight: TensorView, bias: TensorView?, eps: Float) {
        Kernels.layerNorm(x: x, weight: weight, bias: bias, out: out, n: dim, rows: rows, eps: eps)
    }

    /// The activations vision configs name (`hidden_act`), as the kernel's kinds.
    static func activation(named name: String) -> Activation? {
        switch name {
        case "gelu": .geluErf
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": .geluTanh
        case "quick_gelu": .quickGelu
        case "silu", "swish": .silu
        default: nil
        }
    }

    static func apply(_ act: Activation, _ x: UnsafeMutablePointer<Float>, count: Int) {
        Kernels.activation(act, x, n: count)
    }

    /// Non-causal attention within segments `[bounds[i], bounds[i+1])` of a fused qkv buffer
    /// `[n, 3, heads, headDim]`; writes `[n, heads, headDim]`.
    static func segmentAttention(qkv: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, bounds: [Int],
                                 heads: Int, headDim: Int) {
        let dim = heads * headDim
        let layout = AttentionLayout(nHeads: heads, kvHeads: heads, headDim: headDim, qRowStride: 3 * dim,
                                     outRowStride: dim, kvHeadStride: headDim, kvRowStride: 3 * dim,
                                     scale: 1 / Float(headDim).squareRoot(), causal: false)
        for s in 0..<(bounds.count - 1) {
            let a = bounds[s], n = bounds[s + 1] - a
            guard n > 0 else { continue }
            let base = qkv + a * 3 * dim
            Kernels.attention(q: base, k: base + dim, v: base + 2 * dim, out: out + a * dim, nq: n, p0: 0, nkv: n,
                              layout: layout)
        }
    }

    /// y[rows, out] = x[rows, in] · Wᵀ (+ bias), over Swift arrays.
    static func linear(_ w: TensorView, _ b: TensorView?, _ x: [Float], _ y: inout [Float], rows: Int) {
        x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
            Ops.linear(w, b, xp.baseAddress!, yp.baseAddress!, n: rows)
        } }
    }

    /// x += y (a residual connection), over Swift arrays.
    static func add(_ x: inout [Float], _ y: [Float]) {
        x.withUnsafeMutableBufferPointer { xp in y.withUnsafeBufferPointer { yp in
            Ops.add(xp.baseAddress!, yp.baseAddress!, count: xp.count)
        } }
    }
}
