// The state's serialized form, shared by in-memory snapshots and state files
// (docs/STATE_FORMAT.md). Little-endian, fixed-width, versioned, checksummed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "state/state_values.h"

namespace rwkvrt {

class Model;
class State;

// Every snapshot starts with these bytes.
inline constexpr std::string_view kStateMagic = "RWKVSTAT";

// The payload's element type. f16 and bf16 halve the file at a small cost in accuracy.
enum class StateDType : uint32_t { f32 = 0, f16 = 1, bf16 = 2 };

struct SnapshotExtras {
    std::string sampler;                // an opaque sampler-state blob, empty if none
    StateDType dtype = StateDType::f32; // written as; parse_snapshot() reports what it read
};

// A snapshot that passed every check, decoded but not yet applied to a state.
struct Snapshot {
    StateValues values;
    uint64_t n_tokens = 0;
    std::string metadata;
    SnapshotExtras extras;
};

size_t snapshot_size(const State &state, const SnapshotExtras &extras = {});
// Writes exactly snapshot_size() bytes to out.
void write_snapshot(const State &state, uint8_t *out, const SnapshotExtras &extras = {});
// Checks everything against model and decodes. Throws FORMAT (not a snapshot, malformed),
// UNSUPPORTED (newer format or unknown feature), CORRUPT (checksum, truncation), MISMATCH (another
// model; the message names both).
Snapshot parse_snapshot(const Model &model, const uint8_t *data, size_t len);
// parse_snapshot, then replaces the state: on any error the state is unchanged.
void read_snapshot(State &state, const uint8_t *data, size_t len, SnapshotExtras *extras = nullptr);

} // namespace rwkvrt
