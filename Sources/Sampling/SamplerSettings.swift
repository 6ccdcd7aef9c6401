/// The two kinds of dynamic temperature, as values. Both can be active at once (see
/// `SamplerSettings.dynamicTemperature`): the head schedule then gives the base temperature that the
/// entropy range spreads around.
public enum DynamicTemperature: Sendable, Equatable, Codable {
    case off
    /// llama.cpp's `--dynatemp-range R --dynatemp-exp E`.
    case entropy(range: Float, exponent: Float)
    /// The first `headTokens` generated tokens at `headTemp`, then `decay` tokens easing linearly to the
    /// base temperature.
    case headSchedule(headTemp: Float, headTokens: Int, decay: Int)
}

/// Everything that decides how a token is drawn from logits. Plain data: settable between tokens.
/// Defaults are llama.cpp's (`common_params_sampling`), except the seed, which is fixed (not random) so
/// a run is reproducible unless the caller asks otherwise (`SamplerSettings.randomSeed()`).
public struct SamplerSettings: Sendable, Equatable, Codable {
    /// Base temperature. <= 0 means greedy (argmax; ties go to the lowest token id) unless
    /// `dynatempRange` > 0, where llama.cpp's rule applies: the range is [max(0, T-R), T+R].
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens; 0 (or less) disables.
    public var topK: Int = 40
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 disables.
    public var topP: Float = 0.95
    /// Drop tokens whose probability is below minP times the top token's; 0 disables.
    public var minP: Float = 0.05
    /// llama.cpp's repeat penalty: positive logits of seen tokens are divided by it, the others
    /// multiplied. 1 disables.
    public var repeatPenalty: Float = 1.0
    /// Subtracted once from the logit of every token seen in the window.
    public var presencePenalty: Float = 0
    /// Subtracted per occurrence in the window.
    public var frequencyPenalty: Float = 0
    /// How many of the most recent history tokens the penalties look at: 0 disables, -1 means all.
    public var penaltyLastN: Int = 64
    /// Entropy-scaled temperature (llama.cpp `--dynatemp-range`); 0 disables.
    public var dynatempRange: Float = 0
    /// llama.cpp `--dynatemp-exp`.
    public var dynatempExponent: Float = 1
    /// Temperature of the first `headTokens` generated tokens; nil disables the head schedule.
    public var headTemp: Float? = nil
    public var headTokens: Int = 0
    /// Number of tokens over which the temperature eases linearly from `headTemp` to `temperature`.
    public var headDecay: Int = 0
    public var seed: UInt64 = SamplerSettings.defaultSeed
    public var order: [SamplerStage] = SamplerStage.defaultOrder

    public static let defaultSeed: UInt64 = 0x5EED_5EED

    public init() {}

