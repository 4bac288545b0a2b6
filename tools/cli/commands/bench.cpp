// rwkvrt bench: prefill and generation speed, and their share of the machine's ceilings.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <regex>

#include "cli/common.h"

namespace rwkvrt_cli {

namespace {

struct BenchArgs {
    ModelArgs model;
    int prompt_tokens = 512, gen_tokens = 128;
    std::string limits;
};

// Reads one number from the JSON that bench/limits.sh prints.
double limit_value(const std::string &json, const std::string &key) {
    const std::regex re("\"" + key + "\"\\s*:\\s*([0-9.eE+-]+)");
    std::smatch m;
    return std::regex_search(json, m, re) ? std::stod(m[1]) : 0.0;
}

int run_bench(const BenchArgs &b) {
    const ModelArgs &a = b.model;
    Model model = load_model(a);
    const int32_t n_vocab = rwkvrt_model_n_vocab(model.get());
    std::vector<int32_t> prompt(static_cast<size_t>(b.prompt_tokens));
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = int32_t((i * 7919 + 13) % size_t(n_vocab));
    std::vector<float> logits(static_cast<size_t>(n_vocab));
    State state = new_state(model.get());
    check(rwkvrt_feed(model.get(), state.get(), prompt.data(), std::min<size_t>(8, prompt.size()), logits.data()), "warm-up"); // page in the weights

    check(rwkvrt_state_reset(state.get()), "reset");
    auto t0 = std::chrono::steady_clock::now();
    check(rwkvrt_feed(model.get(), state.get(), prompt.data(), prompt.size(), logits.data()), "prefill");
    const double prefill_s = seconds_since(t0);

    int32_t token = prompt.back();
    t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < b.gen_tokens; ++i) {
        check(rwkvrt_feed(model.get(), state.get(), &token, 1, logits.data()), "generation");
        token = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    const double gen_s = seconds_since(t0);

    const double params = double(rwkvrt_model_n_params(model.get())), bytes = double(rwkvrt_model_weight_bytes(model.get()));
    const double prefill_tps = b.prompt_tokens / prefill_s, gen_tps = b.gen_tokens / gen_s;
    const double gflops = 2.0 * params * prefill_tps / 1e9, gbps = bytes * gen_tps / 1e9;
    std::printf("model:       %s (%s, %s, %.1fM parameters, %.1f MB)\n", a.path.c_str(), rwkvrt_model_arch(model.get()),
                rwkvrt_model_weight_type(model.get()), params / 1e6, bytes / 1e6);
    std::printf("prefill:     %d tokens in %.3f s = %.1f tokens/s (%.1f GFLOP/s)\n", b.prompt_tokens, prefill_s, prefill_tps, gflops);
    std::printf("generation:  %d tokens in %.3f s = %.1f tokens/s (%.2f GB/s of weights read)\n", b.gen_tokens, gen_s, gen_tps, gbps);
    if (!b.limits.empty()) {
        std::ifstream in(b.limits);
        if (!in) throw Failure{"cannot read " + b.limits};
        const std::string json = read_all(in);
        const double gemm = limit_value(json, "sgemm_gflops_all"), bw = limit_value(json, "read_gbps_all");
        if (gemm > 0) std::printf("prefill share of the fp32 GEMM ceiling (%.1f GFLOP/s): %.1f%%\n", gemm, 100 * gflops / gemm);
        if (bw > 0) std::printf("generation share of the read bandwidth (%.1f GB/s): %.1f%%\n", bw, 100 * gbps / bw);
    }
    return 0;
}

} // namespace

void add_bench(CLI::App &app, Commands &out) {
    auto b = std::make_shared<BenchArgs>();
    CLI::App *cmd = app.add_subcommand("bench", "Measure prefill and generation speed");
    b->model.add(cmd);
    cmd->add_option("--prompt-tokens", b->prompt_tokens, "Prefill length")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--gen-tokens", b->gen_tokens, "Tokens generated one by one")->check(CLI::PositiveNumber)->capture_default_str();
    cmd->add_option("--limits", b->limits, "JSON from bench/limits.sh: report the share of the machine's ceilings");
    out.push_back({cmd, [b] { return run_bench(*b); }});
}

} // namespace rwkvrt_cli
