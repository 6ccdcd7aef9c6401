import Foundation

/// Positions of the tokens in one forward pass.
public enum PositionIDs: Sendable, Equatable {
    /// Token j sits at `start + j`.
    case sequential(start: Int)
    /// M-RoPE (Qwen2-VL): a temporal, height and width position per token, each `[n]`.
    case multimodal(t: [Int32], h: [Int32], w: [Int32])

    /// The positions of tokens `from...` (a prompt whose head is already cached).
    public func dropFirst(_ k: Int) -> PositionIDs {
        switch self {
        case let .sequential(start): .sequential(start: start + k)
        case let .multimodal(t, h, w): .multimodal(t: Array(t.dropFirst(k)), h: Array(h.dropFirst(k)), w: Array(w.dropFirst(k)))
        }
    }

    /// The positions of tokens `range` (a prompt prefilled in chunks).
    public func slice(_ range: Range<Int>) -> PositionIDs {
        switch self {
        case let .sequential(start): .sequential(start: start + range.lowerBound)
        case let .multimodal(t, h, w): .multimodal(t: Array(t[range]), h: Array(h[range]), w: Array(w[range]))
        }
    }

    /// The 1-D position of token `j` (M-RoPE models use the temporal one for the cache index only).
    func component(_ c: Int, token j: Int) -> Int {
        switch self {
        case let .sequential(start): start + j
        case let .multimodal(t, h, w): Int(c == 0 ? t[j] : c == 1 ? h[j] : w[j])
        }
    }
}

/// Rotary embedding tables and application, as transformers' `rotate_half` formulation:
/// `q' = q * cos + rotate_half(q) * sin`, pairs `(i, i + headDim/2)`, all in f32.
struct Rotary {
    let invFreq: [Float]   // [headDim/2]
    /// For M-RoPE: which position component (0 t, 1 h, 2 w) drives each rotary pair.
    let pairComponent: [Int]

    init(config: TextConfig) {
        invFreq = config.rope.inverseFrequencies(headDim: config.headDim)
        var comp = [Int](repeating: 0, count: invFreq.count)
        if let section = config.rope.mropeSection {
            // transformers `apply_multimodal_rotary_pos_emb`: mrope_section splits the first half of the
            // dims (and, doubled, the second) into t/h/w chunks.
            var i = 0
            for (c, width) in section.enumerated() {
                for _ in 0..<width where i < comp.count { comp[i] = c % 3; i += 1 }
            }
        }
        pairComponent = comp
    }

    /// Fills `cos`/`sin` `[n, headDim/2]` for the tokens' positions.
    func fill(positions: PositionIDs, n: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = invFreq.count
        for j in 0..<n {
            for i in 0..<half {
                // float32 product then cos/sin, as torch computes `freqs = inv_freq @ position_ids`.
                let angle = Float(positions.component(pairComponent[i], token: j)) * invFreq[i]
                cos[j * half + i] = Foundation.cos(angle)
                sin[j * half + i] = Foundation.sin(angle)
            }
        }
    }

    /// Rotates `heads` vectors of `headDim` in place for each of `n` tokens; `x` is `[n, heads, headDim]`.
    /// Pairs are `(i, i + headDim/2)` (rotate-half, transformers and llama.cpp's NEOX mode) or, when
    /// `interleaved`, `(2i, 2i + 1)` (llama.cpp's normal mode, for Q/K rows that its converter permuted).
    static func apply(_ x: UnsafeMutablePointer<Float>, n: Int, heads: Int, headDim: Int,
                      cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, interleaved: Bool = false) {
        let half = headDim / 2
        let (stride, offset) = interleaved ? (2, 1) : (1, half)
        for j in 0..<n {
            let c = cos + j * half, s = sin + j * half
            for h in 0..<heads {
                let v = x + (j * heads + h) * headDim
                for i in 0..<half {
                    let ia = i * stride, ib = i * stride + offset
                    let a = v[ia], b = v[ib]
                    v[ia] = a * c[i] - b * s[i]
                    v[ib] = b * c[i] + a * s[i]
                }
            }
        }
    }
}
