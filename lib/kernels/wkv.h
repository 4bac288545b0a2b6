// The recurrences: the only sequential part of a forward pass. Each walks the rows of its segments
// in row-major R × C inputs (channel index = head·N + n) and advances each segment's recurrent state
// from S_in to S_out, out of place: the caller keeps the state it started from and needs no copy of it
// to undo a step (Model::feed_batch). S_out == S_in updates in place. A segment is one sequence of a
// batch: its rows are consecutive tokens of one conversation. Segments and heads are independent, so
// they are spread over the pool's threads.
#pragma once

#include <cstdint>

namespace rwkvrt {

class ThreadPool;

struct WkvSegment {
    int64_t row0; // first row of the inputs
    int64_t T;    // rows, in token order
    const float *S_in; // this sequence's recurrent state for the layer before the rows
    float *S_out;      // … after them: every float is written; may be S_in, must not overlap it otherwise
    // S_out is read again only after more bytes than the caches hold have gone through them (the
    // weights of a token, ArchModel::segments): the last row's state is written with streaming stores,
    // which do not first read the lines they write, where S_out is out of place, starts on a vector and
    // its rows are whole vectors (RWKV-4's three floats a channel are always written plainly).
    bool stream_out = false;
};

// RWKV-4, per channel, numerically stable form. S = aa, bb, pp (C each); w = −exp(time_decay).
void wkv4(const WkvSegment *segs, int64_t n_segs, int64_t C, const float *k, const float *v, const float *w,
          const float *u, float *y, ThreadPool &pool);

// RWKV-5/6: key-major state S[h][i=key][j=value]. w is the decay per row (R × C; a per-model
// constant is passed with w_stride = 0), u the bonus (C).
void wkv5(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, const float *r, const float *k,
          const float *v, const float *w, int64_t w_stride, const float *u, float *y, ThreadPool &pool);

// RWKV-7: value-major state S[h][i=value][j=key]; a = −kk, b = kk ⊙ aa, output from the new state.
void wkv7(const WkvSegment *segs, int64_t n_segs, int64_t H, int64_t N, const float *r, const float *w,
          const float *k, const float *v, const float *a, const float *b, float *y, ThreadPool &pool);
// wkv7 for head h of one segment, on the calling thread: for a caller that runs each head's whole step
// as one task (arch/rwkv7.cpp).
void wkv7_head(const WkvSegment &seg, int64_t h, int64_t H, int64_t N, const float *r, const float *w, const float *k,
               const float *v, const float *a, const float *b, float *y);

} // namespace rwkvrt
