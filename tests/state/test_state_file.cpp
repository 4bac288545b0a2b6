// State files through the C API: round trips with metadata and sampler, f16/bf16 size and accuracy,
// atomic replacement when a save fails midway, and the error for each way a load can go wrong.
#include <cmath>
#include <csignal>
#include <cstring>
#include <sstream>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "state/state_helpers.h"

namespace {

using sh::Bytes;

using SamplerPtr = std::unique_ptr<rwkvrt_sampler, decltype(&rwkvrt_sampler_free)>;

SamplerPtr new_sampler(float temperature, uint64_t seed) {
    rwkvrt_sampler_options o = rwkvrt_sampler_options_default();
    o.temperature = temperature;
    o.top_p = 0.9f;
    o.presence_penalty = 0.3f;
    o.seed = seed;
    rwkvrt_sampler *s = nullptr;
    REQUIRE(rwkvrt_sampler_new(&o, 256, &s) == RWKVRT_OK);
    return SamplerPtr(s, rwkvrt_sampler_free);
}

// Generates n tokens from the state's logits; the state and the sampler advance.
std::vector<int32_t> generate(const rwkvrt_model *m, rwkvrt_state *s, rwkvrt_sampler *sampler,
                              std::vector<float> logits, int n) {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
        int32_t t = 0;
        REQUIRE(rwkvrt_sample(sampler, logits.data(), &t) == RWKVRT_OK);
        out.push_back(t);
        REQUIRE(rwkvrt_feed(m, s, &t, 1, logits.data()) == RWKVRT_OK);
    }
    return out;
}

std::vector<std::string> temporaries_in(const std::string &dir) {
    std::vector<std::string> out;
    for (const auto &e : std::filesystem::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().string());
    return out;
}

std::string last_error() { return rwkvrt_last_error(); }

template <class... Parts>
std::string cat_report(const Parts &...parts) {
    std::ostringstream out;
    (out << ... << parts);
    return out.str();
}

rwkvrt_status save_as(const rwkvrt_state *s, const std::string &path, const char *type) {
    rwkvrt_state_save_options o = rwkvrt_state_save_options_default();
    o.value_type = type;
    return rwkvrt_state_save_ex(s, path.c_str(), &o);
}

} // namespace

TEST_CASE("a saved state file holds the snapshot's bytes and loads back exactly") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr a = th::new_state(m.get()), b = th::new_state(m.get());
    sh::feed(m.get(), a.get(), sh::kText);
    const std::string text = "user: hi\nassistant:";
    REQUIRE(rwkvrt_state_set_metadata(a.get(), text.data(), text.size()) == RWKVRT_OK);
    const std::string path = sh::scratch("round-trip.rwkvstate");
    REQUIRE(rwkvrt_state_save(a.get(), path.c_str()) == RWKVRT_OK);
    CHECK(sh::file_bytes(path) == sh::snapshot(a.get()));
    // Saving again replaces the file.
    sh::feed(m.get(), a.get(), "x");
    REQUIRE(rwkvrt_state_save(a.get(), path.c_str()) == RWKVRT_OK);
    CHECK(sh::file_bytes(path) == sh::snapshot(a.get()));
    CHECK(temporaries_in(testdata::scratch_dir()).empty());

    REQUIRE_MESSAGE(rwkvrt_state_load(b.get(), path.c_str()) == RWKVRT_OK, last_error());
    CHECK(rwkvrt_state_n_tokens(b.get()) == sh::kText.size() + 1);
    const void *md = nullptr;
    size_t len = 0;
    REQUIRE(rwkvrt_state_get_metadata(b.get(), &md, &len) == RWKVRT_OK);
    CHECK(std::string(static_cast<const char *>(md)) == text); // zero-terminated
    CHECK(len == text.size());
    CHECK(sh::feed_each(m.get(), a.get(), sh::kMore) == sh::feed_each(m.get(), b.get(), sh::kMore));
}

