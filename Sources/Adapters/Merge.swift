// Folding LoRA factors into the base weights: W ← W + s·B·A ([out, in], the Linear layout every
// architecture here uses in memory; GPT-2's Conv1D transposition is undone at load and redone on
// export). The architecture's descriptor says where each module sits in the fused weights, so
// this file knows no architecture. Used to run adapters at full inference speed (eval, generate,
// the server) and by `strawberry merge`.
import Models
import TensorCore

public enum AdapterMerge {
    /// s·B·A for one module, [out, in].
    public static func delta(_ lora: LoRAState, _ m: LoRAModule) -> Tensor {
        let a = Tensor(shape: [lora.config.r, m.inFeatures], storage: Array(lora.a(m)))
        let b = Tensor(shape: [m.outFeatures, lora.config.r], storage: Array(lora.b(m)))
        var d = matmul(b, a)
        for i in d.storage.indices { d.storage[i] *= lora.config.scale }
        return d
    }

    /// The model with every module's update added to its weights.
    public static func merged(_ model: any CausalLM, _ lora: LoRAState) throws -> any CausalLM {
        guard lora.architecture == model.config.architecture else {
            throw AdapterError.architectureMismatch(adapter: lora.architecture.rawValue, model: model.config.architecture.rawValue)
        }
        var m = model
        for mod in lora.modules {
            let d = delta(lora, mod)
            // Finite factors can still overflow float32 in s·B·A (a huge alpha); never fold inf/NaN into a model.
            guard d.storage.allSatisfy(\.isFinite) else { throw AdapterError.nonFinite(path: "adapter", tensor: "s·B·A of \(mod.path)") }
            try m.add(d, to: mod.slot, layer: mod.layer)
        }
        return m
    }

    /// A loaded model with an adapter directory folded in.
    public static func apply(adapter dir: String, to loaded: LoadedModel) throws -> LoadedModel {
        let lora = try PEFTAdapter.load(dir, model: loaded.config)
        return loaded.replacing(model: try merged(loaded.model, lora))
    }
}
