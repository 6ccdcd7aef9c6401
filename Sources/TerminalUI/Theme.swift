/// The things a theme colours, named by what they mean rather than how they look.
public enum Element: String, CaseIterable, Sendable {
    case background = "background"
    case userLabel = "transcript.user.label"
    case userText = "transcript.user.text"
    case assistantLabel = "transcript.assistant.label"
    case assistantText = "transcript.assistant.text"
    case systemText = "transcript.system"
    case errorText = "transcript.error"
    case stoppedMark = "transcript.stopped"
    case inputText = "input.text"
    case inputPrompt = "input.prompt"
    case inputBorder = "input.border"
    case statusBar = "status.bar"
    case statusAccent = "status.accent"
    case notice = "notice"
    case panelBorder = "panel.border"
    case panelTitle = "panel.title"
    case panelText = "panel.text"
    case panelSelected = "panel.selected"
    case columnHeader = "compare.header"
    case columnSelected = "compare.selected"
    case tempCold = "temperature.cold"
    case tempMild = "temperature.mild"
    case tempWarm = "temperature.warm"
    case tempHot = "temperature.hot"
    case helpKey = "help.key"
    case helpText = "help.text"
}

public enum ThemeError: Error, CustomStringConvertible, Equatable {
    case unknownElement(name: String, line: Int, source: String)
    case badValue(word: String, line: Int, source: String)
    case missingEquals(line: Int, source: String)
    case notFound(name: String, searched: [String])
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unknownElement(name, line, source): "\(source):\(line): unknown element '\(name)'"
        case let .badValue(word, line, source):
            "\(source):\(line): '\(word)' is not a colour (default, black, red, green, yellow, blue, magenta, cyan, white, bright-NAME, 0-255) or attribute (bold, dim, underline, reverse, italic)"
        case let .missingEquals(line, source): "\(source):\(line): expected 'element = style'"
        case let .notFound(name, searched): "no theme '\(name)' (looked in: \(searched.joined(separator: ", ")))"
        case let .unreadable(path, reason): "cannot read theme \(path): \(reason)"
        }
    }
}

/// Styles keyed by element. Elements a theme leaves out get `fallback`'s style.
///
/// File format (one element a line, `#` comments):
///
///     status.bar = black on cyan bold
///     transcript.user.label = bright-green bold
///
/// i.e. `element = [attributes...] [FG] [on BG]` with colours by name, `bright-NAME`, or 0-255.
public struct Theme: Sendable, Equatable {
    public var name: String
    public var styles: [Element: Style]

    public init(name: String, styles: [Element: Style]) {
        self.name = name
        self.styles = styles
    }

    public subscript(_ element: Element) -> Style {
        styles[element] ?? Theme.builtinDark.styles[element] ?? .plain
    }

    /// The same theme with every colour removed, attributes kept (for NO_COLOR and monochrome terminals).
    public var withoutColor: Theme {
        var copy = self
        for e in Element.allCases { copy.styles[e] = Style(self[e].attributes) }
        copy.name = name + " (no colour)"
        return copy
    }

    public static func parse(_ text: String, name: String, source: String = "theme") throws -> Theme {
        var styles: [Element: Style] = [:]
        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: " \t\r")
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ThemeError.missingEquals(line: n + 1, source: source) }
            let key = parts[0].trimmingCharacters(in: " \t")
            guard let element = Element(rawValue: key) else {
                throw ThemeError.unknownElement(name: key, line: n + 1, source: source)
            }
            styles[element] = try parseStyle(String(parts[1]), line: n + 1, source: source)
        }
        return Theme(name: name, styles: styles)
    }

    static func parseStyle(_ text: String, line: Int, source: String) throws -> Style {
        var style = Style()
        var onBackground = false
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map({ $0.lowercased() }) {
            switch word {
            case "bold": style.attributes.insert(.bold)
            case "dim": style.attributes.insert(.dim)
            case "underline": style.attributes.insert(.underline)
            case "reverse": style.attributes.insert(.reverse)
            case "italic": style.attributes.insert(.italic)
            case "on": onBackground = true
            default:
                guard let color = parseColor(word) else {
                    throw ThemeError.badValue(word: word, line: line, source: source)
                }
                if onBackground { style.bg = color } else { style.fg = color }
            }
        }
        return style
    }

    static let colorNames = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]

    static func parseColor(_ word: String) -> Color? {
        if word == "default" { return .default }
        if let i = colorNames.firstIndex(of: word) { return .index(UInt8(i)) }
        if word.hasPrefix("bright-"), let i = colorNames.firstIndex(of: String(word.dropFirst(7))) {
            return .index(UInt8(i + 8))
        }
        if let n = Int(word), (0...255).contains(n) { return .index(UInt8(n)) }
        return nil
    }

    /// The built-in default: works with no theme files installed.
    public static let builtinDark = Theme(name: "dark", styles: [
        .background: Style(),
        .userLabel: Style(fg: .index(10), [.bold]),
        .userText: Style(),
        .assistantLabel: Style(fg: .index(14), [.bold]),
        .assistantText: Style(),
        .systemText: Style(fg: .index(8)),
        .errorText: Style(fg: .index(9), [.bold]),
        .stoppedMark: Style(fg: .yellow, [.dim]),
        .inputText: Style(),
        .inputPrompt: Style(fg: .index(10), [.bold]),
        .inputBorder: Style(fg: .index(8)),
        .statusBar: Style(fg: .black, bg: .cyan),
        .statusAccent: Style(fg: .black, bg: .cyan, [.bold]),
        .notice: Style(fg: .yellow),
        .panelBorder: Style(fg: .cyan),
        .panelTitle: Style(fg: .cyan, [.bold]),
        .panelText: Style(),
        .panelSelected: Style([.reverse]),
        .columnHeader: Style(fg: .cyan, [.bold]),
        .columnSelected: Style(fg: .black, bg: .cyan, [.bold]),
        .tempCold: Style(fg: .blue),
        .tempMild: Style(fg: .green),
        .tempWarm: Style(fg: .yellow),
        .tempHot: Style(fg: .red),
        .helpKey: Style(fg: .index(14), [.bold]),
        .helpText: Style(),
    ])
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
