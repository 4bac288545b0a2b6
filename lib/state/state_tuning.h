// State-tuning files (RWKV-LM, RWKV-PEFT): trained initial WKV matrices, one per layer, under
// blocks.<i>.att.time_state with shape (H, N, N), value-major (the CUDA kernels' orientation).
#pragma once

#include <string>

namespace rwkvrt {

class State;

// Replaces the state with the tuned initial state in the file at path (.pth or .safetensors):
// token shifts zero, each layer's WKV matrices from the file (transposed into the key-major layout
// of v5/v6), n_tokens 0, metadata kept. Throws MISMATCH (a layer missing, an extra key, a wrong
// shape; all named), FORMAT (no time_state tensor at all), UNSUPPORTED (RWKV-4, which has no WKV
// matrices), IO. On failure the state is unchanged.
void load_initial_state(State &state, const std::string &path);

} // namespace rwkvrt
