/// One logit processor as a small value. An enum rather than a protocol existential so the chain is a
/// plain array of inline values: no boxing, no allocation when it runs.
enum LogitProcessor {
    case penalties(PenaltiesProcessor)
    case topK(TopKProcessor)
    case topP(TopPProcessor)
    case minP(MinPProcessor)
    case temperature(TemperatureProcessor)

    func apply(_ buf: inout CandidateBuffer, _ ctx: inout ChainContext) {
        switch self {
        case let .penalties(p): p.apply(&buf, &ctx)
        case let .topK(p): p.apply(&buf)
        case let .topP(p): p.apply(&buf)
        case let .minP(p): p.apply(&buf)
        case let .temperature(p): p.apply(&buf, &ctx)
        }
    }
}

/// The processors in the configured order (llama.cpp's sampler chain, minus the final draw, which the
/// `Sampler` does). Built once per settings change, not per token.
struct SamplerChain {
    let processors: [LogitProcessor]
    /// Whether a penalties stage with any effect is present (so the sampler counts the history).
    let needsHistory: Bool
    /// The penalty window: 0 = off, -1 = all of the history.
    let penaltyLastN: Int

    init(settings s: SamplerSettings) {
        var list: [LogitProcessor] = []
        var needsHistory = false
        for stage in s.order {
            switch stage {
            case .penalties:
                let p = PenaltiesProcessor(repeatPenalty: s.repeatPenalty, presencePenalty: s.presencePenalty,
                                           frequencyPenalty: s.frequencyPenalty)
                // llama.cpp skips the stage when last_n == 0 or all three penalties are neutral.
                if p.isActive && s.penaltyLastN != 0 {
                    list.append(.penalties(p))
                    needsHistory = true
                }
            case .topK:
                list.append(.topK(TopKProcessor(k: s.topK)))
            case .topP:
                list.append(.topP(TopPProcessor(p: s.topP)))
            case .minP:
                list.append(.minP(MinPProcessor(p: s.minP)))
            case .temperature:
                list.append(.temperature(TemperatureProcessor(schedule: TemperatureSchedule(s),
                                                              range: s.dynatempRange,
                                                              exponent: s.dynatempExponent)))
            }
        }
        processors = list
        self.needsHistory = needsHistory
        penaltyLastN = s.penaltyLastN
    }

    func run(_ buf: inout CandidateBuffer, _ ctx: inout ChainContext) {
        // No early exit at one candidate: the temperature stage must still run to report its value.
        for p in processors { p.apply(&buf, &ctx) }
    }
}
