#include "arch/arch.h"

#include <algorithm>
#include <cstring>

#include "arch/blocks.h"
#include "core/cpu.h"

namespace rwkvrt {

const char *arch_name(Arch arch) {
    switch (arch) {
    case Arch::rwkv4: return "rwkv4";
    case Arch::rwkv5_0: return "rwkv5.0";
    case Arch::rwkv5_1: return "rwkv5.1";
    case Arch::rwkv5_2: return "rwkv5.2";
    case Arch::rwkv6: return "rwkv6";
    case Arch::rwkv7: return "rwkv7";
    }
    return "unknown";
}

size_t ArchModel::wkv_floats_per_layer() const {
    if (hp_.arch == Arch::rwkv4) return size_t(3 * hp_.dim_att);
    return size_t(hp_.n_head * hp_.head_size * hp_.head_size);
}

void ArchModel::init_state(float *state) const {
    std::fill(state, state + state_floats(), 0.0f);
    if (hp_.arch != Arch::rwkv4) return;
    // v4's running maximum pp starts at −1e30: −inf would give inf − inf = NaN in the first step.
    for (int64_t i = 0; i < hp_.n_layer; ++i) {
        float *pp = layer(state, i).wkv + 2 * hp_.dim_att;
        std::fill(pp, pp + hp_.dim_att, -1e30f);
    }
}

void ArchModel::token_shift(const Step &step, int64_t l, bool ffn, const float *A, float *P, ThreadPool &pool) const {
    const int64_t C = hp_.n_embd;
    // The rows one down on every thread (on one, the copy took 1.4% of a prompt while the others
    // waited), then each sequence's first row from its state.
    if (step.rows > 1)
        for_rows(pool, step.rows - 1, C, [&](int64_t t0, int64_t t1) {
            std::memcpy(P + (t0 + 1) * C, A + t0 * C, size_t((t1 - t0) * C) * sizeof(float));
        });
    for (const StepSeq &q : step.seqs) {
        const LayerState<const float> in = layer(q.state_in, l);
        const LayerState<float> out = layer(q.state_out, l);
        std::memcpy(P + q.row0 * C, ffn ? in.ffn_x : in.att_x, size_t(C) * sizeof(float));
        std::memcpy(ffn ? out.ffn_x : out.att_x, A + (q.row0 + q.T - 1) * C, size_t(C) * sizeof(float));
    }
}

std::vector<WkvSegment> ArchModel::segments(const Step &step, int64_t l) const {
    // A sequence's next state is read at its next step, after this step's weights and every other
    // sequence's state have gone through the caches. Past the last-level cache its lines are gone by then,
    // and plain stores would first read each line they write: a third of the recurrence's traffic.
    const double between = work_.bytes + double(step.seqs.size() * state_floats() * sizeof(float));
    const bool stream_out = between > double(cpu_features().last_level_cache_bytes);
    std::vector<WkvSegment> segs;
    segs.reserve(step.seqs.size());
    for (const StepSeq &q : step.seqs)
        segs.push_back({q.row0, q.T, layer(q.state_in, l).wkv, layer(q.state_out, l).wkv, stream_out});
    return segs;
}

} // namespace rwkvrt
