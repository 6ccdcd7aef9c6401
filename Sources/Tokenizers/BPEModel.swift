import Foundation

/// tokenizer.json `model` of type BPE. Merges are kept as (left id, right id) -> (rank, merged id), so a
/// word is merged on integer ids only; strings are touched once per word when the symbols are built.
struct BPEModel: Sendable {
    struct Merge: Sendable {
        let rank: Int32
        let id: Int32
    }

    let vocab: VocabTable
    let merges: [UInt64: Merge]
    /// Single-scalar tokens by scalar value, the fast path for building a word's first symbols.
    let scalarIDs: [UInt32: Int]
    let unkID: Int?
    let fuseUnk: Bool
    /// `<0xXX>` token ids for every byte when `byte_fallback` is on and all 256 exist; else nil.
    let byteFallbackIDs: [Int]?
    let continuingSubwordPrefix: String?
    let endOfWordSuffix: String?
    let ignoreMerges: Bool
    let unkToken: String?
    let cache = WordCache()

    /// Words of up to this many UTF-8 bytes are cached (longer ones are rare and would crowd the cache).
    static let maxCachedWordBytes = 256

    static func pairKey(_ a: Int, _ b: Int) -> UInt64 { UInt64(UInt32(truncatingIfNeeded: a)) << 32 | UInt64(UInt32(truncatingIfNeeded: b)) }

