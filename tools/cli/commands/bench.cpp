// rwkvrt bench: prefill and generation speed in the manner of llama-bench — repeated runs, any
// number of thread counts, batch sizes (conversations decoding together) and context depths — with
// GFLOP/s and GB/s from the work each token really does (rwkvrt_model_work_per_token) and their share
// of the machine's ceilings (bench/limits.sh).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <fcntl.h>
#include <sys/mman.h>
#include <thread>
#include <unistd.h>

#include "cli/common.h"

namespace rwkvrt_cli {

namespace {

struct BenchArgs {
    std::string model, weight_type, activations, limits, output = "md";
    bool mmap = false, batch_invariant = false, probe_bandwidth = false;
    int prompt_tokens = 512, gen_tokens = 128, repetitions = 3;
    std::vector<int> threads{0}, batches{1};
    std::vector<long long> depths{0};
};

struct Ceilings {
    double gflops_1 = 0, gflops_all = 0, gbps_1 = 0, gbps_all = 0;
};

// Seconds to read() a regular file through a 1 MiB buffer; 0 for a folder (a Hugging Face checkpoint).
double seconds_to_read(const std::string &path) {
    if (!std::filesystem::is_regular_file(path)) return 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Failure{"cannot read " + path};
    std::vector<char> buffer(size_t(1) << 20);
    const auto t0 = std::chrono::steady_clock::now();
    while (in.read(buffer.data(), std::streamsize(buffer.size())) || in.gcount() > 0) {
    }
    return seconds_since(t0);
}

// Seconds to read() a regular file whole into fresh memory, as a program that keeps it must: one
// mapping of its size, 2 MiB aligned and asking for huge pages as the model's weights do, so that the
// kernel zeroes every page before the copy lands in it. 0 for a folder.
double seconds_to_read_into_memory(const std::string &path) {
    if (!std::filesystem::is_regular_file(path)) return 0;
    const size_t size = std::filesystem::file_size(path), huge = size_t(2) << 20;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Failure{"cannot read " + path};
    void *map = ::mmap(nullptr, size + huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        ::close(fd);
        throw Failure{"cannot map " + std::to_string(size) + " bytes to read " + path + " into"};
    }
    auto *start = static_cast<uint8_t *>(map);
    start += (huge - reinterpret_cast<uintptr_t>(start) % huge) % huge;
    ::madvise(start, size, MADV_HUGEPAGE); // a hint: without THP the pages stay small
    const auto t0 = std::chrono::steady_clock::now();
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::read(fd, start + done, std::min(size - done, size_t(1) << 30));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += size_t(n);
    }
    const double seconds = seconds_since(t0);
    ::munmap(map, size + huge);
    ::close(fd);
    if (done != size) throw Failure{"cannot read " + path + " whole"};
    return seconds;
}

// Reads bench/limits.sh's JSON, refusing anything else before a long run starts.
Ceilings read_limits(const std::string &path) {
    std::ifstream in(path);
    if (!in) throw Failure{"cannot read the limits file " + path};
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(in);
    } catch (const std::exception &e) {
        throw Failure{path + " is not JSON (" + e.what() + "); write it with ../shared/bench/limits.sh"};
    }
    Ceilings c;
    const auto get = [&](const char *key, double &out) {
        if (!j.is_object() || !j.contains(key) || !j[key].is_number() || !(j[key].get<double>() > 0))
            throw Failure{path + " has no positive number \"" + key + "\"; write it with ../shared/bench/limits.sh"};
        out = j[key].get<double>();
    };
    get("sgemm_gflops_1thread", c.gflops_1);
    get("sgemm_gflops_all", c.gflops_all);
    get("read_gbps_1thread", c.gbps_1);
    get("read_gbps_all", c.gbps_all);
    return c;
}

