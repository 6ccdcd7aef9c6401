import Foundation
import TensorCore

/// The layer-level operations the families use, over the TensorCore kernels (which split work across
/// the thread pool and pick AVX-512 / AVX2 / scalar code at run time).
enum Ops {
    /// y[n, out] = x[n, in] · Wᵀ (+ bias).
    static func linear(_ w: TensorView, _ bias: TensorView?, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int) {
        Kernels.matmul(w, x, y, n: n)
        if let bias { addBias(y, bias, rows: n) }
    }

    /// Two or three projections of the same x (q/k/v, gate/up) as one fused matmul, then their biases.
    static func linear(_ a: (TensorView, TensorView?, UnsafeMutablePointer<Float>),
                       _ b: (TensorView, TensorView?, UnsafeMutablePointer<Float>),
                       _ c: (TensorView, TensorView?, UnsafeMutablePointer<Float>)? = nil,
                       _ x: UnsafePointer<Float>, n: Int) {
        Kernels.matmul((a.0, a.2), (b.0, b.2), c.map { ($0.0, $0.2) }, x: x, n: n)
        if let bias = a.1 { addBias(a.2, bias, rows: n) }
        if let bias = b.1 { addBias(b.2, bias, rows: n) }
        if let c, let bias = c.1 { addBias(c.2, bias, rows: n) }
    }

    /// y[r, :] += bias for each of `rows` rows.
    static func addBias(_ y: UnsafeMutablePointer<Float>, _ bias: TensorView, rows: Int) {
        let n = bias.count
        if bias.dtype == .f32 {
            let b = bias.data.assumingMemoryBound(to: Float.self)
            for r in 0..<rows { Kernels.add(y + r * n, b, into: y + r * n, n: n) }
        } else {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { tmp in
                Kernels.convertRow(bias, row: 0, into: tmp.baseAddress!)
                for r in 0..<rows { Kernels.add(y + r * n, tmp.baseAddress!, into: y + r * n, n: n) }
            }
        }
    }

    /// RMSNorm of each row (f32 statistics, as transformers' `Qwen2RMSNorm`/`LlamaRMSNorm`).
    static func rmsnorm(_ x: UnsafePointer<Float>, weight: TensorView, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, eps: Float) {
        Kernels.rmsnorm(x: x, weight: weight, out: out, n: dim, rows: rows, eps: eps)
    }

    /// x += y.
    static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        Kernels.add(x, y, into: x, n: count)
    }

    /// gate = silu(gate) * up.
    static func siluMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        Kernels.siluMul(gate: gate, up: up, n: count)
    }

    /// Causal attention of `n` queries at positions start..<start+n over a KV cache laid out
    /// [kvHeads, capacity, headDim]; q and out are [n, heads, headDim].
    static func attention(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                          out: UnsafeMutablePointer<Float>, queries n: Int, start p0: Int, heads: Int, kvHeads: Int,
                          headDim hd: Int, capacity: Int, scale: Float) {
        Kernels.attention(q: q, k: keys, v: values, out: out, nq: n, p0: p0,
                          layout: .kvCache(nHeads: heads, kvHeads: kvHeads, headDim: hd, maxSeq: capacity, scale: scale))
    }
}
