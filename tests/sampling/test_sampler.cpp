// The sampler on crafted logits: each option's effect, the chain's order, determinism, the state blob
// and the C API's error paths. No model needed.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <xxhash.h>

#include "core/error.h"
#include "rwkvrt.h"
#include "sampling/sampler.h"

using rwkvrt::Sampler;
using rwkvrt::SamplerOptions;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

SamplerOptions greedy() {
    SamplerOptions o;
    o.temperature = 0.0f;
    return o;
}

int32_t pick(Sampler &s, const std::vector<float> &logits) { return s.sample(logits); }

// The set of tokens seen over n draws on the same logits (recording them changes nothing: no penalties).
std::set<int32_t> support(Sampler &s, const std::vector<float> &logits, int n = 2000) {
    std::set<int32_t> seen;
    for (int i = 0; i < n; ++i) seen.insert(s.sample(logits));
    return seen;
}

double frequency(Sampler &s, const std::vector<float> &logits, int32_t token, int n) {
    int hits = 0;
    for (int i = 0; i < n; ++i) hits += s.sample(logits) == token;
    return double(hits) / n;
}

std::vector<float> random_logits(rwkvrt::Rng &rng, int n_vocab) {
    std::vector<float> l(static_cast<size_t>(n_vocab));
    for (float &x : l) x = float(rng.uniform() * 20.0 - 10.0);
    return l;
}

rwkvrt_status status_of(auto &&fn) {
    try {
        fn();
    } catch (const rwkvrt::Error &e) {
        return e.status();
    }
    return RWKVRT_OK;
}

std::string message_of(auto &&fn) {
    try {
        fn();
    } catch (const rwkvrt::Error &e) {
        return e.what();
    }
    return "";
}

std::vector<uint8_t> save(const Sampler &s) {
    std::vector<uint8_t> blob(s.state_size());
    s.save_state(blob.data());
    return blob;
}

} // namespace

TEST_CASE("sampler rng: splitmix64 + xoshiro256** reference values") {
    // Values from an independent implementation: any change here changes every seeded sequence.
    rwkvrt::Rng rng(0);
    CHECK(rng.state()[0] == 0xe220a8397b1dcdafull);
    CHECK(rng.state()[3] == 0xf88bb8a8724c81ecull);
    CHECK(rng.next() == 0x99ec5f36cb75f2b4ull);
    CHECK(rng.next() == 0xbf6e1f784956452aull);
    CHECK(rng.next() == 0x1a5f849d4933e6e0ull);
    for (int i = 0; i < 1000; ++i) {
        const double u = rng.uniform();
        REQUIRE(u >= 0.0);
        REQUIRE(u < 1.0);
    }
}

TEST_CASE("sampler: the same seed gives the same tokens on every platform") {
    // With equal logits every weight is 1, so token i is floor(u_i * 40) of seed 42's uniforms
    // (computed independently).
    SamplerOptions o;
    o.seed = 42;
    Sampler s(o, 40);
    const std::vector<float> flat(40, 0.0f);
    const std::vector<int32_t> expected = {3, 15, 27, 36, 39, 30, 28, 34, 30, 23, 27, 11, 32, 12, 28, 35, 24, 34, 28, 28, 3, 7, 17, 24};
    std::vector<int32_t> got;
    for (size_t i = 0; i < expected.size(); ++i) got.push_back(s.sample(flat));
    CHECK(got == expected);
}

TEST_CASE("sampler: the whole chain gives the recorded tokens") {
    // Recorded from this implementation (identical with GCC -O0/-O3, Clang, and FMA-contracting builds):
    // any change to the chain's semantics, or a platform that computes it differently, shows here.
    // Alternately peaked and flat logits; "chat" stays in the first ranked head, "wide" needs the
    // weighted selection, top_k and the repetition penalty.
    SamplerOptions chat;
    chat.top_p = 0.3f;
    chat.presence_penalty = 0.5f;
    chat.frequency_penalty = 0.5f;
    chat.seed = 7;
    SamplerOptions wide;
    wide.top_k = 2000;
    wide.top_p = 0.95f;
    wide.temperature = 1.5f;
    wide.repetition_penalty = 1.2f;
    wide.seed = 8;
    auto run = [](const SamplerOptions &o) {
        Sampler s(o, 5000);
        rwkvrt::Rng logits_rng(99);
        std::vector<int32_t> tokens;
        for (int step = 0; step < 16; ++step) {
            std::vector<float> l(5000);
            const double spread = step % 2 ? 0.5 : 6.0;
            for (float &x : l) x = float((logits_rng.uniform() + logits_rng.uniform() - 1.0) * spread);
            tokens.push_back(s.sample(l));
        }
        return tokens;
    };
    CHECK(run(chat) == std::vector<int32_t>{3709, 1401, 4359, 4909, 4949, 4333, 654, 453, 2136, 772, 2776, 3694,
                                            4508, 4421, 1961, 2925});
    CHECK(run(wide) == std::vector<int32_t>{4226, 3012, 2947, 4723, 1937, 1098, 2434, 2988, 4613, 4247, 4371, 2527,
                                            954, 3746, 4495, 4777});
}

