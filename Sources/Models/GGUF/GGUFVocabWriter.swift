import Foundation
import ModelFormats

/// The `tokenizer.*` metadata of a byte-level BPE tokenizer, as llama.cpp's convert_hf_to_gguf.py writes
/// it (`TextModel.get_vocab_base` + `_set_vocab_gpt2` + gguf-py's `SpecialVocab`): every id below the
/// config's vocab_size with its token type, the merges, the special token ids, add_bos/add_eos and the
/// chat template.
enum GGUFVocabWriter {
    /// gguf-py `TokenType`.
    static let normal: Int32 = 1, control: Int32 = 3, userDefined: Int32 = 4, unused: Int32 = 5

    /// Which of llama.cpp's pre-tokenizer names (`tokenizer.ggml.pre`) a tokenizer.json behaves as. The
    /// converter identifies it by hashing the ids of a probe text and looking the hash up in a table of
    /// known models; Squint decides from the pre-tokenizer itself, which is what the name stands for.
    static func preTokenizerName(_ tokenizer: [String: Any], path: String) throws -> String {
        let pre = tokenizer["pre_tokenizer"] as? [String: Any]
        let steps = (pre?["pretokenizers"] as? [[String: Any]]) ?? (pre.map { [$0] } ?? [])
        let types = steps.compactMap { $0["type"] as? String }
        let regex = steps.lazy.compactMap { ($0["pattern"] as? [String: Any])?["Regex"] as? String }.first
        let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
        if types == ["Split", "ByteLevel"], regex == qwen2 { return "qwen2" }
        if types == ["Split", "ByteLevel"], regex == llama3 { return "llama-bpe" }
        if types == ["Digits", "ByteLevel"], steps.first?["individual_digits"] as? Bool == true { return "smollm" }
        if types == ["ByteLevel"], steps.first?["use_regex"] as? Bool ?? true { return "gpt-2" }
        throw ModelError.invalidConfigValue(
            path: path, key: "pre_tokenizer",
            reason: "this pre-tokenizer (\(types.joined(separator: " + "))) matches none llama.cpp knows by name (qwen2, llama-bpe, smollm, gpt-2)")
    }

    /// convert_hf_to_gguf.py `TextModel.does_token_look_special`.
    static func looksSpecial(_ t: String) -> Bool {
        if ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(t) { return true }
        return (t.hasPrefix("<|") && t.hasSuffix("|>")) || (t.hasPrefix("<｜") && t.hasSuffix("｜>"))
            || (t.hasPrefix("<start_of_") && t.hasSuffix(">")) || (t.hasPrefix("<end_of_") && t.hasSuffix(">"))
    }

