import Foundation

extension Tokenizer {
    /// A special-token entry of tokenizer_config.json: `"<s>"`, `{"content": "<s>", ...}` or null.
    static func tokenString(_ json: JSONReader, _ key: String) throws -> String? {
        guard let value = json[key] else { return nil }
        if let s = value.string { return s }
        if value.object != nil { return try JSONReader(value, section: "\(json.section).\(key)").string("content") }
        throw json.mismatch(key, "string or {\"content\"}")
    }

    /// `chat_template` of a config object: a string, or a list of {name, template} whose "default" is used.
    static func chatTemplate(in json: JSONReader) throws -> String? {
        guard let value = json["chat_template"] else { return nil }
        if let s = value.string { return s }
        if let list = value.array {
            for (i, item) in list.enumerated() {
                let entry = try JSONReader(item, section: "\(json.section).chat_template[\(i)]")
                if try entry.string("name") == "default" { return try entry.string("template") }
            }
            return nil
        }
        throw json.mismatch("chat_template", "string or list of {name, template}")
    }

    /// The chat template of a model directory, looked up in transformers' order: `chat_template.jinja`,
    /// then `chat_template.json` (`{"chat_template": ...}`), then `tokenizer_config.json`. nil if none.
    public static func findChatTemplate(in directory: URL) throws -> String? {
        let fm = FileManager.default
        func read(_ name: String) throws -> Data? {
            let url = directory.appendingPathComponent(name)
            guard fm.fileExists(atPath: url.path) else { return nil }
            do { return try Data(contentsOf: url) } catch {
                throw TokenizerError.fileUnreadable(path: url.path, reason: String(describing: error))
            }
        }
        if let data = try read("chat_template.jinja") {
            guard let text = String(data: data, encoding: .utf8) else {
                throw TokenizerError.fileUnreadable(path: directory.appendingPathComponent("chat_template.jinja").path,
                                                    reason: "not valid UTF-8")
            }
            return text
        }
        if let data = try read("chat_template.json"),
           let template = try chatTemplate(in: JSONReader.parse(data, file: "chat_template.json")) {
            return template
        }
        if let data = try read("tokenizer_config.json") {
            return try chatTemplate(in: JSONReader.parse(data, file: "tokenizer_config.json"))
        }
        return nil
    }
}
