import Foundation

/// Temperature with both dynamic kinds (llama.cpp `llama_sampler_temp_ext_apply` plus our head
/// schedule). The schedule (`SamplerSettings.temperature(atStep:)`) gives the base temperature T for
/// this step; then:
///  - range R <= 0: logits /= T, or greedy when T <= 0 (llama.cpp `llama_sampler_temp_impl`).
///  - range R > 0 (entropy dynatemp), exactly llama.cpp's steps:
///      1 candidate left: nothing to do (no scaling at all); reports T.
///      T_min = max(0, T - R), T_max = T + R
///      H_max = -log(1 / N) over the N live candidates
///      softmax of the live logits, H = -sum p log p over p > 0, h = H / H_max
///      T_used = T_min + (T_max - T_min) * h^E
///      logits /= T_used (greedy if T_used <= 0)
///    llama.cpp then re-softmaxes in double; our final draw computes its own softmax, so that step is
///    folded into it (same numbers).
/// Note the llama.cpp rule this mirrors: with R > 0 a base T of 0 does NOT mean greedy, it means the
/// range [0, R].
struct TemperatureProcessor {
    var schedule: TemperatureSchedule
    var range: Float
    var exponent: Float

    func apply(_ buf: inout CandidateBuffer, _ ctx: inout ChainContext) {
        let t = schedule.temperature(atStep: ctx.step)
        guard range > 0 else {
            ctx.temperatureUsed = t
            TemperatureProcessor.scale(&buf, by: t)
            return
        }
        guard buf.count > 1 else {
            ctx.temperatureUsed = t
            return
        }
        let minTemp = max(0, t - range)
        let maxTemp = t + range
        let maxEntropy = -logf(1 / Float(buf.count))
        buf.softmax()
        var entropy: Float = 0
        for i in 0..<buf.count {
            let p = buf.base[i].p
            if p > 0 { entropy -= p * logf(p) }
        }
        let normalized = entropy / maxEntropy
        let used = minTemp + (maxTemp - minTemp) * powf(normalized, exponent)
        ctx.temperatureUsed = used
        TemperatureProcessor.scale(&buf, by: used)
    }

    /// logits /= t, or keep only the best token when t <= 0 (ties to the lowest id).
    static func scale(_ buf: inout CandidateBuffer, by t: Float) {
        if t.isNaN || t <= 0 {
            buf.keepBestOnly()
            return
        }
        if t == 1 { return }
        // +inf would turn -inf logits into NaN (-inf / inf); the largest finite value flattens the same.
        let temp = min(t, .greatestFiniteMagnitude)
        // Divide (not multiply by 1/t) to match llama.cpp bit for bit.
        for i in 0..<buf.count { buf.base[i].logit /= temp }
    }
}

/// The positional part of the temperature: base temperature plus the optional hot head. Kept separate
/// from `SamplerSettings` so the chain holds only what it needs.
struct TemperatureSchedule: Equatable {
    var base: Float
    var headTemp: Float?
    var headTokens: Int
    var headDecay: Int

    init(_ s: SamplerSettings) {
        base = s.temperature
        headTemp = s.headTemp
        headTokens = s.headTokens
        headDecay = s.headDecay
    }

    func temperature(atStep step: Int) -> Float {
        TemperatureSchedule.temperature(base: base, headTemp: headTemp, headTokens: headTokens,
                                        headDecay: headDecay, step: step)
    }

    /// See `SamplerSettings.temperature(atStep:)` for the formula.
    static func temperature(base: Float, headTemp: Float?, headTokens: Int, headDecay: Int, step: Int) -> Float {
        guard let head = headTemp else { return base }
        let k = max(0, headTokens)
        let d = max(0, headDecay)
        let s = max(0, step)
        if s < k { return head }
        let j = s - k
        if j < d {
            return head + (base - head) * Float(j + 1) / Float(d + 1)
        }
        return base
    }
}
