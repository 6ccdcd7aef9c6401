import Foundation
import TensorCore

/// Layer operations of vision towers (LayerNorm with bias, GELU variants, block-diagonal attention),
/// in f32 as transformers computes them.
enum VisionOps {
    /// torch.nn.LayerNorm over the last `dim` of each row: biased variance, f32.
    static func layerNorm(_ x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                          weight: TensorView, bias: TensorView?, eps: Float) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * dim) { buf in
            let w = buf.baseAddress!, b = buf.baseAddress! + dim
            Kernels.convertRow(weight, row: 0, into: w)
            if let bias { Kernels.convertRow(bias, row: 0, into: b) } else { b.initialize(repeating: 0, count: dim) }
            ThreadPool.shared.parallelRanges(rows) { range in
                for r in range {
                    let xr = x + r * dim, o = out + r * dim
                    var mean: Float = 0
                    for i in 0..<dim { mean += xr[i] }
                    mean /= Float(dim)
                    var variance: Float = 0
                    for i in 0..<dim { let d = xr[i] - mean; variance += d * d }
                    variance /= Float(dim)
                    let inv = 1 / (variance + eps).squareRoot()
                    for i in 0..<dim { o[i] = (xr[i] - mean) * inv * w[i] + b[i] }
                }
            }
        }
    }

    enum Activation: String {
        case gelu            // exact erf form (nn.GELU(), "gelu")
        case geluTanh = "gelu_pytorch_tanh"
        case quickGelu = "quick_gelu"
        case silu
    }

    static func activation(named name: String) -> Activation? {
        switch name {
        case "gelu": .gelu
        case "gelu_pytorch_tanh", "gelu_new", "gelu_fast": .geluTanh
        case "quick_gelu": .quickGelu
        case "silu", "swish": .silu
        default: nil
        }
    }

    static func apply(_ act: Activation, _ x: UnsafeMutablePointer<Float>, count: Int) {
        ThreadPool.shared.parallelRanges(count, align: 64) { range in
            switch act {
            case .gelu:
                for i in range { let v = x[i]; x[i] = 0.5 * v * (1 + erf(v * Float(0.7071067811865476))) }
            case .geluTanh:
                for i in range {
                    let v = x[i]
                    x[i] = 0.5 * v * (1 + tanh(Float(0.7978845608028654) * (v + 0.044715 * v * v * v)))
                }
            case .quickGelu:
                for i in range { let v = x[i]; x[i] = v / (1 + exp(-1.702 * v)) }
            case .silu:
                for i in range { let v = x[i]; x[i] = v / (1 + exp(-v)) }
            }
        }
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
}
