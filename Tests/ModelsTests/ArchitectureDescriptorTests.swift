// Each registered architecture's descriptor agrees with its model: every linear layer it declares
// is a tensor of the exported checkpoint with the declared shape, its slot addresses exactly those
// rows of the in-memory weight, and config/GGUF names round-trip.
import Models
import TensorCore
import TestSupport
import XCTest

final class ArchitectureDescriptorTests: XCTestCase {
    func testDescriptorsMatchTheModels() throws {
        for name in ["gpt2", "llama", "qwen3"] {
            let m = try LoadedModel.load(path: TestPaths.fixtures + "/models/" + name)
            let c = m.config, a = c.architecture.descriptor
            XCTAssertEqual(a.id.rawValue, name)
            XCTAssertTrue(ArchitectureDescriptor.registry.contains { $0.id == c.architecture })
            let exported = Dictionary(m.model.huggingFaceTensors().map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
            for layer in [0, c.layers - 1] {
                for l in a.linears(c) {
                    let w = try XCTUnwrap(exported[a.path(layer: layer, module: l.module) + ".weight"], "\(name) \(l.module)")
                    XCTAssertEqual(w.shape, a.conv1DWeights ? [l.inFeatures, l.outFeatures] : [l.outFeatures, l.inFeatures], "\(name) \(l.module)")
                    // Adding a delta of ones through the slot changes exactly that layer's exported rows.
                    var model = m.model
                    try model.add(Tensor(shape: [l.outFeatures, l.inFeatures], storage: [Float](repeating: 1, count: l.outFeatures * l.inFeatures)),
                                  to: l.slot, layer: layer)
                    let after = Dictionary(model.huggingFaceTensors().map { ($0.name, $0.tensor) }, uniquingKeysWith: { x, _ in x })
                    for (key, before) in exported {
                        let changed = zip(before.storage, after[key]?.storage ?? []).contains { $0 != $1 }
                        XCTAssertEqual(changed, key == a.path(layer: layer, module: l.module) + ".weight", "\(name): adding to \(l.module) changed \(key)")
                    }
                }
            }
            XCTAssertEqual(a.parameterCount(c), c.layers * a.linears(c).reduce(0) { $0 + $1.inFeatures * $1.outFeatures } + c.vocabSize * c.hidden)
            // A slot that is not there is an error, not a crash.
            var model = m.model
            XCTAssertThrowsError(try model.add(Tensor(shape: [1, c.hidden], storage: [Float](repeating: 0, count: c.hidden)),
                                               to: LinearSlot(weight: "nope"), layer: 0))
            XCTAssertThrowsError(try model.add(Tensor(shape: [1, c.hidden], storage: [Float](repeating: 0, count: c.hidden)),
                                               to: a.linears(c)[0].slot, layer: c.layers))
        }
    }
}
