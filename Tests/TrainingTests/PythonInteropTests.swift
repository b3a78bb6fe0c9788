// Optional checks against the Python tools users will load our files with: PEFT applies an
// adapter trained here, transformers loads a merged export. They run when torch, transformers
// and peft are importable (pip install torch transformers peft) and skip otherwise.
import Adapters
import Foundation
import Models
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
