// Qwen3 (Qwen Team 2025, `modeling_qwen3.py`): the Llama block of Llama.swift with three
// differences, all carried by ModelConfig and the weight table:
//   • q_norm / k_norm: RMSNorm over head_dim applied to every query and key head after the
//     projection and before RoPE (weights model.layers.N.self_attn.{q,k}_norm.weight, [head_dim]);
//   • head_dim is its own hyper-parameter (Qwen3-4B: 128 with hidden 2560, so q_proj is 4096 × 2560);
//   • no q/k/v bias (unlike Qwen2), rope θ = 1,000,000, tied embeddings at small sizes.
// Chat-side differences (thinking mode) live in Tokenization/ChatTemplate and Generation.

// The Llama block's weight table adds q_norm/k_norm when the descriptor says so.

extension ArchitectureDescriptor {
    public static let qwen3 = llamaFamily(.qwen3, huggingFaceClass: "Qwen3ForCausalLM", tiedByDefault: true, permutedQK: false,
                                          thinking: true, qkNorm: true)
}
