import Foundation

/// GPT-2's reversible byte <-> printable-character alphabet, plus UTF-8 helpers used by decoding and
/// streaming. Mirrors `bytes_to_unicode()` of openai/gpt-2 `encoder.py` (tokenizers `byte_level.rs`).
enum ByteLevel {
    /// byte -> the Unicode scalar that stands for it. Printable Latin-1 bytes map to themselves; the other
    /// 68 bytes (controls, space, 0x7F-0xA0, 0xAD) map to U+0100 upwards in byte order.
    static let byteToScalar: [Unicode.Scalar] = {
        var printable = Set<Int>()
        printable.formUnion(0x21...0x7E)
        printable.formUnion(0xA1...0xAC)
        printable.formUnion(0xAE...0xFF)
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next = 256
        for b in 0..<256 {
            if printable.contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!  // b < 256 is always a valid scalar
            } else {
                table[b] = Unicode.Scalar(UInt32(next))!  // 256..<324, valid scalars
                next += 1
            }
        }
        return table
    }()

    /// The UTF-8 encoding of each byte's stand-in character (1 or 2 bytes), for fast string building.
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { Array(String($0).utf8) }

    /// Stand-in scalar value -> byte; -1 for scalars outside the alphabet. Indexed by scalar value < 324.
    static let scalarToByte: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in byteToScalar.enumerated() { table[Int(s.value)] = Int16(b) }
        return table
    }()

    /// Maps every UTF-8 byte of `text` to its stand-in character ("hello world" -> "helloĠworld").
    static func encode(_ text: some StringProtocol) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 2)
        for b in text.utf8 { out.append(contentsOf: byteToUTF8[Int(b)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes a token stands for. As tokenizers' ByteLevel decoder does, a token holding any character
    /// outside the alphabet (an added token such as "中文") contributes its own UTF-8 bytes unchanged.
    static func decode(_ token: String, into out: inout [UInt8]) {
        let start = out.count
        for s in token.unicodeScalars {
            let v = Int(s.value)
            if v < scalarToByte.count, scalarToByte[v] >= 0 {
                out.append(UInt8(scalarToByte[v]))
            } else {
                out.removeSubrange(start...)
                out.append(contentsOf: token.utf8)
                return
            }
        }
    }
}

enum UTF8Util {
    /// Where a trailing, still-incomplete but so-far-valid UTF-8 sequence begins (`bytes.count` when there
    /// is none). Bytes before this point can be decoded now without changing the final text; the tail must
    /// wait for more bytes. Checks the second-byte ranges of RFC 3629 so a tail that can never become
    /// valid (e.g. E0 80) is not held back.
    static func incompleteTailStart(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var i = n - 1
        var continuation = 0
        while i >= 0, continuation < 4 {
            let b = bytes[i]
            if b & 0xC0 == 0x80 {
                continuation += 1
                i -= 1
                continue
            }
            let need: Int
            switch b {
            case 0xC2...0xDF: need = 2
            case 0xE0...0xEF: need = 3
            case 0xF0...0xF4: need = 4
            default: return n
            }
            let have = n - i
            if have >= need { return n }
            if have >= 2 {
                let second = bytes[i + 1]
                let ok: Bool
                switch b {
                case 0xE0: ok = (0xA0...0xBF).contains(second)
                case 0xED: ok = (0x80...0x9F).contains(second)
                case 0xF0: ok = (0x90...0xBF).contains(second)
                case 0xF4: ok = (0x80...0x8F).contains(second)
                default: ok = true
                }
                if !ok { return n }
            }
            return i
        }
        return n
    }

    /// Lossy UTF-8 decoding: each maximal invalid subpart becomes U+FFFD, like Python's
    /// `errors="replace"` and Rust's `String::from_utf8_lossy`.
    static func lossy(_ bytes: some Collection<UInt8>) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

/// A dictionary key that compares strings byte for byte. Swift's `String ==` and hashing use canonical
/// equivalence (NFC "é" == NFD "é"), but a vocabulary may hold both forms as different tokens; hashing
/// raw UTF-8 is also much faster for the non-ASCII byte-level alphabet.
struct ByteKey: Hashable, Sendable {
    let string: String

    init(_ string: String) {
        var s = string
        s.makeContiguousUTF8()
        self.string = s
    }

    init(_ sub: Substring) { self.init(String(sub)) }

    static func == (a: ByteKey, b: ByteKey) -> Bool {
        let x = a.string.utf8, y = b.string.utf8
        guard x.count == y.count else { return false }
        let fast = x.withContiguousStorageIfAvailable { xb in
            y.withContiguousStorageIfAvailable { yb in
                xb.count == 0 || memcmp(xb.baseAddress!, yb.baseAddress!, xb.count) == 0
            }
        }
        if let result = fast ?? nil { return result }
        return x.elementsEqual(y)
    }

    func hash(into hasher: inout Hasher) {
        let done: Void? = string.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if done == nil { for b in string.utf8 { hasher.combine(b) } }
    }
}
