import Foundation
import Sampling

public enum SlashCommand: Sendable, Equatable {
    case set(name: String, value: String)
    case system(String)
    case compare(count: Int, temperatures: [Float])
    case keep(Int?)
    case save(title: String?)
    case export(path: String)
    case sessions
    case clear
    case regenerate
    case edit
    case temps
    case sampling
    case help
    case quit
    /// `/image PATH...`: the paths as typed (quotes and escapes undone, `~` not yet expanded).
    case image([String])
    /// `/detach [N|all]`: nil the last one, -1 all, else the N-th (from 0).
    case detach(Int?)
}

public enum CommandError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    case usage(String)
    case badValue(setting: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .unknown(name): "unknown command /\(name) (try /help)"
        case let .usage(text): "usage: \(text)"
        case let .badValue(setting, value, expected): "\(setting): '\(value)' is not \(expected)"
        }
    }
}

public enum Commands {
    /// Names and one-line help, for /help and the help screen.
    public static let help: [(String, String)] = [
        ("/set NAME VALUE", "change a sampling setting (names: /set alone lists them)"),
        ("/system [TEXT]", "set the system message (none: remove it)"),
        ("/compare N [temp=a,b,...]", "N replies (2-6) to the last message, side by side"),
        ("/keep [N]", "keep compared reply N (default: the selected one)"),
        ("/save [TITLE]", "save the session now (it is also saved after every reply)"),
        ("/export PATH.md", "write the conversation as Markdown"),
        ("/sessions", "list past sessions"),
        ("/clear", "start a new conversation"),
        ("/regen  /edit", "write the last reply again / edit the last message"),
        ("/temps  /sampling", "cycle token temperatures / toggle the sampling panel"),
        ("/image PATH...", "attach images to the next message (Tab completes, ~ expands)"),
        ("/detach [N|all]", "detach attached image N (default: the last)"),
        ("/quit", "leave"),
    ]

    public static func parse(_ line: String) throws -> SlashCommand {
        let body = line.drop { $0 == "/" }
        let words = body.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let name = words.first?.lowercased() else { throw CommandError.unknown("") }
        let args = Array(words.dropFirst())
        switch name {
        case "set":
            guard args.count == 2 else {
                throw CommandError.usage("/set NAME VALUE, NAME one of: " + SettingName.allCases.map(\.rawValue).joined(separator: ", "))
            }
            return .set(name: args[0], value: args[1])
        case "system":
            // The text as typed after the command word, spaces and newlines kept.
            let rest = body.drop { !$0.isWhitespace }.drop { $0 == " " }
            return .system(String(rest))
        case "compare":
            var count = 3
            var temps: [Float] = []
            for a in args {
                if let n = Int(a) {
                    count = n
                } else if a.lowercased().hasPrefix("temp=") {
                    for part in a.dropFirst(5).split(separator: ",") {
                        guard let t = Float(part), t.isFinite, t >= 0 else {
                            throw CommandError.badValue(setting: "temp", value: String(part), expected: "a number >= 0")
                        }
                        temps.append(t)
                    }
                } else {
                    throw CommandError.usage("/compare N [temp=a,b,...]")
                }
            }
            guard (2...6).contains(count) else {
                throw CommandError.badValue(setting: "compare", value: "\(count)", expected: "a count from 2 to 6")
            }
            if !temps.isEmpty, temps.count != count {
                if args.allSatisfy({ Int($0) == nil }) {
                    count = temps.count   // "/compare temp=0.3,0.9" means two columns
                    guard (2...6).contains(count) else {
                        throw CommandError.badValue(setting: "compare", value: "\(count)", expected: "2 to 6 temperatures")
                    }
                } else {
                    throw CommandError.usage("/compare N temp=... needs N temperatures (got \(temps.count))")
                }
            }
            return .compare(count: count, temperatures: temps)
        case "keep":
            if let a = args.first {
                guard let n = Int(a), n >= 1 else { throw CommandError.usage("/keep [N], N from 1") }
                return .keep(n - 1)
            }
            return .keep(nil)
        case "save": return .save(title: args.isEmpty ? nil : args.joined(separator: " "))
        case "export":
            guard args.count >= 1 else { throw CommandError.usage("/export PATH.md") }
            return .export(path: args.joined(separator: " "))
        case "sessions", "resume": return .sessions
        case "clear", "new": return .clear
        case "regen", "regenerate", "retry": return .regenerate
        case "edit": return .edit
        case "temps": return .temps
        case "sampling", "panel": return .sampling
        case "help", "?": return .help
        case "quit", "exit", "q": return .quit
        case "image", "img", "attach":
            let rest = String(body.drop { !$0.isWhitespace })
            let paths = ImagePaths.words(rest).map(\.text)
            guard !paths.isEmpty else { throw CommandError.usage("/image PATH... (quote or escape spaces)") }
            return .image(paths)
        case "detach":
            guard let a = args.first else { return .detach(nil) }
            if a.lowercased() == "all" { return .detach(-1) }
            guard let n = Int(a), n >= 1 else { throw CommandError.usage("/detach [N|all], N from 1") }
            return .detach(n - 1)
        default: throw CommandError.unknown(name)
        }
    }
}

