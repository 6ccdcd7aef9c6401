import Foundation

/// What path handling needs from outside, injectable for tests.
public struct FileEnvironment: Sendable {
    public var home: String
    public var workingDirectory: String
    public var fileExists: @Sendable (String) -> Bool
    /// Names in a directory (nil when it cannot be listed), and whether each is a directory.
    public var listDirectory: @Sendable (String) -> [(name: String, isDirectory: Bool)]?

    public init(home: String, workingDirectory: String,
                fileExists: @escaping @Sendable (String) -> Bool,
                listDirectory: @escaping @Sendable (String) -> [(name: String, isDirectory: Bool)]?) {
        self.home = home
        self.workingDirectory = workingDirectory
        self.fileExists = fileExists
        self.listDirectory = listDirectory
    }

    public static let process = FileEnvironment(
        home: NSHomeDirectory(), workingDirectory: FileManager.default.currentDirectoryPath,
        fileExists: { FileManager.default.fileExists(atPath: $0) },
        listDirectory: { dir in
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return nil }
            return names.map { name in
                var isDir: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent(name), isDirectory: &isDir)
                return (name, isDir.boolValue)
            }
        })

    /// `~` and `~/...` to the home directory, relative paths against the working directory.
    public func expand(_ path: String) -> String {
        var p = path
        if p == "~" { p = home } else if p.hasPrefix("~/") { p = home + p.dropFirst(1) }
        if !p.hasPrefix("/") { p = (workingDirectory as NSString).appendingPathComponent(p) }
        return (p as NSString).standardizingPath
    }
}

/// Finding image paths in what the user typed or pasted.
public enum ImagePaths {
    public static let extensions: Set<String> = ["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff", "heic"]

    /// A word of the message: its text after quotes and backslash escapes are undone, and where it was.
    public struct Word: Equatable, Sendable {
        public var text: String
        public var range: Range<Int>
        /// Written with quotes or escapes (so it was meant as one path even with spaces).
        public var quoted: Bool
    }

    /// Splits like a shell: whitespace separates words, '...' keeps everything, "..." keeps everything
    /// but \" and \\, and a backslash outside quotes takes the next character literally (`my\ photo.jpg`).
    /// Ranges are offsets in `Character`s.
    public static func words(_ text: String) -> [Word] {
        let chars = Array(text)
        var out: [Word] = []
        var i = 0
        while i < chars.count {
            while i < chars.count, chars[i].isWhitespace { i += 1 }
            guard i < chars.count else { break }
            let start = i
            var word = ""
            var quoted = false
            while i < chars.count, !chars[i].isWhitespace {
                let c = chars[i]
                if c == "'" || c == "\"", let close = closingQuote(chars, from: i) {
                    quoted = true
                    var k = i + 1
                    while k < close {
                        if c == "\"", chars[k] == "\\", k + 1 < close, chars[k + 1] == "\"" || chars[k + 1] == "\\" { k += 1 }
                        word.append(chars[k])
                        k += 1
                    }
                    i = close + 1
                } else if c == "\\", i + 1 < chars.count {
                    quoted = true
                    word.append(chars[i + 1])
                    i += 2
                } else {
                    word.append(c)
                    i += 1
                }
            }
            out.append(Word(text: word, range: start..<i, quoted: quoted))
        }
        return out
    }

    /// The index of the quote closing the one at `open` ("\"" inside double quotes is escaped), or nil.
    static func closingQuote(_ chars: [Character], from open: Int) -> Int? {
        let q = chars[open]
        var k = open + 1
        while k < chars.count {
            if q == "\"", chars[k] == "\\", k + 1 < chars.count { k += 2; continue }
            if chars[k] == q { return k }
            k += 1
        }
        return nil
    }

    /// A word without the punctuation that ends a sentence after it ("look at ~/a.png?").
    static func trimmed(_ w: Word) -> Word {
        var w = w
        while let last = w.text.last, "?!,.;:)".contains(last), w.range.count > 1 {
            w.text.removeLast()
            w.range = w.range.lowerBound..<(w.range.upperBound - 1)
        }
        return w
    }

