#include "cli/interrupt.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <unistd.h>

namespace rwkvrt_cli::interrupt {

namespace {

std::atomic<bool> g_requested{false};

extern "C" void on_sigint(int) {
    if (g_requested.exchange(true)) _exit(130);
}

struct Line {
    std::chrono::steady_clock::time_point start;
    uint64_t total = 0;
    bool shown = false;
} g_line;

} // namespace

void install() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; // no SA_RESTART: a read waiting at the prompt returns
    sigaction(SIGINT, &sa, nullptr);
}

bool requested() { return g_requested.load(); }
void clear() { g_requested.store(false); }

int progress(uint64_t done, uint64_t total, void *) {
    const auto now = std::chrono::steady_clock::now();
    if (done == 0 && (g_line.total != total || !g_line.shown)) { // a new feed
        g_line.start = now;
        g_line.total = total;
    }
    const double elapsed = std::chrono::duration<double>(now - g_line.start).count();
    if (total > 1 && elapsed > 2.0 && isatty(STDERR_FILENO)) {
        std::fprintf(stderr, "\r[prompt: %llu / %llu tokens, %.0f tokens/s, Ctrl-C stops] ", static_cast<unsigned long long>(done),
                     static_cast<unsigned long long>(total), double(done) / elapsed);
        g_line.shown = true;
    }
    if (g_line.shown && (done == total || g_requested.load())) {
        std::fprintf(stderr, "\r\033[K");
        g_line.shown = false;
        g_line.total = 0;
    }
    return g_requested.load() ? 1 : 0;
}

} // namespace rwkvrt_cli::interrupt
