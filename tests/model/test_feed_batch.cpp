// rwkvrt_feed_batch: many sequences in one pass equal each sequence fed alone, for every version;
// all-or-nothing validation; progress and cancellation; states in use; thread counts.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "api/handles.h"
#include "api/model_helpers.h"
#include "arch/arch_checks.h"

namespace {

// Max |a − b|, failing the test on any NaN (std::max would drop it).
double diff(const std::vector<float> &a, const std::vector<float> &b) {
    REQUIRE(a.size() == b.size());
    double d = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = std::fabs(double(a[i]) - double(b[i]));
        REQUIRE_MESSAGE(!std::isnan(x), "NaN at ", i);
        d = std::max(d, x);
    }
    return d;
}

std::vector<int32_t> tokens_of(size_t n, uint32_t seed, int32_t vocab) {
    std::vector<int32_t> t(n);
    for (size_t i = 0; i < n; ++i) t[i] = int32_t((i * 2654435761u + seed * 40503u) % uint32_t(vocab));
    return t;
}

// A random model of `arch` (64 wide, heads of 16) with a vocabulary of 300.
rwkvrt_tools::RandomModelSpec spec_of(const char *arch, int64_t n_layer) {
    rwkvrt_tools::RandomModelSpec spec;
    spec.arch = arch;
    spec.n_layer = n_layer;
    spec.n_vocab = 300;
    return spec;
}

struct Run {
    std::vector<std::vector<float>> logits;
    std::vector<std::vector<uint8_t>> states;
};

// Feeds each sequence's tokens in the given rounds: round r gives sequence i rounds[r][i] tokens
// (0 = it sits out), all sequences of a round in one rwkvrt_feed_batch call, or one by one.
Run feed_rounds(const rwkvrt_model *m, const std::vector<std::vector<int32_t>> &inputs,
                const std::vector<std::vector<size_t>> &rounds, bool batched) {
    const size_t B = inputs.size(), V = size_t(rwkvrt_model_n_vocab(m));
    std::vector<th::StatePtr> states;
    for (size_t i = 0; i < B; ++i) states.push_back(th::new_state(m));
    Run out;
    out.logits.assign(B, std::vector<float>(V));
    std::vector<size_t> pos(B, 0);
    for (const std::vector<size_t> &round : rounds) {
        std::vector<rwkvrt_state *> s;
        std::vector<const int32_t *> t;
        std::vector<size_t> n;
        std::vector<float *> l;
        for (size_t i = 0; i < B; ++i) {
            if (!round[i]) continue;
            s.push_back(states[i].get());
            t.push_back(inputs[i].data() + pos[i]);
            n.push_back(round[i]);
            l.push_back(out.logits[i].data());
            pos[i] += round[i];
        }
        if (batched) {
            REQUIRE_MESSAGE(rwkvrt_feed_batch(m, s.size(), s.data(), t.data(), n.data(), l.data()) == RWKVRT_OK, rwkvrt_last_error());
        } else {
            for (size_t j = 0; j < s.size(); ++j) REQUIRE(rwkvrt_feed(m, s[j], t[j], n[j], l[j]) == RWKVRT_OK);
        }
    }
    for (size_t i = 0; i < B; ++i) out.states.push_back(ac::snapshot(states[i].get()));
    return out;
}

// Decoding steps, prompts and a mix of both, batched against one by one.
double batch_vs_alone(const rwkvrt_model *m, const std::string &what) {
    const int32_t V = rwkvrt_model_n_vocab(m);
    std::vector<std::vector<int32_t>> inputs;
    for (uint32_t i = 0; i < 5; ++i) inputs.push_back(tokens_of(300, i + 1, V));
    const std::vector<std::vector<size_t>> rounds = {
        {7, 1, 40, 300 - 7 - 3 - 1 - 1, 1}, // prompts of every length with decoders; the 4th crosses a step
        {1, 1, 1, 1, 1},                    // everybody decodes
        {0, 1, 0, 1, 1},                    // some sit out
        {1, 0, 0, 0, 1},
    };
    const Run batched = feed_rounds(m, inputs, rounds, true), alone = feed_rounds(m, inputs, rounds, false);
    double d = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        d = std::max(d, diff(batched.logits[i], alone.logits[i]));
        CHECK(batched.states[i].size() == alone.states[i].size());
    }
    MESSAGE(what, ": max |logit(feed_batch) - logit(feed alone)| = ", d);
    return d;
}

} // namespace

