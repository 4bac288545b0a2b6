// Version detection and strict loading, on random checkpoints from tools/random_model: every
// version is recognised from its official tensor set, and anything else is refused naming the tensor.
#include <algorithm>
#include <cmath>

#include "arch/arch_checks.h"

using rwkvrt_tools::RandomModelSpec;
using rwkvrt_tools::RandomTensor;

namespace {

const std::string kArchs[] = {"rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6", "rwkv7"};

RandomModelSpec spec_for(const std::string &arch) {
    RandomModelSpec s;
    s.arch = arch;
    s.seed = std::hash<std::string>()(arch);
    return s;
}

RandomTensor &find(std::vector<RandomTensor> &ts, const std::string &name) {
    auto it = std::find_if(ts.begin(), ts.end(), [&](const RandomTensor &t) { return t.name == name; });
    REQUIRE_MESSAGE(it != ts.end(), name);
    return *it;
}

void remove(std::vector<RandomTensor> &ts, const std::string &name) {
    REQUIRE_MESSAGE(std::erase_if(ts, [&](const RandomTensor &t) { return t.name == name; }) == 1, name);
}

// Loads `path` expecting failure with `status` and a message that names `tensor`.
void check_refused(const std::string &path, rwkvrt_status status, const std::string &tensor) {
    rwkvrt_model *m = nullptr;
    const rwkvrt_status st = rwkvrt_model_load(path.c_str(), nullptr, &m);
    const std::string msg = rwkvrt_last_error(), got = rwkvrt_status_name(st);
    rwkvrt_model_free(m);
    CHECK_MESSAGE(st == status, path, ": ", got, ": ", msg);
    CHECK_MESSAGE(msg.find("'" + tensor + "'") != std::string::npos, msg);
    MESSAGE(got, ": ", msg);
}

} // namespace

TEST_CASE("random checkpoints of every version are detected and run") {
    for (const std::string &arch : kArchs) {
        CAPTURE(arch);
        const RandomModelSpec spec = spec_for(arch);
        th::ModelPtr m = th::load(ac::write_random(spec, "detect-" + arch));
        CHECK(std::string(rwkvrt_model_arch(m.get())) == arch);
        CHECK(rwkvrt_model_n_layer(m.get()) == spec.n_layer);
        CHECK(rwkvrt_model_n_embd(m.get()) == spec.n_embd);
        for (float l : th::logits_after(m.get(), th::kPromptIn)) REQUIRE(std::isfinite(l));
        CHECK(ac::token_vs_sequence(m.get(), "random " + arch) <= 1e-4);
        ac::check_snapshot_round_trip(m.get());
    }
}

TEST_CASE("an attention width different from n_embd") {
    for (const std::string arch : {"rwkv4", "rwkv5.0", "rwkv5.2", "rwkv6"}) {
        CAPTURE(arch);
        RandomModelSpec spec = spec_for(arch);
        spec.dim_att = 2 * spec.n_embd;
        th::ModelPtr m = th::load(ac::write_random(spec, "dim-att-" + arch));
        CHECK(ac::token_vs_sequence(m.get(), "random " + arch + " with dim_att = 2·n_embd") <= 1e-4);
        ac::check_snapshot_round_trip(m.get());
    }
}

TEST_CASE("rwkv5.0/5.1 bonus and decay spellings give the same model") {
    // time_first holds log u, time_faaaa u itself; rwkv.cpp-era files store the per-head decay as (H, 1).
    for (const std::string arch : {"rwkv5.0", "rwkv5.1"}) {
        CAPTURE(arch);
        RandomModelSpec spec = spec_for(arch);
        const std::vector<float> base = th::logits_after(th::load(ac::write_random(spec, "u-log-" + arch)).get(), ac::kLongPrompt);
        spec.edit = [](std::vector<RandomTensor> &ts) {
            for (RandomTensor &t : ts) {
                const auto dot = t.name.rfind('.');
                const std::string leaf = t.name.substr(dot + 1);
                if (leaf == "time_first") {
                    t.name = t.name.substr(0, dot + 1) + "time_faaaa";
                    for (float &v : t.data) v = std::exp(v);
                } else if (leaf == "time_decay") {
                    t.shape.push_back(1);
                }
            }
        };
        th::ModelPtr m = th::load(ac::write_random(spec, "u-raw-" + arch));
        CHECK(std::string(rwkvrt_model_arch(m.get())) == arch);
        const double d = th::max_abs_diff(base, th::logits_after(m.get(), ac::kLongPrompt));
        MESSAGE(arch, ": time_first vs exp(time_first) as time_faaaa: max |Δlogit| = ", d);
        CHECK(d <= 1e-5);
    }
}

