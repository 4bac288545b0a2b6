// Which RWKV version a checkpoint is (spec §1.1), decided from tensor names and shapes only.
#include <string_view>

#include "arch/arch.h"
#include "core/error.h"
#include "formats/tensor_file.h"

namespace rwkvrt {

namespace {

// Variants with extra tensors that the forward passes here do not implement.
void refuse_variants(const TensorFile &file) {
    for (const TensorView &t : file.tensors()) {
        const std::string_view n = t.name;
        if (n.find(".ffn.s_emb") != n.npos || n.find(".ffn.s0") != n.npos || n.find(".ffn.s1") != n.npos ||
            n.find(".ffn.s2") != n.npos)
            fail(RWKVRT_ERR_UNSUPPORTED, "'", file.path(), "': tensor '", t.name,
                 "' belongs to the RWKV-7 DeepEmbed variant, which rwkvrt does not run");
        if (n.find(".qkv.") != n.npos)
            fail(RWKVRT_ERR_UNSUPPORTED, "'", file.path(), "': tensor '", t.name,
                 "' belongs to the RWKV-7b (qkv) variant, which rwkvrt does not run");
    }
}

Arch detect_v5(const TensorFile &file) {
    if (!file.find("blocks.0.att.gate.weight")) return Arch::rwkv5_0;
    const TensorView *decay = file.find("blocks.0.att.time_decay");
    if (!decay) fail(RWKVRT_ERR_FORMAT, "'", file.path(), "': tensor 'blocks.0.att.time_decay' is missing (required by rwkv5)");
    // 5.2 has a per-channel decay (H, N); 5.1 a per-head one, (H) or (H, 1) (rwkv.cpp adds a trailing 1).
    int64_t per_head = 1;
    for (size_t i = 1; i < decay->shape.size(); ++i) per_head *= decay->shape[i];
    return per_head > 1 ? Arch::rwkv5_2 : Arch::rwkv5_1;
}

} // namespace

std::unique_ptr<ArchModel> build_model(const TensorFile &file, const LoadConfig &config) {
    if (!file.find("emb.weight"))
        fail(RWKVRT_ERR_UNSUPPORTED, "'", file.path(), "' has no tensor 'emb.weight': not an RWKV checkpoint in a naming rwkvrt knows");
    refuse_variants(file);
    // A file that declares its architecture (GGUF) gets exactly that one.
    if (file.info().arch == "rwkv7") return build_rwkv7(file, config);
    if (file.info().arch == "rwkv6") return build_rwkv6(file, config);
    if (file.find("blocks.0.att.r_k") || file.find("blocks.0.att.k_k")) return build_rwkv7(file, config);
    if (file.find("blocks.0.att.time_maa_x")) return build_rwkv6(file, config);
    if (file.find("blocks.0.att.ln_x.weight")) return build_rwkv5(file, config, detect_v5(file));
    return build_rwkv4(file, config);
}

} // namespace rwkvrt