    init(_ json: JSONReader) throws {
        let section = json.section
        let vocabJSON = try json.reader("vocab")
        var entries: [(text: String, id: Int)] = []
        entries.reserveCapacity(vocabJSON.object.keys.count)
        for (token, value) in zip(vocabJSON.object.keys, vocabJSON.object.values) {
            guard let id = value.int, id >= 0, id < 16_000_000 else {
                throw TokenizerError.invalidValue(section: vocabJSON.section, key: token,
                                                  expected: "token id in 0..<16000000", actual: "\(value)")
            }
            entries.append((token, id))
        }
        let vocab = VocabTable(entries)
        entries = []
        var scalarIDs: [UInt32: Int] = [:]
        vocab.forEach { text, id in
            var it = text.unicodeScalars.makeIterator()
            if let first = it.next(), it.next() == nil { scalarIDs[first.value] = id }
        }

        continuingSubwordPrefix = try json.optionalString("continuing_subword_prefix").flatMap { $0.isEmpty ? nil : $0 }
        endOfWordSuffix = try json.optionalString("end_of_word_suffix").flatMap { $0.isEmpty ? nil : $0 }
        ignoreMerges = try json.bool("ignore_merges", default: false)
        fuseUnk = try json.bool("fuse_unk", default: false)
        unkToken = try json.optionalString("unk_token")
        unkID = unkToken.flatMap { vocab.id($0) }

        if try json.bool("byte_fallback", default: false) {
            var ids: [Int] = []
            for b in 0..<256 {
                guard let id = vocab.id(String(format: "<0x%02X>", b)) else { break }
                ids.append(id)
            }
            byteFallbackIDs = ids.count == 256 ? ids : nil
        } else {
            byteFallbackIDs = nil
        }

        // Merges: ["a b", ...] (older files) or [["a", "b"], ...].
        let mergesJSON = try json.array("merges")
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergesJSON.count)
        let prefixCount = continuingSubwordPrefix?.utf8.count ?? 0
        for (rank, entry) in mergesJSON.enumerated() {
            let left: String, right: String
            if case .string(let line) = entry {
                guard let space = line.utf8.firstIndex(of: 0x20) else {
                    throw TokenizerError.invalidValue(section: "\(section).merges[\(rank)]", key: "",
                                                      expected: "\"left right\"", actual: line)
                }
                left = String(line[..<space])
                right = String(line[line.utf8.index(after: space)...])
            } else if case .array(let pair) = entry, pair.count == 2, let l = pair[0].string, let r = pair[1].string {
                left = l
                right = r
            } else {
                throw TokenizerError.invalidValue(section: "\(section).merges[\(rank)]", key: "",
                                                  expected: "\"left right\" or [left, right]", actual: entry.kind)
            }
            guard let a = vocab.id(left) else { throw TokenizerError.mergeTokenOutOfVocabulary(index: rank, token: left) }
            guard let b = vocab.id(right) else { throw TokenizerError.mergeTokenOutOfVocabulary(index: rank, token: right) }
            // With a continuing-subword prefix ("##"), the right part's prefix is dropped when merging.
            var merged = left
            if prefixCount > 0, let p = continuingSubwordPrefix, right.hasPrefix(p) {
                merged += String(decoding: right.utf8.dropFirst(prefixCount), as: UTF8.self)
            } else {
                merged += right
            }
            guard let m = vocab.id(merged) else { throw TokenizerError.mergeTokenOutOfVocabulary(index: rank, token: merged) }
            let key = BPEModel.pairKey(a, b)
            // First occurrence wins, as in tokenizers (later duplicates have a worse rank anyway).
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), id: Int32(m)) }
        }
        self.vocab = vocab
        self.merges = merges
        self.scalarIDs = scalarIDs
    }

    func id(for token: String) -> Int? { vocab.id(token) }

    func token(for id: Int) -> String? { vocab.token(id) }

    /// Appends the ids of one pre-tokenized word.
    func tokenize(_ word: String, into out: inout [Int]) {
        if word.isEmpty { return }
        let key = ByteKey(word)
        if let hit = cache.get(key) {
            out.append(contentsOf: hit)
            return
        }
        var ids: [Int]
        if ignoreMerges, let id = vocab.id(key.string) {
            ids = [id]
        } else {
            ids = initialSymbols(word)
            if ids.count > 1 {
                if ids.count <= 24 { mergeByScan(&ids) } else { mergeByHeap(&ids) }
            }
        }
        if word.utf8.count <= BPEModel.maxCachedWordBytes { cache.put(key, ids) }
        out.append(contentsOf: ids)
    }

    /// One symbol per Unicode scalar (not per grapheme, as Rust iterates chars), with unknown scalars
    /// turned into byte-fallback tokens or (fused) unk, like tokenizers `BPE::merge_word`.
    func initialSymbols(_ word: String) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(word.utf8.count)
        var pendingUnk = false
        let plain = continuingSubwordPrefix == nil && endOfWordSuffix == nil
        let scalars = Array(word.unicodeScalars)
        for (i, s) in scalars.enumerated() {
            var found: Int?
            if plain {
                found = scalarIDs[s.value]
            } else {
                var piece = String(s)
                if i > 0, let p = continuingSubwordPrefix { piece = p + piece }
                if i == scalars.count - 1, let e = endOfWordSuffix { piece += e }
                found = vocab.id(piece)
            }
            if let id = found {
                if pendingUnk, let unk = unkID { ids.append(unk) }
                pendingUnk = false
                ids.append(id)
            } else if let table = byteFallbackIDs {
                if pendingUnk, let unk = unkID { ids.append(unk) }
                pendingUnk = false
                for b in String(s).utf8 { ids.append(table[Int(b)]) }
            } else if unkID != nil {
                // fuse_unk: a run of unknown scalars becomes one unk token.
                if pendingUnk && !fuseUnk, let unk = unkID { ids.append(unk) }
                pendingUnk = true
            }
            // No unk token and no byte fallback: tokenizers drops the scalar.
        }
        if pendingUnk, let unk = unkID { ids.append(unk) }
        return ids
    }

    /// Repeatedly merges the lowest-ranked adjacent pair, leftmost first. Quadratic, but for short words
    /// (nearly all of them) faster than maintaining a heap.
    func mergeByScan(_ ids: inout [Int]) {
        while ids.count > 1 {
            var bestRank = Int32.max
            var bestIndex = -1
            var bestID = 0
            for i in 0..<(ids.count - 1) {
                if let m = merges[BPEModel.pairKey(ids[i], ids[i + 1])], m.rank < bestRank {
                    bestRank = m.rank
                    bestIndex = i
                    bestID = Int(m.id)
                }
            }
            if bestIndex < 0 { return }
            ids[bestIndex] = bestID
            ids.remove(at: bestIndex + 1)
        }
    }

    /// Same result as `mergeByScan` in O(n log n): a min-heap of (rank, position) over a linked list of
    /// symbols; stale entries are skipped when popped (tokenizers `Word::merge_all`).
    func mergeByHeap(_ ids: inout [Int]) {
        let n = ids.count
        var symbol = ids
        var next = Array(1...n)          // n means none
        var prev = Array(-1..<(n - 1))   // -1 means none
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        for i in 0..<(n - 1) {
            if let m = merges[BPEModel.pairKey(symbol[i], symbol[i + 1])] { heap.push(rank: m.rank, position: i) }
        }
        while let (rank, pos) = heap.pop() {
            guard alive[pos], next[pos] < n else { continue }
            let right = next[pos]
            guard let m = merges[BPEModel.pairKey(symbol[pos], symbol[right])], m.rank == rank else { continue }
            symbol[pos] = Int(m.id)
            alive[right] = false
            next[pos] = next[right]
            if next[pos] < n { prev[next[pos]] = pos }
            if prev[pos] >= 0, let pm = merges[BPEModel.pairKey(symbol[prev[pos]], symbol[pos])] {
                heap.push(rank: pm.rank, position: prev[pos])
            }
            if next[pos] < n, let nm = merges[BPEModel.pairKey(symbol[pos], symbol[next[pos]])] {
                heap.push(rank: nm.rank, position: pos)
            }
        }
        var result: [Int] = []
        var i = 0
        while i < n {
            result.append(symbol[i])
            i = next[i]
        }
        ids = result
    }
}

/// Binary min-heap of (rank, position) packed into one UInt64 so ties on rank break on position.
struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(rank: Int32, position: Int) {
        items.append(UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(truncatingIfNeeded: position)))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> (Int32, Int)? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return (Int32(bitPattern: UInt32(top >> 32)), Int(top & 0xFFFF_FFFF))
    }
}

/// Per-word result cache shared by all callers of one tokenizer. Bounded like tokenizers' cache: once
/// full, new words are simply not stored.
final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var map: [ByteKey: [Int]] = [:]
    static let capacity = 10_000

    func get(_ key: ByteKey) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return map[key]
    }

    func put(_ key: ByteKey, _ ids: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if map.count < WordCache.capacity { map[key] = ids }
    }
}
