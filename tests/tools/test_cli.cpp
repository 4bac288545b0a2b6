// The rwkvrt command-line tool, end to end in separate processes.
#include <algorithm>
#include <cmath>
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/model_helpers.h"
#include "testdata.h"

namespace {

struct Run {
    int status;
    std::string out; // standard output and error
};

Run run(const std::string &args, const std::string &stdin_text = "") {
    const std::string input = testdata::scratch_dir() + "/cli-stdin";
    {
        std::ofstream in(input, std::ios::binary);
        in << stdin_text;
    }
    const std::string cmd = std::string(RWKVRT_CLI) + " " + args + " < " + input + " 2>&1";
    FILE *p = popen(cmd.c_str(), "r");
    REQUIRE(p);
    std::string out;
    std::array<char, 4096> buf;
    for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
    const int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string model() { return testdata::path("pth/tiny-rwkv-7v0-834K-fp32.pth"); }

// A CLI process with a pipe on its standard input and its output in a file, for tests that talk to it
// while it runs (Ctrl-C is a SIGINT sent to it).
struct LiveRun {
    pid_t pid = -1;
    int stdin_fd = -1;
    std::string out_path;

    explicit LiveRun(const std::string &args) {
        out_path = testdata::scratch_dir() + "/cli-live-output";
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
        posix_spawn_file_actions_addclose(&fa, fds[1]);
        posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
        // exec: the shell becomes rwkvrt, so that the signal reaches it
        const std::string cmd = "exec " + std::string(RWKVRT_CLI) + " " + args;
        const char *argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
        REQUIRE(posix_spawn(&pid, "/bin/sh", &fa, nullptr, const_cast<char *const *>(argv), environ) == 0);
        posix_spawn_file_actions_destroy(&fa);
        close(fds[0]);
        stdin_fd = fds[1];
    }
    ~LiveRun() {
        if (stdin_fd >= 0) close(stdin_fd);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
    std::string output() const {
        const std::vector<char> bytes = testdata::read_bytes(out_path);
        return std::string(bytes.begin(), bytes.end());
    }
    // Waits up to a minute for text to appear in the output.
    bool wait_for(const std::string &text) const {
        for (int i = 0; i < 600; ++i) {
            if (output().find(text) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        return false;
    }
    void send(const std::string &text) { REQUIRE(write(stdin_fd, text.data(), text.size()) == ssize_t(text.size())); }
    int finish() {
        close(stdin_fd);
        stdin_fd = -1;
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
};

// A prompt of a few million tokens for the byte-level test model: tens of seconds to feed.
std::string long_prompt_file() {
    const std::string path = testdata::scratch_dir() + "/long-prompt.txt";
    std::string text;
    while (text.size() < (size_t(4) << 20)) text += "a long and winding prompt that nobody waits for to the end; ";
    std::ofstream(path, std::ios::binary) << text;
    return path;
}

} // namespace

TEST_CASE("cli: info names the architecture and sizes") {
    REQUIRE_TESTDATA();
    for (const std::string &args : {"info -m " + model(), "info " + model()}) {
        const Run r = run(args);
        CHECK(r.status == 0);
        CHECK(r.out.find("rwkv7") != std::string::npos);
        CHECK(r.out.find("n_layer:     12") != std::string::npos);
        CHECK(r.out.find("read from the file at load; with --mmap, mapped from it") != std::string::npos);
    }
    CHECK(run("info -m /nonexistent.pth").status != 0);
    CHECK(run("info").status != 0);
}

TEST_CASE("cli: an RWKVRT_MAX_CPU_ISA it does not know fails the load and says what it takes") {
    REQUIRE_TESTDATA();
    // This process read the variable when the library loaded; the CLI reads it again.
    REQUIRE(setenv("RWKVRT_MAX_CPU_ISA", "avx3000", 1) == 0);
    const Run bad = run("generate -m " + model() + " -p hi -n 2");
    REQUIRE(setenv("RWKVRT_MAX_CPU_ISA", "AVX2", 1) == 0);
    const Run capped = run("generate -m " + model() + " -p hi -n 2");
    const Run bench = run("bench -m " + model() + " -p 4 -n 2 -r 1");
    unsetenv("RWKVRT_MAX_CPU_ISA");
    CHECK(bad.status != 0);
    CHECK(bad.out.find("RWKVRT_MAX_CPU_ISA='avx3000' is not one of avx512, avx2, sse4, scalar") != std::string::npos);
    CHECK(capped.status == 0);
    // The bench says which levels it ran at: nothing above the cap.
    CHECK(bench.status == 0);
    CHECK(bench.out.find("cpu: kernels: ") != std::string::npos);
    CHECK(bench.out.find("RWKVRT_MAX_CPU_ISA=AVX2") != std::string::npos);
    CHECK(bench.out.find("AVX3") == std::string::npos);
    CHECK(bench.out.find("AVX512") == std::string::npos);
}

TEST_CASE("cli: the prompt comes from -p, from a file with -f, or from standard input with -f -") {
    REQUIRE_TESTDATA();
    const std::string file = testdata::scratch_dir() + "/prompt.txt";
    std::string text;
    for (int i = 0; i < 300; ++i) text += "Once upon a time, in line " + std::to_string(i) + ".\n";
    std::ofstream(file, std::ios::binary) << text;
    const std::string gen = "generate -m " + model() + " -n 8 --seed 4 ";
    const Run from_file = run(gen + "-f " + file);
    CHECK(from_file.status == 0);
    const Run from_stdin = run(gen + "-f -", text);
    CHECK(from_stdin.status == 0);
    CHECK(from_file.out == from_stdin.out);
    CHECK(run(gen + "-p 'Once'").out != from_file.out);
    const Run both = run(gen + "-p x -f " + file);
    CHECK(both.status != 0);
    CHECK(both.out.find("not both") != std::string::npos);
    CHECK(run(gen + "-f /nonexistent/prompt").out.find("cannot read the prompt file") != std::string::npos);
    CHECK(run(gen + "-f " + testdata::scratch_dir()).out.find("it is a folder") != std::string::npos);
    CHECK(run("tokenize -f " + testdata::scratch_dir()).out.find("it is a folder") != std::string::npos);
}

TEST_CASE("cli: --stop understands escapes; a negative token count is a one-line error") {
    REQUIRE_TESTDATA();
    const std::string gen = "generate -m " + model() + " -p 'In the beginning' -n 200 --seed 4 ";
    const Run plain = run(gen);
    REQUIRE(plain.out.find(' ') < plain.out.size() - 1); // the text has a space to stop at
    const Run stopped = run(gen + "--stop '\\x20'");
    CHECK(stopped.status == 0);
    CHECK(stopped.out == plain.out.substr(0, plain.out.find(' ')) + "\n");
    const Run bad = run(gen + "--stop '\\q'");
    CHECK(bad.status != 0);
    CHECK(bad.out.find("unknown escape") != std::string::npos);
    CHECK(run(gen + "--stop '\\xZZ'").out.find("\\x needs two hex digits") != std::string::npos);
    for (const char *seed : {"-1", "18446744073709551616"}) // they had wrapped or saturated to 2^64 - 1
        CHECK(run("generate -m " + model() + " -p hi -n 2 --seed " + seed).out.find("must be a whole number from 0 to") != std::string::npos);
    for (const char *n : {"-1", "abc"}) {
        const Run r = run("generate -m " + model() + " -p hi -n " + n);
        CHECK(r.status != 0);
        CHECK(r.out.find("must be a number of tokens >= 0") != std::string::npos);
        CHECK(std::count(r.out.begin(), r.out.end(), '\n') <= 2);
    }
}

TEST_CASE("cli: bench checks --limits before it measures") {
    REQUIRE_TESTDATA();
    const Run no_reps = run("bench -m " + model() + " -r 0");
    CHECK(no_reps.status != 0);
    CHECK(no_reps.out.find("not in range 1 to 2147483647") != std::string::npos); // not CLI11's 309-digit bound
    const Run r = run("bench -m " + model() + " --prompt-tokens 4 --gen-tokens 2 --limits /nonexistent/limits.json");
    CHECK(r.status != 0);
    CHECK(r.out.find("cannot read the limits file") != std::string::npos);
    CHECK(r.out.find("prefill:") == std::string::npos);
}

TEST_CASE("cli: bench says which activations it ran with, and how to compare a quantized model like with like") {
    REQUIRE_TESTDATA();
    const Run unused = run("bench -m " + model() + " -p 4 -n 2 -r 1");
    CHECK(unused.status == 0);
    CHECK(unused.out.find("activations: auto (exact fp32 products with f32 weights on this CPU)\n") != std::string::npos);
    const std::string q4 = testdata::path("gguf/tiny-rwkv-7v0-834K-Q4_0.gguf");
    const Run integer = run("bench -m " + q4 + " -p 4 -n 2 -r 1");
    CHECK(integer.status == 0);
    const bool int8_cpu = std::string(rwkvrt_system_info()).find("int8 products: none") == std::string::npos;
    CHECK(integer.out.find(int8_cpu ? "activations: auto (integer products with q4_0 weights, as llama.cpp's; --activations f32"
                                    : "activations: auto (exact fp32 products with q4_0 weights on this CPU)") != std::string::npos);
    const Run exact = run("bench -m " + q4 + " -p 4 -n 2 -r 1 --activations f32");
    CHECK(exact.status == 0);
    CHECK(exact.out.find("activations: f32\n") != std::string::npos);
    const Run json = run("bench -m " + q4 + " -p 4 -n 2 -r 3 -o json");
    CHECK(json.status == 0);
    CHECK(json.out.find("\"activations\": \"auto\"") != std::string::npos);
    CHECK(json.out.find("\"batch_invariant\": false") != std::string::npos);
    // Each repetition's figure, as llama-bench's samples_ts, so a reader sees the spread behind the mean.
    const nlohmann::json parsed = nlohmann::json::parse(json.out.substr(json.out.find('{')));
    REQUIRE(parsed["results"].size() == 2);
    for (const nlohmann::json &result : parsed["results"]) {
        const std::vector<double> samples = result["samples_tokens_per_second"].get<std::vector<double>>();
        REQUIRE(samples.size() == 3);
        double sum = 0;
        for (double s : samples) {
            CHECK(s > 0);
            sum += s;
        }
        CHECK(result["tokens_per_second"].get<double>() == doctest::Approx(sum / 3));
    }
    const Run invariant = run("bench -m " + model() + " -p 4 -n 2 -r 1 --batch-invariant");
    CHECK(invariant.status == 0);
    CHECK(invariant.out.find("on this CPU); batch-invariant: one row runs as a matrix product") != std::string::npos);
}

TEST_CASE("cli: bench --probe-bandwidth gives each generation run's share of the bandwidth read beside it") {
    REQUIRE_TESTDATA();
    const Run json = run("bench -m " + model() + " -p 4 -n 3 -r 2 -t 2 --probe-bandwidth -o json");
    REQUIRE(json.status == 0);
    const nlohmann::json parsed = nlohmann::json::parse(json.out.substr(json.out.find('{')));
    REQUIRE(parsed["results"].size() == 2);
    const nlohmann::json &prompt = parsed["results"][0], &gen = parsed["results"][1];
    CHECK(prompt["test"] == "pp4");
    CHECK(!prompt.contains("share_of_probed_bandwidth")); // a prompt is bound by compute
    REQUIRE(gen["test"] == "tg3");
    const auto probed = gen["samples_probed_read_gbps"].get<std::vector<double>>();
    const auto shares = gen["samples_share_of_probed_bandwidth"].get<std::vector<double>>();
    const auto speeds = gen["samples_tokens_per_second"].get<std::vector<double>>();
    REQUIRE(probed.size() == 2);
    REQUIRE(shares.size() == 2);
    const double bytes = parsed["weight_bytes_per_step"].get<double>();
    for (size_t i = 0; i < 2; ++i) {
        CHECK(probed[i] > 0.1); // GB/s: any machine reads 1 GiB faster than in ten seconds
        CHECK(shares[i] == doctest::Approx(bytes * speeds[i] / 1e9 / probed[i]));
    }
    CHECK(gen["share_of_probed_bandwidth"].get<double>() == doctest::Approx((shares[0] + shares[1]) / 2));
}

TEST_CASE("cli: bench's resident memory counts the model it ran, and not the bandwidth probe's buffer") {
    // A model whose 64 MiB of weights dwarf the process's own few MiB: RSS taken after the model was
    // freed, or with the probe's 1 GiB still mapped, cannot pass.
    const std::string path = testdata::scratch_dir() + "/rss.safetensors";
    const Run made = run("random-model --arch rwkv7 --layers 1 --embd 128 --head-size 64 --vocab 65536 -o " + path);
    REQUIRE_MESSAGE(made.status == 0, made.out);
    const double file_kib = double(std::filesystem::file_size(path)) / 1024;
    for (const char *flags : {"", " --probe-bandwidth"}) {
        CAPTURE(flags);
        const Run json = run("bench -m " + path + " -p 2 -n 2 -r 1 -t 1 -o json" + flags);
        REQUIRE_MESSAGE(json.status == 0, json.out);
        const nlohmann::json parsed = nlohmann::json::parse(json.out.substr(json.out.find('{')));
        REQUIRE(parsed["rss_kib"].size() == 1);
        const double rss_kib = parsed["rss_kib"][0]["rss_kib"].get<double>();
        CHECK(rss_kib > 0.9 * file_kib);
        CHECK(rss_kib < file_kib + 512 * 1024);
    }
    std::filesystem::remove(path);
}

TEST_CASE("cli: bench times the load beside reading the file through one buffer and into fresh memory") {
    REQUIRE_TESTDATA();
    const Run json = run("bench -m " + model() + " -p 2 -n 2 -r 1 -t 1 -o json");
    REQUIRE_MESSAGE(json.status == 0, json.out);
    const nlohmann::json parsed = nlohmann::json::parse(json.out.substr(json.out.find('{')));
    for (const char *key : {"load_seconds", "file_read_seconds", "file_read_into_memory_seconds"}) {
        CAPTURE(key);
        REQUIRE(parsed.contains(key));
        const double seconds = parsed[key].get<double>();
        CHECK(seconds > 0);
        CHECK(seconds < 60);
    }
    const Run md = run("bench -m " + model() + " -p 2 -n 2 -r 1 -t 1");
    REQUIRE(md.status == 0);
    CHECK(md.out.find(" s through one reused 1 MiB buffer, ") != std::string::npos);
    CHECK(md.out.find(" s into fresh memory)") != std::string::npos);
}

TEST_CASE("cli: a resumed session says that its saved sampler wins over sampling flags") {
    REQUIRE_TESTDATA();
    const std::string session = testdata::scratch_dir() + "/flags.session";
    std::filesystem::remove(session);
    REQUIRE(run("generate -m " + model() + " -p hi -n 4 --seed 1 --session " + session).status == 0);
    const Run r = run("generate -m " + model() + " -n 4 --temperature 0.5 --seed 9 --session " + session);
    CHECK(r.status == 0);
    CHECK(r.out.find("the saved sampler continues") != std::string::npos);
    CHECK(r.out.find("ignored: --temperature 0.5 --seed 9") != std::string::npos);
    CHECK(run("generate -m " + model() + " -n 4 --session " + session).out.find("ignored") == std::string::npos);
}

TEST_CASE("cli: chat prints a banner and takes /quit, /reset and /save") {
    REQUIRE_TESTDATA();
    const std::string dir = testdata::scratch_dir(), saved = dir + "/chat-saved.rwkvstate";
    std::filesystem::remove(saved);
    const std::string chat = "chat -m " + model() + " -n 4 --seed 3";
    // A save that fails is reported, and the chat goes on.
    const Run r = run(chat, "Hello\n/bogus\n/save /nonexistent/dir/chat.state\n/save " + saved + "\n/reset\n/quit\nNever sent\n");
    CHECK(r.status == 0);
    CHECK(r.out.find("rwkvrt chat: " + model()) != std::string::npos);
    CHECK(r.out.find("/quit (or Ctrl-D) leaves") != std::string::npos);
    CHECK(std::filesystem::exists(saved));
    CHECK(r.out.find("[saved " + saved) != std::string::npos);
    CHECK(r.out.find("[not saved: ") != std::string::npos);
    CHECK(r.out.find("[unknown command /bogus") != std::string::npos);
    CHECK(r.out.find("starts over") != std::string::npos);
    // One reply (to Hello): the commands and what follows /quit never reach the model.
    size_t replies = 0;
    for (size_t at = r.out.find("Assistant:"); at != std::string::npos; at = r.out.find("Assistant:", at + 1)) ++replies;
    CHECK(replies == 1);
    // The saved state holds the first turn only.
    const Run fresh = run("chat -m " + model() + " -n 4 --session " + saved, "/quit\n");
    CHECK(fresh.out.find("resumed after") != std::string::npos);
}

TEST_CASE("cli: Ctrl-C in chat drops the turn being read and returns to the prompt; the session keeps the rest") {
    REQUIRE_TESTDATA();
    const std::string session = testdata::scratch_dir() + "/interrupted-chat.session";
    std::filesystem::remove(session);
    LiveRun chat("chat -m " + model() + " -n 4 --seed 3 --session " + session + " -f " + long_prompt_file());
    REQUIRE(chat.wait_for("Ctrl-C stops a reply"));
    std::this_thread::sleep_for(std::chrono::milliseconds(500)); // inside the first turn's feed
    REQUIRE(kill(chat.pid, SIGINT) == 0);
    REQUIRE(chat.wait_for("[stopped while reading your message"));
    chat.send("Hello\n");
    CHECK(chat.finish() == 0);
    const std::string out = chat.output();
    INFO(out);
    CHECK(out.find("Assistant:") != std::string::npos); // the next turn was answered
    // The session holds the short turn only, not a piece of the interrupted one.
    const Run resumed = run("chat -m " + model() + " -n 4 --session " + session, "/quit\n");
    const size_t at = resumed.out.find("resumed after ");
    REQUIRE(at != std::string::npos);
    CHECK(std::stoul(resumed.out.substr(at + 14)) < 100);
}

TEST_CASE("cli: Ctrl-C while generate reads its prompt exits with 130 and leaves the session file alone") {
    REQUIRE_TESTDATA();
    const std::string session = testdata::scratch_dir() + "/interrupted-generate.session";
    std::filesystem::remove(session);
    LiveRun gen("generate -m " + model() + " -n 4 --session " + session + " -f " + long_prompt_file());
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    REQUIRE(kill(gen.pid, SIGINT) == 0);
    CHECK(gen.finish() == 130);
    INFO(gen.output());
    CHECK(gen.output().find("[stopped while reading the prompt; the session file is unchanged]") != std::string::npos);
    CHECK(!std::filesystem::exists(session));
}

TEST_CASE("cli: info describes a GGUF file, given as -m or positionally, and as JSON") {
    REQUIRE_TESTDATA();
    const std::string gguf = testdata::path("gguf/random-rwkv6-h4-Q5_K_M.gguf");
    for (const std::string &args : {"info " + gguf, "info -m " + gguf}) {
        const Run r = run(args);
        CHECK(r.status == 0);
        CHECK(r.out.find("format:      gguf") != std::string::npos);
        CHECK(r.out.find("arch:        rwkv6") != std::string::npos);
        // The file's own tensors, as gguf/README.md lists them: F32×52, Q5_K×22, Q5_1×3, Q6_K×1.
        CHECK(r.out.find("f32          52 tensors") != std::string::npos);
        CHECK(r.out.find("q5_K         22 tensors") != std::string::npos);
        CHECK(r.out.find("q6_K          1 tensors") != std::string::npos);
        CHECK(r.out.find("q5_1          3 tensors") != std::string::npos);
        CHECK(r.out.find("embedded, bytes, 256 tokens") != std::string::npos);
        CHECK(r.out.find("state size:  202752 bytes") != std::string::npos); // 3 × (2·256 + 4·64·64) floats
    }
    const Run j = run("info --json " + gguf);
    CHECK(j.status == 0);
    CHECK(j.out.find("\"file_bytes\":3338112") != std::string::npos);
    CHECK(j.out.find("\"metadata\"") == std::string::npos); // only with --metadata, as in the text
    CHECK(run("info --json --metadata " + gguf).out.find("\"metadata\"") != std::string::npos);
    CHECK(run("info --metadata " + gguf).out.find("rwkv6.wkv.head_size = 64") != std::string::npos);
}

TEST_CASE("cli: a GGUF model generates with the tokenizer its file carries") {
    REQUIRE_TESTDATA();
    const std::string gguf = testdata::path("gguf/tiny-rwkv-7v0-834K-Q8_0.gguf");
    const Run r = run("generate -m " + gguf + " -p 'Hello' -n 5 --seed 1");
    CHECK_MESSAGE(r.status == 0, r.out);
}

TEST_CASE("cli: a session saved mid-generation resumes exactly in a new process") {
    REQUIRE_TESTDATA();
    const std::string session = testdata::scratch_dir() + "/cli.session";
    std::filesystem::remove(session);
    const std::string sampling = " --seed 11 --top-p 0.7 --temperature 0.9 --presence-penalty 0.3 --frequency-penalty 0.2";
    const Run whole = run("generate -m " + model() + " -p 'Hello there' -n 40" + sampling);
    REQUIRE(whole.status == 0);
    const Run a = run("generate -m " + model() + " -p 'Hello there' -n 15" + sampling + " --session " + session);
    const Run b = run("generate -m " + model() + " -n 25 --session " + session);
    REQUIRE(a.status == 0);
    REQUIRE(b.status == 0);
    // Each run prints its text, a newline, and (on stderr) a session line.
    const std::string first = a.out.substr(0, a.out.find("\n[session"));
    const std::string second = b.out.substr(0, b.out.find("\n[session"));
    CHECK(first + second == whole.out.substr(0, whole.out.size() - 1));
    CHECK(b.out.find("51 tokens") != std::string::npos); // 11 prompt bytes + 40 generated, all fed
}

TEST_CASE("cli: tokenize and detokenize round-trip raw bytes") {
    const std::string file = testdata::scratch_dir() + "/cli-bytes";
    {
        std::ofstream out(file, std::ios::binary);
        out << std::string("a\0b\xff\n", 5);
    }
    const Run t = run("tokenize -f " + file);
    CHECK(t.status == 0);
    CHECK(t.out == "97 0 98 255 10\n");
    const Run d = run("detokenize 104 105");
    CHECK(d.out == "hi");
    CHECK(run("detokenize 104 300").status != 0);
    CHECK(run("tokenize -f -", "xyz").out == "120 121 122\n");
}

TEST_CASE("cli: a tokenizer for another vocabulary is refused") {
    REQUIRE_TESTDATA();
    const Run r = run("generate -m " + model() + " -t " + testdata::path("tokenizers/rwkv_vocab_v20230424.txt") + " -p hi -n 2");
    CHECK(r.status != 0);
    CHECK(r.out.find("does not belong") != std::string::npos);
}

TEST_CASE("cli: chat keeps its conversation in a session file across processes") {
    REQUIRE_TESTDATA();
    const std::string session = testdata::scratch_dir() + "/chat.session";
    std::filesystem::remove(session);
    const Run first = run("chat -m " + model() + " -n 12 --seed 3 --session " + session, "Hello\nHow are you?\n");
    CHECK(first.status == 0);
    CHECK(first.out.find("Assistant:") != std::string::npos);
    REQUIRE(std::filesystem::exists(session));
    const Run second = run("chat -m " + model() + " -n 12 --session " + session, "And now?\n");
    CHECK(second.status == 0);
    CHECK(second.out.find("resumed after") != std::string::npos);
}

TEST_CASE("cli: chat with the World tokenizer on a World-vocabulary model") {
    REQUIRE_TESTDATA();
    const std::string dir = testdata::scratch_dir();
    const Run made = run("random-model --arch rwkv7 --layers 1 --embd 32 --head-size 16 --vocab 65536 -o " + dir + "/world.safetensors");
    REQUIRE(made.status == 0);
    const std::string args = "chat -m " + dir + "/world.safetensors -t " + testdata::path("tokenizers/rwkv_vocab_v20230424.txt") +
                             " -n 8 --seed 2 --session " + dir + "/world.session";
    const Run first = run(args, "你好, who are you?\n");
    CHECK(first.status == 0);
    CHECK(first.out.find("Assistant:") != std::string::npos);
    const Run second = run(args, "Tell me more.\n");
    CHECK(second.status == 0);
    CHECK(second.out.find("resumed after") != std::string::npos);
    // The byte tokenizer does not fit this model: refused with a clear message.
    const Run bytes = run("generate -m " + dir + "/world.safetensors -p hi -n 2");
    CHECK(bytes.status != 0);
    CHECK(bytes.out.find("pass its tokenizer") != std::string::npos);
}

TEST_CASE("cli: convert writes GGUF that loads, and quantize re-writes it") {
    REQUIRE_TESTDATA();
    const std::string out = testdata::scratch_dir() + "/cli-convert.gguf", q = testdata::scratch_dir() + "/cli-q.gguf";
    const Run c = run("convert " + testdata::path("random/random-rwkv7-h4-fp32.pth") + " " + out + " --type q8_0");
    CHECK_MESSAGE(c.status == 0, c.out);
    const Run r = run("quantize " + out + " " + q + " q4_k");
    CHECK_MESSAGE(r.status == 0, r.out);
    CHECK(r.out.find("q4_K ×19") != std::string::npos); // the types as written, fallbacks included
    const Run i = run("info " + q);
    CHECK(i.out.find("q4_K         19 tensors") != std::string::npos);
    CHECK(i.out.find("q6_K          1 tensors") != std::string::npos); // the head, as llama-quantize does
    CHECK(run("quantize " + out + " " + q + " q9_9").status != 0);
    CHECK(run("convert " + testdata::path("pth/tiny-rwkv-5v2-730K-fp32.pth") + " " + q).status != 0); // no rwkv5 in GGUF
}

TEST_CASE("cli: perplexity follows llama-perplexity's conventions, checked against feeding one token at a time") {
    REQUIRE_TESTDATA();
    const std::string file = testdata::scratch_dir() + "/ppl.txt";
    std::string text;
    for (int i = 0; i < 40; ++i) text += "The quick brown fox jumps over the lazy dog, line " + std::to_string(i) + ". ";
    std::ofstream(file, std::ios::binary) << text;

    // The reference: byte tokens (the model's vocabulary), chunks of 64 from an empty state, tokens
    // 33..63 of each scored from the logits before them.
    th::ModelPtr m = th::load(model());
    const size_t ctx = 64, chunks = 3;
    std::vector<float> logits(256);
    double sum = 0;
    size_t n = 0;
    for (size_t c = 0; c < chunks; ++c) {
        th::StatePtr s = th::new_state(m.get());
        for (size_t j = 0; j + 1 < ctx; ++j) {
            const int32_t tok = static_cast<unsigned char>(text[c * ctx + j]);
            REQUIRE(rwkvrt_feed(m.get(), s.get(), &tok, 1, logits.data()) == RWKVRT_OK);
            if (j < ctx / 2) continue;
            const double max = *std::max_element(logits.begin(), logits.end());
            double z = 0;
            for (float l : logits) z += std::exp(double(l) - max);
            sum += std::log(z) + max - logits[static_cast<unsigned char>(text[c * ctx + j + 1])];
            ++n;
        }
    }
    const double expected = std::exp(sum / double(n));

    const Run r = run("perplexity -m " + model() + " -f " + file + " --ctx 64 --chunks 3");
    REQUIRE(r.status == 0);
    const size_t at = r.out.find("Final estimate: PPL = ");
    REQUIRE(at != std::string::npos);
    const double got = std::stod(r.out.substr(at + 22));
    CHECK(got == doctest::Approx(expected).epsilon(1e-4));
    CHECK(r.out.find("[1]") != std::string::npos);
    CHECK(r.out.find("[3]") != std::string::npos);
    CHECK(r.out.find("[4]") == std::string::npos);
    const Run one_at_a_time = run("perplexity -m " + model() + " -f " + file + " --ctx 64 --chunks 3 --ubatch 1");
    REQUIRE(one_at_a_time.status == 0);
    const size_t at1 = one_at_a_time.out.find("Final estimate: PPL = ");
    REQUIRE(at1 != std::string::npos);
    CHECK(std::stod(one_at_a_time.out.substr(at1 + 22)) == doctest::Approx(expected).epsilon(1e-4));

    const Run whole = run("perplexity -m " + model() + " -f " + file + " --ctx 0");
    CHECK(whole.status == 0);
    CHECK(whole.out.find("1 chunk of " + std::to_string(text.size())) != std::string::npos);
    const Run too_short = run("perplexity -m " + model() + " -f " + file + " --ctx 100000");
    CHECK(too_short.status != 0);
    CHECK(too_short.out.find("at least 100000 are needed") != std::string::npos);
    const Run nothing_scored = run("perplexity -m " + model() + " -f " + file + " --ctx 2"); // it had printed PPL = nan
    CHECK(nothing_scored.status != 0);
    CHECK(nothing_scored.out.find("--ctx 2 scores no token") != std::string::npos);
    const Run no_chunks = run("perplexity -m " + model() + " -f " + file + " --chunks 0");
    CHECK(no_chunks.status != 0);
    CHECK(no_chunks.out.find("--chunks") != std::string::npos);
}

TEST_CASE("cli: passkey builds its prompts, answers them in one batch, and tabulates the score") {
    REQUIRE_TESTDATA();
    const Run r = run("passkey -m " + model() + " --length 300,400 --depth-percent 0,100 --trials 2 --answer-tokens 6 -o json");
    REQUIRE(r.status == 0);
    const size_t open = r.out.find('[');
    REQUIRE(open != std::string::npos);
    const nlohmann::json cells = nlohmann::json::parse(r.out.substr(open));
    REQUIRE(cells.size() == 4);
    for (const nlohmann::json &c : cells) {
        CHECK(c["trials"] == 2);
        CHECK(c["passed"].get<int>() >= 0);
        CHECK(c["passed"].get<int>() <= 2);
        CHECK(std::abs(c["prompt_tokens"].get<double>() - c["length"].get<double>()) < 100); // bytes: one filler is 88
    }
    const Run table = run("passkey -m " + model() + " --length 300 --depth-percent 50");
    CHECK(table.status == 0);
    CHECK(table.out.find("| prompt tokens | 50% |") != std::string::npos);
    CHECK(run("passkey -m " + model() + " --depth-percent 101").status != 0);
    // Bytes make the prompt without filler 246 tokens long: a shorter length is refused, not ignored.
    const Run too_short = run("passkey -m " + model() + " --length 100");
    CHECK(too_short.status != 0);
    CHECK(too_short.out.find("--length 100 is shorter than the passkey prompt without filler") != std::string::npos);
}
