#include "random_model.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>

namespace rwkvrt_tools {

namespace {

// Deterministic on every platform: mt19937_64 is specified exactly; the distributions are ours
// (the standard library's are implementation-defined).
class Rng {
public:
    explicit Rng(uint64_t seed) : gen_(seed) {}
    double uniform(double lo, double hi) { return lo + (hi - lo) * double(gen_() >> 11) * 0x1p-53; }
    double normal() { // Box–Muller
        const double u1 = uniform(0x1p-53, 1.0), u2 = uniform(0.0, 1.0);
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }

private:
    std::mt19937_64 gen_;
};

int64_t numel(const std::vector<int64_t> &shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

class Builder {
public:
    explicit Builder(uint64_t seed) : rng_(seed) {}

    void uniform(const std::string &name, std::vector<int64_t> shape, double lo, double hi) {
        add(name, std::move(shape), [&] { return rng_.uniform(lo, hi); });
    }
    void normal(const std::string &name, std::vector<int64_t> shape, double stddev) {
        add(name, std::move(shape), [&] { return stddev * rng_.normal(); });
    }
    void constant(const std::string &name, std::vector<int64_t> shape, double value) {
        add(name, std::move(shape), [&] { return value; });
    }
    // nn.Linear (out, in): N(0, 1/in) keeps the output's scale near the input's.
    void linear(const std::string &name, int64_t out, int64_t in) { normal(name, {out, in}, 1.0 / std::sqrt(double(in))); }
    // A low-rank factor stored (in, out); `gain` < 1 keeps the data-dependent parts a correction.
    void lora(const std::string &name, int64_t in, int64_t out, double gain) {
        normal(name, {in, out}, gain / std::sqrt(double(in)));
    }
    void norm(const std::string &prefix, int64_t n) {
        constant(prefix + ".weight", {n}, 1.0);
        constant(prefix + ".bias", {n}, 0.0);
    }

    std::vector<RandomTensor> tensors;

private:
    template <class Gen>
    void add(const std::string &name, std::vector<int64_t> shape, Gen gen) {
        RandomTensor t{name, std::move(shape), {}};
        t.data.resize(size_t(numel(t.shape)));
        for (float &v : t.data) v = float(gen());
        tensors.push_back(std::move(t));
    }

    Rng rng_;
};

void layer_v4_v5(Builder &b, const std::string &p, const RandomModelSpec &s, int64_t C, int64_t Ca, int64_t H) {
    for (const char *m : {"k", "v", "r"}) b.uniform(p + "att.time_mix_" + m, {1, 1, C}, 0.0, 1.0);
    if (s.arch == "rwkv4") {
        b.uniform(p + "att.time_decay", {Ca}, -5.0, 2.0); // decay rate exp(td)
        b.uniform(p + "att.time_first", {Ca}, -1.0, 1.0);
    } else {
        // w = exp(−exp(td)) in (0.37, 0.9975); 5.0/5.1 store the bonus as log u (time_first), per head.
        const bool per_channel = s.arch == "rwkv5.2";
        const std::vector<int64_t> shape = per_channel ? std::vector<int64_t>{H, Ca / H} : std::vector<int64_t>{H};
        b.uniform(p + "att.time_decay", shape, -6.0, 0.0);
        if (per_channel) b.uniform(p + "att.time_faaaa", shape, -1.0, 1.0);
        else b.uniform(p + "att.time_first", shape, -2.0, 0.0);
        if (s.arch != "rwkv5.0") b.uniform(p + "att.time_mix_g", {1, 1, C}, 0.0, 1.0);
    }
    for (const char *m : {"key", "value", "receptance"}) b.linear(p + "att." + m + ".weight", Ca, C);
    if (s.arch == "rwkv5.1" || s.arch == "rwkv5.2") b.linear(p + "att.gate.weight", Ca, C);
    b.linear(p + "att.output.weight", C, Ca);
    if (s.arch != "rwkv4") b.norm(p + "att.ln_x", Ca);
}

void layer_v6(Builder &b, const std::string &p, const RandomModelSpec &s, int64_t C, int64_t Ca, int64_t H) {
    for (const char *m : {"x", "w", "k", "v", "r", "g"}) b.uniform(p + "att.time_maa_" + m, {1, 1, C}, 0.0, 1.0);
    b.lora(p + "att.time_maa_w1", C, 5 * s.lora_mix, 1.0);
    b.normal(p + "att.time_maa_w2", {5, s.lora_mix, C}, 0.5 / std::sqrt(double(s.lora_mix)));
    b.uniform(p + "att.time_decay", {1, 1, Ca}, -6.0, 0.0);
    b.lora(p + "att.time_decay_w1", C, s.lora_decay, 1.0);
    b.lora(p + "att.time_decay_w2", s.lora_decay, Ca, 0.5);
    b.uniform(p + "att.time_faaaa", {H, Ca / H}, -1.0, 1.0);
    for (const char *m : {"receptance", "key", "value", "gate"}) b.linear(p + "att." + m + ".weight", Ca, C);
    b.linear(p + "att.output.weight", C, Ca);
    b.norm(p + "att.ln_x", Ca);
}

void layer_v7(Builder &b, const std::string &p, const RandomModelSpec &s, int64_t C, int64_t H) {
    for (const char *m : {"r", "w", "k", "v", "a", "g"}) b.uniform(p + "att.x_" + m, {1, 1, C}, 0.0, 1.0);
    b.uniform(p + "att.w0", {1, 1, C}, -3.0, 1.0);
    b.lora(p + "att.w1", C, s.lora_w, 1.0);
    b.lora(p + "att.w2", s.lora_w, C, 0.5);
    b.uniform(p + "att.a0", {1, 1, C}, -1.0, 1.0);
    b.lora(p + "att.a1", C, s.lora_a, 1.0);
    b.lora(p + "att.a2", s.lora_a, C, 0.5);
    b.uniform(p + "att.v0", {1, 1, C}, -1.0, 1.0); // present but unused in layer 0, as in releases
    b.lora(p + "att.v1", C, s.lora_v, 1.0);
    b.lora(p + "att.v2", s.lora_v, C, 0.5);
    b.lora(p + "att.g1", C, s.lora_g, 1.0);
    b.lora(p + "att.g2", s.lora_g, C, 0.5);
    b.uniform(p + "att.k_k", {1, 1, C}, 0.5, 1.0);
    b.uniform(p + "att.k_a", {1, 1, C}, 0.5, 1.5);
    b.normal(p + "att.r_k", {H, C / H}, 0.3);
    for (const char *m : {"receptance", "key", "value", "output"}) b.linear(p + "att." + m + ".weight", C, C);
    b.norm(p + "att.ln_x", C);
}

} // namespace

std::vector<RandomTensor> random_checkpoint(const RandomModelSpec &s) {
    const std::string &a = s.arch;
    const bool v4 = a == "rwkv4", v5 = a == "rwkv5.0" || a == "rwkv5.1" || a == "rwkv5.2", v6 = a == "rwkv6",
               v7 = a == "rwkv7";
    if (!v4 && !v5 && !v6 && !v7)
        throw std::invalid_argument("unknown arch '" + a + "' (rwkv4, rwkv5.0, rwkv5.1, rwkv5.2, rwkv6, rwkv7)");
    const int64_t C = s.n_embd, Ca = s.dim_att ? s.dim_att : C;
    const int64_t F = s.dim_ffn ? s.dim_ffn : (v5 || v6) ? int64_t(3.5 * double(C)) / 32 * 32 : 4 * C;
    if (s.n_layer < 1 || C < 1 || Ca < 1 || F < 1 || s.n_vocab < 1)
        throw std::invalid_argument("n_layer, n_embd, dim_att, dim_ffn and n_vocab must be positive");
    if (v7 && Ca != C) throw std::invalid_argument("rwkv7 has dim_att = n_embd");
    if (!v4 && (s.head_size < 1 || Ca % s.head_size != 0))
        throw std::invalid_argument("head_size must divide dim_att (" + std::to_string(Ca) + ")");
    const int64_t H = v4 ? Ca : Ca / s.head_size;

    Builder b(s.seed);
    b.normal("emb.weight", {s.n_vocab, C}, 1.0);
    for (int64_t i = 0; i < s.n_layer; ++i) {
        const std::string p = "blocks." + std::to_string(i) + ".";
        if (i == 0) b.norm(p + "ln0", C);
        b.norm(p + "ln1", C);
        b.norm(p + "ln2", C);
        if (v4 || v5) layer_v4_v5(b, p, s, C, Ca, H);
        else if (v6) layer_v6(b, p, s, C, Ca, H);
        else layer_v7(b, p, s, C, H);
        if (v7) {
            b.uniform(p + "ffn.x_k", {1, 1, C}, 0.0, 1.0);
        } else {
            const std::string mix = v6 ? "ffn.time_maa_" : "ffn.time_mix_";
            b.uniform(p + mix + "k", {1, 1, C}, 0.0, 1.0);
            b.uniform(p + mix + "r", {1, 1, C}, 0.0, 1.0);
            b.linear(p + "ffn.receptance.weight", C, C);
        }
        b.linear(p + "ffn.key.weight", F, C);
        b.linear(p + "ffn.value.weight", C, F);
    }
    b.norm("ln_out", C);
    b.linear("head.weight", s.n_vocab, C);
    return std::move(b.tensors);
}

void write_random_checkpoint(const RandomModelSpec &spec, const std::string &path) {
    std::vector<RandomTensor> tensors = random_checkpoint(spec);
    if (spec.edit) spec.edit(tensors);

    nlohmann::ordered_json header;
    header["__metadata__"] = {{"format", "pt"}};
    uint64_t offset = 0;
    for (const RandomTensor &t : tensors) {
        if (numel(t.shape) != int64_t(t.data.size()))
            throw std::invalid_argument("tensor '" + t.name + "': shape and data size disagree");
        const uint64_t bytes = t.data.size() * 4;
        const std::vector<uint64_t> shape(t.shape.begin(), t.shape.end()); // JSON unsigned, as readers expect
        header[t.name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string json = header.dump();
    json.append((8 - json.size() % 8) % 8, ' '); // the data then starts 8-byte aligned

    std::ofstream out(path, std::ios::binary);
    if (!out) throw std::runtime_error("cannot create '" + path + "'");
    // Little-endian on any host.
    auto put_le = [](uint64_t v, int bytes, char *dst) {
        for (int i = 0; i < bytes; ++i) dst[i] = char((v >> (8 * i)) & 0xff);
    };
    char len[8];
    put_le(json.size(), 8, len);
    out.write(len, 8);
    out.write(json.data(), std::streamsize(json.size()));
    std::vector<char> buf;
    for (const RandomTensor &t : tensors) {
        buf.resize(t.data.size() * 4);
        for (size_t i = 0; i < t.data.size(); ++i) {
            uint32_t bits;
            std::memcpy(&bits, &t.data[i], 4);
            put_le(bits, 4, &buf[4 * i]);
        }
        out.write(buf.data(), std::streamsize(buf.size()));
    }
    if (!out.flush()) throw std::runtime_error("cannot write '" + path + "'");
}

} // namespace rwkvrt_tools
