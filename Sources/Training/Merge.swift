// Folding LoRA factors into the base weights: W ← W + s·B·A ([out, in], the Linear layout every
// architecture here uses; GPT-2's Conv1D transposition is undone at load and redone on export).
// Used to run adapters at full inference speed and by `strawberry merge`.
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

    /// Adds `d` [rows, cols] into rows [row0, row0 + rows) of `w`.
    static func add(_ d: Tensor, into w: inout Tensor, row0: Int) {
        precondition(d.cols == w.cols && row0 + d.rows <= w.rows, "delta \(d.shape) does not fit \(w.shape) at row \(row0)")
        for i in 0..<d.count { w.storage[row0 * w.cols + i] += d.storage[i] }
    }

    public static func merged(_ model: any CausalLM, _ lora: LoRAState) throws -> any CausalLM {
        guard lora.architecture == model.config.architecture else {
            throw LoRAError(message: "adapter is for \(lora.architecture.rawValue), the model is \(model.config.architecture.rawValue)")
        }
        let c = model.config
        if var m = model as? LlamaModel {
            for mod in lora.modules {
                let d = delta(lora, mod)
                switch mod.kind {
                case "self_attn.q_proj": add(d, into: &m.blocks[mod.layer].qkv.weight, row0: 0)
                case "self_attn.k_proj": add(d, into: &m.blocks[mod.layer].qkv.weight, row0: c.qDim)
                case "self_attn.v_proj": add(d, into: &m.blocks[mod.layer].qkv.weight, row0: c.qDim + c.kvDim)
                case "self_attn.o_proj": add(d, into: &m.blocks[mod.layer].o.weight, row0: 0)
                case "mlp.gate_proj": add(d, into: &m.blocks[mod.layer].gateUp.weight, row0: 0)
                case "mlp.up_proj": add(d, into: &m.blocks[mod.layer].gateUp.weight, row0: c.intermediate)
                case "mlp.down_proj": add(d, into: &m.blocks[mod.layer].down.weight, row0: 0)
                default: throw LoRAError(message: "unknown module \(mod.kind)")
                }
            }
            return m
        }
        if var m = model as? GPT2Model {
            for mod in lora.modules {
                let d = delta(lora, mod)
                switch mod.kind {
                case "attn.c_attn": add(d, into: &m.blocks[mod.layer].attn.weight, row0: 0)
                case "attn.c_proj": add(d, into: &m.blocks[mod.layer].proj.weight, row0: 0)
                case "mlp.c_fc": add(d, into: &m.blocks[mod.layer].fc.weight, row0: 0)
                case "mlp.c_proj": add(d, into: &m.blocks[mod.layer].fcProj.weight, row0: 0)
                default: throw LoRAError(message: "unknown module \(mod.kind)")
                }
            }
            return m
        }
        throw LoRAError(message: "merging is not implemented for \(type(of: model))")
    }
}
