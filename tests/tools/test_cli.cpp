// The rwkvrt command-line tool, end to end in separate processes.
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <sys/wait.h>

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

} // namespace

TEST_CASE("cli: info names the architecture and sizes") {
    REQUIRE_TESTDATA();
    const Run r = run("info " + model());
    CHECK(r.status == 0);
    CHECK(r.out.find("rwkv7") != std::string::npos);
    CHECK(r.out.find("n_layer:     12") != std::string::npos);
    CHECK(run("info /nonexistent.pth").status != 0);
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
    CHECK(second.out.find("[resumed") != std::string::npos);
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
    CHECK(second.out.find("[resumed") != std::string::npos);
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
    const Run i = run("info " + q);
    CHECK(i.out.find("q4_K         19 tensors") != std::string::npos);
    CHECK(i.out.find("q6_K          1 tensors") != std::string::npos); // the head, as llama-quantize does
    CHECK(run("quantize " + out + " " + q + " q9_9").status != 0);
    CHECK(run("convert " + testdata::path("pth/tiny-rwkv-5v2-730K-fp32.pth") + " " + q).status != 0); // no rwkv5 in GGUF
}