TEST_CASE("state file sizes, and the accuracy cost of f16 and bf16 values") {
    REQUIRE_TESTDATA();
    const std::string path = sh::scratch("accuracy.rwkvstate");
    for (const std::string &rel : sh::kTinyModels) {
        th::ModelPtr m = sh::try_load(rel);
        if (!m) continue;
        // A fresh state survives f16 exactly: zeros, and rwkv4's -1e30 saturated to -65504, which its
        // kernel treats the same.
        th::StatePtr fresh = th::new_state(m.get()), fresh16 = th::new_state(m.get());
        REQUIRE(save_as(fresh.get(), path, "f16") == RWKVRT_OK);
        REQUIRE(rwkvrt_state_load(fresh16.get(), path.c_str()) == RWKVRT_OK);
        CHECK(sh::feed(m.get(), fresh.get(), "Hi") == sh::feed(m.get(), fresh16.get(), "Hi"));

        th::StatePtr ref = th::new_state(m.get());
        sh::feed(m.get(), ref.get(), sh::kText);
        const size_t f32_size = rwkvrt_state_snapshot_size(ref.get());
        const size_t n_values = (f32_size - 120) / 4;
        REQUIRE(save_as(ref.get(), path, "f32") == RWKVRT_OK);
        CHECK(std::filesystem::file_size(path) == f32_size);
        th::StatePtr copy = th::new_state(m.get());
        REQUIRE(rwkvrt_state_copy(copy.get(), ref.get()) == RWKVRT_OK);
        const auto want = sh::feed_each(m.get(), copy.get(), sh::kMore);
        double scale = 0; // the logits' magnitude, to read the differences relatively
        for (const auto &step : want)
            for (float x : step) scale = th::worse(scale, std::fabs(double(x)));
        std::string report = cat_report(rel, ": ", n_values, " values, f32 file ", f32_size, " bytes, max |logit| ", scale);
        for (const char *type : {"f16", "bf16"}) {
            REQUIRE(save_as(ref.get(), path, type) == RWKVRT_OK);
            CHECK(std::filesystem::file_size(path) == 120 + 2 * n_values);
            th::StatePtr s = th::new_state(m.get());
            REQUIRE_MESSAGE(rwkvrt_state_load(s.get(), path.c_str()) == RWKVRT_OK, last_error());
            const auto got = sh::feed_each(m.get(), s.get(), sh::kMore);
            double first = th::max_abs_diff(got.front(), want.front()), worst = 0;
            for (size_t i = 0; i < got.size(); ++i) worst = th::worse(worst, th::max_abs_diff(got[i], want[i]));
            report += cat_report("; ", type, " file ", 120 + 2 * n_values, " bytes, max |dlogit| ", first,
                                 " at the first step, ", worst, " over ", got.size(), " steps");
            // Measured on the five tiny models: at most 1.5e-4 (f16) and 8e-4 (bf16) of the largest logit.
            CHECK(worst < scale * (std::string(type) == "f16" ? 1e-3 : 5e-3));
        }
        MESSAGE(report);
    }
}

TEST_CASE("a failed save leaves the previous file intact and no temporary file") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr s = th::new_state(m.get());
    const std::string path = sh::scratch("atomic.rwkvstate");
    REQUIRE(rwkvrt_state_save(s.get(), path.c_str()) == RWKVRT_OK);
    const Bytes before = sh::file_bytes(path);

    // The next save is larger than the file-size limit of a child process: its write fails midway
    // with EFBIG, as a full disk fails with ENOSPC.
    sh::feed(m.get(), s.get(), sh::kText);
    const std::string big(before.size(), 'm');
    REQUIRE(rwkvrt_state_set_metadata(s.get(), big.data(), big.size()) == RWKVRT_OK);
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        const rlim_t limit = before.size() + before.size() / 2;
        const rlimit rl{limit, limit};
        ::setrlimit(RLIMIT_FSIZE, &rl);
        const rwkvrt_status st = rwkvrt_state_save(s.get(), path.c_str());
        const std::string msg = std::string(rwkvrt_status_name(st)) + ": " + rwkvrt_last_error();
        (void)!::write(fds[1], msg.data(), msg.size());
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));
    MESSAGE("the failed save said: ", msg);
    CHECK(msg.rfind("RWKVRT_ERR_IO: ", 0) == 0);
    CHECK(msg.find("File too large") != std::string::npos);
    CHECK(msg.find("previous file") != std::string::npos);
    CHECK(sh::file_bytes(path) == before);
    CHECK(temporaries_in(testdata::scratch_dir()).empty());
    th::StatePtr t = th::new_state(m.get());
    CHECK(rwkvrt_state_load(t.get(), path.c_str()) == RWKVRT_OK);
}