TEST_CASE("sampler: determinism across runs and seeds") {
    SamplerOptions o;
    o.top_p = 0.9f;
    o.top_k = 40;
    o.temperature = 0.8f;
    o.presence_penalty = 0.3f;
    o.frequency_penalty = 0.3f;
    auto run = [&](uint64_t seed) {
        o.seed = seed;
        Sampler s(o, 500);
        rwkvrt::Rng logits_rng(7);
        std::vector<int32_t> tokens;
        for (int i = 0; i < 300; ++i) tokens.push_back(s.sample(random_logits(logits_rng, 500)));
        return tokens;
    };
    CHECK(run(1) == run(1));
    CHECK(run(1) != run(2));
}

TEST_CASE("sampler: greedy picks the argmax, lowest id on ties, and draws nothing") {
    Sampler s(greedy(), 5);
    const auto before = s.rng().state();
    CHECK(pick(s, {0.1f, 2.0f, -1.0f, 1.5f, 0.0f}) == 1);
    CHECK(pick(s, {0.1f, 2.0f, -1.0f, 2.0f, 0.0f}) == 1);
    CHECK(pick(s, {-kInf, -kInf, -3.0f, -kInf, -kInf}) == 2);
    CHECK(s.rng().state() == before);
}

TEST_CASE("sampler: top_k = 1 is greedy") {
    SamplerOptions o;
    o.top_k = 1;
    o.seed = 3;
    Sampler s(o, 300);
    Sampler g(greedy(), 300);
    rwkvrt::Rng logits_rng(11);
    for (int i = 0; i < 200; ++i) {
        std::vector<float> l = random_logits(logits_rng, 300);
        l[size_t(i)] = l[size_t(i + 50)] = 20.0f; // a tie at the top: both take the lower id
        REQUIRE(s.sample(l) == g.sample(l));
    }
}

