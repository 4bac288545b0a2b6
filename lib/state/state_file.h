// State files on disk: the snapshot format (state/snapshot.h), saved atomically.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "state/snapshot.h"

namespace rwkvrt {

// Replaces the file at path with data, atomically: a temporary file in the same folder is written,
// flushed to disk and renamed over path, then the folder is flushed. On failure (full disk, quota,
// size limit, permissions) the temporary file is removed, path keeps its previous content, and
// Error(RWKVRT_ERR_IO) names the path and the system's reason.
void write_file_atomically(const std::string &path, const uint8_t *data, size_t len);

// The whole content of a file, or only its first bytes when they differ from `prefix` (so that a
// wrong file, e.g. a model of many GB, is not read in full). Throws Error(RWKVRT_ERR_IO) naming the
// path and the reason.
std::vector<uint8_t> read_whole_file(const std::string &path, std::string_view prefix = {});

void save_state_file(const State &state, const std::string &path, const SnapshotExtras &extras = {});
// Reads and checks a state file (parse_snapshot); messages are prefixed with the path.
Snapshot read_state_file(const Model &model, const std::string &path);

} // namespace rwkvrt
