// Answer extraction on real-looking outputs, and every metric against hand-computed values.
import Evaluation
import XCTest

final class ExtractionAndMetricsTests: XCTestCase {
    func testCountExtraction() {
        let cases: [(String, Int?)] = [
            ("3", 3), ("There are 3 r's in 'strawberry'.", 3), ("The letter r appears three times.", 3),
            ("s-t-r-a-w-b-e-r-r-y. There are 3 r's.", 3), ("Zero.", 0), ("There are no z's... the answer is 0", 0),
            ("<think>\nLet me count: 1, 2, 3, 4\n</think>\n\nThe word has 2 e's.", 2), ("The word 'strawberry' contains the digit 11.", 11),
            ("I cannot tell.", nil), ("", nil), ("twice", 2),
        ]
        for (out, want) in cases { XCTAssertEqual(AnswerExtraction.count(out), want, out) }
    }

    func testLetterExtraction() {
        let cases: [(String, Character?)] = [
            ("r", "r"), ("R.", "r"), ("The 3rd letter is 'r'.", "r"), ("The third letter of \"queue\" is \"e\".", "e"),
            ("s-t-r-a-w-b-e-r-r-y, so the 3rd letter is r", "r"), ("The answer is: B", "b"),
            ("<think>maybe 'x'</think>The letter is 'w'.", "w"), ("The 4th letter in 'queue' is", nil), ("", nil),
        ]
        for (out, want) in cases { XCTAssertEqual(AnswerExtraction.letter(out), want, out) }
    }

    func testSpellingExtraction() {
        let cases: [(String, String?)] = [
            ("s-t-r-a-w-b-e-r-r-y", "strawberry"), ("S T R A W", "straw"), ("queue is spelled q u e u e.", "queue"),
            ("The letters in 'fox' are: f, o, x.", "fox"), ("1. b\n2. e\n3. e", "bee"), ("c\na\nt", "cat"),
            ("strawberry", nil), ("I think it's s-t-r-a-w then b-e-r-r-y", "straw"),
        ]
        for (out, want) in cases { XCTAssertEqual(AnswerExtraction.spelling(out), want, out) }
    }

    func testMetricsAgainstHandValues() {
        let w = Metrics.wilson(8, 10)
        XCTAssertEqual(w.low, 0.4902, accuracy: 1e-4)
        XCTAssertEqual(w.high, 0.9433, accuracy: 1e-4)
        XCTAssertEqual(Metrics.wilson(0, 10).low, 0)
        XCTAssertEqual(Metrics.mcnemarExact(b: 1, c: 9), 22.0 / 1024, accuracy: 1e-12)
        XCTAssertEqual(Metrics.mcnemarExact(b: 5, c: 5), 1)
        XCTAssertEqual(Metrics.mcnemarExact(b: 0, c: 6), 2.0 / 64, accuracy: 1e-12)
        XCTAssertEqual(Metrics.levenshtein("kitten", "sitting"), 3)
        XCTAssertEqual(Metrics.normalizedLevenshtein("kitten", "sitting"), 3.0 / 7, accuracy: 1e-12)
        XCTAssertEqual(Metrics.characterAccuracy("strawbery", "strawberry"), 0.8, accuracy: 1e-12)
        XCTAssertEqual(Metrics.bleu("abcd", "abcd", n: 4), 1, accuracy: 1e-12)
        XCTAssertEqual(Metrics.bleu("abcd", "abce", n: 1), 0.75, accuracy: 1e-12)
        XCTAssertEqual(Metrics.bleu("abcd", "abce", n: 2), (0.75 * 2.0 / 3).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(Metrics.bleu("abcd", "abce", n: 4), 0)
        XCTAssertEqual(Metrics.bleu("ab", "abcd", n: 1), exp(1 - 2.0), accuracy: 1e-12)   // brevity penalty
        XCTAssertEqual(Metrics.rougeLPrecision("abcx", "abcd"), 0.75, accuracy: 1e-12)
        XCTAssertEqual(Metrics.phi([true, true, false, false], [true, true, false, false]), 1)
        XCTAssertEqual(Metrics.phi([true, true, false, false], [false, false, true, true]), -1)
        XCTAssertNil(Metrics.phi([true, true], [true, false]))
        let b = Metrics.bootstrapMean([1, 1, 1, 1])
        XCTAssertEqual(b.low, 1)
        XCTAssertEqual(b.high, 1)
    }
}
