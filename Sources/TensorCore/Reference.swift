import Foundation

/// Naive twins of the kernels: straightforward loops, accumulated in Double, for tests to compare the
/// fast kernels against. Slow on purpose; never used on a hot path.
public enum Reference {
    /// [n, w.rows]: y[t, r] = sum_c w[r, c] * x[t, c]; x is [n, w.cols].
    public static func matmul(_ w: TensorView, _ x: [Float], n: Int) -> [Float] {
        let rows = w.rows, cols = w.cols
        precondition(x.count == n * cols, "x has \(x.count) values, expected \(n) x \(cols)")
        let wf = w.dtype.isQuantized && !w.isPackedOnly ? dequantize(w.dtype, w.data, count: w.count) : w.toFloats()
        var y = [Float](repeating: 0, count: n * rows)
        for t in 0..<n {
            for r in 0..<rows {
                var s = 0.0
                for c in 0..<cols { s += Double(wf[r * cols + c]) * Double(x[t * cols + c]) }
                y[t * rows + r] = Float(s)
            }
        }
        return y
    }

    /// Per row of n: x / sqrt(mean(x^2) + eps) * (weight + weightOffset).
    public static func rmsnorm(_ x: [Float], weight: TensorView?, n: Int, eps: Float, weightOffset: Float = 0) -> [Float] {
        let w = weight?.toFloats()
        var y = [Float](repeating: 0, count: x.count)
        for row in 0..<(x.count / n) {
            var ss = 0.0
            for i in 0..<n { ss += Double(x[row * n + i]) * Double(x[row * n + i]) }
            let r = 1.0 / (ss / Double(n) + Double(eps)).squareRoot()
            for i in 0..<n {
                let scale = w.map { Double($0[i]) + Double(weightOffset) } ?? 1
                y[row * n + i] = Float(Double(x[row * n + i]) * r * scale)
            }
        }
        return y
    }

    /// silu(gate) * up with silu(g) = g / (1 + e^-g).
    public static func siluMul(gate: [Float], up: [Float]) -> [Float] {
        zip(gate, up).map { g, u in
            let gd = Double(g)
            return Float(gd / (1 + Foundation.exp(-gd)) * Double(u))
        }
    }

    /// Per row of n: (x - mean) / sqrt(biased var + eps) * weight + bias.
    public static func layerNorm(_ x: [Float], weight: TensorView?, bias: TensorView?, n: Int, eps: Float) -> [Float] {
        let w = weight?.toFloats(), b = bias?.toFloats()
        var y = [Float](repeating: 0, count: x.count)
        for row in 0..<(x.count / n) {
            var mean = 0.0
            for i in 0..<n { mean += Double(x[row * n + i]) }
            mean /= Double(n)
            var variance = 0.0
            for i in 0..<n { variance += (Double(x[row * n + i]) - mean) * (Double(x[row * n + i]) - mean) }
            variance /= Double(n)
            let r = 1 / (variance + Double(eps)).squareRoot()
            for i in 0..<n {
                var v = (Double(x[row * n + i]) - mean) * r
                if let w { v *= Double(w[i]) }
                if let b { v += Double(b[i]) }
                y[row * n + i] = Float(v)
            }
        }
        return y
    }

    /// The activations in their textbook forms, in Double.
    public static func activation(_ kind: Activation, _ x: [Float]) -> [Float] {
        x.map { f in
            let v = Double(f)
            switch kind {
            case .geluErf: return Float(0.5 * v * (1 + Foundation.erf(v / 2.0.squareRoot())))
            case .geluTanh:
                return Float(0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))))
            case .quickGelu: return Float(v / (1 + Foundation.exp(-1.702 * v)))
            case .silu: return Float(v / (1 + Foundation.exp(-v)))
            }
        }
    }

    public static func add(_ a: [Float], _ b: [Float]) -> [Float] {
        zip(a, b).map { $0 + $1 }
    }

    /// Softmax attention computed the textbook way: all scores of a query row, then max, exp, normalise.
    /// Arrays are addressed with the strides of `layout`; the result has the layout's out shape
    /// [nq, outRowStride].
    public static func attention(q: [Float], k: [Float], v: [Float], nq: Int, p0: Int, nkv: Int? = nil,
                                 layout l: AttentionLayout) -> [Float] {
        var out = [Float](repeating: 0, count: nq * l.outRowStride)
        let group = l.nHeads / l.kvHeads
        for h in 0..<l.nHeads {
            let g = h / group
            for i in 0..<nq {
                let keys = l.causal ? p0 + i + 1 : (nkv ?? (p0 + nq))
                var scores = [Double](repeating: 0, count: keys)
                for j in 0..<keys {
                    var s = 0.0
                    for d in 0..<l.headDim {
                        s += Double(q[i * l.qRowStride + h * l.headDim + d])
                            * Double(k[g * l.kvHeadStride + j * l.kvRowStride + d])
                    }
                    scores[j] = s * Double(l.scale)
                }
                let m = scores.max() ?? 0
                let e = scores.map { Foundation.exp($0 - m) }
                let sum = e.reduce(0, +)
                for d in 0..<l.headDim {
                    var acc = 0.0
                    for j in 0..<keys { acc += e[j] * Double(v[g * l.kvHeadStride + j * l.kvRowStride + d]) }
                    out[i * l.outRowStride + h * l.headDim + d] = Float(acc / sum)
                }
            }
        }
        return out
    }
}
