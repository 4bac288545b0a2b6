#include "core/log.h"

#include <atomic>

namespace rwkvrt {
namespace {

struct Sink {
    void (*callback)(int, const char *, void *);
    void *user_data;
};
std::atomic<Sink *> g_sink{nullptr};
Sink g_sinks[2]; // double-buffered so a reader never sees a half-written sink
std::atomic<int> g_next{0};

} // namespace

void log_set(void (*callback)(int, const char *, void *), void *user_data) {
    if (!callback) {
        g_sink.store(nullptr);
        return;
    }
    Sink &slot = g_sinks[g_next.fetch_xor(1) & 1];
    slot = Sink{callback, user_data};
    g_sink.store(&slot);
}

void log(LogLevel level, const std::string &message) {
    if (Sink *sink = g_sink.load()) sink->callback(static_cast<int>(level), message.c_str(), sink->user_data);
}

} // namespace rwkvrt
