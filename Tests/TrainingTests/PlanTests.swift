// `strawberry plan`: the parameter counts are the models' published ones, and every estimate is the
// stated formula applied to the dataset's tokens.
import Adapters
import Models
import Training
import XCTest

final class PlanTests: XCTestCase {
    func testQwen3PresetsHaveTheirPublishedSizes() throws {
        let c = try XCTUnwrap(ModelConfig.preset("Qwen3-4B"))
        XCTAssertEqual(c.qDim, 4096)
        XCTAssertEqual(c.kvDim, 1024)
        let lora = LoRAConfig(r: 16, alpha: 32, dropout: 0, targetModules: ["all-linear"])
        let p = try Planner.plan(PlanRequest(modelName: "qwen3-4b", model: c, lora: lora, batchSize: 8, gradientAccumulationSteps: 1, epochs: 1,
                                             maxSteps: 0, exampleTokens: [30, 40, 50], gpus: GPUSpec.parse("24GB") ?? []))
        XCTAssertEqual(p.parameters, 4_022_468_096)              // Qwen3-4B: 4.0 B (3.6 B without the embedding)
        XCTAssertEqual(p.loraParameters, 57_344 * 16 * 36)       // all seven projections, r 16
        XCTAssertEqual(p.loraModules, 7 * 36)
        XCTAssertEqual(p.microBatchTokens, 3 * 50)
        XCTAssertEqual(p.optimizerSteps, 1)
        XCTAssertEqual(p.trainedTokens, 120)
        let gib = 1024.0 * 1024 * 1024
        XCTAssertEqual(p.memory.weightsGiB, Double(p.parameters) * 2 / gib, accuracy: 1e-9)
        XCTAssertEqual(p.memory.loraStatesGiB, Double(p.loraParameters) * 16 / gib, accuracy: 1e-9)
        XCTAssertEqual(p.memory.logitsGiB, 150 * 151_936 * 10 / gib, accuracy: 1e-9)
        XCTAssertLessThan(p.memoryWithCheckpointing.activationsGiB, p.memory.activationsGiB / 10)
        XCTAssertEqual(p.memory.totalGiB, p.memory.weightsGiB + p.memory.loraStatesGiB + p.memory.activationsGiB + p.memory.logitsGiB + 1, accuracy: 1e-9)
        XCTAssertEqual(p.gpus.map(\.gpu.name), ["L4", "A10"])
        let l4 = p.gpus[0]
        XCTAssertTrue(l4.fits && l4.fitsWithCheckpointing)
        XCTAssertEqual(l4.totalGiB, p.memory.totalGiB)
        XCTAssertEqual(try XCTUnwrap(l4.seconds), 2 * p.forwardFLOPsPerToken * 120 / (121e12 * 0.3), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(l4.secondsWithCheckpointing) / (try XCTUnwrap(l4.seconds)), 1.5, accuracy: 1e-12)
        // Forward FLOPs: twice the linear and LM-head weights, plus attention over the mean length.
        XCTAssertEqual(p.forwardFLOPsPerToken, 2 * Double(p.parameters - 196_096) + 4 * 36 * 4096 * 40, accuracy: 1)
        // A long-sequence batch on a 16 GB card fits only with checkpointing, or not at all.
        let big = try Planner.plan(PlanRequest(modelName: "qwen3-4b", model: c, lora: lora, batchSize: 16, gradientAccumulationSteps: 1, epochs: 1,
                                               maxSteps: 0, exampleTokens: [2048], gpus: GPUSpec.parse("T4") ?? []))
        XCTAssertFalse(big.gpus[0].fits)
        // The T4 has no bf16: the backend computes in float32, so its weights take twice the bytes.
        XCTAssertEqual(big.gpus[0].precision, "fp32")
        XCTAssertEqual(big.gpus[0].totalGiB - big.memory.totalGiB, big.memory.weightsGiB + big.memory.activationsGiB + 2 * 2048 * 151_936 / gib, accuracy: 1e-6)
    }

    func testGPUsByNameOrSize() {
        XCTAssertEqual(GPUSpec.parse("h100")?.map(\.name), ["H100-80GB"])
        XCTAssertEqual(GPUSpec.parse("A100-80GB")?.map(\.name), ["A100-80GB"])
        XCTAssertEqual(GPUSpec.parse("80GB")?.map(\.name), ["A100-80GB", "H100-80GB"])
        XCTAssertEqual(try XCTUnwrap(GPUSpec.parse("12 GB")?.first?.memoryGiB), 12e9 / 1_073_741_824, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(GPUSpec.parse("L4")?.first?.memoryGiB), 23_034.0 / 1024, accuracy: 1e-9)
        XCTAssertNil(GPUSpec.parse("12 GB")?.first?.tflops)
        for bad in ["", "GB", "-24GB", "nan", "fast", "2.5GB"] { XCTAssertNil(GPUSpec.parse(bad), bad) }
    }

    func testBadRequestsAreRefused() throws {
        let c = try XCTUnwrap(ModelConfig.preset("qwen3-0.6b"))
        let lora = LoRAConfig(r: 8, alpha: 16, dropout: 0, targetModules: ["q_proj"])
        var r = PlanRequest(modelName: "x", model: c, lora: lora, batchSize: 8, gradientAccumulationSteps: 1, epochs: 1, maxSteps: 0, exampleTokens: [], gpus: [])
        XCTAssertThrowsError(try Planner.plan(r))
        r.exampleTokens = [10]
        r.lora.targetModules = ["no_such_proj"]
        XCTAssertThrowsError(try Planner.plan(r)) { XCTAssertTrue("\($0)".contains("no_such_proj"), "\($0)") }
    }
}
