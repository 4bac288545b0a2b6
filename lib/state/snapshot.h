// The state's serialized form, shared by in-memory snapshots and state files
// (docs/STATE_FORMAT.md). Little-endian, fixed-width, versioned, checksummed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rwkvrt {

class State;

struct SnapshotExtras {
    std::string sampler; // an opaque sampler-state blob, empty if none
};

size_t snapshot_size(const State &state, const SnapshotExtras &extras = {});
// Writes exactly snapshot_size() bytes to out.
void write_snapshot(const State &state, uint8_t *out, const SnapshotExtras &extras = {});
// Checks everything first, then replaces the state: on any error the state is unchanged.
// Throws FORMAT (not a snapshot), UNSUPPORTED (newer format), CORRUPT (checksum, truncation),
// MISMATCH (another model; the message names both).
void read_snapshot(State &state, const uint8_t *data, size_t len, SnapshotExtras *extras = nullptr);

} // namespace rwkvrt