// The read bandwidth of this moment, probed beside each generation run (--probe-bandwidth): the loop
// of bench/limits.sh (threads summing their shares of a buffer much larger than the caches), so that a
// run's GB/s is a share of the bandwidth of its own minute, not of one measured minutes apart, which
// on a shared machine can be half or twice as much. The buffer asks for huge pages, as the weights
// have them: where THP is left to madvise, limits.sh's malloc'd buffer gets small ones and reads
// 5–8% less (Zen 4, docs/PERFORMANCE.md).
class ReadProbe {
public:
    explicit ReadProbe(int threads) : threads_(threads) {
        map_ = ::mmap(nullptr, kBytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (map_ == MAP_FAILED) throw Failure{"--probe-bandwidth: cannot map 1 GiB to read"};
        auto *start = static_cast<uint8_t *>(map_);
        start += (kHuge - reinterpret_cast<uintptr_t>(start) % kHuge) % kHuge;
        ::madvise(start, kBytes, MADV_HUGEPAGE); // a hint: without THP the pages stay small
        data_ = reinterpret_cast<float *>(start);
        std::fill_n(data_, kFloats, 1.0f);
    }
    ~ReadProbe() { ::munmap(map_, kBytes + kHuge); }
    ReadProbe(const ReadProbe &) = delete;
    ReadProbe &operator=(const ReadProbe &) = delete;

    // GB/s of `passes` reads of the whole buffer, on the test's threads.
    double gbps(int passes) const {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<float> sums(static_cast<size_t>(threads_));
        for (int p = 0; p < passes; ++p) {
            const auto sum_share = [&](int t) {
                const size_t share = kFloats / size_t(threads_), begin = size_t(t) * share;
                float acc[kChains] = {}; // independent sums, which the compiler keeps in vectors
                for (size_t i = begin; i + kChains <= begin + share; i += kChains)
                    for (size_t c = 0; c < kChains; ++c) acc[c] += data_[i + c];
                sums[size_t(t)] += std::accumulate(acc, acc + kChains, 0.0f);
            };
            std::vector<std::thread> others;
            for (int t = 1; t < threads_; ++t) others.emplace_back(sum_share, t);
            sum_share(0);
            for (std::thread &t : others) t.join();
        }
        const double seconds = seconds_since(t0);
        if (std::accumulate(sums.begin(), sums.end(), 0.0f) == 42.0f) std::fputs("", stderr); // keeps the loop
        return double(kBytes) * passes / seconds / 1e9;
    }

private:
    static constexpr size_t kFloats = size_t(1) << 28, kBytes = kFloats * sizeof(float), kChains = 32;
    static constexpr size_t kHuge = size_t(2) << 20; // room to start the buffer at a huge page's boundary
    int threads_;
    void *map_ = nullptr;
    float *data_ = nullptr;
};

long long rss_kib() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
    return 0;
}

