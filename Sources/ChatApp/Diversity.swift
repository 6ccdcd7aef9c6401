/// How different compared replies are, computed on whitespace-separated lowercase words.
public struct Diversity: Sendable, Equatable {
    /// Distinct n-grams over all n-grams of all replies (Li et al. 2016, "distinct-n").
    public var distinct1: Double
    public var distinct2: Double
    /// Mean Jaccard similarity of the replies' word-bigram sets over all pairs (0 = nothing shared).
    public var pairwiseOverlap: Double

    public static func measure(_ texts: [String]) -> Diversity {
        let words = texts.map { $0.lowercased().split(whereSeparator: { $0.isWhitespace }).map(String.init) }
        func ngrams(_ w: [String], _ n: Int) -> [String] {
            guard w.count >= n else { return [] }
            return (0...(w.count - n)).map { w[$0..<($0 + n)].joined(separator: " ") }
        }
        func distinct(_ n: Int) -> Double {
            let all = words.flatMap { ngrams($0, n) }
            return all.isEmpty ? 0 : Double(Set(all).count) / Double(all.count)
        }
        let sets = words.map { Set(ngrams($0, 2)) }
        var total = 0.0, pairs = 0
        for i in 0..<sets.count {
            for j in (i + 1)..<max(i + 1, sets.count) {
                let union = sets[i].union(sets[j]).count
                total += union == 0 ? 0 : Double(sets[i].intersection(sets[j]).count) / Double(union)
                pairs += 1
            }
        }
        return Diversity(distinct1: distinct(1), distinct2: distinct(2), pairwiseOverlap: pairs == 0 ? 0 : total / Double(pairs))
    }
}