/// The settings `/set` and the sampling panel change, with their spellings.
public enum SettingName: String, CaseIterable, Sendable {
    case temperature = "temp"
    case topK = "top-k"
    case topP = "top-p"
    case minP = "min-p"
    case repeatPenalty = "repeat-penalty"
    case presencePenalty = "presence-penalty"
    case frequencyPenalty = "frequency-penalty"
    case penaltyLastN = "penalty-last-n"
    case seed = "seed"
    case maxTokens = "max-tokens"
    case dynatemp = "dynatemp"
    case dynatempRange = "dynatemp-range"
    case dynatempExponent = "dynatemp-exp"
    case headTemp = "head-temp"
    case headTokens = "head-tokens"
    case headDecay = "head-decay"

    /// Accepts the listed names, underscores for dashes, and a few aliases.
    public init?(spelling: String) {
        let s = spelling.lowercased().replacingOccurrences(of: "_", with: "-")
        switch s {
        case "temperature", "t": self = .temperature
        case "topk": self = .topK
        case "topp": self = .topP
        case "minp": self = .minP
        case "repeat", "penalty", "repetition-penalty": self = .repeatPenalty
        case "max", "n", "max-new-tokens": self = .maxTokens
        default:
            guard let v = SettingName(rawValue: s) else { return nil }
            self = v
        }
    }
}

/// Dynamic temperature modes as the panel cycles them.
public enum DynatempMode: String, CaseIterable, Sendable {
    case off, entropy, head, both

    public init(_ s: SamplerSettings) {
        switch (s.dynatempRange > 0, s.headTemp != nil) {
        case (false, false): self = .off
        case (true, false): self = .entropy
        case (false, true): self = .head
        case (true, true): self = .both
        }
    }
}

extension ChatState {
    /// Applies `/set NAME VALUE`; throws with the expected domain when the value does not fit.
    public mutating func applySetting(_ rawName: String, _ value: String) throws {
        guard let name = SettingName(spelling: rawName) else {
            throw CommandError.usage("/set NAME VALUE, NAME one of: " + SettingName.allCases.map(\.rawValue).joined(separator: ", "))
        }
        var s = settings
        func float() throws -> Float {
            guard let f = Float(value), f.isFinite else {
                throw CommandError.badValue(setting: name.rawValue, value: value, expected: "a number")
            }
            return f
        }
        func int() throws -> Int {
            guard let i = Int(value) else {
                throw CommandError.badValue(setting: name.rawValue, value: value, expected: "a whole number")
            }
            return i
        }
        switch name {
        case .temperature: s.temperature = try float()
        case .topK: s.topK = try int()
        case .topP: s.topP = try float()
        case .minP: s.minP = try float()
        case .repeatPenalty: s.repeatPenalty = try float()
        case .presencePenalty: s.presencePenalty = try float()
        case .frequencyPenalty: s.frequencyPenalty = try float()
        case .penaltyLastN: s.penaltyLastN = try int()
        case .seed:
            if value.lowercased() == "random" {
                s.seed = SamplerSettings.randomSeed()
            } else {
                guard let u = UInt64(value) else {
                    throw CommandError.badValue(setting: "seed", value: value, expected: "a whole number >= 0 or 'random'")
                }
                s.seed = u
            }
        case .maxTokens:
            let n = try int()
            guard n > 0 else { throw CommandError.badValue(setting: "max-tokens", value: value, expected: "a count > 0") }
            maxTokens = n
        case .dynatemp:
            guard let mode = DynatempMode(rawValue: value.lowercased()) else {
                throw CommandError.badValue(setting: "dynatemp", value: value, expected: "off, entropy, head or both")
            }
            s.setDynatemp(mode)
        case .dynatempRange: s.dynatempRange = try float()
        case .dynatempExponent: s.dynatempExponent = try float()
        case .headTemp: s.headTemp = try float()
        case .headTokens: s.headTokens = try int()
        case .headDecay: s.headDecay = try int()
        }
        do { try s.validate() } catch {
            throw CommandError.badValue(setting: name.rawValue, value: value, expected: "valid: \(error)")
        }
        settings = s
    }
}

extension SamplerSettings {
    /// Switches dynamic temperature kinds on with usable defaults, keeping parameters already set.
    mutating func setDynatemp(_ mode: DynatempMode) {
        let wantEntropy = mode == .entropy || mode == .both
        let wantHead = mode == .head || mode == .both
        if wantEntropy { if dynatempRange <= 0 { dynatempRange = 0.5 } } else { dynatempRange = 0 }
        if wantHead {
            if headTemp == nil { headTemp = temperature + 0.5; headTokens = max(headTokens, 8); headDecay = max(headDecay, 8) }
        } else {
            headTemp = nil
        }
    }
}
