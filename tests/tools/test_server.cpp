// The server's pure parts: the RWKV chat format and the OpenAI request parser (the server itself is
// tested end to end by tests/server/run.sh).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rwkvrt.h"
#include "server/chat_format.h"
#include "server/openai_api.h"
#include "testdata.h"

using namespace rwkvrt_server;

namespace {

std::string joined(const std::vector<std::string> &segments) {
    std::string s;
    for (const std::string &x : segments) s += x;
    return s;
}

const Limits kLimits{"m", 100, 2, Think::unset};

ApiError refused(const std::string &body, bool chat = true) {
    try {
        if (chat) parse_chat(body, kLimits);
        else parse_completion(body, kLimits);
    } catch (const ApiError &e) {
        return e;
    }
    FAIL("accepted: ", body);
    return {};
}

} // namespace

TEST_CASE("server: turns are cleaned so that a blank line only separates them") {
    CHECK(clean_turn("  a\r\nb\n\n\nc  \n") == "a\nb\nc");
    CHECK(clean_turn("\n \t") == "");
}

TEST_CASE("server: the RWKV chat format, with G1's think cues") {
    const std::vector<Message> m = {{"system", "Be brief."}, {"user", "hi"}, {"assistant", "Hello."}, {"user", "bye\n\n"}};
    CHECK(joined(render_chat(m, Think::unset)) == "System: Be brief.\n\nUser: hi\n\nAssistant: Hello.\n\nUser: bye\n\nAssistant:");
    // A history sent back starts with the segments of the prompt that produced its reply.
    const std::vector<std::string> first = render_chat({m[0], m[1]}, Think::unset), later = render_chat(m, Think::unset);
    CHECK(std::vector<std::string>(later.begin(), later.begin() + std::ptrdiff_t(first.size())) == first);
    CHECK(joined(render_chat({m[1]}, Think::on)) == "User: hi\n\nAssistant: <think");
    CHECK(joined(render_chat({m[1]}, Think::off)) == "User: hi\n\nAssistant: <think>\n</think");
    CHECK(reply_prefix(Think::on) == "<think");
}

TEST_CASE("server: a prompt tokenized by segments gives the spec's World tokens") {
    REQUIRE_TESTDATA();
    rwkvrt_tokenizer *tok = nullptr;
    REQUIRE(rwkvrt_tokenizer_load(testdata::path("tokenizers/rwkv_vocab_v20230424.txt").c_str(), &tok) == RWKVRT_OK);
    std::vector<int32_t> ids;
    for (const std::string &s : render_chat({{"user", "hi"}}, Think::unset)) {
        std::vector<int32_t> t(64);
        size_t n = 0;
        REQUIRE(rwkvrt_tokenize(tok, s.data(), s.size(), t.data(), t.size(), &n) == RWKVRT_OK);
        ids.insert(ids.end(), t.begin(), t.begin() + std::ptrdiff_t(n));
    }
    CHECK(ids == std::vector<int32_t>{24281, 59, 4571, 261, 5585, 41693, 59}); // RWKV-INFERENCE.md §8.1
    rwkvrt_tokenizer_free(tok);
}

TEST_CASE("server: chat and completion defaults and fields") {
    const ChatRequest c = parse_chat(R"({"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"user","content":"x"}],"seed":5,"stop":"q","think":false})", kLimits);
    CHECK(c.messages.size() == 2);
    CHECK(c.messages[0].role == "system");
    CHECK(c.messages[0].content == "ab");
    CHECK(c.gen.sampling.top_p == doctest::Approx(0.3)); // the official chat demo's
    CHECK(c.gen.sampling.presence_penalty == doctest::Approx(0.5));
    CHECK(c.gen.sampling.frequency_penalty == doctest::Approx(0.5));
    CHECK(c.gen.sampling.seed == 5);
    CHECK(c.gen.max_tokens == 100);
    CHECK(c.gen.stop == std::vector<std::string>{"q"});
    CHECK(c.think == Think::off);
    const CompletionRequest p = parse_completion(R"({"prompt":["Once"],"temperature":0,"max_completion_tokens":7,"seed":-1})", kLimits);
    CHECK(p.prompt == "Once");
    CHECK(p.gen.sampling.top_p == doctest::Approx(0.85)); // ChatRWKV's PIPELINE_ARGS
    CHECK(p.gen.sampling.temperature == 0);
    CHECK(p.gen.max_tokens == 7);
    CHECK(p.gen.sampling.seed == UINT64_MAX);
    CHECK(parse_completion(R"({"prompt":"x"})", kLimits).gen.max_tokens == 16);
}

TEST_CASE("server: every bad request is a 4xx naming its field") {
    struct Case {
        std::string body;
        int status;
        const char *param;
    };
    const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
    const std::vector<Case> cases = {
        {"{", 400, ""},
        {"[]", 400, ""},
        {R"({"temperature":7440e3716154467440,)" + msgs + "}", 400, ""}, // a number beyond double's range (fuzz_openai_request)
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\"}]}", 400, ""},
        {R"({"messages":[]})", 400, "messages"},
        {R"({"messages":[{"role":"tool","content":"x"}]})", 400, "messages[0].role"},
        {R"({"messages":[{"role":"user"}]})", 400, "messages[0].content"},
        {R"({"messages":[{"role":"user","content":[{"type":"image_url"}]}]})", 400, "messages[0].content"},
        {R"({"model":"other",)" + msgs + "}", 404, "model"},
        {R"({"max_tokens":101,)" + msgs + "}", 400, "max_tokens"},
        {R"({"max_tokens":1.5,)" + msgs + "}", 400, "max_tokens"},
        {R"({"max_tokens":18446744073709551615,)" + msgs + "}", 400, "max_tokens"},
        {R"({"temperature":"1",)" + msgs + "}", 400, "temperature"},
        {R"({"top_p":1.5,)" + msgs + "}", 400, "top_p"},
        {R"({"stop":["a","b","c"],)" + msgs + "}", 400, "stop"},
        {R"({"stop":[""],)" + msgs + "}", 400, "stop"},
        {R"({"n":2,)" + msgs + "}", 400, "n"},
        {R"({"stream":1,)" + msgs + "}", 400, "stream"},
        {R"({"seed":"7",)" + msgs + "}", 400, "seed"},
        {R"({"think":"yes",)" + msgs + "}", 400, "think"},
    };
    for (const Case &c : cases) {
        CAPTURE(c.body);
        const ApiError e = refused(c.body);
        CHECK(e.status == c.status);
        CHECK(e.param == c.param);
        CHECK(!e.message.empty());
        CHECK(error_body(e)["error"]["type"].is_string());
    }
    CHECK(refused(R"({"prompt":""})", false).param == "prompt");
    CHECK(refused(R"({"prompt":["a","b"]})", false).param == "prompt");
}