TEST_CASE("the sampler's state travels with the conversation: generation resumes exactly") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr s = th::new_state(m.get());
    SamplerPtr sampler = new_sampler(0.8f, 42);
    std::vector<float> logits = sh::feed(m.get(), s.get(), sh::kText);
    generate(m.get(), s.get(), sampler.get(), logits, 10);
    // Logits are not part of a state: a resumed application feeds its next input, then samples.
    const std::string path = sh::scratch("with-sampler.rwkvstate");
    rwkvrt_state_save_options o = rwkvrt_state_save_options_default();
    o.sampler = sampler.get();
    REQUIRE(rwkvrt_state_save_ex(s.get(), path.c_str(), &o) == RWKVRT_OK);
    const int32_t next = 32; // the application feeds its next token after loading
    std::vector<float> after(256), after2(256);
    th::StatePtr s2 = th::new_state(m.get());
    SamplerPtr other = new_sampler(1.5f, 7);
    int loaded = -1;
    REQUIRE_MESSAGE(rwkvrt_state_load_ex(s2.get(), path.c_str(), other.get(), &loaded) == RWKVRT_OK, last_error());
    CHECK(loaded == 1);
    REQUIRE(rwkvrt_feed(m.get(), s.get(), &next, 1, after.data()) == RWKVRT_OK);
    REQUIRE(rwkvrt_feed(m.get(), s2.get(), &next, 1, after2.data()) == RWKVRT_OK);
    CHECK(generate(m.get(), s.get(), sampler.get(), after, 20) == generate(m.get(), s2.get(), other.get(), after2, 20));

    SUBCASE("a file without a sampler state leaves the sampler alone") {
        REQUIRE(rwkvrt_state_save(s.get(), path.c_str()) == RWKVRT_OK);
        const size_t size = rwkvrt_sampler_state_size(other.get());
        Bytes before(size), now(size);
        REQUIRE(rwkvrt_sampler_state_save(other.get(), before.data(), size, nullptr) == RWKVRT_OK);
        REQUIRE(rwkvrt_state_load_ex(s2.get(), path.c_str(), other.get(), &loaded) == RWKVRT_OK);
        CHECK(loaded == 0);
        REQUIRE(rwkvrt_sampler_state_save(other.get(), now.data(), size, nullptr) == RWKVRT_OK);
        CHECK(before == now);
    }
    SUBCASE("a sampler for another vocabulary is refused and nothing changes") {
        rwkvrt_sampler *raw = nullptr;
        REQUIRE(rwkvrt_sampler_new(nullptr, 100, &raw) == RWKVRT_OK);
        SamplerPtr small(raw, rwkvrt_sampler_free);
        const Bytes before = sh::snapshot(s2.get());
        CHECK(rwkvrt_state_load_ex(s2.get(), path.c_str(), small.get(), nullptr) == RWKVRT_ERR_MISMATCH);
        CHECK_MESSAGE(last_error().find("sampler state") != std::string::npos, last_error());
        CHECK(sh::snapshot(s2.get()) == before);
        // Without a sampler the same file loads.
        CHECK(rwkvrt_state_load(s2.get(), path.c_str()) == RWKVRT_OK);
    }
}

