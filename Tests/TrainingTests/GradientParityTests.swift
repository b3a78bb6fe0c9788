// LoRA gradients and optimizer steps against PyTorch + PEFT (Tests/Fixtures/make_training_fixtures.py).
// Tolerances: loss 1e-5 relative; every factor's gradient 1e-3 relative (max-abs normalised);
// ten AdamW steps' losses 1e-4 relative; adapter logits 1e-4.
import Adapters
import Foundation
import ModelFormats
import Models
import TestSupport
import Training
import XCTest

final class GradientParityTests: XCTestCase {
    func fixture(_ arch: String) -> String { TestPaths.fixtures + "/training/" + arch }

    func setUp(_ arch: String) throws -> (any TrainableLM, LoRAState, [String: Any]) {
        let loaded = try LoadedModel.load(path: TestPaths.fixtures + "/models/" + arch)
        let model = loaded.model as! any TrainableLM
        let c = try TestPaths.loadJSON(fixture(arch) + "/case.json") as! [String: Any]
        let cfg = LoRAConfig(r: c["r"] as! Int, alpha: c["alpha"] as! Double, dropout: 0, targetModules: c["target_modules"] as! [String])
        var lora = try LoRAState(model: loaded.config, config: cfg, seed: 0)
        try PEFTAdapter.fill(&lora, from: SafetensorsFile(path: fixture(arch) + "/lora_init.safetensors"), path: fixture(arch))
        return (model, lora, c)
    }

    func checkGradients(_ arch: String) throws {
        let (model, lora, c) = try setUp(arch)
        let batch = TrainingBatch(sequences: c["sequences"] as! [[Int]], labels: c["labels"] as! [[Int]])
        let n = c["targets"] as! Int
        XCTAssertEqual(batch.targetCount, n)
        var grads: [Float]? = [Float](repeating: 0, count: lora.parameterCount)
        let loss = try model.loss(batch, lora: lora, lossScale: 1 / Float(n), dropoutSeed: 0, grads: &grads) / Double(n)
        let want = c["loss"] as! Double
        XCTAssertLessThanOrEqual(abs(loss - want) / abs(want), 1e-5, "\(arch) loss \(loss) vs \(want)")
        let ref = try SafetensorsFile(path: fixture(arch) + "/grads.safetensors")
        XCTAssertEqual(ref.tensors.count, 2 * lora.modules.count)
        var worst: Float = 0
        for m in lora.modules {
            for (key, offset, count) in [(m.peftKeyA, m.offsetA, lora.config.r * m.inFeatures), (m.peftKeyB, m.offsetB, m.outFeatures * lora.config.r)] {
                let err = maxRelativeError(Array(grads![offset..<(offset + count)]), try ref.float32(key))
                worst = max(worst, err)
                XCTAssertLessThanOrEqual(err, 1e-3, "\(arch) \(key)")
            }
        }
        print("\(arch): loss \(loss) (PyTorch \(want)), worst gradient rel err \(worst) over \(lora.modules.count * 2) factors")
    }

    func testLlamaGradients() throws { try checkGradients("llama") }
    func testQwen3Gradients() throws { try checkGradients("qwen3") }
    func testGPT2Gradients() throws { try checkGradients("gpt2") }

