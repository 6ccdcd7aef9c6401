/// The xterm 256-colour palette, for mapping 24-bit colours onto terminals without direct colour and
/// palette indices onto terminals with only direct colour.
public enum Palette {
    /// The six levels of each channel of the 6x6x6 cube (indices 16-231), as xterm defines them.
    static let cubeLevels: [Int] = [0, 95, 135, 175, 215, 255]

    /// The 16 system colours as xterm's defaults (terminals differ; these are only used to give an
    /// index a 24-bit value when the terminal has nothing but direct colour).
    static let system: [(Int, Int, Int)] = [
        (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0), (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
        (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0), (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
    ]

    /// The 24-bit value of palette entry `index`.
    public static func rgb(ofIndex index: UInt8) -> (UInt8, UInt8, UInt8) {
        let i = Int(index)
        if i < 16 { let c = system[i]; return (UInt8(c.0), UInt8(c.1), UInt8(c.2)) }
        if i < 232 {
            let k = i - 16
            return (UInt8(cubeLevels[k / 36]), UInt8(cubeLevels[(k / 6) % 6]), UInt8(cubeLevels[k % 6]))
        }
        let g = UInt8(8 + 10 * (i - 232))
        return (g, g, g)
    }

    /// The cube level nearest to a channel value (the cube's steps are uneven: 0, 95, then every 40).
    static func nearestLevel(_ v: Int) -> Int {
        if v < 48 { return 0 }
        if v < 115 { return 1 }
        return min(5, (v - 35) / 40)
    }

    /// The 256-colour index nearest to an RGB colour: the closer (squared distance) of the nearest cube
    /// entry and the nearest of the 24 greys, never the 16 system colours (their values vary between
    /// terminals). Grey wins for near-neutral colours, where the cube has only six levels.
    public static func index256(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let (ri, gi, bi) = (nearestLevel(Int(r)), nearestLevel(Int(g)), nearestLevel(Int(b)))
        let cube = (cubeLevels[ri], cubeLevels[gi], cubeLevels[bi])
        let mean = (Int(r) + Int(g) + Int(b)) / 3
        let greyStep = min(23, max(0, (mean - 3) / 10))
        let grey = 8 + 10 * greyStep
        func distance(_ c: (Int, Int, Int)) -> Int {
            let dr = c.0 - Int(r), dg = c.1 - Int(g), db = c.2 - Int(b)
            return dr * dr + dg * dg + db * db
        }
        if distance((grey, grey, grey)) < distance(cube) { return UInt8(232 + greyStep) }
        return UInt8(16 + 36 * ri + 6 * gi + bi)
    }

    /// The 16-colour index nearest to an RGB colour (for 8/16-colour terminals), by xterm's values.
    public static func index16(_ r: UInt8, _ g: UInt8, _ b: UInt8, count: Int = 16) -> UInt8 {
        var best = 0, bestDistance = Int.max
        for i in 0..<min(16, max(1, count)) {
            let c = system[i]
            let dr = c.0 - Int(r), dg = c.1 - Int(g), db = c.2 - Int(b)
            let d = dr * dr + dg * dg + db * db
            if d < bestDistance { best = i; bestDistance = d }
        }
        return UInt8(best)
    }
}