    /// A seed from the system's random source, for callers that want a different reply every run.
    public static func randomSeed() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return g.next()
    }

    /// The schedule's base temperature for the `step`-th generated token (0-based), before any entropy
    /// scaling. With a head schedule (headTemp = H, headTokens = K, headDecay = D, base T):
    ///   step <  K           -> H
    ///   K <= step < K + D   -> H + (T - H) * (step - K + 1) / (D + 1)   (linear; neither end repeated)
    ///   step >= K + D       -> T
    /// Linear rather than smoothstep: with D of a few tokens the difference is below what one can hear
    /// in the text, and linear steps are easy to state and check.
    public func temperature(atStep step: Int) -> Float {
        TemperatureSchedule.temperature(base: temperature, headTemp: headTemp, headTokens: headTokens,
                                        headDecay: headDecay, step: step)
    }

    /// The active dynamic-temperature kinds ([] when neither is on). Setting it replaces both kinds;
    /// `.off` in the list (or an empty list) switches both off.
    public var dynamicTemperature: [DynamicTemperature] {
        get {
            var kinds: [DynamicTemperature] = []
            if let h = headTemp { kinds.append(.headSchedule(headTemp: h, headTokens: headTokens, decay: headDecay)) }
            if dynatempRange > 0 { kinds.append(.entropy(range: dynatempRange, exponent: dynatempExponent)) }
            return kinds
        }
        set {
            dynatempRange = 0
            dynatempExponent = 1
            headTemp = nil
            headTokens = 0
            headDecay = 0
            for kind in newValue {
                switch kind {
                case .off: break
                case let .entropy(range, exponent):
                    dynatempRange = range
                    dynatempExponent = exponent
                case let .headSchedule(h, k, d):
                    headTemp = h
                    headTokens = k
                    headDecay = d
                }
            }
        }
    }

    // MARK: Validation

    /// Throws `SamplingError` for the first setting outside its domain. The sampler itself tolerates any
    /// values (it clamps, as llama.cpp does); this is for the UI and config to reject nonsense early.
    public func validate() throws {
        func bad(_ name: String, _ value: Any, _ expected: String) -> SamplingError {
            .invalidSetting(name: name, value: "\(value)", expected: expected)
        }
        if !temperature.isFinite || temperature < 0 {
            throw bad("temperature", temperature, "a finite number >= 0 (0 = greedy)")
        }
        if topK < 0 { throw bad("topK", topK, "an integer >= 0 (0 = off)") }
        if !(topP > 0 && topP <= 1) { throw bad("topP", topP, "a number in (0, 1] (1 = off)") }
        if !(minP >= 0 && minP <= 1) { throw bad("minP", minP, "a number in [0, 1] (0 = off)") }
        if !repeatPenalty.isFinite || repeatPenalty <= 0 {
            throw bad("repeatPenalty", repeatPenalty, "a finite number > 0 (1 = off)")
        }
        if !presencePenalty.isFinite { throw bad("presencePenalty", presencePenalty, "a finite number") }
        if !frequencyPenalty.isFinite { throw bad("frequencyPenalty", frequencyPenalty, "a finite number") }
        if penaltyLastN < -1 { throw bad("penaltyLastN", penaltyLastN, "an integer >= -1 (0 = off, -1 = all)") }
        if !dynatempRange.isFinite || dynatempRange < 0 {
            throw bad("dynatempRange", dynatempRange, "a finite number >= 0 (0 = off)")
        }
        if !dynatempExponent.isFinite || dynatempExponent < 0 {
            throw bad("dynatempExponent", dynatempExponent, "a finite number >= 0")
        }
        if let h = headTemp, !h.isFinite || h < 0 { throw bad("headTemp", h, "a finite number >= 0") }
        if headTokens < 0 { throw bad("headTokens", headTokens, "an integer >= 0") }
        if headDecay < 0 { throw bad("headDecay", headDecay, "an integer >= 0") }
        var seen: Set<SamplerStage> = []
        for stage in order where !seen.insert(stage).inserted {
            throw SamplingError.duplicateStage(stage)
        }
    }

    // MARK: Codable (every key optional: a config file names only what it changes)

    enum CodingKeys: String, CodingKey {
        case temperature, topK, topP, minP, repeatPenalty, presencePenalty, frequencyPenalty, penaltyLastN
        case dynatempRange, dynatempExponent, headTemp, headTokens, headDecay, seed, order
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        temperature = try c.decodeIfPresent(Float.self, forKey: .temperature) ?? temperature
        topK = try c.decodeIfPresent(Int.self, forKey: .topK) ?? topK
        topP = try c.decodeIfPresent(Float.self, forKey: .topP) ?? topP
        minP = try c.decodeIfPresent(Float.self, forKey: .minP) ?? minP
        repeatPenalty = try c.decodeIfPresent(Float.self, forKey: .repeatPenalty) ?? repeatPenalty
        presencePenalty = try c.decodeIfPresent(Float.self, forKey: .presencePenalty) ?? presencePenalty
        frequencyPenalty = try c.decodeIfPresent(Float.self, forKey: .frequencyPenalty) ?? frequencyPenalty
        penaltyLastN = try c.decodeIfPresent(Int.self, forKey: .penaltyLastN) ?? penaltyLastN
        dynatempRange = try c.decodeIfPresent(Float.self, forKey: .dynatempRange) ?? dynatempRange
        dynatempExponent = try c.decodeIfPresent(Float.self, forKey: .dynatempExponent) ?? dynatempExponent
        headTemp = try c.decodeIfPresent(Float.self, forKey: .headTemp) ?? headTemp
        headTokens = try c.decodeIfPresent(Int.self, forKey: .headTokens) ?? headTokens
        headDecay = try c.decodeIfPresent(Int.self, forKey: .headDecay) ?? headDecay
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        order = try c.decodeIfPresent([SamplerStage].self, forKey: .order) ?? order
    }
}
