import Foundation
import XCTest
import Sampling

final class SettingsTests: XCTestCase {
    func testDefaultsMatchLlamaCppAndValidate() throws {
        let s = SamplerSettings()
        XCTAssertEqual(s.temperature, 0.8)
        XCTAssertEqual(s.topK, 40)
        XCTAssertEqual(s.topP, 0.95)
        XCTAssertEqual(s.minP, 0.05)
        XCTAssertEqual(s.repeatPenalty, 1)
        XCTAssertEqual(s.penaltyLastN, 64)
        XCTAssertEqual(s.dynatempRange, 0)
        XCTAssertEqual(s.dynatempExponent, 1)
        try s.validate()
    }

    func testValidationRejectsEachBadValue() {
        let cases: [(String, (inout SamplerSettings) -> Void)] = [
            ("temperature", { $0.temperature = -0.1 }),
            ("temperature", { $0.temperature = .nan }),
            ("topK", { $0.topK = -1 }),
            ("topP", { $0.topP = 0 }),
            ("topP", { $0.topP = 1.01 }),
            ("minP", { $0.minP = -0.1 }),
            ("minP", { $0.minP = 1.5 }),
            ("repeatPenalty", { $0.repeatPenalty = 0 }),
            ("presencePenalty", { $0.presencePenalty = .infinity }),
            ("frequencyPenalty", { $0.frequencyPenalty = .nan }),
            ("penaltyLastN", { $0.penaltyLastN = -2 }),
            ("dynatempRange", { $0.dynatempRange = -1 }),
            ("dynatempExponent", { $0.dynatempExponent = -1 }),
            ("headTemp", { $0.headTemp = -1 }),
            ("headTokens", { $0.headTokens = -1 }),
            ("headDecay", { $0.headDecay = -3 }),
        ]
        for (name, mutate) in cases {
            var s = SamplerSettings()
            mutate(&s)
            XCTAssertThrowsError(try s.validate(), name) { error in
                guard case let .invalidSetting(field, _, _) = error as? SamplingError else {
                    return XCTFail("\(name): wrong error \(error)")
                }
                XCTAssertEqual(field, name)
                XCTAssert("\(error)".contains(name), "\(error)")
            }
        }
        var s = SamplerSettings()
        s.order = [.topK, .temperature, .topK]
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual($0 as? SamplingError, .duplicateStage(.topK)) }
        // Edges that are valid.
        s = SamplerSettings()
        s.temperature = 0
        s.topP = 1
        s.minP = 0
        s.topK = 0
        s.penaltyLastN = -1
        XCTAssertNoThrow(try s.validate())
    }

    func testCodableFillsMissingKeysWithDefaults() throws {
        let json = #"{"temperature": 0.2, "order": ["top_k", "temperature"], "headTemp": 1.1}"#
        let s = try JSONDecoder().decode(SamplerSettings.self, from: Data(json.utf8))
        XCTAssertEqual(s.temperature, 0.2)
        XCTAssertEqual(s.order, [.topK, .temperature])
        XCTAssertEqual(s.headTemp, 1.1)
        XCTAssertEqual(s.topK, 40)
        XCTAssertEqual(s.seed, SamplerSettings.defaultSeed)

        var full = SamplerSettings()
        full.dynamicTemperature = [.entropy(range: 0.4, exponent: 2), .headSchedule(headTemp: 1.3, headTokens: 4, decay: 6)]
        full.seed = .max
        let back = try JSONDecoder().decode(SamplerSettings.self, from: JSONEncoder().encode(full))
        XCTAssertEqual(back, full)

        XCTAssertThrowsError(try JSONDecoder().decode(SamplerSettings.self, from: Data(#"{"order": ["warp"]}"#.utf8)))
    }

    func testParseOrder() throws {
        // llama.cpp's default --samplers list, with the stages we skip.
        XCTAssertEqual(try SamplerStage.parseOrder("penalties;dry;top_n_sigma;top_k;typ_p;top_p;min_p;xtc;temperature"),
                       SamplerStage.defaultOrder)
        XCTAssertEqual(try SamplerStage.parseOrder("top-k, temp"), [.topK, .temperature])
        XCTAssertEqual(try SamplerStage.parseOrder("e;k;p;m;t"), SamplerStage.defaultOrder)
        XCTAssertEqual(try SamplerStage.parseOrder(""), [])
        XCTAssertThrowsError(try SamplerStage.parseOrder("top_k;bogus")) {
            XCTAssertEqual($0 as? SamplingError, .unknownStage("bogus"))
        }
        XCTAssertThrowsError(try SamplerStage.parseOrder("k;top_k")) {
            XCTAssertEqual($0 as? SamplingError, .duplicateStage(.topK))
        }
    }

    // Published reference outputs: xoshiro256** from state {1, 2, 3, 4} (the test vector of the
    // reference C code, as used by Rust's rand_xoshiro) and SplitMix64 from 0.
    func testRandomGeneratorReferenceVectors() {
        var x = Xoshiro256StarStar(state: (1, 2, 3, 4))
        let expected: [UInt64] = [
            11520, 0, 1509978240, 1215971899390074240, 1216172134540287360,
            607988272756665600, 16172922978634559625, 8476171486693032832,
            10595114339597558777, 2904607092377533576,
        ]
        XCTAssertEqual((0..<10).map { _ in x.next() }, expected)
        var sm: UInt64 = 0
        XCTAssertEqual((0..<4).map { _ in Xoshiro256StarStar.splitMix64(&sm) },
                       [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC])
        var u = Xoshiro256StarStar(seed: 3)
        for _ in 0..<1000 {
            let d = u.nextUnitDouble()
            XCTAssert(d >= 0 && d < 1)
        }
    }
}
