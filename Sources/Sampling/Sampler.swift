/// The outcome of one draw.
public struct SampleResult: Sendable, Equatable {
    public let token: Int
    /// The temperature the logits were actually divided by for this token: the schedule's value, or the
    /// entropy-scaled one when `dynatempRange` > 0; <= 0 when the token was picked greedily; 1 when the
    /// order has no temperature stage.
    public let temperature: Float
    /// The token's probability in the final distribution it was drawn from (1 for a greedy pick).
    public let probability: Float
    /// How many candidates survived the chain.
    public let candidateCount: Int

    public init(token: Int, temperature: Float, probability: Float, candidateCount: Int) {
        self.token = token
        self.temperature = temperature
        self.probability = probability
        self.candidateCount = candidateCount
    }
}

/// A token with its processed logit and final probability, for inspection (`Sampler.distribution`).
public struct SampledCandidate: Sendable, Equatable {
    public let token: Int
    public let logit: Float
    public let probability: Float
}

/// Draws tokens from logits through the configured chain of processors and a seeded RNG.
///
/// One per generation stream; not meant to be shared across threads (it owns mutable scratch buffers).
/// All buffers are sized to the vocabulary at init and reused: `sample` does not allocate.
public final class Sampler {
    public let vocabularySize: Int

    /// Settable between tokens; takes effect on the next `sample`. A changed `seed` reseeds the RNG;
    /// other changes keep the RNG stream where it is.
    public var settings: SamplerSettings {
        didSet {
            guard settings != oldValue else { return }
            chain = SamplerChain(settings: settings)
            if settings.seed != oldValue.seed { rng = Xoshiro256StarStar(seed: settings.seed) }
        }
    }

    private var chain: SamplerChain
    private var rng: Xoshiro256StarStar
    private var buffer: CandidateBuffer
    /// [vocabularySize] occurrences of each token in the penalty window; all zero between calls.
    private let counts: UnsafeMutablePointer<Int32>
    /// [vocabularySize] the distinct tokens of the penalty window (first `seenCount` entries).
    private let seen: UnsafeMutablePointer<Int32>

    /// `vocabularySize` below 1 is raised to 1 (a model always has a vocabulary).
    public init(vocabularySize: Int, settings: SamplerSettings) {
        let n = max(1, vocabularySize)
        self.vocabularySize = n
        self.settings = settings
        chain = SamplerChain(settings: settings)
        rng = Xoshiro256StarStar(seed: settings.seed)
        buffer = CandidateBuffer(capacity: n)
        counts = .allocate(capacity: n)
        counts.initialize(repeating: 0, count: n)
        seen = .allocate(capacity: n)
        seen.initialize(repeating: 0, count: n)
    }

    deinit {
        buffer.deallocate()
        counts.deallocate()
        seen.deallocate()
    }

    /// Restarts the RNG stream from `seed` (and records it in `settings`).
    public func reseed(_ seed: UInt64) {
        settings.seed = seed
        rng = Xoshiro256StarStar(seed: seed)
    }

    // MARK: Sampling

    /// Draws one token.
    /// - logits: [vocabularySize] raw logits of the position being sampled. A shorter buffer limits the
    ///   candidates to its length; entries past `vocabularySize` are ignored.
    /// - history: tokens seen so far (prompt + generated), oldest first, for the penalties; ids outside
    ///   the vocabulary are ignored.
    /// - step: index of the generated token (0 for the first), for the temperature schedule.
    /// Every call consumes exactly one random number, greedy or not, so changing settings mid-stream
    /// doesn't shift which random number later tokens get.
    public func sample(logits: UnsafeBufferPointer<Float>, history: some Collection<Int>, step: Int) -> SampleResult {
        let ctx = runChain(logits: logits, history: history, step: step)
        let u = rng.nextUnitDouble()
        guard buffer.count > 0 else {
            // Only reachable with an empty logits buffer.
            return SampleResult(token: 0, temperature: ctx.temperatureUsed, probability: 0, candidateCount: 0)
        }
        buffer.softmax()
        let index = pick(u)
        return SampleResult(token: Int(buffer[index].id), temperature: ctx.temperatureUsed,
                            probability: buffer[index].p, candidateCount: buffer.count)
    }

    public func sample(logits: [Float], history: [Int], step: Int) -> SampleResult {
        logits.withUnsafeBufferPointer { sample(logits: $0, history: history, step: step) }
    }

    /// The final distribution the next `sample` with the same arguments would draw from, most probable
    /// first, and the temperature it would use. Consumes no random number. Allocates (for inspection
    /// and tests, not the per-token path).
    public func distribution(logits: [Float], history: [Int], step: Int) -> (candidates: [SampledCandidate], temperature: Float) {
        let ctx = logits.withUnsafeBufferPointer { runChain(logits: $0, history: history, step: step) }
        buffer.softmax()
        buffer.sortBestFirst()
        var out: [SampledCandidate] = []
        out.reserveCapacity(buffer.count)
        for i in 0..<buffer.count {
            let c = buffer[i]
            out.append(SampledCandidate(token: Int(c.id), logit: c.logit, probability: c.p))
        }
        return (out, ctx.temperatureUsed)
    }

    /// Loads the logits, counts the penalty window, runs the chain, clears the counts.
    private func runChain(logits: UnsafeBufferPointer<Float>, history: some Collection<Int>, step: Int) -> ChainContext {
        buffer.load(logits)
        var ctx = ChainContext(step: step, counts: counts, seen: seen, seenCount: 0)
        if chain.needsHistory {
            let window = chain.penaltyLastN < 0 ? history.count : min(chain.penaltyLastN, history.count)
            for t in history.suffix(window) where t >= 0 && t < vocabularySize {
                if counts[t] == 0 {
                    seen[ctx.seenCount] = Int32(truncatingIfNeeded: t)
                    ctx.seenCount += 1
                }
                counts[t] += 1
            }
        }
        chain.run(&buffer, &ctx)
        for s in 0..<ctx.seenCount { counts[Int(seen[s])] = 0 }
        return ctx
    }

    /// Inverse-CDF draw over the live candidates' probabilities with u in [0, 1). Cumulated in Double;
    /// if rounding leaves u past the total, the last candidate with p > 0 is taken.
    private func pick(_ u: Double) -> Int {
        var total = 0.0
        for i in 0..<buffer.count { total += Double(buffer[i].p) }
        let target = u * total
        var cum = 0.0
        var lastPositive = 0
        for i in 0..<buffer.count {
            let p = Double(buffer[i].p)
            guard p > 0 else { continue }
            cum += p
            lastPositive = i
            if target < cum { return i }
        }
        return lastPositive
    }
}
