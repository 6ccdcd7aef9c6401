import Foundation
import TensorCore

/// The layer-level operations the families use, over the TensorCore kernels.
enum Ops {
    /// y[n, out] = x[n, in] · Wᵀ (+ bias).
    static func linear(_ w: TensorView, _ bias: TensorView?, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, n: Int) {
        let rows = w.rows, cols = w.cols
        for t in 0..<n {
            for r in 0..<rows {
                var acc: Float = 0
                for c in 0..<cols { acc += w.element(r * cols + c) * x[t * cols + c] }
                y[t * rows + r] = acc
            }
        }
        if let bias {
            for t in 0..<n { for r in 0..<rows { y[t * rows + r] += bias.element(r) } }
        }
    }

    static func rmsnorm(_ x: UnsafePointer<Float>, weight: TensorView, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, eps: Float) {
        for r in 0..<rows {
            var ss: Float = 0
            for i in 0..<dim { ss += x[r * dim + i] * x[r * dim + i] }
            let inv = 1 / (ss / Float(dim) + eps).squareRoot()
            for i in 0..<dim { out[r * dim + i] = weight.element(i) * (x[r * dim + i] * inv) }
        }
    }

    static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { x[i] += y[i] }
    }

    static func siluMul(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { let g = gate[i]; gate[i] = g / (1 + exp(-g)) * up[i] }
    }

    static func attention(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                          out: UnsafeMutablePointer<Float>, queries n: Int, start p0: Int, heads: Int, kvHeads: Int,
                          headDim hd: Int, capacity: Int, scale: Float) {
        let group = heads / kvHeads
        var scores = [Float](repeating: 0, count: p0 + n)
        for i in 0..<n {
            for h in 0..<heads {
                let g = h / group
                let qv = q + (i * heads + h) * hd
                let len = p0 + i + 1
                var m = -Float.infinity
                for s in 0..<len {
                    let kv = keys + (g * capacity + s) * hd
                    var d: Float = 0
                    for e in 0..<hd { d += qv[e] * kv[e] }
                    scores[s] = d * scale
                    m = max(m, scores[s])
                }
                var sum: Float = 0
                for s in 0..<len { scores[s] = exp(scores[s] - m); sum += scores[s] }
                let o = out + (i * heads + h) * hd
                for e in 0..<hd { o[e] = 0 }
                for s in 0..<len {
                    let vv = values + (g * capacity + s) * hd
                    let p = scores[s] / sum
                    for e in 0..<hd { o[e] += p * vv[e] }
                }
            }
        }
    }
}