TEST_CASE("sampler: top_k agrees with a brute-force ranking (heap and selection paths)") {
    rwkvrt::Rng logits_rng(21);
    std::vector<float> l(400);
    for (float &x : l) x = float(logits_rng.uniform()); // close logits: every survivor shows up
    l[200] = l[201];                                    // a tie somewhere
    std::vector<int32_t> order(400);
    for (int32_t i = 0; i < 400; ++i) order[size_t(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
    for (int32_t k : {10, 100}) { // 10 * 16 <= 400 uses the heap, 100 * 16 > 400 the selection
        CAPTURE(k);
        SamplerOptions o;
        o.top_k = k;
        Sampler s(o, 400);
        CHECK(support(s, l, 10000) == std::set<int32_t>(order.begin(), order.begin() + k));
    }
}

TEST_CASE("sampler: top_k keeps exactly the k most probable") {
    SamplerOptions o;
    o.top_k = 2;
    Sampler s(o, 5);
    CHECK(support(s, {0.0f, 3.0f, 1.0f, 2.9f, 2.0f}) == std::set<int32_t>{1, 3});
    // A tie at the boundary goes to the lower id.
    CHECK(support(s, {0.0f, 3.0f, 1.0f, 2.0f, 2.0f}) == std::set<int32_t>{1, 3});
}

TEST_CASE("sampler: top_p") {
    const std::vector<float> l = {std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
    SamplerOptions o;
    SUBCASE("tiny keeps only the best") {
        o.top_p = 1e-6f;
        Sampler s(o, 4);
        CHECK(support(s, l) == std::set<int32_t>{0});
    }
    SUBCASE("zero keeps the top-ranked token only, like greedy") {
        o.top_p = 0.0f;
        Sampler s(o, 4);
        CHECK(support(s, {1.0f, 0.0f, 1.0f, 0.5f}) == std::set<int32_t>{0});
    }
    SUBCASE("the smallest head reaching the mass") {
        o.top_p = 0.45f;
        Sampler s(o, 4);
        CHECK(support(s, l) == std::set<int32_t>{0, 1});
        o.top_p = 0.75f;
        Sampler t(o, 4);
        CHECK(support(t, l) == std::set<int32_t>{0, 1, 2});
    }
    SUBCASE("a tie at the cut goes to the lower id") {
        o.top_p = 0.3f;
        Sampler s(o, 4);
        CHECK(support(s, {0.0f, 2.0f, 1.0f, 2.0f}) == std::set<int32_t>{1});
    }
    SUBCASE("large vocabulary: the nucleus grows past the first ranked heads") {
        // One token at 5 and 500 at 0 (every other id; the rest banned): the nucleus for 0.99 needs
        // 1 + k e^-5 >= 0.99 (1 + 500 e^-5), so k = 494 of the equal tokens, the lowest ids.
        std::vector<float> big(1000, -kInf);
        for (size_t i = 0; i < 500; ++i) big[i * 2] = 0.0f;
        big[1] = 5.0f;
        o.top_p = 0.99f;
        Sampler s(o, 1000);
        const std::set<int32_t> seen = support(s, big, 8000);
        CHECK(seen.count(1) == 1);
        CHECK(seen.size() > 400);
        CHECK(*seen.rbegin() <= 2 * 493);
        for (int32_t t : seen) CHECK((t == 1 || t % 2 == 0));
    }
}

TEST_CASE("sampler: a wide nucleus agrees with a brute-force cumulative sum") {
    // Nearly flat logits put thousands of tokens in the nucleus, past the first ranked head. A huge
    // temperature then makes the survivors about equally likely, so every one of them shows up.
    constexpr int32_t kVocab = 400;
    rwkvrt::Rng logits_rng(8);
    std::vector<float> l(kVocab);
    for (float &x : l) x = float(logits_rng.uniform() * 3.0);
    l[10] = -kInf;
    std::vector<int32_t> order;
    for (int32_t i = 0; i < kVocab; ++i)
        if (i != 10) order.push_back(i);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
    const double max = l[size_t(order[0])];
    double z = 0.0;
    for (int32_t t : order) z += std::exp(double(l[size_t(t)]) - max);
    auto nucleus = [&](double top_p, size_t limit) {
        double cum = 0.0;
        size_t keep = 0;
        while (keep < limit && (keep == 0 || cum < top_p * z)) cum += std::exp(double(l[size_t(order[keep++])]) - max);
        return std::set<int32_t>(order.begin(), order.begin() + ptrdiff_t(keep));
    };
    SamplerOptions o;
    o.temperature = 1000.0f;
    o.top_p = 0.9f;
    Sampler s(o, kVocab);
    const std::set<int32_t> expected = nucleus(0.9, order.size());
    CHECK(expected.size() > 200);
    CHECK(support(s, l, 15000) == expected);
    o.top_k = 120; // the shorter prefix wins
    Sampler k(o, kVocab);
    CHECK(support(k, l, 6000) == nucleus(0.9, 120));
    o.top_k = 0;
    o.top_p = 0.2f;
    Sampler p(o, kVocab);
    CHECK(support(p, l, 6000) == nucleus(0.2, order.size()));
}

TEST_CASE("sampler: min_p cuts relative to the most probable") {
    const std::vector<float> l = {0.0f, std::log(0.5f), std::log(0.2f), std::log(0.05f)};
    SamplerOptions o;
    o.min_p = 0.3f;
    Sampler s(o, 4);
    CHECK(support(s, l) == std::set<int32_t>{0, 1});
    o.min_p = 0.1f;
    Sampler t(o, 4);
    CHECK(support(t, l) == std::set<int32_t>{0, 1, 2});
    o.min_p = 1.0f;
    Sampler u(o, 4);
    CHECK(support(u, l) == std::set<int32_t>{0});
}

TEST_CASE("sampler: the cuts intersect, all measured at temperature 1") {
    const std::vector<float> l = {std::log(0.4f), std::log(0.3f), std::log(0.2f), std::log(0.1f)};
    SamplerOptions o;
    o.top_p = 0.75f; // alone: {0, 1, 2}
    o.top_k = 2;     // alone: {0, 1}
    Sampler s(o, 4);
    CHECK(support(s, l) == std::set<int32_t>{0, 1});
    o.top_k = 0;
    o.min_p = 0.7f; // alone: {0, 1}
    Sampler t(o, 4);
    CHECK(support(t, l) == std::set<int32_t>{0, 1});
}

TEST_CASE("sampler: distribution at temperature 1") {
    // p(token 1) = 3 / (1 + 3) = 0.75. The seed is fixed, so the count is too; 0.015 is ~5 sigma.
    SamplerOptions o;
    o.seed = 1234;
    Sampler s(o, 2);
    CHECK(frequency(s, {0.0f, std::log(3.0f)}, 1, 20000) == doctest::Approx(0.75).epsilon(0.02));
}

TEST_CASE("sampler: temperature reshapes, after truncation") {
    SamplerOptions o;
    o.seed = 99;
    SUBCASE("q proportional to p^(1/T)") {
        o.temperature = 2.0f; // p = (0.25, 0.75) -> sqrt: 0.5 / (0.5 + 0.866) -> q(1) = 0.634
        Sampler s(o, 2);
        CHECK(frequency(s, {0.0f, std::log(3.0f)}, 1, 20000) == doctest::Approx(0.634).epsilon(0.03));
        o.temperature = 0.5f; // p^2: 0.5625 / (0.0625 + 0.5625) = 0.9
        Sampler t(o, 2);
        CHECK(frequency(t, {0.0f, std::log(3.0f)}, 1, 20000) == doctest::Approx(0.9).epsilon(0.02));
    }
    SUBCASE("a high temperature does not widen the nucleus") {
        // At T = 1 the nucleus for 0.85 is {0, 1} (0.6 + 0.3). Temperature first would flatten the
        // distribution and let token 2 in.
        o.top_p = 0.85f;
        o.temperature = 10.0f;
        Sampler s(o, 3);
        const std::vector<float> l = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
        CHECK(support(s, l) == std::set<int32_t>{0, 1});
        CHECK(frequency(s, l, 1, 20000) == doctest::Approx(0.483).epsilon(0.04)); // 0.5^0.1 / (0.5^0.1 + 1)
    }
}

TEST_CASE("sampler: presence and frequency penalties, with decay") {
    SUBCASE("presence") {
        SamplerOptions o = greedy();
        o.presence_penalty = 0.5f;
        Sampler s(o, 3);
        s.accept(std::vector<int32_t>{0});
        Sampler t = s;
        CHECK(pick(s, {0.4f, 0.0f, -5.0f}) == 1); // 0.4 - 0.5 < 0
        CHECK(pick(t, {0.6f, 0.0f, -5.0f}) == 0); // 0.6 - 0.5 > 0
    }
    SUBCASE("counts decay before the new token is added") {
        SamplerOptions o = greedy();
        o.frequency_penalty = 1.0f;
        o.penalty_decay = 0.5f;
        Sampler s(o, 3);
        CHECK(s.count(0) == -1.0);
        s.accept(std::vector<int32_t>{0, 2, 2});
        CHECK(s.count(0) == 0.25);
        CHECK(s.count(2) == 1.5);
        CHECK(s.count(1) == -1.0);
        Sampler t = s;
        CHECK(pick(s, {0.2f, 0.0f, -50.0f}) == 1); // 0.2 - 0.25 < 0
        CHECK(pick(t, {0.3f, 0.0f, -50.0f}) == 0); // 0.3 - 0.25 > 0
    }
    SUBCASE("presence stays after the count has decayed to nothing") {
        SamplerOptions o = greedy();
        o.presence_penalty = 1.0f;
        o.penalty_decay = 0.0f;
        Sampler s(o, 3);
        s.accept(std::vector<int32_t>{0, 2});
        CHECK(s.count(0) == 0.0);
        CHECK(pick(s, {0.5f, 0.0f, -50.0f}) == 1);
    }
    SUBCASE("sample records what it returns") {
        SamplerOptions o;
        o.presence_penalty = 100.0f;
        Sampler s(o, 6);
        std::set<int32_t> first;
        for (int i = 0; i < 6; ++i) first.insert(s.sample(std::vector<float>(6, 0.0f)));
        CHECK(first.size() == 6); // each draw pushed its token out of reach of the next ones
        for (int32_t t = 0; t < 6; ++t) CHECK(s.count(t) > 0.0);
    }
    SUBCASE("reset_penalties forgets") {
        SamplerOptions o = greedy();
        o.presence_penalty = 1.0f;
        Sampler s(o, 2);
        s.accept(std::vector<int32_t>{0});
        s.reset_penalties();
        CHECK(s.count(0) == -1.0);
        CHECK(pick(s, {0.5f, 0.0f}) == 0);
    }
}

TEST_CASE("sampler: repetition penalty divides positive logits and multiplies negative ones") {
    SamplerOptions o = greedy();
    o.repetition_penalty = 2.0f;
    Sampler s(o, 3);
    s.accept(std::vector<int32_t>{0, 1});
    Sampler a = s, b = s, c = s;
    CHECK(pick(a, {1.0f, -0.4f, 0.45f}) == 0);  // 0.5 > 0.45
    CHECK(pick(b, {0.8f, -0.1f, 0.45f}) == 2);  // 0.4 < 0.45
    CHECK(pick(c, {-1.0f, -0.4f, -0.7f}) == 2); // -2, -0.8, -0.7
}

TEST_CASE("sampler: logit bias and bans") {
    Sampler s(greedy(), 4);
    const std::vector<float> l = {1.0f, 3.0f, 2.0f, 0.0f};
    s.set_logit_bias(1, -kInf);
    CHECK(s.sample(l) == 2);
    s.set_logit_bias(3, 2.5f);
    CHECK(s.sample(l) == 3);
    s.set_logit_bias(3, 0.0f); // removes
    CHECK(s.sample(l) == 2);
    s.set_logit_bias(1, 0.0f);
    CHECK(s.sample(l) == 1);

    SamplerOptions o;
    Sampler r(o, 3);
    r.set_logit_bias(0, -kInf);
    CHECK(support(r, {5.0f, 0.0f, 0.0f}) == std::set<int32_t>{1, 2});

    CHECK(status_of([&] { s.set_logit_bias(4, 1.0f); }) == RWKVRT_ERR_TOKEN);
    CHECK(status_of([&] { s.set_logit_bias(-1, 1.0f); }) == RWKVRT_ERR_TOKEN);
    CHECK(status_of([&] { s.set_logit_bias(0, kInf); }) == RWKVRT_ERR_ARGUMENT);
    CHECK(status_of([&] { s.set_logit_bias(0, std::nanf("")); }) == RWKVRT_ERR_ARGUMENT);
}

TEST_CASE("sampler: everything banned is an error that changes nothing") {
    for (float temperature : {0.0f, 1.0f}) {
        SamplerOptions o;
        o.temperature = temperature;
        Sampler s(o, 3);
        s.set_logit_bias(0, -kInf);
        s.set_logit_bias(2, -kInf);
        const std::vector<uint8_t> before = save(s);
        const std::string msg = message_of([&] { pick(s, {1.0f, -kInf, 1.0f}); });
        CHECK(msg.find("-inf") != std::string::npos);
        CHECK(status_of([&] { pick(s, {1.0f, -kInf, 1.0f}); }) == RWKVRT_ERR_ARGUMENT);
        CHECK(save(s) == before);
    }
}

TEST_CASE("sampler: invalid options name the option") {
    struct Bad {
        const char *name;
        void (*set)(SamplerOptions &);
    };
    const Bad bad[] = {
        {"temperature", [](SamplerOptions &o) { o.temperature = -0.1f; }},
        {"temperature", [](SamplerOptions &o) { o.temperature = std::nanf(""); }},
        {"temperature", [](SamplerOptions &o) { o.temperature = kInf; }},
        {"top_k", [](SamplerOptions &o) { o.top_k = -1; }},
        {"top_p", [](SamplerOptions &o) { o.top_p = 1.01f; }},
        {"top_p", [](SamplerOptions &o) { o.top_p = -0.5f; }},
        {"min_p", [](SamplerOptions &o) { o.min_p = 2.0f; }},
        {"repetition_penalty", [](SamplerOptions &o) { o.repetition_penalty = 0.0f; }},
        {"presence_penalty", [](SamplerOptions &o) { o.presence_penalty = kInf; }},
        {"frequency_penalty", [](SamplerOptions &o) { o.frequency_penalty = std::nanf(""); }},
        {"penalty_decay", [](SamplerOptions &o) { o.penalty_decay = 1.5f; }},
    };
    for (const Bad &b : bad) {
        CAPTURE(b.name);
        SamplerOptions o;
        b.set(o);
        CHECK(status_of([&] { Sampler s(o, 10); }) == RWKVRT_ERR_ARGUMENT);
        CHECK(message_of([&] { Sampler s(o, 10); }).find(b.name) != std::string::npos);
    }
    CHECK(status_of([] { Sampler s(SamplerOptions{}, 0); }) == RWKVRT_ERR_ARGUMENT);
}

TEST_CASE("sampler: bad logits name the index") {
    Sampler s(SamplerOptions{}, 4);
    CHECK(message_of([&] { pick(s, {0.0f, 1.0f, 2.0f, std::nanf("")}); }).find("logits[3]") != std::string::npos);
    CHECK(message_of([&] { pick(s, {0.0f, kInf, 2.0f, 0.0f}); }).find("logits[1]") != std::string::npos);
    CHECK(status_of([&] { pick(s, {0.0f, 1.0f}); }) == RWKVRT_ERR_ARGUMENT);
    CHECK(status_of([&] { s.accept(std::vector<int32_t>{1, 4}); }) == RWKVRT_ERR_TOKEN);
    CHECK(s.count(1) == -1.0); // nothing recorded
}

TEST_CASE("sampler state: save mid-sequence, restore elsewhere, identical continuation") {
    SamplerOptions o;
    o.seed = 5;
    o.top_p = 0.8f;
    o.temperature = 1.3f;
    o.presence_penalty = 0.4f;
    o.frequency_penalty = 0.2f;
    o.repetition_penalty = 1.1f;
    Sampler a(o, 200);
    a.set_logit_bias(7, -kInf);
    a.set_logit_bias(9, 1.5f);
    rwkvrt::Rng logits_rng(3);
    for (int i = 0; i < 50; ++i) a.sample(random_logits(logits_rng, 200));

    const std::vector<uint8_t> blob = save(a);
    CHECK(blob.size() == a.state_size());
    Sampler b(SamplerOptions{}, 200); // other options and seed: the blob replaces them all
    b.load_state(blob.data(), blob.size());
    CHECK(save(b) == blob);
    CHECK(b.options().top_p == 0.8f);

    const rwkvrt::Rng continuation = logits_rng;
    rwkvrt::Rng rng_a = continuation, rng_b = continuation;
    for (int i = 0; i < 200; ++i) {
        REQUIRE(a.sample(random_logits(rng_a, 200)) == b.sample(random_logits(rng_b, 200)));
    }
}

TEST_CASE("sampler state: damaged, truncated, foreign and mismatched blobs") {
    SamplerOptions o;
    o.presence_penalty = 0.5f;
    Sampler a(o, 50);
    a.set_logit_bias(3, -kInf);
    a.accept(std::vector<int32_t>{1, 2, 3, 2});
    const std::vector<uint8_t> blob = save(a);

    Sampler b(SamplerOptions{}, 50);
    b.accept(std::vector<int32_t>{4});
    const std::vector<uint8_t> before = save(b);
    auto load = [&](const std::vector<uint8_t> &bytes) {
        return status_of([&] { b.load_state(bytes.data(), bytes.size()); });
    };
    // A blob with a field changed and the checksum recomputed: consistent bytes, invalid content.
    auto forge = [&](size_t offset, uint32_t value) {
        std::vector<uint8_t> f = blob;
        REQUIRE(offset + 4 <= f.size() - 8);
        for (int i = 0; i < 4; ++i) f[offset + size_t(i)] = uint8_t(value >> (8 * i));
        const uint64_t h = XXH3_64bits(f.data(), f.size() - 8);
        for (int i = 0; i < 8; ++i) f[f.size() - 8 + size_t(i)] = uint8_t(h >> (8 * i));
        return f;
    };

    for (size_t i = 24; i < blob.size(); i += 7) { // any flipped byte past the header fields
        std::vector<uint8_t> d = blob;
        d[i] ^= 0x10;
        CAPTURE(i);
        CHECK(load(d) == RWKVRT_ERR_CORRUPT);
    }
    CHECK(load(std::vector<uint8_t>(blob.begin(), blob.end() - 1)) == RWKVRT_ERR_CORRUPT); // truncated
    CHECK(load(std::vector<uint8_t>(blob.begin(), blob.begin() + 40)) == RWKVRT_ERR_CORRUPT);
    CHECK(load({}) == RWKVRT_ERR_FORMAT);
    CHECK(load(std::vector<uint8_t>(blob.begin(), blob.begin() + 5)) == RWKVRT_ERR_FORMAT);
    std::vector<uint8_t> foreign = blob;
    foreign[0] = 'X';
    CHECK(load(foreign) == RWKVRT_ERR_FORMAT);
    std::vector<uint8_t> padded = blob;
    padded.push_back(0);
    CHECK(load(padded) == RWKVRT_ERR_CORRUPT);
    std::vector<uint8_t> version0 = blob;
    version0[8] = 0;
    CHECK(load(version0) == RWKVRT_ERR_FORMAT);
    std::vector<uint8_t> newer = blob;
    newer[8] = 2;
    CHECK(load(newer) == RWKVRT_ERR_UNSUPPORTED);
    CHECK(load(forge(12, 51)) == RWKVRT_ERR_MISMATCH);          // n_vocab
    CHECK(load(forge(100, 50)) == RWKVRT_ERR_FORMAT);           // first recorded token out of range
    CHECK(load(forge(24, 0xbf800000u)) == RWKVRT_ERR_FORMAT);   // temperature -1
    CHECK(load(forge(96, 1000)) == RWKVRT_ERR_FORMAT);          // n_recorded beyond the blob
    CHECK(save(b) == before); // every failure left the sampler as it was

    Sampler other(SamplerOptions{}, 51);
    CHECK(status_of([&] { other.load_state(blob.data(), blob.size()); }) == RWKVRT_ERR_MISMATCH);
}

// The probe's case: a checksummed blob with valid but extreme options and an absurd (finite) recorded
// count used to make a logit +inf, leaving no candidate: a crash in rwkvrt_sample.
TEST_CASE("sampler state: extreme penalties and counts are refused at load; the sampler stays total") {
    SamplerOptions o;
    o.frequency_penalty = -1e30f;
    Sampler a(o, 50);
    a.accept(std::vector<int32_t>{7});
    std::vector<uint8_t> blob = save(a);
    auto set_count = [&](double count) { // the one recorded entry's count, checksum recomputed
        const uint64_t bits = std::bit_cast<uint64_t>(count);
        for (int i = 0; i < 8; ++i) blob[104 + size_t(i)] = uint8_t(bits >> (8 * i));
        const uint64_t h = XXH3_64bits(blob.data(), blob.size() - 8);
        for (int i = 0; i < 8; ++i) blob[blob.size() - 8 + size_t(i)] = uint8_t(h >> (8 * i));
    };
    Sampler b(SamplerOptions{}, 50);
    const std::vector<uint8_t> before = save(b);
    for (double absurd : {1e300, 1e17, std::numeric_limits<double>::max(), -1.0}) {
        set_count(absurd);
        CAPTURE(absurd);
        CHECK(status_of([&] { b.load_state(blob.data(), blob.size()); }) == RWKVRT_ERR_FORMAT);
        CHECK(save(b) == before);
    }
    // The largest count accepted, with the most negative frequency penalty: a token or a status for
    // every temperature and cut, never an empty candidate list.
    for (float temperature : {0.0f, 1e-30f, 1.0f, 1e30f}) {
        for (float top_p : {1.0f, 0.5f}) {
            o.temperature = temperature;
            o.top_p = top_p;
            o.frequency_penalty = -std::numeric_limits<float>::max();
            Sampler c(o, 50);
            c.accept(std::vector<int32_t>{7});
            blob = save(c);
            set_count(9007199254740992.0);
            Sampler d(SamplerOptions{}, 50);
            d.load_state(blob.data(), blob.size());
            std::vector<float> logits(50, 0.0f);
            logits[3] = std::numeric_limits<float>::max();
            CAPTURE(temperature);
            CAPTURE(top_p);
            CHECK(d.sample(logits) == 7); // its penalty is a bonus of 2^53 * FLT_MAX
        }
    }
}

TEST_CASE("sampler C API") {
    rwkvrt_sampler *s = nullptr;
    REQUIRE(rwkvrt_sampler_new(nullptr, 3, &s) == RWKVRT_OK);
    const float logits[3] = {0.0f, 5.0f, 1.0f};
    int32_t token = -1;

    SUBCASE("defaults and greedy") {
        rwkvrt_sampler_options o = rwkvrt_sampler_options_default();
        CHECK(o.struct_size == sizeof o);
        CHECK(o.temperature == 1.0f);
        CHECK(o.top_k == 0);
        CHECK(o.top_p == 1.0f);
        CHECK(o.min_p == 0.0f);
        CHECK(o.repetition_penalty == 1.0f);
        CHECK(o.presence_penalty == 0.0f);
        CHECK(o.frequency_penalty == 0.0f);
        CHECK(o.penalty_decay == 0.996f);
        CHECK(o.seed == 0);
        o.temperature = 0.0f;
        rwkvrt_sampler *g = nullptr;
        REQUIRE(rwkvrt_sampler_new(&o, 3, &g) == RWKVRT_OK);
        CHECK(rwkvrt_sample(g, logits, &token) == RWKVRT_OK);
        CHECK(token == 1);
        CHECK(rwkvrt_sampler_set_logit_bias(g, 1, -INFINITY) == RWKVRT_OK);
        CHECK(rwkvrt_sample(g, logits, &token) == RWKVRT_OK);
        CHECK(token == 2);
        rwkvrt_sampler_free(g);
    }
    SUBCASE("bad options") {
        rwkvrt_sampler_options o = rwkvrt_sampler_options_default();
        o.top_p = 1.5f;
        rwkvrt_sampler *bad = nullptr;
        CHECK(rwkvrt_sampler_new(&o, 3, &bad) == RWKVRT_ERR_ARGUMENT);
        CHECK(bad == nullptr);
        CHECK(std::string(rwkvrt_last_error()).find("top_p") != std::string::npos);
        o = rwkvrt_sampler_options_default();
        o.struct_size = 0;
        CHECK(rwkvrt_sampler_new(&o, 3, &bad) == RWKVRT_ERR_ARGUMENT);
        CHECK(rwkvrt_sampler_new(nullptr, 0, &bad) == RWKVRT_ERR_ARGUMENT);
        CHECK(rwkvrt_sampler_new(nullptr, 3, nullptr) == RWKVRT_ERR_ARGUMENT);
    }
    SUBCASE("NULL and out-of-range arguments") {
        CHECK(rwkvrt_sample(nullptr, logits, &token) == RWKVRT_ERR_ARGUMENT);
        CHECK(rwkvrt_sample(s, nullptr, &token) == RWKVRT_ERR_ARGUMENT);
        CHECK(rwkvrt_sample(s, logits, nullptr) == RWKVRT_ERR_ARGUMENT);
        const int32_t tokens[2] = {0, 3};
        CHECK(rwkvrt_sampler_accept(s, tokens, 0) == RWKVRT_ERR_ARGUMENT);
        CHECK(rwkvrt_sampler_accept(s, tokens, 2) == RWKVRT_ERR_TOKEN);
        CHECK(rwkvrt_sampler_accept(s, tokens, 1) == RWKVRT_OK);
        CHECK(rwkvrt_sampler_set_logit_bias(s, 3, 1.0f) == RWKVRT_ERR_TOKEN);
        CHECK(rwkvrt_sampler_reset_penalties(nullptr) == RWKVRT_ERR_ARGUMENT);
        CHECK(rwkvrt_sampler_reset_penalties(s) == RWKVRT_OK);
        CHECK(rwkvrt_sampler_state_size(nullptr) == 0);
        rwkvrt_sampler_free(nullptr);
    }
    SUBCASE("state round trip") {
        REQUIRE(rwkvrt_sample(s, logits, &token) == RWKVRT_OK);
        const size_t size = rwkvrt_sampler_state_size(s);
        CHECK(size == 112 + 12); // one recorded token
        std::vector<uint8_t> buf(size);
        size_t written = 0;
        CHECK(rwkvrt_sampler_state_save(s, buf.data(), size - 1, &written) == RWKVRT_ERR_BUFFER);
        CHECK(rwkvrt_sampler_state_save(s, buf.data(), size, &written) == RWKVRT_OK);
        CHECK(written == size);
        rwkvrt_sampler *t = nullptr;
        REQUIRE(rwkvrt_sampler_new(nullptr, 3, &t) == RWKVRT_OK);
        CHECK(rwkvrt_sampler_state_load(t, buf.data(), buf.size()) == RWKVRT_OK);
        for (int i = 0; i < 20; ++i) {
            int32_t x = -1, y = -2;
            REQUIRE(rwkvrt_sample(s, logits, &x) == RWKVRT_OK);
            REQUIRE(rwkvrt_sample(t, logits, &y) == RWKVRT_OK);
            REQUIRE(x == y);
        }
        buf[50] ^= 1;
        CHECK(rwkvrt_sampler_state_load(t, buf.data(), buf.size()) == RWKVRT_ERR_CORRUPT);
        CHECK(rwkvrt_sampler_state_load(t, nullptr, 0) == RWKVRT_ERR_ARGUMENT);
        rwkvrt_sampler_free(t);
    }
    rwkvrt_sampler_free(s);
}
