// Logits against PyTorch/transformers on committed tiny random checkpoints (Tests/Fixtures/
// make_fixtures.py), and against transformers on the real SmolLM2-135M-Instruct GGUF.
// Tolerances: forward logits max relative error ≤ 1e-4 (float32); cache decode vs full forward ≤ 1e-5.
import Foundation
import Generation
import Models
import TensorCore
import TestSupport
import Tokenization
import XCTest

final class ParityTests: XCTestCase {
    let texts = ["How many r's are in the word 'strawberry'?", "Spell 'queue'.", "The 3rd letter is r"]

    func load(_ arch: String) throws -> (LoadedModel, [String: Any]) {
        let dir = TestPaths.fixtures + "/models/" + arch
        let m = try LoadedModel.load(path: dir)
        let ref = try TestPaths.loadJSON(dir + "/reference.json") as! [String: Any]
        return (m, ref)
    }

    func floats(_ any: Any) -> [Float] { (any as! [Double]).map { Float($0) } }

    func checkArchitecture(_ arch: String) throws {
        let (m, ref) = try load(arch)
        XCTAssertEqual(m.config.architecture.rawValue, arch)
        let single = ref["single"] as! [String: Any]
        let ids = single["ids"] as! [Int]
        XCTAssertEqual(m.tokenizer.encode(texts[0]), ids, "\(arch) tokenizer ids")

        // One full forward.
        let full = try m.model.forward(ForwardBatch(tokens: ids), cache: m.model.makeCache(), logits: .all)
        let err = maxRelativeError(full.storage, floats(single["logits"]!))
        XCTAssertLessThanOrEqual(err, 1e-4, "\(arch) forward logits rel err \(err)")

        // Prefill half, then decode one token at a time with the KV cache: same logits as the full forward.
        let cache = m.model.makeCache()
        let k = ids.count / 2
        var stepwise = try m.model.forward(ForwardBatch(tokens: Array(ids[..<k])), cache: cache, logits: .all).storage
        for id in ids[k...] { stepwise += try m.model.forward(ForwardBatch(tokens: [id]), cache: cache, logits: .all).storage }
        let cacheErr = maxRelativeError(stepwise, full.storage)
        XCTAssertLessThanOrEqual(cacheErr, 1e-5, "\(arch) cached decode vs full forward \(cacheErr)")

        // A batch of three sequences of different lengths (HF: right padding + attention mask).
        let b = ref["batch"] as! [String: Any]
        let seqs = b["sequences"] as! [[Int]]
        let expected = (b["logits"] as! [Any]).map(floats)
        let batch = ForwardBatch(seqs.enumerated().map { .init(slot: $0.offset, tokens: $0.element) })
        let got = try m.model.forward(batch, cache: m.model.makeCache(slots: 3), logits: .all)
        for (i, r0) in batch.rowOffsets.enumerated() {
            let rows = got.rows(r0..<(r0 + seqs[i].count)).storage
            let e = maxRelativeError(rows, expected[i])
            XCTAssertLessThanOrEqual(e, 1e-4, "\(arch) batch row \(i) rel err \(e)")
        }

        // Batch-3 prefill then batched decode equals per-sequence decode.
        let cache3 = m.model.makeCache(slots: 3)
        _ = try m.model.forward(ForwardBatch(seqs.enumerated().map { .init(slot: $0.offset, tokens: Array($0.element.dropLast())) }),
                                cache: cache3, logits: .last)
        let last = try m.model.forward(ForwardBatch(seqs.enumerated().map { .init(slot: $0.offset, tokens: [$0.element.last!]) }),
                                       cache: cache3, logits: .last)
        for (i, s) in seqs.enumerated() {
            let want = Array(expected[i][((s.count - 1) * m.config.vocabSize)...])
            let e = maxRelativeError(last.row(i), want)
            XCTAssertLessThanOrEqual(e, 1e-4, "\(arch) batched decode row \(i) rel err \(e)")
        }
    }

    func testGPT2() throws { try checkArchitecture("gpt2") }
    func testLlama() throws { try checkArchitecture("llama") }
    func testQwen3() throws { try checkArchitecture("qwen3") }

    /// The same tiny models converted to GGUF as llama.cpp does (renamed tensors, Llama q/k rows
    /// permuted, GPT-2 Conv1D transposed, tokenizer.ggml.* metadata): identical ids and logits.
    func testGGUFConversionsMatchSafetensors() throws {
        for arch in ["gpt2", "llama", "qwen3"] {
            let (hf, ref) = try load(arch)
            let g = try LoadedModel.load(path: TestPaths.fixtures + "/models/\(arch)/model.gguf")
            XCTAssertEqual(g.config, hf.config, arch)
            let ids = (ref["single"] as! [String: Any])["ids"] as! [Int]
            XCTAssertEqual(g.tokenizer.encode(texts[0]), ids, "\(arch) GGUF tokenizer")
            let a = try g.model.forward(ForwardBatch(tokens: ids), cache: g.model.makeCache(), logits: .all)
            let b = try hf.model.forward(ForwardBatch(tokens: ids), cache: hf.model.makeCache(), logits: .all)
            XCTAssertLessThanOrEqual(maxRelativeError(a.storage, b.storage), 1e-6, arch)
            XCTAssertEqual(g.chatTemplate, hf.chatTemplate)
        }
    }