TEST_CASE("feed_batch: equals feeding each sequence alone, for every version") {
    for (const char *arch : {"rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6", "rwkv7"}) {
        CAPTURE(arch);
        const std::string path = ac::write_random(spec_of(arch, 3), std::string("batch-") + arch);
        for (int threads : {1, 2}) {
            th::ModelPtr m = th::load(path, nullptr, threads);
            CHECK(batch_vs_alone(m.get(), std::string(arch) + ", " + std::to_string(threads) + " threads") <= 1e-5);
        }
    }
}

TEST_CASE("feed_batch: the tiny trained models of every version") {
    REQUIRE_TESTDATA();
    for (const char *file : {"pth/tiny-rwkv-4v0-660K-fp32.pth", "pth/tiny-rwkv-5v1-730K-fp32.pth", "pth/tiny-rwkv-5v2-730K-fp32.pth",
                             "pth/tiny-rwkv-6v0-3m-fp32.pth", "pth/tiny-rwkv-7v0-834K-fp32.pth"}) {
        CAPTURE(file);
        th::ModelPtr m = th::load(testdata::path(file));
        // A lone token's mat-vec and a batch's GEMM sum in different orders: the RWKV-6 model's logits
        // reach 17.3, where 2e-5 is about 10 float ulps (it measured 5 at AVX-512, 5.5 at AVX2).
        CHECK(batch_vs_alone(m.get(), file) <= 2e-5);
    }
}

TEST_CASE("feed_batch: prompts are bit-identical to feeding alone") {
    // When every sequence feeds at least two tokens, its rows go through the same matrix products alone
    // or batched, whose order of additions does not depend on the other rows; the recurrences and
    // token shifts are per sequence. (One token alone is a matrix-vector product, batched a row of a
    // matrix product: the same sums in another order, hence the 1e-5 above.)
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_embd = 64;
    spec.n_vocab = 300;
    th::ModelPtr m = th::load(ac::write_random(spec, "batch-prompts"), nullptr, 2);
    std::vector<std::vector<int32_t>> inputs;
    for (uint32_t i = 0; i < 3; ++i) inputs.push_back(tokens_of(600, i + 7, 300));
    const std::vector<std::vector<size_t>> rounds = {{2, 300, 5}, {3, 2, 595}, {595, 298, 0}};
    const Run batched = feed_rounds(m.get(), inputs, rounds, true), alone = feed_rounds(m.get(), inputs, rounds, false);
    for (size_t i = 0; i < 3; ++i) {
        CHECK(batched.logits[i] == alone.logits[i]);
        CHECK(batched.states[i] == alone.states[i]);
    }
}

TEST_CASE("feed_batch: a call split into steps never leaves one row for a step of its own") {
    // 257 rows are two steps; a last step of one row would be a matrix-vector product, so the 256-token
    // prompt would end with other bits than fed alone (one step) or beside 2 tokens (258 rows).
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_embd = 64;
    spec.n_vocab = 300;
    th::ModelPtr m = th::load(ac::write_random(spec, "batch-split"), nullptr, 2);
    const std::vector<std::vector<int32_t>> inputs = {tokens_of(256, 3, 300), tokens_of(2, 4, 300)};
    const Run alone = feed_rounds(m.get(), inputs, {{256, 0}}, true);
    for (size_t companion : {1, 2}) {
        CAPTURE(companion);
        const Run batched = feed_rounds(m.get(), inputs, {{256, companion}}, true);
        CHECK(batched.logits[0] == alone.logits[0]);
        CHECK(batched.states[0] == alone.states[0]);
    }
}

