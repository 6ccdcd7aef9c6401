import Foundation

extension Tokenizer {
    /// A special-token entry of tokenizer_config.json: `"<s>"`, `{"content": "<s>", ...}` or null.
    static func tokenString(_ json: JSONReader, _ key: String) throws -> String? {
        guard json.has(key) else { return nil }
        if let s = json.object[key] as? String { return s }
        if let o = json.object[key] as? [String: Any] {
            return try JSONReader(o, section: "\(json.section).\(key)").string("content")
        }
        throw TokenizerError.invalidValue(section: json.section, key: key, expected: "string or {\"content\"}",
                                          actual: JSONReader.kind(of: json.object[key]))
    }

    /// `chat_template` of a config object: a string, or a list of {name, template} whose "default" is used.
    static func chatTemplate(in json: JSONReader) throws -> String? {
        guard json.has("chat_template") else { return nil }
        let value = json.object["chat_template"]
        if let s = value as? String { return s }
        if let list = value as? [Any] {
            for (i, item) in list.enumerated() {
                let entry = try JSONReader(item, section: "\(json.section).chat_template[\(i)]")
                if try entry.string("name") == "default" { return try entry.string("template") }
            }
            return nil
        }
        throw TokenizerError.invalidValue(section: json.section, key: "chat_template",
                                          expected: "string or list of {name, template}",
                                          actual: JSONReader.kind(of: value))
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