    func testStrictLoadingListsProblemsByName() throws {
        let (m, _) = try load("llama")
        var c = m.config
        c.layers += 1
        c.intermediate *= 2
        let source = try SafetensorsSource(directory: TestPaths.fixtures + "/models/llama")
        XCTAssertThrowsError(try LlamaModel(config: c, weights: source)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("missing: model.layers.2.input_layernorm.weight"), text)
            XCTAssertTrue(text.contains("model.layers.0.mlp.gate_proj.weight expected [128, 32], found [64, 32]"), text)
        }
        var q = m.config
        q.architecture = .qwen3
        XCTAssertThrowsError(try LlamaModel(config: q, weights: source)) { XCTAssertTrue("\($0)".contains("q_norm"), "\($0)") }
    }

    func testBadInputsAreTypedErrors() throws {
        let (m, _) = try load("gpt2")
        XCTAssertThrowsError(try m.model.forward(ForwardBatch(tokens: [m.config.vocabSize]), cache: m.model.makeCache(), logits: .last)) {
            XCTAssertTrue("\($0)".contains("outside the vocabulary"), "\($0)")
        }
        let long = [Int](repeating: 1, count: m.config.contextLength + 1)
        XCTAssertThrowsError(try m.model.forward(ForwardBatch(tokens: long), cache: m.model.makeCache(), logits: .last)) {
            XCTAssertTrue("\($0)".contains("context length"), "\($0)")
        }
        XCTAssertThrowsError(try LoadedModel.load(path: TestPaths.fixtures)) { XCTAssertTrue("\($0)".contains("not a model"), "\($0)") }
    }

    func testBatchedGenerationEqualsOneAtATime() throws {
        let (m, _) = try load("llama")
        let gen = Generator(model: m.model, tokenizer: m.tokenizer)
        let reqs = texts.map { GenerationRequest(promptIds: m.tokenizer.encode($0), maxTokens: 12) }
        let batched = try gen.generateBatch(reqs)
        for (r, b) in zip(reqs, batched) { XCTAssertEqual(try gen.generate(r).outputIds, b.outputIds) }
        // Continuous batching with fewer slots than prompts (slots are refilled as sequences finish).
        let many = (texts + texts.map { $0.uppercased() } + ["queue", "strawberry letters"]).enumerated().map {
            GenerationRequest(promptIds: m.tokenizer.encode($0.element), maxTokens: 4 + $0.offset % 5, stopTokenIds: [m.tokenizer.eosId ?? -1])
        }
        let continuous = try gen.generateContinuous(many, slots: 3)
        for (r, c) in zip(many, continuous) { XCTAssertEqual(try gen.generate(r).outputIds, c.outputIds) }
    }

    func testSmolLM2MatchesTransformers() throws {
        let path = try TestPaths.requireAsset(TestPaths.smolLM2)
        let m = try LoadedModel.load(path: path)
        let ref = try TestPaths.loadJSON(TestPaths.fixtures + "/smollm2_reference.json") as! [String: [String: Any]]
        let template = try ChatTemplate(XCTUnwrap(m.chatTemplate))
        for (name, r) in ref.sorted(by: { $0.key < $1.key }) {
            let question = "How many r's are in the word 'strawberry'?"
            let text = name == "chat" ? try template.render([ChatMessage(role: "user", content: question)]) : question
            XCTAssertEqual(text, r["text"] as! String)
            let ids = m.tokenizer.encode(text)
            XCTAssertEqual(ids, r["prompt_ids"] as! [Int], "\(name) prompt ids")
            let logits = try m.model.forward(ForwardBatch(tokens: ids), cache: m.model.makeCache(), logits: .last).storage
            let top = logits.indices.sorted { logits[$0] > logits[$1] }.prefix(5)
            XCTAssertEqual(Array(top), r["top5_ids"] as! [Int], "\(name) top-5 ids")
            let err = maxRelativeError(top.map { logits[$0] }, floats(r["top5_logits"]!))
            XCTAssertLessThanOrEqual(err, 1e-3, "\(name) top-5 logits rel err \(err)")
            let gen = Generator(model: m.model, tokenizer: m.tokenizer)
            let out = try gen.generate(GenerationRequest(promptIds: ids, maxTokens: 24))
            XCTAssertEqual(out.outputIds, r["greedy_ids"] as! [Int], "\(name) greedy ids")
        }
    }
}