    static func loadJSON(_ url: URL) throws -> [String: Any]? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        return try JSONConfig.load(url).object
    }

    static func write(directory: URL, vocabSize: Int, config: [String: Any], into w: inout GGUFWriter) throws {
        let tokURL = directory.appendingPathComponent("tokenizer.json")
        guard let tok = try loadJSON(tokURL) else {
            throw ModelError.cannotRead(path: tokURL.path, reason: "no tokenizer.json (only byte-level BPE tokenizers can be converted)")
        }
        let model = tok["model"] as? [String: Any] ?? [:]
        guard model["type"] as? String == "BPE", let vocab = model["vocab"] as? [String: Any] else {
            throw ModelError.invalidConfigValue(path: tokURL.path, key: "model.type",
                                                reason: "only BPE tokenizers can be converted to GGUF here")
        }
        let pre = try preTokenizerName(tok, path: tokURL.path)
        let added = (tok["added_tokens"] as? [[String: Any]]) ?? []

        var byID: [Int: String] = [:]
        for (t, v) in vocab { if let id = (v as? NSNumber)?.intValue { byID[id] = t } }
        var addedByID: [Int: (content: String, special: Bool)] = [:]
        for a in added {
            guard let id = (a["id"] as? NSNumber)?.intValue, let c = a["content"] as? String else { continue }
            byID[id] = c
            addedByID[id] = (c, a["special"] as? Bool ?? false)
        }
        if let top = byID.keys.max(), top >= vocabSize {
            throw ModelError.invalidConfigValue(path: tokURL.path, key: "vocab",
                                                reason: "token id \(top) is not below the config's vocab_size \(vocabSize)")
        }
        var tokens: [GGUFValue] = [], types: [GGUFValue] = []
        tokens.reserveCapacity(vocabSize)
        types.reserveCapacity(vocabSize)
        for id in 0..<vocabSize {
            guard var t = byID[id] else {
                tokens.append(.string("[PAD\(id)]")); types.append(.int32(unused)); continue
            }
            var type = normal
            if let a = addedByID[id] {
                if a.special || looksSpecial(t) { type = control } else {
                    t = t.replacingOccurrences(of: "\u{2581}", with: " ")
                    type = userDefined
                }
            }
            tokens.append(.string(t)); types.append(.int32(type))
        }
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string(pre))
        w.set("tokenizer.ggml.tokens", .array(.string, tokens))
        w.set("tokenizer.ggml.token_type", .array(.int32, types))
        try writeSpecial(directory: directory, tokenizer: tok, vocabSize: vocabSize, config: config, into: &w)
    }

    /// gguf-py `SpecialVocab(path, load_merges=True, n_vocab=...)` and `add_to_gguf`.
    private static func writeSpecial(directory: URL, tokenizer tok: [String: Any], vocabSize: Int,
                                     config: [String: Any], into w: inout GGUFWriter) throws {
        let model = tok["model"] as? [String: Any] ?? [:]
        var merges: [GGUFValue] = []
        if let list = model["merges"] as? [String] {
            merges = list.map { .string($0) }
        } else if let pairs = model["merges"] as? [[String]] {
            // Pairs join with a space; a space inside a part is written as U+0120, as gguf-py does.
            merges = pairs.map { pair in
                .string(pair.map { $0.replacingOccurrences(of: " ", with: "\u{120}") }.joined(separator: " "))
            }
        }
        if !merges.isEmpty { w.set("tokenizer.ggml.merges", .array(.string, merges)) }

        let added = (tok["added_tokens"] as? [[String: Any]]) ?? []
        var tc = try loadJSON(directory.appendingPathComponent("tokenizer_config.json"))
        func content(_ key: String) -> String? {
            if let s = tc?[key] as? String { return s }
            return (tc?[key] as? [String: Any])?["content"] as? String
        }
        var addSpecial: [(String, Bool)] = []
        func setAdd(_ typ: String, _ v: Bool, overwrite: Bool) {
            if let i = addSpecial.firstIndex(where: { $0.0 == typ }) { if overwrite { addSpecial[i].1 = v } } else { addSpecial.append((typ, v)) }
        }
        // The post-processor says whether BOS/EOS are added (ByteLevel: neither; TemplateProcessing: the
        // special tokens around the single sequence).
        if let post = tok["post_processor"] as? [String: Any] {
            for p in (post["processors"] as? [[String: Any]]) ?? [post] {
                switch p["type"] as? String {
                case "ByteLevel":
                    setAdd("bos", false, overwrite: false); setAdd("eos", false, overwrite: false)
                case "TemplateProcessing":
                    let single = (p["single"] as? [[String: Any]]) ?? []
                    guard single.count > 1 else { continue }
                    let bos = content("bos_token")
                    if let first = (single.first?["SpecialToken"] as? [String: Any])?["id"] as? String {
                        if tc != nil, bos == nil { tc?["bos_token"] = first }
                        setAdd("bos", first == (content("bos_token") ?? first), overwrite: true)
                    }
                    let first = (single.first?["SpecialToken"] as? [String: Any])?["id"] as? String
                    let last = (single.last?["SpecialToken"] as? [String: Any])?["id"] as? String
                    if let last { setAdd("eos", last == content("eos_token"), overwrite: true) }
                    // The pair template: between A and B, a separator that is the sep or eos token.
                    var pair = (p["pair"] as? [[String: Any]]) ?? []
                    func special(_ e: [String: Any]?) -> String? { (e?["SpecialToken"] as? [String: Any])?["id"] as? String }
                    func sequence(_ e: [String: Any]?) -> String? { (e?["Sequence"] as? [String: Any])?["id"] as? String }
                    if first != nil, special(pair.first) == first { pair.removeFirst() }
                    if last != nil, special(pair.last) == last { pair.removeLast() }
                    if pair.count > 2, sequence(pair.first) == "A", sequence(pair.last) == "B" {
                        let middle = pair.dropFirst().dropLast().compactMap(special)
                        let seps = [content("sep_token"), content("eos_token")].compactMap { $0 }
                        let addSep = (middle.first.map { seps.contains($0) && last == nil } ?? false)
                            || (middle.count == 2 && seps.contains(middle[1]))
                        setAdd("sep", addSep, overwrite: true)
                    }
                default:
                    continue
                }
            }
        }
        var ids: [(String, Int)] = []
        func setID(_ typ: String, _ id: Int?) {
            guard let id, id >= 0, id < vocabSize, !ids.contains(where: { $0.0 == typ }) else { return }
            ids.append((typ, id))
        }
        let typesOrder = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]
        if tc != nil {
            for typ in typesOrder {
                if let b = tc?["add_\(typ)_token"] as? Bool { setAdd(typ, b, overwrite: false) }
                guard let c = content("\(typ)_token") else { continue }
                let id = added.first { $0["content"] as? String == c }.flatMap { ($0["id"] as? NSNumber)?.intValue }
                setID(typ, id)
            }
        }
        let text = config["text_config"] as? [String: Any]
        for typ in typesOrder {
            let v = config["\(typ)_token_id"] ?? text?["\(typ)_token_id"]
            // A list (several EOS ids) is not an int: gguf-py skips it.
            if let n = v as? NSNumber, !(v is [Any]) { setID(typ, n.intValue) }
        }
        // gguf-py's key names (Keys.Tokenizer: "unknown", "padding", the historical "seperator"); types
        // without a GGUFWriter handler (cls; add_unk/add_pad/...) are skipped, as add_to_gguf skips them.
        let keyName = ["bos": "bos", "eos": "eos", "unk": "unknown", "sep": "seperator", "pad": "padding", "mask": "mask"]
        for (typ, id) in ids { if let key = keyName[typ] { w.set("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(id))) } }
        for (typ, v) in addSpecial where ["bos", "eos", "sep"].contains(typ) { w.set("tokenizer.ggml.add_\(typ)_token", .bool(v)) }

        var template: Any? = tc?["chat_template"]
        if template == nil || template is NSNull {
            let jinja = directory.appendingPathComponent("chat_template.jinja")
            if let s = try? String(contentsOf: jinja, encoding: .utf8) { template = s } else {
                template = try loadJSON(directory.appendingPathComponent("chat_template.json"))?["chat_template"]
            }
        }
        if let s = template as? String {
            w.set("tokenizer.chat_template", .string(s))
        } else if let list = template as? [[String: Any]] {
            // Named templates: the default one as tokenizer.chat_template, the others by name (gguf-py).
            var names: [GGUFValue] = []
            for entry in list {
                guard let name = entry["name"] as? String, let t = entry["template"] as? String else { continue }
                if name == "default" { w.set("tokenizer.chat_template", .string(t)) } else {
                    w.set("tokenizer.chat_template.\(name)", .string(t)); names.append(.string(name))
                }
            }
            if !names.isEmpty { w.set("tokenizer.chat_templates", .array(.string, names)) }
        }
    }
}
