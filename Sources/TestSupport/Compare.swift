/// Numeric comparison helpers shared by the test targets.
public struct Closeness: CustomStringConvertible, Sendable {
    public var maxAbsDiff: Float
    public var worstIndex: Int
    /// Normalised mean squared error: sum((a-b)^2) / sum(b^2), as llama.cpp's test-backend-ops uses.
    public var nmse: Double
    public var description: String {
        "max |a-b| = \(maxAbsDiff) at index \(worstIndex), nmse = \(nmse)"
    }
}

public func closeness(_ a: [Float], _ b: [Float]) -> Closeness {
    precondition(a.count == b.count, "length mismatch \(a.count) vs \(b.count)")
    var worst: Float = 0, at = 0
    var num = 0.0, den = 0.0
    for i in 0..<a.count {
        let d = abs(a[i] - b[i])
        if !(d <= worst) { worst = d; at = i }   // NaN counts as worst
        num += Double(a[i] - b[i]) * Double(a[i] - b[i])
        den += Double(b[i]) * Double(b[i])
    }
    return Closeness(maxAbsDiff: worst, worstIndex: at, nmse: den > 0 ? num / den : num)
}
