// Seeded pseudo-random numbers for sampling: xoshiro256** (Blackman & Vigna, 2018) with its state
// filled by SplitMix64, the seeding the authors recommend. Small, fast, and the same seed gives the same
// stream on every platform, which is what reproducible generation needs (llama.cpp uses mt19937; we
// don't try to reproduce its stream, only its distributions).

/// xoshiro256** seeded from one `UInt64` through SplitMix64.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable, Equatable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Seeds the four state words with four SplitMix64 outputs. SplitMix64 never yields an all-zero
    /// state from any seed (its outputs are a bijection of distinct counters), so every seed is valid.
    public init(seed: UInt64) {
        var sm = seed
        s0 = Xoshiro256StarStar.splitMix64(&sm)
        s1 = Xoshiro256StarStar.splitMix64(&sm)
        s2 = Xoshiro256StarStar.splitMix64(&sm)
        s3 = Xoshiro256StarStar.splitMix64(&sm)
    }

    /// Sets the raw state (for checking against the published reference vectors). An all-zero state
    /// would only ever produce zeros, so it is replaced by the seed-0 state.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        if state == (0, 0, 0, 0) {
            self.init(seed: 0)
        } else {
            self.init(words: state)
        }
    }

    private init(words: (UInt64, UInt64, UInt64, UInt64)) {
        (s0, s1, s2, s3) = words
    }

    /// One SplitMix64 step: advances `x` by the golden-ratio increment and returns the mixed value.
    public static func splitMix64(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    public mutating func next() -> UInt64 {
        let result = Xoshiro256StarStar.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Xoshiro256StarStar.rotl(s3, 45)
        return result
    }

    /// A uniform double in [0, 1) from the top 53 bits (the low bits of xoshiro256** are fine too, but
    /// 53 is all a double's mantissa can hold).
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    public static func == (a: Xoshiro256StarStar, b: Xoshiro256StarStar) -> Bool {
        a.s0 == b.s0 && a.s1 == b.s1 && a.s2 == b.s2 && a.s3 == b.s3
    }
}
