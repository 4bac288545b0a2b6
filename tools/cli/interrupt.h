// Ctrl-C and progress for the commands that feed prompts and generate: a SIGINT handler that asks the
// running feed to stop (the library cancels it between layers, leaving the state after whole steps),
// and a progress line on standard error for feeds that take more than two seconds, shown only on a
// terminal. A second Ctrl-C before the first was handled ends the process at once (status 130).
#pragma once

#include <cstdint>

#include "rwkvrt.h"

namespace rwkvrt_cli {

namespace interrupt {

void install();     // the SIGINT handler (reads are not restarted, so a prompt's getline ends too)
bool requested();   // Ctrl-C was pressed and not yet handled
void clear();       // handled: the next Ctrl-C asks again

// The rwkvrt_progress_callback of every feed: returns nonzero once Ctrl-C was pressed.
int progress(uint64_t done, uint64_t total, void *user_data);

} // namespace interrupt

} // namespace rwkvrt_cli
