/// One configurable stage of the sampler chain. Raw values are llama.cpp's `--samplers` names.
/// The final draw ("dist") is not a stage: it always ends the chain, as in llama.cpp's common sampler.
public enum SamplerStage: String, Sendable, Codable, CaseIterable {
    case penalties
    case topK = "top_k"
    case topP = "top_p"
    case minP = "min_p"
    case temperature

    /// llama.cpp's default `penalties;dry;top_n_sigma;top_k;typ_p;top_p;min_p;xtc;temperature` with the
    /// stages we do not implement (dry, top_n_sigma, typical, xtc) left out; they are no-ops at
    /// llama.cpp's defaults anyway.
    public static let defaultOrder: [SamplerStage] = [.penalties, .topK, .topP, .minP, .temperature]

    /// llama.cpp stage names we accept in an order string and skip, because they are off by default
    /// there and not implemented here.
    public static let skippedLlamaStages: Set<String> = [
        "dry", "top_n_sigma", "typ_p", "typical_p", "typical", "xtc", "infill",
        "d", "s", "y", "x", "i",  // llama.cpp's one-letter --sampling-seq spellings of the same
    ]

    /// Parses a stage name: our raw values plus the spellings llama.cpp accepts ("top-k", "temp", and
    /// the one-letter `--sampling-seq` codes e k p m t).
    /// Returns nil for a skipped llama.cpp stage; throws for anything unknown.
    public static func parse(name: String) throws -> SamplerStage? {
        let key = name.trimmingWhitespace().lowercased().replacingHyphens()
        switch key {
        case "penalties", "penalty", "repetition", "e": return .penalties
        case "top_k", "topk", "k": return .topK
        case "top_p", "topp", "nucleus", "p": return .topP
        case "min_p", "minp", "m": return .minP
        case "temperature", "temp", "t": return .temperature
        default:
            if skippedLlamaStages.contains(key) { return nil }
            throw SamplingError.unknownStage(name)
        }
    }

    /// Parses an order list such as llama.cpp's `--samplers "penalties;top_k;top_p;min_p;temperature"`
    /// (';' or ',' separated). Skipped llama.cpp stages are dropped; unknown names and duplicates throw.
    public static func parseOrder(_ text: String) throws -> [SamplerStage] {
        var order: [SamplerStage] = []
        for part in text.split(whereSeparator: { $0 == ";" || $0 == "," }) {
            let name = String(part)
            if name.trimmingWhitespace().isEmpty { continue }
            guard let stage = try parse(name: name) else { continue }
            if order.contains(stage) { throw SamplingError.duplicateStage(stage) }
            order.append(stage)
        }
        return order
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }

    fileprivate func replacingHyphens() -> String {
        String(map { $0 == "-" ? "_" : $0 })
    }
}