    func testTenAdamWStepsMatchPyTorch() throws {
        let (model, start, _) = try setUp("llama")
        let s = try TestPaths.loadJSON(fixture("llama") + "/steps.json") as! [String: Any]
        let hp = s["hyper"] as! [String: Any]
        let micro = (s["micro_batches"] as! [[[String: Any]]]).map {
            TrainingBatch(sequences: $0.map { $0["ids"] as! [Int] }, labels: $0.map { $0["labels"] as! [Int] })
        }
        let betas = hp["betas"] as! [Double]
        var opt = AdamW(parameters: start.parameterCount, beta1: Float(betas[0]), beta2: Float(betas[1]), eps: Float(hp["eps"] as! Double),
                        weightDecay: Float(hp["weight_decay"] as! Double))
        var lora = start
        let steps = hp["steps"] as! Int, accumulation = hp["accumulation"] as! Int, warmup = hp["warmup_steps"] as! Int
        let expected = s["losses"] as! [Double], norms = s["grad_norms"] as! [Double]
        for step in 0..<steps {
            // The trainer's own step (the one `bench train` times too), against PyTorch + PEFT.
            let window = (0..<accumulation).map { micro[(step * accumulation + $0) % micro.count] }
            let lr = Float(hp["lr"] as! Double) * LRSchedule.cosine.factor(step: step, warmup: warmup, total: steps)
            let r = try TrainingStep.run(model, lora: &lora, optimizer: &opt, microBatches: window, learningRate: lr,
                                         maxGradNorm: Float(hp["max_grad_norm"] as! Double), dropoutSeed: { _ in 0 })
            let total = r.loss, norm = r.gradNorm
            XCTAssertLessThanOrEqual(abs(total - expected[step]) / expected[step], 1e-4, "step \(step): loss \(total) vs \(expected[step])")
            XCTAssertLessThanOrEqual(abs(Double(norm) - norms[step]) / norms[step], 1e-3, "step \(step): grad norm")
        }
    }

    /// A PEFT adapter trained and saved by PyTorch gives the same logits here.
    func testPEFTAdapterFromPyTorch() throws {
        let loaded = try LoadedModel.load(path: TestPaths.fixtures + "/models/llama")
        let lora = try PEFTAdapter.load(fixture("llama") + "/peft_adapter", model: loaded.config)
        let merged = try AdapterMerge.merged(loaded.model, lora)
        let ref = try TestPaths.loadJSON(fixture("llama") + "/adapter_logits.json") as! [String: Any]
        let got = try merged.forward(ForwardBatch(tokens: ref["ids"] as! [Int]), cache: merged.makeCache(), logits: .all)
        let err = maxRelativeError(got.storage, (ref["logits"] as! [Double]).map { Float($0) })
        XCTAssertLessThanOrEqual(err, 1e-4)
        let base = try loaded.model.forward(ForwardBatch(tokens: ref["ids"] as! [Int]), cache: loaded.model.makeCache(), logits: .all)
        XCTAssertGreaterThan(maxRelativeError(base.storage, got.storage), 1e-3, "the adapter should change the logits")
    }

    func testSavedAdapterRoundTrips() throws {
        let (_, lora, _) = try setUp("gpt2")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("adapter-\(getpid())").path
        try PEFTAdapter.save(lora, baseModel: "tiny-gpt2", to: dir)
        let back = try PEFTAdapter.load(dir, model: try LoadedModel.load(path: TestPaths.fixtures + "/models/gpt2").config)
        XCTAssertEqual(back.values, lora.values)
        XCTAssertEqual(back.config.targetModules, ["c_attn", "c_fc", "c_proj"])
        // A downloaded adapter_config.json with absurd numbers is refused, naming the file, before anything is sized.
        let good = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
        let gpt2 = try LoadedModel.load(path: TestPaths.fixtures + "/models/gpt2").config
        for (key, value) in [("r", 4611686018427387904 as Any), ("r", 0), ("r", 1e12), ("lora_alpha", 1e308), ("lora_alpha", -1),
                             ("bias", "all"), ("fan_in_fan_out", false), ("layers_to_transform", [0])] {
            var cfg = try JSONSerialization.jsonObject(with: Data(good.utf8)) as! [String: Any]
            cfg[key] = value
            try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/adapter_config.json"))
            XCTAssertThrowsError(try PEFTAdapter.load(dir, model: gpt2), "\(key)=\(value)") {
                XCTAssertTrue("\($0)".contains("adapter_config.json"), "\(key)=\(value): \($0)")
            }
        }
        try good.write(toFile: dir + "/adapter_config.json", atomically: true, encoding: .utf8)
        let json = try TestPaths.loadJSON(dir + "/adapter_config.json") as! [String: Any]
        XCTAssertEqual(json["fan_in_fan_out"] as? Bool, true)
        XCTAssertEqual(json["peft_type"] as? String, "LORA")
    }
}