TEST_CASE("feed: logits_all gives the logits after every token, alone and batched, for every version") {
    for (const char *arch : {"rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6", "rwkv7"}) {
        CAPTURE(arch);
        th::ModelPtr m = th::load(ac::write_random(spec_of(arch, 2), std::string("all-logits-") + arch), nullptr, 2);
        const size_t V = 300, n = 270; // crosses a 256-row step
        const std::vector<int32_t> a = tokens_of(n, 3, 300), b = tokens_of(n - 9, 4, 300);

        // The reference: one token at a time.
        std::vector<float> one_by_one(n * V);
        th::StatePtr s = th::new_state(m.get());
        for (size_t t = 0; t < n; ++t) REQUIRE(rwkvrt_feed(m.get(), s.get(), &a[t], 1, one_by_one.data() + t * V) == RWKVRT_OK);

        rwkvrt_feed_options o = rwkvrt_feed_options_default();
        o.logits_all = 1;
        std::vector<float> alone(n * V);
        th::StatePtr s_alone = th::new_state(m.get());
        REQUIRE(rwkvrt_feed_ex(m.get(), s_alone.get(), a.data(), n, alone.data(), &o) == RWKVRT_OK);
        CHECK(diff(alone, one_by_one) <= 1e-5);
        CHECK(ac::snapshot(s_alone.get()).size() == ac::snapshot(s.get()).size());

        // Batched with a second sequence: each gets its own rows, in its own order.
        std::vector<float> batched_a(n * V), batched_b((n - 9) * V), b_alone((n - 9) * V);
        th::StatePtr sa = th::new_state(m.get()), sb = th::new_state(m.get()), sb_alone = th::new_state(m.get());
        rwkvrt_state *states[] = {sa.get(), sb.get()};
        const int32_t *tokens[] = {a.data(), b.data()};
        const size_t counts[] = {n, n - 9};
        float *logits[] = {batched_a.data(), batched_b.data()};
        REQUIRE(rwkvrt_feed_batch_ex(m.get(), 2, states, tokens, counts, logits, &o) == RWKVRT_OK);
        REQUIRE(rwkvrt_feed_ex(m.get(), sb_alone.get(), b.data(), n - 9, b_alone.data(), &o) == RWKVRT_OK);
        CHECK(diff(batched_a, one_by_one) <= 1e-5);
        CHECK(diff(batched_b, b_alone) <= 1e-5);
    }
}