std::string cell(const char *format, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

struct Stat {
    double mean = 0, sd = 0;
    std::vector<double> samples; // each repetition's, in the order they ran
};

Stat stat_of(const std::vector<double> &v) {
    Stat s;
    s.samples = v;
    s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
    for (double x : v) s.sd += (x - s.mean) * (x - s.mean);
    s.sd = v.size() > 1 ? std::sqrt(s.sd / double(v.size() - 1)) : 0.0;
    return s;
}

// The middle value (mean of the middle two); 0 for none. The figure a share over repetitions is judged
// by: one repetition that met a neighbour's burst moves a mean.
double median_of(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Row {
    int threads, batch;
    long long depth;
    std::string test; // "pp512", "tg128"
    Stat tps;         // aggregate tokens/s over the batch
    double gflops, gbps;
    double share_compute, share_bandwidth; // of the ceilings; 0 when unknown
    // --probe-bandwidth: per repetition, the read bandwidth probed around it and the run's share of it.
    std::vector<double> probed_gbps, probed_shares;
};

// Feeds one step of `tokens` (one list per state) and returns nothing; throws on failure.
void feed_all(const rwkvrt_model *m, std::vector<State> &states, const std::vector<std::vector<int32_t>> &tokens,
              std::vector<std::vector<float>> *logits, bool batch_invariant) {
    const size_t B = states.size();
    std::vector<rwkvrt_state *> s(B);
    std::vector<const int32_t *> t(B);
    std::vector<size_t> n(B);
    std::vector<float *> l(B, nullptr);
    for (size_t i = 0; i < B; ++i) {
        s[i] = states[i].get();
        t[i] = tokens[i].data();
        n[i] = tokens[i].size();
        if (logits) l[i] = (*logits)[i].data();
    }
    rwkvrt_feed_options options = rwkvrt_feed_options_default();
    options.batch_invariant = batch_invariant;
    check(rwkvrt_feed_batch_ex(m, B, s.data(), t.data(), n.data(), l.data(), &options), "feed");
}

// Runs one configuration's tests. *rss_kib_after is the process's resident memory after them, taken while the model
// and the states still live (and without the bandwidth probe's buffer).
std::vector<Row> run_config(const BenchArgs &b, int threads, int batch, long long depth, const Ceilings *ceil,
                            long long *state_bytes, long long *rss_kib_after) {
    ModelArgs ma;
    ma.path = b.model;
    ma.threads = threads;
    ma.weight_type = b.weight_type;
    ma.activations = b.activations;
    ma.mmap = b.mmap;
    Model model = load_model(ma);
    const rwkvrt_model *m = model.get();
    const int32_t V = rwkvrt_model_n_vocab(m);
    double flops = 0, bytes = 0;
    check(rwkvrt_model_work_per_token(m, &flops, &bytes), "work per token");
    const auto token = [&](long long i, int seq) { return int32_t((uint64_t(i) * 7919u + uint64_t(seq) * 104729u + 13u) % uint64_t(V)); };

    std::vector<State> states;
    for (int i = 0; i < batch; ++i) states.push_back(new_state(m));
    *state_bytes = (long long)rwkvrt_state_snapshot_size(states[0].get());
    std::vector<std::vector<float>> logits(static_cast<size_t>(batch), std::vector<float>(static_cast<size_t>(V)));
    const auto prompts_at = [&](long long position) {
        std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(batch));
        for (int s = 0; s < batch; ++s)
            for (int i = 0; i < b.prompt_tokens; ++i) prompts[size_t(s)].push_back(token(position + i, s));
        return prompts;
    };
    // Warm-up, as llama-bench's: one untimed run of each test pages the weights in and grows the engine's
    // buffers to the test's steps. Without it the first prompt paid for the pages of its activations
    // (0.1B bf16, pp512: 1331–1513 tok/s against 1450–1780 for the runs after it).
    if (b.prompt_tokens > 0) feed_all(m, states, prompts_at(0), &logits, b.batch_invariant);
    if (b.gen_tokens > 0)
        feed_all(m, states, std::vector<std::vector<int32_t>>(size_t(batch), {token(0, 0)}), &logits, b.batch_invariant);

    std::vector<double> pp, tg, probed;
    std::unique_ptr<ReadProbe> probe = b.probe_bandwidth && b.gen_tokens > 0 ? std::make_unique<ReadProbe>(threads) : nullptr;
    for (int rep = 0; rep < b.repetitions; ++rep) {
        for (State &s : states) check(rwkvrt_state_reset(s.get()), "reset");
        // Depth: the context already in the states, fed in chunks that are not timed.
        for (long long done = 0; done < depth;) {
            const long long n = std::min<long long>(4096, depth - done);
            std::vector<std::vector<int32_t>> chunk(static_cast<size_t>(batch));
            for (int s = 0; s < batch; ++s)
                for (long long i = 0; i < n; ++i) chunk[size_t(s)].push_back(token(done + i, s));
            feed_all(m, states, chunk, nullptr, b.batch_invariant);
            done += n;
        }
        if (b.prompt_tokens > 0) {
            const std::vector<std::vector<int32_t>> prompts = prompts_at(depth);
            const auto t0 = std::chrono::steady_clock::now();
            feed_all(m, states, prompts, &logits, b.batch_invariant);
            pp.push_back(double(b.prompt_tokens) * batch / seconds_since(t0));
        }
        if (b.gen_tokens > 0) {
            std::vector<std::vector<int32_t>> next(static_cast<size_t>(batch), std::vector<int32_t>(1));
            for (int s = 0; s < batch; ++s) next[size_t(s)][0] = token(depth + b.prompt_tokens, s);
            // Three passes before the run and three after: a run's minute, from both sides.
            const double probed_before = probe ? probe->gbps(3) : 0;
            const auto t0 = std::chrono::steady_clock::now();
            for (int i = 0; i < b.gen_tokens; ++i) {
                feed_all(m, states, next, &logits, b.batch_invariant);
                for (int s = 0; s < batch; ++s) { // greedy, as a real decoder picks its next token
                    const std::vector<float> &l = logits[size_t(s)];
                    next[size_t(s)][0] = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
                }
            }
            tg.push_back(double(b.gen_tokens) * batch / seconds_since(t0));
            if (probe) probed.push_back((probed_before + probe->gbps(3)) / 2);
        }
    }
    probe.reset();
    *rss_kib_after = rss_kib();
    std::vector<Row> rows;
    const double gflops_ceiling = ceil ? (threads == 1 ? ceil->gflops_1 : ceil->gflops_all) : 0;
    const double gbps_ceiling = ceil ? (threads == 1 ? ceil->gbps_1 : ceil->gbps_all) : 0;
    if (!pp.empty()) {
        Row r{threads, batch, depth, "pp" + std::to_string(b.prompt_tokens), stat_of(pp), 0, 0, 0, 0};
        // A prompt needs logits only after its last token: the library counts its head once, and its last
        // layer's products after the recurrence for the rows that give logits or state.
        double prompt_flops = 0;
        check(rwkvrt_model_prompt_flops(m, size_t(batch), size_t(b.prompt_tokens), &prompt_flops), "prompt FLOPs");
        r.gflops = prompt_flops / (double(b.prompt_tokens) * batch) * r.tps.mean / 1e9;
        r.share_compute = gflops_ceiling > 0 ? r.gflops / gflops_ceiling : 0;
        rows.push_back(r);
    }
    if (!tg.empty()) {
        Row r{threads, batch, depth, "tg" + std::to_string(b.gen_tokens), stat_of(tg), 0, 0, 0, 0};
        r.gflops = flops * r.tps.mean / 1e9;
        r.gbps = bytes * (r.tps.mean / batch) / 1e9; // each step reads the weights once for the whole batch
        r.share_compute = gflops_ceiling > 0 ? r.gflops / gflops_ceiling : 0;
        r.share_bandwidth = gbps_ceiling > 0 ? r.gbps / gbps_ceiling : 0;
        r.probed_gbps = probed;
        for (size_t i = 0; i < probed.size(); ++i) r.probed_shares.push_back(bytes * (tg[i] / batch) / 1e9 / probed[i]);
        rows.push_back(r);
    }
    return rows;
}

int run_bench(const BenchArgs &b) {
    if (b.output != "md" && b.output != "json") throw Failure{"-o takes md or json, not " + b.output};
    Ceilings ceilings;
    if (!b.limits.empty()) ceilings = read_limits(b.limits);
    const Ceilings *ceil = b.limits.empty() ? nullptr : &ceilings;

    // The model's description, once.
    ModelArgs ma;
    ma.path = b.model;
    ma.weight_type = b.weight_type;
    ma.mmap = b.mmap;
    ma.threads = 1;
    // Loading, against reading the same bytes through one reused buffer and into fresh memory: all
    // from the page cache, since the first read brings the file in. The fresh memory is read into
    // twice and the second timed: a process's first touch of that much memory can wait seconds for a
    // hypervisor to back it (docs/PERFORMANCE.md, "Loading a bf16 .pth"), which the second read and
    // the load then find done.
    const double read_seconds = seconds_to_read(b.model);
    seconds_to_read_into_memory(b.model);
    const double read_into_memory_seconds = seconds_to_read_into_memory(b.model);
    const auto load_start = std::chrono::steady_clock::now();
    Model probe = load_model(ma);
    const double load_seconds = seconds_since(load_start);
    double flops = 0, bytes = 0;
    check(rwkvrt_model_work_per_token(probe.get(), &flops, &bytes), "work per token");
    const std::string arch = rwkvrt_model_arch(probe.get()), type = rwkvrt_model_weight_type(probe.get());
    const std::string activations = b.activations.empty() ? "auto" : b.activations;
    const double params = double(rwkvrt_model_n_params(probe.get()));
    probe.reset();

    std::vector<Row> rows;
    struct Memory {
        int threads, batch;
        long long depth, rss_kib; // RSS after the test ran
    };
    std::vector<Memory> memory;
    long long state_bytes = 0;
    for (int given : b.threads) {
        const int threads = given ? given : int(std::max(1u, std::thread::hardware_concurrency()));
        for (int batch : b.batches)
            for (long long depth : b.depths) {
                long long rss = 0;
                std::vector<Row> r = run_config(b, threads, batch, depth, ceil, &state_bytes, &rss);
                rows.insert(rows.end(), r.begin(), r.end());
                memory.push_back({threads, batch, depth, rss});
            }
    }

    if (b.output == "json") {
        nlohmann::json out;
        out["model"] = b.model;
        out["arch"] = arch;
        out["weight_type"] = type;
        out["activations"] = activations;
        out["batch_invariant"] = b.batch_invariant;
        out["system_info"] = rwkvrt_system_info();
        out["params"] = params;
        out["flops_per_token"] = flops;
        out["weight_bytes_per_step"] = bytes;
        out["state_bytes_per_conversation"] = state_bytes;
        out["load_seconds"] = load_seconds;
        if (read_seconds > 0) {
            out["file_read_seconds"] = read_seconds;
            out["file_read_into_memory_seconds"] = read_into_memory_seconds;
        }
        if (ceil) out["limits"] = {{"sgemm_gflops_1thread", ceilings.gflops_1}, {"sgemm_gflops_all", ceilings.gflops_all},
                                   {"read_gbps_1thread", ceilings.gbps_1}, {"read_gbps_all", ceilings.gbps_all}};
        for (const Row &r : rows) {
            nlohmann::json res = {{"threads", r.threads}, {"batch", r.batch}, {"depth", r.depth}, {"test", r.test},
                                  {"tokens_per_second", r.tps.mean}, {"stddev", r.tps.sd},
                                  {"samples_tokens_per_second", r.tps.samples}, {"gflops", r.gflops},
                                  {"gbps", r.gbps}, {"share_of_compute_ceiling", r.share_compute},
                                  {"share_of_bandwidth_ceiling", r.share_bandwidth}};
            if (!r.probed_gbps.empty()) {
                res["samples_probed_read_gbps"] = r.probed_gbps;
                res["samples_share_of_probed_bandwidth"] = r.probed_shares;
                res["share_of_probed_bandwidth"] = median_of(r.probed_shares);
            }
            out["results"].push_back(res);
        }
        for (const Memory &m : memory) out["rss_kib"].push_back({{"threads", m.threads}, {"batch", m.batch}, {"depth", m.depth}, {"rss_kib", m.rss_kib}});
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }
    std::printf("model: %s (%s, %s, %.1fM parameters)\n", b.model.c_str(), arch.c_str(), type.c_str(), params / 1e6);
    std::printf("cpu: %s\n", rwkvrt_system_info());
    std::printf("activations: %s", activations.c_str());
    // Say which products ran, so that a reader compares like with like.
    const std::string cpu = rwkvrt_system_info();
    const bool half_weights = type == "f16" || type == "bf16", block_weights = !half_weights && type != "f32";
    const bool int8 = block_weights && (activations == "auto" || activations == "int8") &&
                      cpu.find("int8 products: none") == std::string::npos;
    const bool bf16 = half_weights && (activations == "auto" || activations == "bf16") &&
                      cpu.find("bf16 products: none") == std::string::npos;
    if (int8) std::printf(" (integer products with %s weights, as llama.cpp's; --activations f32 for exact ones)", type.c_str());
    else if (bf16)
        std::printf(" (bf16 products with %s weights in steps of 16 rows or more, as llama.cpp's; --activations f32 for "
                    "exact ones)",
                    type.c_str());
    else if (activations != "f32") std::printf(" (exact fp32 products with %s weights on this CPU)", type.c_str());
    if (b.batch_invariant) std::printf("; batch-invariant: one row runs as a matrix product, as in the server");
    std::printf("\n");
    std::printf("per token: %.3f GFLOP; a decoding step reads %.1f MB of weights; a conversation's state is %.2f MB\n",
                flops / 1e9, bytes / 1e6, double(state_bytes) / 1e6);
    std::printf("load: %.3f s", load_seconds);
    if (read_seconds > 0)
        std::printf(" (reading the file: %.3f s through one reused 1 MiB buffer, %.3f s into fresh memory)", read_seconds,
                    read_into_memory_seconds);
    std::printf("\n\n");
    const bool probed = b.probe_bandwidth && b.gen_tokens > 0;
    std::printf("| threads | batch | depth | test | tokens/s | GFLOP/s | GB/s |%s%s\n", ceil ? " % compute | % bandwidth |" : "",
                probed ? " read GB/s probed beside | % of it (median) |" : "");
    std::printf("|---:|---:|---:|---|---:|---:|---:|%s%s\n", ceil ? "---:|---:|" : "", probed ? "---:|---:|" : "");
    for (const Row &r : rows) {
        const std::string gbps = r.gbps > 0 ? cell("%.1f", r.gbps) : "";
        std::printf("| %d | %d | %lld | %s | %.1f ± %.1f | %.1f | %s |", r.threads, r.batch, r.depth, r.test.c_str(), r.tps.mean,
                    r.tps.sd, r.gflops, gbps.c_str());
        if (ceil) {
            const std::string bw = r.share_bandwidth > 0 ? cell("%.0f%%", 100 * r.share_bandwidth) : "";
            std::printf(" %.0f%% | %s |", 100 * r.share_compute, bw.c_str());
        }
        if (probed) {
            if (r.probed_gbps.empty()) std::printf(" | |");
            else std::printf(" %.1f | %.0f%% |", median_of(r.probed_gbps), 100 * median_of(r.probed_shares));
        }
        std::printf("\n");
    }
    std::printf("\n| threads | batch | depth | RSS after the run (MiB) |\n|---:|---:|---:|---:|\n");
    for (const Memory &m : memory) std::printf("| %d | %d | %lld | %.1f |\n", m.threads, m.batch, m.depth, double(m.rss_kib) / 1024);
    return 0;
}

} // namespace