TEST_CASE("state file errors name the file and the problem") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr s = th::new_state(m.get());
    const std::string missing = testdata::scratch_dir() + "/no-such-file.rwkvstate";
    CHECK(rwkvrt_state_load(s.get(), missing.c_str()) == RWKVRT_ERR_IO);
    CHECK_MESSAGE(last_error().find("No such file") != std::string::npos, last_error());
    CHECK(rwkvrt_state_load(s.get(), testdata::scratch_dir().c_str()) == RWKVRT_ERR_IO);
    const std::string in_missing_dir = testdata::scratch_dir() + "/no-such-dir/x.rwkvstate";
    CHECK(rwkvrt_state_save(s.get(), in_missing_dir.c_str()) == RWKVRT_ERR_IO);
    CHECK_MESSAGE(last_error().find(in_missing_dir) != std::string::npos, last_error());

    // A model file is not a state file; a damaged state file says so with its path.
    CHECK(rwkvrt_state_load(s.get(), testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth").c_str()) == RWKVRT_ERR_FORMAT);
    const std::string path = sh::scratch("damaged.rwkvstate");
    REQUIRE(rwkvrt_state_save(s.get(), path.c_str()) == RWKVRT_OK);
    Bytes b = sh::file_bytes(path);
    b[b.size() / 2] ^= 0x10;
    sh::write_file(path, b);
    CHECK(rwkvrt_state_load(s.get(), path.c_str()) == RWKVRT_ERR_CORRUPT);
    CHECK_MESSAGE(last_error().rfind("'" + path + "': ", 0) == 0, last_error());
    b.resize(b.size() - 100);
    sh::write_file(path, b);
    CHECK(rwkvrt_state_load(s.get(), path.c_str()) == RWKVRT_ERR_CORRUPT);
    CHECK_MESSAGE(last_error().find("truncated") != std::string::npos, last_error());

    // Another model's state.
    th::ModelPtr other = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-bf16.pth"));
    th::StatePtr o = th::new_state(other.get());
    REQUIRE(rwkvrt_state_save(o.get(), path.c_str()) == RWKVRT_OK);
    CHECK(rwkvrt_state_load(s.get(), path.c_str()) == RWKVRT_ERR_MISMATCH);
}

TEST_CASE("save options, metadata and token counts: arguments and rules") {
    REQUIRE_TESTDATA();
    th::ModelPtr m = th::load(testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"));
    th::StatePtr s = th::new_state(m.get());
    const std::string path = sh::scratch("args.rwkvstate");
    CHECK(rwkvrt_state_save(nullptr, path.c_str()) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_save(s.get(), nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_load(s.get(), nullptr) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_load_initial(nullptr, path.c_str()) == RWKVRT_ERR_ARGUMENT);
    CHECK(save_as(s.get(), path, "q8_0") == RWKVRT_ERR_ARGUMENT);
    CHECK_MESSAGE(last_error().find("f32, f16, bf16") != std::string::npos, last_error());
    rwkvrt_state_save_options o = rwkvrt_state_save_options_default();
    o.struct_size = sizeof o + 8;
    CHECK(rwkvrt_state_save_ex(s.get(), path.c_str(), &o) == RWKVRT_ERR_ARGUMENT);
    // An older caller's shorter struct: the missing fields take their defaults.
    o = rwkvrt_state_save_options_default();
    o.struct_size = offsetof(rwkvrt_state_save_options, sampler);
    o.value_type = "bf16";
    CHECK(rwkvrt_state_save_ex(s.get(), path.c_str(), &o) == RWKVRT_OK);
    CHECK(std::filesystem::file_size(path) < rwkvrt_state_snapshot_size(s.get()));

    CHECK(rwkvrt_state_n_tokens(s.get()) == 0);
    CHECK(rwkvrt_state_n_tokens(nullptr) == 0);
    sh::feed(m.get(), s.get(), "abc");
    CHECK(rwkvrt_state_n_tokens(s.get()) == 3);

    const void *md = nullptr;
    size_t len = 99;
    REQUIRE(rwkvrt_state_get_metadata(s.get(), &md, &len) == RWKVRT_OK);
    CHECK(len == 0);
    CHECK(rwkvrt_state_set_metadata(s.get(), nullptr, 3) == RWKVRT_ERR_ARGUMENT);
    CHECK(rwkvrt_state_get_metadata(s.get(), nullptr, &len) == RWKVRT_ERR_ARGUMENT);
    REQUIRE(rwkvrt_state_set_metadata(s.get(), "a\0b", 3) == RWKVRT_OK); // bytes, not a string
    CHECK(rwkvrt_state_reset(s.get()) == RWKVRT_OK);
    CHECK(rwkvrt_state_n_tokens(s.get()) == 0);
    REQUIRE(rwkvrt_state_get_metadata(s.get(), &md, &len) == RWKVRT_OK);
    CHECK(std::string(static_cast<const char *>(md), len) == std::string("a\0b", 3));
    th::StatePtr c = th::new_state(m.get());
    REQUIRE(rwkvrt_state_copy(c.get(), s.get()) == RWKVRT_OK);
    REQUIRE(rwkvrt_state_get_metadata(c.get(), &md, &len) == RWKVRT_OK);
    CHECK(len == 3);
    REQUIRE(rwkvrt_state_set_metadata(s.get(), nullptr, 0) == RWKVRT_OK);
    REQUIRE(rwkvrt_state_get_metadata(s.get(), &md, &len) == RWKVRT_OK);
    CHECK(len == 0);
}