    public static func hasImageExtension(_ path: String) -> Bool {
        extensions.contains((path as NSString).pathExtension.lowercased())
    }

    /// A `file://` URI (what some terminals paste for a dropped file) as a path.
    static func fromURI(_ word: String) -> String {
        guard word.hasPrefix("file://") else { return word }
        var rest = word.dropFirst(7)
        if !rest.hasPrefix("/"), let slash = rest.firstIndex(of: "/") { rest = rest[slash...] }   // file://host/path
        return String(rest).removingPercentEncoding ?? String(rest)
    }

    /// Whether a word is meant as an image path: an image extension and either the shape of a path
    /// (a slash, `~`, `file://`) or a file that exists. A bare "photo.png" that does not exist is prose.
    static func isImagePath(_ word: Word, _ env: FileEnvironment) -> Bool {
        let p = fromURI(word.text)
        guard hasImageExtension(p), !p.hasSuffix("/") else { return false }
        if p.contains("/") || p.hasPrefix("~") { return true }
        return env.fileExists(env.expand(p))
    }

    /// The message with its image paths taken out (spaces around them collapsed), and the paths,
    /// expanded, in the order they appear.
    /// Paths in `skipping` (expanded) stay in the text.
    public static func extract(_ text: String, _ env: FileEnvironment, skipping: Set<String> = []) -> (text: String, paths: [String]) {
        let found = words(text).map(trimmed).filter {
            isImagePath($0, env) && !skipping.contains(env.expand(fromURI($0.text)))
        }
        guard !found.isEmpty else { return (text, []) }
        var chars = Array(text)
        for w in found.reversed() {
            // Take one space next to the word with it, so "look at X please" reads "look at please".
            var r = w.range
            if r.upperBound < chars.count, chars[r.upperBound] == " " { r = r.lowerBound..<(r.upperBound + 1) }
            else if r.lowerBound > 0, chars[r.lowerBound - 1] == " " { r = (r.lowerBound - 1)..<r.upperBound }
            chars.removeSubrange(r)
        }
        let rest = String(chars).trimmingCharacters(in: .whitespacesAndNewlines)
        return (rest, found.map { env.expand(fromURI($0.text)) })
    }

    /// When a paste is nothing but image paths (a dropped file, a copied path), those paths.
    public static func pastedPaths(_ text: String, _ env: FileEnvironment) -> [String]? {
        let ws = words(text.trimmingCharacters(in: .whitespacesAndNewlines)).map(trimmed)
        guard !ws.isEmpty, ws.allSatisfy({ isImagePath($0, env) }) else { return nil }
        return ws.map { env.expand(fromURI($0.text)) }
    }

    /// Completes the path at the end of `/image PATH`: the completed text, and the candidates when
    /// there is more than one (directories end in "/"; only directories and image files are offered).
    public static func complete(_ partial: String, _ env: FileEnvironment) -> (text: String, candidates: [String]) {
        let dirPart: String, namePart: String
        if let slash = partial.lastIndex(of: "/") {
            dirPart = String(partial[...slash])
            namePart = String(partial[partial.index(after: slash)...])
        } else if partial == "~" {
            return ("~/", [])
        } else {
            dirPart = ""
            namePart = partial
        }
        let dir = dirPart.isEmpty ? env.workingDirectory : env.expand(dirPart)
        guard let entries = env.listDirectory(dir) else { return (partial, []) }
        let showHidden = namePart.hasPrefix(".")
        let matches = entries
            .filter { $0.name.hasPrefix(namePart) && (showHidden || !$0.name.hasPrefix(".")) }
            .filter { $0.isDirectory || hasImageExtension($0.name) }
            .map { $0.isDirectory ? $0.name + "/" : $0.name }
            .sorted()
        guard let first = matches.first else { return (partial, []) }
        if matches.count == 1 { return (dirPart + first, []) }
        var common = first
        for m in matches.dropFirst() {
            while !m.hasPrefix(common) { common.removeLast() }
        }
        return (dirPart + common, matches)
    }

    /// Escapes a path for the input line with backslashes (so completion can go on after a space).
    static func escaped(_ path: String) -> String {
        var out = ""
        for c in path {
            if c == " " || c == "'" || c == "\"" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out
    }
}
