import Foundation

/// What a processor may read besides the candidates: the step, the penalty window's token counts (filled
/// by the sampler from the history before the chain runs), and where the temperature stage reports the
/// temperature it used.
struct ChainContext {
    /// Index of the token being generated (0 for the first), for the temperature schedule.
    var step: Int
    /// counts[token] = occurrences of token in the penalty window; vocabulary-sized, zero elsewhere.
    let counts: UnsafeMutablePointer<Int32>
    /// The distinct tokens of the window, so penalties can visit only them.
    let seen: UnsafeMutablePointer<Int32>
    var seenCount: Int
    /// The temperature the logits were effectively divided by; 1 if no temperature stage ran.
    var temperatureUsed: Float = 1
}

// MARK: - Penalties

/// Repetition, presence and frequency penalties, exactly as llama.cpp's `llama_sampler_penalties_apply`:
/// for every token seen `count` times in the last `penaltyLastN` tokens,
///   logit <= 0 ? logit *= repeat : logit /= repeat        (so the penalty always lowers the logit)
///   logit -= count * frequency + presence
struct PenaltiesProcessor {
    var repeatPenalty: Float
    var presencePenalty: Float
    var frequencyPenalty: Float

    var isActive: Bool {
        repeatPenalty != 1 || frequencyPenalty != 0 || presencePenalty != 0
    }

    @inline(__always)
    private func penalize(_ logit: Float, count: Int32) -> Float {
        var l = logit
        // llama.cpp: "<= 0" multiplies, so a zero logit stays 0 under the repeat penalty.
        if l <= 0 { l *= repeatPenalty } else { l /= repeatPenalty }
        return l - Float(count) * frequencyPenalty - presencePenalty
    }

    func apply(_ buf: inout CandidateBuffer, _ ctx: inout ChainContext) {
        guard isActive, ctx.seenCount > 0 else { return }
        if buf.identityOrder {
            // Candidate i is token i: touch only the seen tokens.
            for s in 0..<ctx.seenCount {
                let t = Int(ctx.seen[s])
                guard t < buf.count else { continue }
                buf.base[t].logit = penalize(buf.base[t].logit, count: ctx.counts[t])
            }
        } else {
            for i in 0..<buf.count {
                let c = ctx.counts[Int(buf.base[i].id)]
                if c > 0 { buf.base[i].logit = penalize(buf.base[i].logit, count: c) }
            }
        }
        buf.sorted = false
    }
}

// MARK: - Top-k

/// Keeps the k highest logits (llama.cpp `llama_sampler_top_k_impl`); k <= 0 or k >= count is a no-op.
struct TopKProcessor {
    var k: Int

    func apply(_ buf: inout CandidateBuffer) {
        guard k > 0, k < buf.count else { return }
        buf.keepTop(k)
    }
}

// MARK: - Top-p

/// Nucleus sampling (llama.cpp `llama_sampler_top_p_apply`, min_keep = 0 as in llama.cpp's defaults):
/// softmax, sort, keep the shortest prefix whose cumulative probability is >= p. p >= 1 is a no-op;
/// p <= 0 keeps the single best token. The running sum is a Float like llama.cpp's, so the boundary
/// cases (0.4 + 0.3 >= 0.7) fall the same way.
struct TopPProcessor {
    var p: Float

    func apply(_ buf: inout CandidateBuffer) {
        guard p < 1, buf.count > 0 else { return }
        buf.sortBestFirst()
        buf.softmax()
        var cum: Float = 0
        var last = buf.count
        for i in 0..<buf.count {
            cum += buf.base[i].p
            if cum >= p {
                last = i + 1
                break
            }
        }
        buf.truncate(to: last)
    }
}

// MARK: - Min-p

/// Keeps tokens whose probability is at least p times the best one's (llama.cpp
/// `llama_sampler_min_p_apply`), compared in logit space: logit >= maxLogit + log(p). p <= 0 is a
/// no-op. Compacts in place and stable, so a sorted buffer stays sorted.
struct MinPProcessor {
    var p: Float

    func apply(_ buf: inout CandidateBuffer) {
        guard p > 0, buf.count > 0 else { return }
        var maxLogit = -Float.infinity
        for i in 0..<buf.count where buf.base[i].logit > maxLogit { maxLogit = buf.base[i].logit }
        let minLogit = maxLogit + logf(p)
        var kept = 0
        for i in 0..<buf.count where buf.base[i].logit >= minLogit {
            if kept != i { buf.base[kept] = buf.base[i] }
            kept += 1
        }
        // The best token always passes (log p <= 0 for p <= 1); for p > 1 nothing would, so keep it.
        if kept == 0 {
            buf.keepBestOnly()
            return
        }
        if kept < buf.count {
            // Dropping from the middle breaks id == index.
            buf.identityOrder = false
            buf.count = kept
        }
    }
}