void add_bench(CLI::App &app, Commands &out) {
    auto b = std::make_shared<BenchArgs>();
    CLI::App *cmd = app.add_subcommand("bench", "Measure prefill and generation speed (like llama-bench)");
    cmd->add_option("-m,--model", b->model, "Model file")->required();
    cmd->add_option("--weight-type", b->weight_type, "Convert the large matrices at load: f32, f16, bf16, q8_0");
    cmd->add_flag("--mmap", b->mmap, "Map the model file instead of reading it into memory (docs/PERFORMANCE.md)");
    add_activations_option(cmd, b->activations);
    cmd->add_flag("--batch-invariant", b->batch_invariant,
                  "Feed as the server does: a lone row as a matrix product, the same bits as in a batch (docs/SERVING.md)");
    cmd->add_option("-p,--prompt-tokens", b->prompt_tokens, "Prompt length per conversation (0 = skip)")
        ->check(kAtLeastZero)->capture_default_str();
    cmd->add_option("-n,--gen-tokens", b->gen_tokens, "Tokens generated per conversation (0 = skip)")
        ->check(kAtLeastZero)->capture_default_str();
    cmd->add_option("-r,--repetitions", b->repetitions, "Runs of each test (mean ± sd)")->check(kAtLeastOne)->capture_default_str();
    cmd->add_option("-t,--threads", b->threads, "Thread counts, comma-separated (0 = one per core)")
        ->delimiter(',')->check(kAtLeastZero)->capture_default_str();
    cmd->add_option("--batch", b->batches, "Conversations decoding together, comma-separated, e.g. 1,4,16,64")
        ->delimiter(',')->check(kAtLeastOne)->capture_default_str();
    cmd->add_option("-d,--depth", b->depths, "Context already in each state before a test, comma-separated")
        ->delimiter(',')->check(CLI::Range(0LL, std::numeric_limits<long long>::max()))->capture_default_str();
    cmd->add_option("-o,--output", b->output, "md or json")->capture_default_str();
    cmd->add_flag("--probe-bandwidth", b->probe_bandwidth,
                  "Read 1 GiB (bench/limits.sh's loop) before and after each generation run, and give the run's GB/s as "
                  "a share of that minute's read bandwidth");
    cmd->add_option("--limits", b->limits, "JSON from bench/limits.sh (../shared/bench/limits.sh in the repo's sibling folder): "
                                           "report the share of the machine's ceilings");
    out.push_back({cmd, [b] { return run_bench(*b); }});
}

} // namespace rwkvrt_cli
