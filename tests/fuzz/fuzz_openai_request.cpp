// libFuzzer target for the server's request parser: any body given to parse_chat() and
// parse_completion() either parses, and then renders to a prompt, or is refused with an ApiError whose
// status is a 4xx and whose error object serializes; never a crash, another exception or undefined
// behaviour (scripts/fuzz.sh openai_request).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "server/openai_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    using namespace rwkvrt_server;
    const std::string body(reinterpret_cast<const char *>(data), size);
    const Limits limits{"model", 4096, 4, Think::unset};
    for (const bool chat : {true, false}) {
        try {
            if (chat) {
                const ChatRequest r = parse_chat(body, limits);
                if (r.messages.empty() || render_chat(r.messages, r.think).empty()) std::abort();
            } else if (parse_completion(body, limits).prompt.empty()) {
                std::abort();
            }
        } catch (const ApiError &e) {
            if (e.status < 400 || e.status > 499) {
                std::fprintf(stderr, "status %d for a bad request\n", e.status);
                std::abort();
            }
            (void)error_body(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
    }
    return 0;
}
