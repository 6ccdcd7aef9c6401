import Foundation

/// A BPE vocabulary (token text <-> id) in flat arrays: every token's UTF-8 bytes back to back, indexed
/// by id, and an open-addressing hash table of ids keyed by those bytes. It replaces a `[String: Int]`
/// plus an id-indexed `[String?]` (two copies of every text, each with a String's 16 bytes and a
/// dictionary's spare buckets): for Qwen2's 151k tokens about 2.5 MB instead of about 9 MB, and a lookup
/// is still one hash and one comparison of bytes.
struct VocabTable: Sendable {
    /// Token texts by id: bytes `offsets[id]..<offsets[id + 1]`.
    private let bytes: [UInt8]
    private let offsets: [UInt32]
    /// Bit `id` set: the id has a text (ids may have gaps).
    private let present: [UInt64]
    /// Ids by hash, -1 empty; the capacity is a power of two at least twice the entry count.
    private let slots: [Int32]
    /// One more than the largest id.
    let count: Int

    /// `entries` in order: a text given twice maps to its last id, as a JSON object read in order
    /// would, and the earlier id then has no text, as when a `[String: Int]` is inverted. An id given
    /// twice (never in a real vocabulary) keeps its last text only.
    init(_ entries: [(text: String, id: Int)]) {
        let count = entries.reduce(-1) { max($0, $1.id) } + 1
        self.count = count
        // The last entry naming each id.
        var entryOfID = [Int32](repeating: -1, count: max(count, 0))
        for (i, e) in entries.enumerated() { entryOfID[e.id] = Int32(i) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.reduce(0) { $0 + $1.text.utf8.count })
        var offsets = [UInt32](repeating: 0, count: count + 1)
        for id in 0..<count {
            if entryOfID[id] >= 0 { bytes.append(contentsOf: entries[Int(entryOfID[id])].text.utf8) }
            offsets[id + 1] = UInt32(bytes.count)
        }
        var capacity = 16
        while capacity < entries.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let mask = capacity - 1
        // Texts in entry order, so that a repeated text ends on its last id.
        bytes.withUnsafeBufferPointer { all in
            for (i, e) in entries.enumerated() where entryOfID[e.id] == Int32(i) {
                let text = UnsafeBufferPointer(rebasing: all[Int(offsets[e.id])..<Int(offsets[e.id + 1])])
                var s = Int(truncatingIfNeeded: Self.hash(text)) & mask
                while slots[s] >= 0 && !Self.equal(all, offsets, Int(slots[s]), text) { s = (s + 1) & mask }
                slots[s] = Int32(e.id)
            }
        }
        // Ids whose text now maps elsewhere are dropped, as inverting a dictionary would.
        var present = [UInt64](repeating: 0, count: (count + 63) / 64)
        bytes.withUnsafeBufferPointer { all in
            for id in 0..<count where entryOfID[id] >= 0 {
                let text = UnsafeBufferPointer(rebasing: all[Int(offsets[id])..<Int(offsets[id + 1])])
                if Self.find(text, all, offsets, slots) == id { present[id >> 6] |= 1 << UInt64(id & 63) }
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.slots = slots
        self.present = present
    }

    /// FNV-1a over the bytes: token texts are short, and this is as fast as hashing gets for them.
    private static func hash(_ b: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for x in b { h = (h ^ UInt64(x)) &* 0x0000_0100_0000_01b3 }
        return h ^ (h >> 29)
    }

    private static func equal(_ all: UnsafeBufferPointer<UInt8>, _ offsets: [UInt32], _ id: Int,
                              _ text: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = Int(offsets[id]), n = Int(offsets[id + 1]) - start
        guard n == text.count else { return false }
        guard n > 0, let a = all.baseAddress, let b = text.baseAddress else { return true }
        return memcmp(a + start, b, n) == 0
    }

    private static func find(_ text: UnsafeBufferPointer<UInt8>, _ all: UnsafeBufferPointer<UInt8>,
                             _ offsets: [UInt32], _ slots: [Int32]) -> Int? {
        let mask = slots.count - 1
        var s = Int(truncatingIfNeeded: hash(text)) & mask
        while true {
            let id = Int(slots[s])
            if id < 0 { return nil }
            if equal(all, offsets, id, text) { return id }
            s = (s + 1) & mask
        }
    }

    private func lookup(_ text: UnsafeBufferPointer<UInt8>) -> Int? {
        bytes.withUnsafeBufferPointer { Self.find(text, $0, offsets, slots) }
    }

    /// The id of a token text.
    func id(_ text: String) -> Int? {
        if let r = text.utf8.withContiguousStorageIfAvailable({ lookup($0) }) { return r }
        return Array(text.utf8).withUnsafeBufferPointer { lookup($0) }
    }

    /// The text of an id (nil outside the vocabulary or in a gap).
    func token(_ id: Int) -> String? {
        guard id >= 0 && id < count, present[id >> 6] & (1 << UInt64(id & 63)) != 0 else { return nil }
        return String(decoding: bytes[Int(offsets[id])..<Int(offsets[id + 1])], as: UTF8.self)
    }

    /// Every (text, id) pair, by id.
    func forEach(_ body: (String, Int) throws -> Void) rethrows {
        for id in 0..<count { if let t = token(id) { try body(t, id) } }
    }
}
