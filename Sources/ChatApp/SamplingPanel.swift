import Foundation
import Sampling
import TerminalUI

/// The sampling panel's rows: every setting, its value as shown, and what Left/Right do to it.
enum SamplingPanel {
    static let rows: [SettingName] = SettingName.allCases

    static func value(_ name: SettingName, _ state: ChatState) -> String {
        let s = state.settings
        func f(_ x: Float) -> String { String(format: "%.2f", x) }
        switch name {
        case .temperature: return f(s.temperature) + (s.temperature <= 0 ? " (greedy)" : "")
        case .topK: return s.topK <= 0 ? "off" : "\(s.topK)"
        case .topP: return s.topP >= 1 ? "off" : f(s.topP)
        case .minP: return s.minP <= 0 ? "off" : f(s.minP)
        case .repeatPenalty: return s.repeatPenalty == 1 ? "off" : f(s.repeatPenalty)
        case .presencePenalty: return f(s.presencePenalty)
        case .frequencyPenalty: return f(s.frequencyPenalty)
        case .penaltyLastN: return s.penaltyLastN == -1 ? "all" : "\(s.penaltyLastN)"
        case .seed: return "\(s.seed)"
        case .maxTokens: return "\(state.maxTokens)"
        case .dynatemp: return DynatempMode(s).rawValue
        case .dynatempRange: return f(s.dynatempRange)
        case .dynatempExponent: return f(s.dynatempExponent)
        case .headTemp: return s.headTemp.map(f) ?? "off"
        case .headTokens: return "\(s.headTokens)"
        case .headDecay: return "\(s.headDecay)"
        }
    }

    /// One step of a setting in direction `dir` (+1 or -1), kept inside the setting's domain.
    static func adjust(_ name: SettingName, _ state: inout ChatState, _ dir: Int) {
        var s = state.settings
        let d = Float(dir)
        func snap(_ x: Float, _ step: Float) -> Float { (x / step).rounded() * step }
        switch name {
        case .temperature: s.temperature = max(0, snap(s.temperature + 0.05 * d, 0.05))
        case .topK: s.topK = max(0, s.topK + dir)
        case .topP: s.topP = min(1, max(0.05, snap(s.topP + 0.05 * d, 0.05)))
        case .minP: s.minP = min(1, max(0, snap(s.minP + 0.01 * d, 0.01)))
        case .repeatPenalty: s.repeatPenalty = max(0.05, snap(s.repeatPenalty + 0.05 * d, 0.05))
        case .presencePenalty: s.presencePenalty = snap(s.presencePenalty + 0.1 * d, 0.1)
        case .frequencyPenalty: s.frequencyPenalty = snap(s.frequencyPenalty + 0.1 * d, 0.1)
        case .penaltyLastN: s.penaltyLastN = max(-1, s.penaltyLastN + 16 * dir)
        case .seed: s.seed = dir > 0 ? s.seed &+ 1 : s.seed &- 1
        case .maxTokens: state.maxTokens = max(16, state.maxTokens + 64 * dir)
        case .dynatemp:
            let all = DynatempMode.allCases
            let i = all.firstIndex(of: DynatempMode(s)) ?? 0
            s.setDynatemp(all[(i + (dir > 0 ? 1 : all.count - 1)) % all.count])
        case .dynatempRange: s.dynatempRange = max(0, snap(s.dynatempRange + 0.05 * d, 0.05))
        case .dynatempExponent: s.dynatempExponent = max(0, snap(s.dynatempExponent + 0.1 * d, 0.1))
        case .headTemp: s.headTemp = max(0, snap((s.headTemp ?? s.temperature) + 0.05 * d, 0.05))
        case .headTokens: s.headTokens = max(0, s.headTokens + dir)
        case .headDecay: s.headDecay = max(0, s.headDecay + dir)
        }
        state.settings = s
    }
}

/// Keys while the sampling panel is open; nil lets the key through to the normal handling.
func handleSamplingPanel(_ state: inout ChatState, _ key: Key, selected: Int) -> Reaction? {
    let rows = SamplingPanel.rows
    let live: Reaction = state.mode == .generating ? [.redraw, .updateSampling] : .redraw
    switch key {
    case .up: state.overlay = .sampling(selected: (selected + rows.count - 1) % rows.count); return .redraw
    case .down: state.overlay = .sampling(selected: (selected + 1) % rows.count); return .redraw
    case .left, .char("-"):
        SamplingPanel.adjust(rows[selected], &state, -1)
        return live
    case .right, .char("+"), .char("="):
        SamplingPanel.adjust(rows[selected], &state, 1)
        return live
    case .enter where state.editor.isEmpty:
        // Type an exact value: the input line gets "/set NAME ".
        state.editor.setText("/set \(rows[selected].rawValue) ")
        state.overlay = .none
        return .redraw
    case .escape, .f(2), .alt("s"):
        state.overlay = .none
        return .redraw
    default: return nil
    }
}

func handleSessionsOverlay(_ state: inout ChatState, _ key: Key, selected: Int) -> Reaction {
    let n = state.sessionList.count
    switch key {
    case .up: state.overlay = .sessions(selected: n == 0 ? 0 : (selected + n - 1) % n)
    case .down: state.overlay = .sessions(selected: n == 0 ? 0 : (selected + 1) % n)
    case .enter:
        guard selected < n else { state.overlay = .none; return .redraw }
        guard state.mode != .generating else {
            state.notice = "stop the reply first (Esc)"
            return .redraw
        }
        state.pendingResumeID = state.sessionList[selected].id
        state.overlay = .none
        return [.redraw, .resume]
    default: state.overlay = .none
    }
    return .redraw
}
