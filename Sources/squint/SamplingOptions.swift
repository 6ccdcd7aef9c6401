import ArgumentParser
import Sampling

/// The sampling flags shared by `generate` (and later `chat`).
struct SamplingOptions: ParsableArguments {
    @Option(name: .customLong("temp"), help: "Temperature; 0 is greedy.")
    var temperature: Float = SamplerSettings().temperature
    @Option(name: .customLong("top-k"), help: "Keep the K most likely tokens (0: off).")
    var topK: Int = SamplerSettings().topK
    @Option(name: .customLong("top-p"), help: "Nucleus sampling: keep the smallest set with probability P (1: off).")
    var topP: Float = SamplerSettings().topP
    @Option(name: .customLong("min-p"), help: "Drop tokens below P times the top probability (0: off).")
    var minP: Float = SamplerSettings().minP
    @Option(name: .customLong("repeat-penalty"), help: "Penalise repeats of the last --repeat-last-n tokens (1: off).")
    var repeatPenalty: Float = SamplerSettings().repeatPenalty
    @Option(name: .customLong("repeat-last-n"), help: "How many recent tokens the penalties look at.")
    var repeatLastN: Int = SamplerSettings().penaltyLastN
    @Option(name: .customLong("presence-penalty"), help: "Subtracted from the logit of every token already seen.")
    var presencePenalty: Float = 0
    @Option(name: .customLong("frequency-penalty"), help: "Subtracted once per occurrence of a seen token.")
    var frequencyPenalty: Float = 0
    @Option(name: .customLong("dynatemp-range"), help: "Entropy-scaled dynamic temperature: T varies in [T-R, T+R] (0: off).")
    var dynatempRange: Float = 0
    @Option(name: .customLong("dynatemp-exp"), help: "Exponent applied to the normalised entropy.")
    var dynatempExp: Float = 1
    @Option(name: .customLong("head-temp"), help: "Hot-head schedule: the temperature of the first --head-tokens tokens.")
    var headTemp: Float?
    @Option(name: .customLong("head-tokens"), help: "How many tokens are sampled at --head-temp.")
    var headTokens: Int = 0
    @Option(name: .customLong("head-decay"), help: "Over how many tokens the temperature then eases back to --temp.")
    var headDecay: Int = 0
    @Option(name: .customLong("sampler-order"), help: "Stage order, e.g. penalties,top_k,top_p,min_p,temperature.")
    var samplerOrder: String?
    @Option(help: "Random seed (default: a fresh one, reported in --json).")
    var seed: UInt64?

    func settings() throws -> SamplerSettings {
        var s = SamplerSettings()
        s.temperature = temperature
        s.topK = topK
        s.topP = topP
        s.minP = minP
        s.repeatPenalty = repeatPenalty
        s.penaltyLastN = repeatLastN
        s.presencePenalty = presencePenalty
        s.frequencyPenalty = frequencyPenalty
        s.dynatempRange = dynatempRange
        s.dynatempExponent = dynatempExp
        s.headTemp = headTemp
        s.headTokens = headTokens
        s.headDecay = headDecay
        if let samplerOrder { s.order = try SamplerStage.parseOrder(samplerOrder) }
        s.seed = seed ?? SamplerSettings.randomSeed()
        try s.validate()
        return s
    }
}