TEST_CASE("feed_batch: all or nothing") {
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_vocab = 300;
    const std::string path = ac::write_random(spec, "batch-errors");
    th::ModelPtr m = th::load(path), other = th::load(path);
    th::StatePtr a = th::new_state(m.get()), b = th::new_state(m.get()), foreign = th::new_state(other.get());
    const std::vector<int32_t> good = {1, 2, 3}, bad = {1, 300, 3};
    const std::vector<uint8_t> a0 = ac::snapshot(a.get()), b0 = ac::snapshot(b.get());
    auto call = [&](rwkvrt_state *s0, rwkvrt_state *s1, const std::vector<int32_t> &t1, size_t n1) {
        rwkvrt_state *s[] = {s0, s1};
        const int32_t *t[] = {good.data(), t1.data()};
        const size_t n[] = {good.size(), n1};
        return rwkvrt_feed_batch(m.get(), 2, s, t, n, nullptr);
    };
    CHECK(call(a.get(), b.get(), bad, bad.size()) == RWKVRT_ERR_TOKEN);
    CHECK(std::string(rwkvrt_last_error()).find("sequence 1") != std::string::npos);
    CHECK(call(a.get(), a.get(), good, good.size()) == RWKVRT_ERR_ARGUMENT);
    CHECK(std::string(rwkvrt_last_error()).find("same state") != std::string::npos);
    CHECK(call(a.get(), foreign.get(), good, good.size()) == RWKVRT_ERR_MISMATCH);
    CHECK(std::string(rwkvrt_last_error()).find("sequence 1") != std::string::npos);
    CHECK(call(a.get(), b.get(), good, 0) == RWKVRT_ERR_ARGUMENT);
    CHECK(call(a.get(), nullptr, good, good.size()) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_feed_batch(m.get(), 0, nullptr, nullptr, nullptr, nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(ac::snapshot(a.get()) == a0);
    CHECK(ac::snapshot(b.get()) == b0);
    CHECK(call(a.get(), b.get(), good, good.size()) == RWKVRT_OK);
    CHECK(rwkvrt_state_n_tokens(a.get()) == 3);
}

TEST_CASE("feed_batch: non-finite logits after several steps restore every state of the call") {
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_vocab = 300;
    th::ModelPtr m = th::load(ac::write_random(spec, "batch-overflow"), nullptr, 2);
    const std::vector<int32_t> prompt = tokens_of(700, 4, 300), next = tokens_of(3, 6, 300);
    // b's state is out of range: its products overflow, so its logits come out non-finite, but only at
    // its last of three steps. a decodes beside it and finishes in the first step.
    th::StatePtr a = th::new_state(m.get()), b = th::new_state(m.get());
    REQUIRE(rwkvrt_feed(m.get(), a.get(), prompt.data(), 20, nullptr) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(m.get(), b.get(), prompt.data(), 30, nullptr) == RWKVRT_OK);
    rwkvrt::State &bs = *b->impl;
    std::fill(bs.data(), bs.data() + bs.floats(), 3e38f);
    const std::vector<uint8_t> a0 = ac::snapshot(a.get()), b0 = ac::snapshot(b.get());
    rwkvrt_state *s[] = {a.get(), b.get()};
    const int32_t *t[] = {next.data(), prompt.data()};
    const size_t n[] = {next.size(), prompt.size()};
    std::vector<float> la(300), lb(300);
    float *l[] = {la.data(), lb.data()};
    CHECK(rwkvrt_feed_batch(m.get(), 2, s, t, n, l) == RWKVRT_ERR_CORRUPT);
    CHECK(std::string(rwkvrt_last_error()).find("sequence 1") != std::string::npos);
    CHECK(ac::snapshot(a.get()) == a0);
    CHECK(ac::snapshot(b.get()) == b0);
    CHECK(rwkvrt_state_n_tokens(a.get()) == 20);
    CHECK(rwkvrt_state_n_tokens(b.get()) == 30);
    // a goes on as if the failed call had never been made.
    th::StatePtr ref = th::new_state(m.get());
    REQUIRE(rwkvrt_feed(m.get(), ref.get(), prompt.data(), 20, nullptr) == RWKVRT_OK);
    std::vector<float> after(300), expected(300);
    REQUIRE(rwkvrt_feed(m.get(), a.get(), next.data(), next.size(), after.data()) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(m.get(), ref.get(), next.data(), next.size(), expected.data()) == RWKVRT_OK);
    CHECK(after == expected);
}

TEST_CASE("feed: a feed on another model from inside a progress callback gives the same results") {
    // The outer feed is batch_invariant, the inner one not: its last token is a mat-vec, as unnested.
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_vocab = 300;
    th::ModelPtr outer = th::load(ac::write_random(spec, "batch-outer"), nullptr, 2);
    spec.seed = 77;
    th::ModelPtr inner = th::load(ac::write_random(spec, "batch-inner"), nullptr, 1);
    const std::vector<int32_t> prompt = tokens_of(600, 8, 300), inner_prompt = tokens_of(300, 9, 300);
    struct Ctx {
        const rwkvrt_model *m;
        rwkvrt_state *s;
        const std::vector<int32_t> *prompt;
        std::vector<float> logits = std::vector<float>(300);
        int calls = 0;
        rwkvrt_status status = RWKVRT_OK;
    };
    th::StatePtr nested_state = th::new_state(inner.get());
    Ctx ctx{inner.get(), nested_state.get(), &inner_prompt};
    rwkvrt_feed_options o = rwkvrt_feed_options_default();
    o.user_data = &ctx;
    o.batch_invariant = 1;
    o.progress = [](uint64_t done, uint64_t total, void *user) {
        auto *c = static_cast<Ctx *>(user);
        if (done > 0 && done < total && c->calls++ == 0) { // in the middle of the outer feed's steps
            c->status = rwkvrt_feed(c->m, c->s, c->prompt->data(), c->prompt->size(), nullptr);
            if (c->status == RWKVRT_OK) c->status = rwkvrt_feed(c->m, c->s, c->prompt->data(), 1, c->logits.data());
        }
        return 0;
    };
    th::StatePtr s = th::new_state(outer.get());
    std::vector<float> logits(300);
    REQUIRE(rwkvrt_feed_ex(outer.get(), s.get(), prompt.data(), prompt.size(), logits.data(), &o) == RWKVRT_OK);
    REQUIRE(ctx.calls > 0);
    CHECK(ctx.status == RWKVRT_OK);

    th::StatePtr s_ref = th::new_state(outer.get()), inner_ref = th::new_state(inner.get());
    std::vector<float> logits_ref(300), inner_logits_ref(300);
    rwkvrt_feed_options invariant = rwkvrt_feed_options_default();
    invariant.batch_invariant = 1;
    REQUIRE(rwkvrt_feed_ex(outer.get(), s_ref.get(), prompt.data(), prompt.size(), logits_ref.data(), &invariant) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(inner.get(), inner_ref.get(), inner_prompt.data(), inner_prompt.size(), nullptr) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(inner.get(), inner_ref.get(), inner_prompt.data(), 1, inner_logits_ref.data()) == RWKVRT_OK);
    CHECK(logits == logits_ref);
    CHECK(ctx.logits == inner_logits_ref);
    CHECK(ac::snapshot(s.get()) == ac::snapshot(s_ref.get()));
    CHECK(ac::snapshot(nested_state.get()) == ac::snapshot(inner_ref.get()));
}

namespace {

struct Progress {
    std::vector<std::pair<uint64_t, uint64_t>> calls;
    uint64_t stop_after = UINT64_MAX; // stop at the first call that reports at least this many done
    static int callback(uint64_t done, uint64_t total, void *user) {
        auto *p = static_cast<Progress *>(user);
        p->calls.emplace_back(done, total);
        return done >= p->stop_after;
    }
};

} // namespace

TEST_CASE("feed: progress is reported and a cancelled feed leaves the state after whole steps") {
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_vocab = 300;
    th::ModelPtr m = th::load(ac::write_random(spec, "batch-progress"), nullptr, 2);
    const std::vector<int32_t> prompt = tokens_of(700, 3, 300); // three steps of at most 256 rows

    Progress p;
    rwkvrt_feed_options o = rwkvrt_feed_options_default();
    o.progress = Progress::callback;
    o.user_data = &p;
    th::StatePtr s = th::new_state(m.get());
    REQUIRE(rwkvrt_feed_ex(m.get(), s.get(), prompt.data(), prompt.size(), nullptr, &o) == RWKVRT_OK);
    REQUIRE(p.calls.size() > 3);
    for (size_t i = 1; i < p.calls.size(); ++i) CHECK(p.calls[i].first >= p.calls[i - 1].first);
    CHECK(p.calls.back() == std::pair<uint64_t, uint64_t>(700, 700));

    SUBCASE("cancelled in the second step: the state holds the first step's tokens, exactly") {
        Progress stop;
        stop.stop_after = 1;
        o.user_data = &stop;
        th::StatePtr c = th::new_state(m.get());
        std::vector<float> logits(300, 7.0f);
        CHECK(rwkvrt_feed_ex(m.get(), c.get(), prompt.data(), prompt.size(), logits.data(), &o) == RWKVRT_ERR_CANCELLED);
        CHECK(std::string(rwkvrt_status_name(RWKVRT_ERR_CANCELLED)) == "RWKVRT_ERR_CANCELLED");
        const uint64_t fed = rwkvrt_state_n_tokens(c.get());
        CHECK(fed == 256);
        th::StatePtr ref = th::new_state(m.get());
        REQUIRE(rwkvrt_feed(m.get(), ref.get(), prompt.data(), fed, nullptr) == RWKVRT_OK);
        CHECK(ac::snapshot(c.get()) == ac::snapshot(ref.get()));
        // Feeding the rest continues as if never interrupted.
        std::vector<float> resumed(300), straight(300);
        REQUIRE(rwkvrt_feed(m.get(), c.get(), prompt.data() + fed, prompt.size() - fed, resumed.data()) == RWKVRT_OK);
        th::StatePtr whole = th::new_state(m.get());
        REQUIRE(rwkvrt_feed(m.get(), whole.get(), prompt.data(), prompt.size(), straight.data()) == RWKVRT_OK);
        CHECK(diff(resumed, straight) <= 1e-5);
    }
    SUBCASE("cancelled at once: nothing is fed") {
        Progress stop;
        stop.stop_after = 0;
        o.user_data = &stop;
        th::StatePtr c = th::new_state(m.get());
        const std::vector<uint8_t> before = ac::snapshot(c.get());
        CHECK(rwkvrt_feed_ex(m.get(), c.get(), prompt.data(), 1, nullptr, &o) == RWKVRT_ERR_CANCELLED);
        CHECK(ac::snapshot(c.get()) == before);
    }
    SUBCASE("options with a bad struct_size are refused") {
        rwkvrt_feed_options bad = o;
        bad.struct_size = 1;
        CHECK(rwkvrt_feed_ex(m.get(), s.get(), prompt.data(), 1, nullptr, &bad) == RWKVRT_ERR_ARGUMENT);
    }
}

TEST_CASE("feed: a state in use by another call is refused, never raced") {
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_vocab = 300;
    th::ModelPtr m = th::load(ac::write_random(spec, "batch-busy"), nullptr, 1);
    th::StatePtr s = th::new_state(m.get());
    const std::vector<int32_t> prompt = tokens_of(256, 5, 300);
    // The progress callback runs inside the first call: a second call on the state from there (the
    // same thread, so no timing is involved) must find it claimed.
    struct Ctx {
        const rwkvrt_model *m;
        rwkvrt_state *s;
        rwkvrt_status inner = RWKVRT_OK;
        std::string message;
        bool tried = false;
    } ctx{m.get(), s.get()};
    rwkvrt_feed_options o = rwkvrt_feed_options_default();
    o.user_data = &ctx;
    o.progress = [](uint64_t, uint64_t, void *user) {
        auto *c = static_cast<Ctx *>(user);
        if (!c->tried) {
            c->tried = true;
            const int32_t t = 1;
            std::thread other([c, t] {
                c->inner = rwkvrt_feed(c->m, c->s, &t, 1, nullptr);
                c->message = rwkvrt_last_error();
            });
            other.join();
        }
        return 0;
    };
    REQUIRE(rwkvrt_feed_ex(m.get(), s.get(), prompt.data(), prompt.size(), nullptr, &o) == RWKVRT_OK);
    CHECK(ctx.tried);
    CHECK(ctx.inner == RWKVRT_ERR_ARGUMENT);
    CHECK(ctx.message.find("in use") != std::string::npos);
    CHECK(rwkvrt_state_n_tokens(s.get()) == prompt.size());
}

TEST_CASE("feed: a feed of the same model from its own progress callback is refused, not a deadlock") {
    rwkvrt_tools::RandomModelSpec spec;
    spec.n_vocab = 300;
    th::ModelPtr m = th::load(ac::write_random(spec, "batch-reentry"), nullptr, 1);
    th::StatePtr s = th::new_state(m.get()), other = th::new_state(m.get());
    const std::vector<int32_t> prompt = tokens_of(256, 5, 300);
    struct Ctx {
        const rwkvrt_model *m;
        rwkvrt_state *other;
        int calls = 0;
        rwkvrt_status inner = RWKVRT_OK;
        std::string message;
    } ctx{m.get(), other.get()};
    rwkvrt_feed_options o = rwkvrt_feed_options_default();
    o.user_data = &ctx;
    o.progress = [](uint64_t, uint64_t, void *user) {
        auto *c = static_cast<Ctx *>(user);
        if (c->calls++ == 0) { // inside the first step's forward pass: the same thread holds the model
            const int32_t t = 1;
            c->inner = rwkvrt_feed(c->m, c->other, &t, 1, nullptr);
            c->message = rwkvrt_last_error();
        }
        return 0;
    };
    REQUIRE(rwkvrt_feed_ex(m.get(), s.get(), prompt.data(), prompt.size(), nullptr, &o) == RWKVRT_OK);
    CHECK(ctx.inner == RWKVRT_ERR_ARGUMENT);
    CHECK(ctx.message.find("already running a feed on this thread") != std::string::npos);
    CHECK(rwkvrt_state_n_tokens(other.get()) == 0);
    CHECK(rwkvrt_state_n_tokens(s.get()) == prompt.size());
    // The model is free again afterwards.
    const int32_t t = 1;
    CHECK(rwkvrt_feed(m.get(), other.get(), &t, 1, nullptr) == RWKVRT_OK);
}

TEST_CASE("load: n_threads is bounded") {
    rwkvrt_tools::RandomModelSpec spec;
    const std::string path = ac::write_random(spec, "batch-threads");
    for (int n : {-1, 1025, 40000, 100000}) {
        CAPTURE(n);
        rwkvrt_load_options o = rwkvrt_load_options_default();
        o.n_threads = n;
        rwkvrt_model *m = nullptr;
        CHECK(rwkvrt_model_load(path.c_str(), &o, &m) == RWKVRT_ERR_ARGUMENT);
        CHECK(m == nullptr);
    }
    for (int n : {1, 3, 1024}) {
        CAPTURE(n);
        th::ModelPtr m = th::load(path, nullptr, n);
        CHECK(th::logits_after(m.get(), {1, 2, 3}).size() == 256);
    }
}

TEST_CASE("feed: a step's last layer finishes only the rows its outputs need, and they keep their bits") {
    // StepTail (arch/blocks.h): asking for the logits after every token, after the last or none leaves
    // the same state, and the last token's logits are the same bits, with exact, bf16 and int8 products;
    // in a batch of sequences that want different rows too. The logits are compared under
    // batch_invariant, as the output head of one row is a mat-vec by default and of many a matrix product.
    for (const char *arch : {"rwkv4", "rwkv5.2", "rwkv6", "rwkv7"}) {
        const std::string path = ac::write_random(spec_of(arch, 2), std::string("tail-") + arch);
        for (const char *weight_type : {"f32", "bf16", "q8_0"}) {
            const std::string model = std::string(arch) + " " + weight_type;
            CAPTURE(model);
            th::ModelPtr m = th::load(path, weight_type, 2);
            const size_t V = 300;
            for (const int invariant : {0, 1}) {
                CAPTURE(invariant);
                rwkvrt_feed_options last = rwkvrt_feed_options_default(), every = last;
                last.batch_invariant = every.batch_invariant = invariant;
                every.logits_all = 1;
                // 2 rows drop none; 3 drop one; 40 take bf16 products; 300 are two steps, each with its tail.
                for (const size_t n : {2, 3, 40, 300}) {
                    CAPTURE(n);
                    const std::vector<int32_t> prompt = tokens_of(n, 5, 300);
                    std::vector<float> every_logits(n * V), last_logits(V);
                    th::StatePtr s_every = th::new_state(m.get()), s_last = th::new_state(m.get()), s_none = th::new_state(m.get());
                    REQUIRE(rwkvrt_feed_ex(m.get(), s_every.get(), prompt.data(), n, every_logits.data(), &every) == RWKVRT_OK);
                    REQUIRE(rwkvrt_feed_ex(m.get(), s_last.get(), prompt.data(), n, last_logits.data(), &last) == RWKVRT_OK);
                    REQUIRE(rwkvrt_feed_ex(m.get(), s_none.get(), prompt.data(), n, nullptr, &last) == RWKVRT_OK);
                    if (invariant) CHECK(std::memcmp(last_logits.data(), every_logits.data() + (n - 1) * V, V * sizeof(float)) == 0);
                    CHECK(ac::snapshot(s_last.get()) == ac::snapshot(s_every.get()));
                    CHECK(ac::snapshot(s_none.get()) == ac::snapshot(s_every.get()));
                }
                // Three sequences in one step: a prompt wanting its last logits, one wanting none, a
                // decoding token; against the same step with every row's logits.
                const std::vector<std::vector<int32_t>> inputs = {tokens_of(30, 6, 300), tokens_of(20, 7, 300), tokens_of(1, 8, 300)};
                const size_t counts[] = {30, 20, 1};
                const int32_t *tokens[] = {inputs[0].data(), inputs[1].data(), inputs[2].data()};
                std::vector<float> every0(30 * V), every1(20 * V), every2(V), last0(V), last2(V);
                th::StatePtr e0 = th::new_state(m.get()), e1 = th::new_state(m.get()), e2 = th::new_state(m.get());
                th::StatePtr t0 = th::new_state(m.get()), t1 = th::new_state(m.get()), t2 = th::new_state(m.get());
                rwkvrt_state *every_states[] = {e0.get(), e1.get(), e2.get()}, *tail_states[] = {t0.get(), t1.get(), t2.get()};
                float *every_logits[] = {every0.data(), every1.data(), every2.data()}, *tail_logits[] = {last0.data(), nullptr, last2.data()};
                REQUIRE(rwkvrt_feed_batch_ex(m.get(), 3, every_states, tokens, counts, every_logits, &every) == RWKVRT_OK);
                REQUIRE(rwkvrt_feed_batch_ex(m.get(), 3, tail_states, tokens, counts, tail_logits, &last) == RWKVRT_OK);
                if (invariant) {
                    CHECK(std::memcmp(last0.data(), every0.data() + 29 * V, V * sizeof(float)) == 0);
                    CHECK(std::memcmp(last2.data(), every2.data(), V * sizeof(float)) == 0);
                }
                for (size_t i = 0; i < 3; ++i) {
                    CAPTURE(i);
                    CHECK(ac::snapshot(tail_states[i]) == ac::snapshot(every_states[i]));
                }
            }
        }
    }
}
