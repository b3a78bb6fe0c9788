// Optional checks against the Python tools users will load our files with: PEFT applies an
// adapter trained here, transformers loads a merged export. They run when torch, transformers
// and peft are importable (pip install torch transformers peft) and skip otherwise.
import Adapters
import Foundation
import Models
import Publishing
import Records
import TestSupport
import Training
import XCTest

final class PythonInteropTests: XCTestCase {
    func python(_ script: String, _ args: [String]) throws -> String {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import torch, transformers, peft"]
        probe.standardError = FileHandle.nullDevice
        probe.standardOutput = FileHandle.nullDevice
        try? probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { throw XCTSkip("torch/transformers/peft not installed") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script] + args
        p.environment = ProcessInfo.processInfo.environment.merging(["TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1"]) { $1 }
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "python failed")
        return String(decoding: data, as: UTF8.self)
    }

    func trainedAdapter(_ arch: String) throws -> (LoadedModel, LoRAState, String) {
        let base = try LoadedModel.load(path: TestPaths.fixtures + "/models/" + arch)
        var lora = try LoRAState(model: base.config, config: LoRAConfig(r: 4, alpha: 8, dropout: 0, targetModules: ["all-linear"]), seed: 3)
        var rng = SplitMix64Shim(seed: 5)
        for i in lora.values.indices { lora.values[i] = Float(rng.next() * 0.2 - 0.1) }   // B ≠ 0 so the adapter matters
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(getpid())-\(arch)").path
        try PEFTAdapter.save(lora, baseModel: TestPaths.fixtures + "/models/" + arch, to: dir)
        return (base, lora, dir)
    }

    func testPEFTLoadsOurAdapters() throws {
        for arch in ["llama", "gpt2", "qwen3"] {
            let (base, lora, dir) = try trainedAdapter(arch)
            let ids = base.tokenizer.encode("How many r's are in the word 'strawberry'?")
            let merged = try AdapterMerge.merged(base.model, lora)
            let ours = try merged.forward(ForwardBatch(tokens: ids), cache: merged.makeCache(), logits: .all).storage
            let out = try python("""
                import sys, json, torch
                from transformers import AutoModelForCausalLM
                from peft import PeftModel
                base = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
                m = PeftModel.from_pretrained(base, sys.argv[2]).eval()
                with torch.no_grad():
                    print(json.dumps(m(torch.tensor([json.loads(sys.argv[3])])).logits[0].flatten().tolist()))
                """, [TestPaths.fixtures + "/models/" + arch, dir, "\(ids)"])
            let theirs = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [Double]
            XCTAssertLessThanOrEqual(maxRelativeError(ours, theirs.map { Float($0) }), 1e-4, arch)
        }
    }

    func testTransformersLoadsMergedExport() throws {
        for arch in ["llama", "gpt2"] {
            let (base, lora, _) = try trainedAdapter(arch)
            let merged = try AdapterMerge.merged(base.model, lora)
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("export-\(getpid())-\(arch)").path
            // From the GGUF conversion, so tokenizer.json is rebuilt from GGUF metadata.
            let gguf = try LoadedModel.load(path: TestPaths.fixtures + "/models/\(arch)/model.gguf")
            try HFExport.write(try AdapterMerge.merged(gguf.model, lora), tokenizer: gguf.tokenizer, chatTemplate: gguf.chatTemplate,
                               sourcePath: TestPaths.fixtures + "/models/\(arch)/model.gguf", to: dir)
            let text = "How many r's are in the word 'strawberry'? 42"
            let ids = base.tokenizer.encode(text)
            let ours = try merged.forward(ForwardBatch(tokens: ids), cache: merged.makeCache(), logits: .all).storage
            let out = try python("""
                import sys, json, torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
                m = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
                tok = AutoTokenizer.from_pretrained(sys.argv[1])
                ids = tok(sys.argv[2], add_special_tokens=False)["input_ids"]
                with torch.no_grad():
                    print(json.dumps({"ids": ids, "logits": m(torch.tensor([ids])).logits[0].flatten().tolist()}))
                """, [dir, text])
            let j = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
            XCTAssertEqual(j["ids"] as? [Int], ids, "\(arch): transformers tokenizes the exported tokenizer.json the same way")
            XCTAssertLessThanOrEqual(maxRelativeError(ours, (j["logits"] as! [Double]).map { Float($0) }), 1e-4, arch)
        }
    }
}

extension PythonInteropTests {
    /// What `strawberry publish --merged` writes loads in the Python tools: PEFT applies the published
    /// adapter (its config naming the base by a Hub id) and transformers loads the merged model, both
    /// from the repository folder, with the logits of our merged model.
    func testPublishedFolderLoadsInPEFTAndTransformers() throws {
        let (base, lora, adapterDir) = try trainedAdapter("llama")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("publish-interop-\(getpid())").path
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp + "/report", withIntermediateDirectories: true)
        var m = HeadlineMetrics()
        m.accuracy["spelling"] = Proportion(n: 10, correct: 5, accuracy: 0.5, ci95: [0.2, 0.8])
        try RecordFile.write(EvaluationResults(baseModel: .init(metrics: m, source: nil), finetunedModel: .init(metrics: m, source: nil)),
                             to: tmp + "/report/evaluation_results.json")
        let merged = try AdapterMerge.merged(base.model, lora)
        try HFExport.write(merged, tokenizer: base.tokenizer, chatTemplate: base.chatTemplate, sourcePath: TestPaths.fixtures + "/models/llama", to: tmp + "/merged")
        var r = PublicationRequest(adapter: adapterDir, evaluationResults: tmp + "/report")
        r.baseModel = "example/tiny-llama"
        r.merged = tmp + "/merged"
        r.pathInRepo = "tiny/run"
        try Publication.gather(r).write(to: tmp + "/repo", overwrite: false, inputs: [])
        let ids = base.tokenizer.encode("How many r's are in the word 'strawberry'?")
        let ours = try merged.forward(ForwardBatch(tokens: ids), cache: merged.makeCache(), logits: .all).storage
        let out = try python("""
            import sys, json, torch
            from transformers import AutoModelForCausalLM
            from peft import PeftModel
            ids = torch.tensor([json.loads(sys.argv[3])])
            base = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
            peft = PeftModel.from_pretrained(base, sys.argv[2] + "/adapter").eval()
            merged = AutoModelForCausalLM.from_pretrained(sys.argv[2], dtype=torch.float32).eval()
            with torch.no_grad():
                print(json.dumps({"peft": peft(ids).logits[0].flatten().tolist(), "merged": merged(ids).logits[0].flatten().tolist()}))
            """, [TestPaths.fixtures + "/models/llama", tmp + "/repo/tiny/run", "\(ids)"])
        let j = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: [Double]])
        XCTAssertLessThanOrEqual(maxRelativeError(ours, (j["peft"] ?? []).map { Float($0) }), 1e-4, "PEFT on the published adapter")
        XCTAssertLessThanOrEqual(maxRelativeError(ours, (j["merged"] ?? []).map { Float($0) }), 1e-4, "transformers on the published merged model")
    }
}

/// Uniform doubles in [0, 1) from a seed (test-local, so the test does not depend on TensorCore's RNG API).
struct SplitMix64Shim {
    var s: UInt64
    init(seed: UInt64) { s = seed }
    mutating func next() -> Double {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) * 0x1.0p-53
    }
}
