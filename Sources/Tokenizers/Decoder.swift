import Foundation

/// tokenizer.json `decoder`: turns token strings back into text. Pieces are carried as UTF-8 bytes so the
/// same chain serves `decodeBytes` (raw bytes, for streaming) and `decode`. With `exact`, the steps that
/// turn bytes into text inside tokenizers (ByteLevel's `from_utf8_lossy`, ByteFallback's one U+FFFD per
/// invalid byte) do so here too, so the final string equals tokenizers' output.
protocol Decoder: Sendable {
    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]]
}

enum Decoders {
    static func make(_ json: JSONReader) throws -> any Decoder {
        let type = try json.string("type")
        switch type {
        case "Sequence":
            return SequenceDecoder(steps: try json.readers("decoders").map(make))
        case "ByteLevel":
            return ByteLevelDecoder()
        case "ByteFallback":
            return ByteFallbackDecoder()
        case "Fuse":
            return FuseDecoder()
        case "Replace":
            return try ReplaceDecoder(pattern: json.pattern("pattern"), content: json.string("content"),
                                      section: json.section)
        case "Strip":
            let content = try json.string("content")
            guard content.unicodeScalars.count == 1 else {
                throw TokenizerError.invalidValue(section: json.section, key: "content", expected: "one character",
                                                  actual: content)
            }
            return StripDecoder(content: Array(content.utf8), start: try json.optionalInt("start") ?? 0,
                                stop: try json.optionalInt("stop") ?? 0)
        case "Metaspace":
            let replacement = try json.optionalString("replacement") ?? "\u{2581}"
            let scheme = try json.optionalString("prepend_scheme")
                ?? (try json.bool("add_prefix_space", default: true) ? "always" : "never")
            return MetaspaceDecoder(replacement: replacement, stripFirstSpace: scheme != "never")
        default:
            throw TokenizerError.unsupportedType(section: json.section, type: type)
        }
    }
}

struct SequenceDecoder: Decoder {
    let steps: [any Decoder]
    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] {
        steps.reduce(pieces) { $1.decode($0, exact: exact) }
    }
}

/// All tokens -> their bytes -> one piece (tokenizers returns a single lossily decoded string).
struct ByteLevelDecoder: Decoder {
    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] {
        var bytes: [UInt8] = []
        for p in pieces { ByteLevel.decode(String(decoding: p, as: UTF8.self), into: &bytes) }
        if exact { bytes = Array(UTF8Util.lossy(bytes).utf8) }
        return [bytes]
    }
}

/// `<0xXX>` tokens become their byte. tokenizers joins each run of them and, when the run is not valid
/// UTF-8, emits one U+FFFD per byte of the run.
struct ByteFallbackDecoder: Decoder {
    static func byteValue(_ p: [UInt8]) -> UInt8? {
        // "<0x" hex hex ">"
        guard p.count == 6, p[0] == 0x3C, p[1] == 0x30, p[2] == 0x78, p[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let h = hex(p[3]), let l = hex(p[4]) else { return nil }
        return h << 4 | l
    }

    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var run: [UInt8] = []
        func flush() {
            guard !run.isEmpty else { return }
            if exact && String(validating: run, as: UTF8.self) == nil {
                let replacement = Array("\u{FFFD}".utf8)
                for _ in run { out.append(replacement) }
            } else {
                out.append(run)
            }
            run = []
        }
        for p in pieces {
            if let b = Self.byteValue(p) { run.append(b) } else { flush(); out.append(p) }
        }
        flush()
        return out
    }
}

struct FuseDecoder: Decoder {
    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] { [pieces.flatMap { $0 }] }
}

struct ReplaceDecoder: Decoder {
    let pattern: Pattern
    let regex: CompiledRegex?
    let content: String

    init(pattern: Pattern, content: String, section: String) throws {
        self.pattern = pattern
        self.content = content
        if case .regex = pattern { regex = try pattern.compile(section: section) } else { regex = nil }
    }

    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] {
        pieces.map { p in
            switch pattern {
            case .string(let target): return replaceBytes(p, Array(target.utf8), Array(content.utf8))
            case .regex:
                guard let regex else { return p }
                return Array(regex.replaceAll(in: UTF8Util.lossy(p), with: content).utf8)
            }
        }
    }
}

/// Removes up to `start` leading and `stop` trailing copies of `content` from every piece.
struct StripDecoder: Decoder {
    let content: [UInt8]
    let start: Int
    let stop: Int

    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] {
        pieces.map { p in
            var lo = 0, hi = p.count
            var n = 0
            while n < start, hi - lo >= content.count, p[lo..<(lo + content.count)].elementsEqual(content) {
                lo += content.count
                n += 1
            }
            n = 0
            while n < stop, hi - lo >= content.count, p[(hi - content.count)..<hi].elementsEqual(content) {
                hi -= content.count
                n += 1
            }
            return Array(p[lo..<hi])
        }
    }
}

/// ▁ -> space in every piece. Unless the scheme is "never", every ▁ of the *first* piece is dropped
/// instead (tokenizers `Metaspace::decode_chain` tests the token index, not the position in the token).
struct MetaspaceDecoder: Decoder {
    let replacement: String
    let stripFirstSpace: Bool

    func decode(_ pieces: [[UInt8]], exact: Bool) -> [[UInt8]] {
        let mark = Array(replacement.utf8)
        return pieces.enumerated().map { i, p in
            replaceBytes(p, mark, i == 0 && stripFirstSpace ? [] : [0x20])
        }
    }
}

func replaceBytes(_ bytes: [UInt8], _ target: [UInt8], _ replacement: [UInt8]) -> [UInt8] {
    guard let first = target.first, bytes.count >= target.count else { return bytes }
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        if bytes[i] == first, i + target.count <= bytes.count, bytes[i..<(i + target.count)].elementsEqual(target) {
            out.append(contentsOf: replacement)
            i += target.count
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return out
}