TEST_CASE("checkpoints that are no known version are refused naming the tensor") {
    // Per version, a tensor whose loss does not change the detected version.
    const std::pair<std::string, std::string> required[] = {
        {"rwkv4", "blocks.1.att.time_first"},    {"rwkv5.0", "blocks.1.att.ln_x.bias"},
        {"rwkv5.1", "blocks.1.att.time_mix_g"},  {"rwkv5.2", "blocks.0.att.time_faaaa"},
        {"rwkv6", "blocks.1.att.time_maa_w2"},   {"rwkv7", "blocks.1.att.k_a"},
    };
    for (const auto &entry : required) {
        const std::string &arch = entry.first, &name = entry.second; // not a structured binding: lambdas capture name
        CAPTURE(arch);
        RandomModelSpec spec = spec_for(arch);

        spec.edit = [&](std::vector<RandomTensor> &ts) { remove(ts, name); };
        check_refused(ac::write_random(spec, "drop-" + arch), RWKVRT_ERR_FORMAT, name);

        spec.edit = [&](std::vector<RandomTensor> &ts) { // a shape that contradicts the other tensors
            RandomTensor &t = find(ts, name);
            t.shape.back() += 1;
            t.data.resize(t.data.size() / size_t(t.shape.back() - 1) * size_t(t.shape.back()));
        };
        check_refused(ac::write_random(spec, "reshape-" + arch), RWKVRT_ERR_FORMAT, name);

        spec.edit = [](std::vector<RandomTensor> &ts) { ts.push_back({"blocks.1.att.time_mystery", {4}, {0, 0, 0, 0}}); };
        check_refused(ac::write_random(spec, "extra-" + arch), RWKVRT_ERR_UNSUPPORTED, "blocks.1.att.time_mystery");
    }
}

TEST_CASE("inconsistent versions and state-tuned files are refused") {
    // A gate-less 5.0 with 5.1's token-shift mix for the gate.
    RandomModelSpec spec = spec_for("rwkv5.0");
    spec.edit = [](std::vector<RandomTensor> &ts) { ts.push_back({"blocks.0.att.time_mix_g", {1, 1, 64}, std::vector<float>(64)}); };
    check_refused(ac::write_random(spec, "v50-with-mix-g"), RWKVRT_ERR_UNSUPPORTED, "blocks.0.att.time_mix_g");

    // 5.2's decay per channel without the gate that 5.2 has.
    spec = spec_for("rwkv5.2");
    spec.edit = [](std::vector<RandomTensor> &ts) {
        for (int i = 0; i < 2; ++i) remove(ts, "blocks." + std::to_string(i) + ".att.gate.weight");
    };
    check_refused(ac::write_random(spec, "v52-without-gate"), RWKVRT_ERR_FORMAT, "blocks.0.att.time_decay");

    // Merged state-tuned checkpoints (spec §7.5) carry att.time_state, whose initial state is not applied.
    for (const std::string arch : {"rwkv5.2", "rwkv6"}) {
        spec = spec_for(arch);
        spec.edit = [](std::vector<RandomTensor> &ts) {
            ts.push_back({"blocks.0.att.time_state", {4, 16, 16}, std::vector<float>(4 * 16 * 16)});
        };
        check_refused(ac::write_random(spec, "time-state-" + arch), RWKVRT_ERR_UNSUPPORTED, "blocks.0.att.time_state");
    }
}

TEST_CASE("the random checkpoint writer refuses bad specs") {
    RandomModelSpec spec;
    spec.arch = "rwkv8";
    CHECK_THROWS_AS(rwkvrt_tools::random_checkpoint(spec), std::invalid_argument);
    spec.arch = "rwkv6";
    spec.head_size = 48; // does not divide 64
    CHECK_THROWS_AS(rwkvrt_tools::random_checkpoint(spec), std::invalid_argument);
    spec.head_size = 16;
    spec.edit = [](std::vector<RandomTensor> &ts) { ts[0].shape[0] += 1; };
    CHECK_THROWS_AS(rwkvrt_tools::write_random_checkpoint(spec, testdata::scratch_dir() + "/bad.safetensors"), std::invalid_argument);
}
