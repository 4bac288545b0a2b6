/*
 * rwkvrt — an embeddable runtime for RWKV language models.
 *
 * This header is the whole public interface and its manual.
 *
 * Basic usage
 * -----------
 *
 *     rwkvrt_model *model = NULL;
 *     rwkvrt_state *state = NULL;
 *     if (rwkvrt_model_load("model.pth", NULL, &model) != RWKVRT_OK) {
 *         fprintf(stderr, "load failed: %s\n", rwkvrt_last_error());
 *         return 1;
 *     }
 *     rwkvrt_state_new(model, &state);
 *     int32_t prompt[] = {34, 105, 110};
 *     float *logits = malloc(sizeof(float) * rwkvrt_model_n_vocab(model));
 *     rwkvrt_feed(model, state, prompt, 3, logits);   // logits after the last token
 *     ...
 *     rwkvrt_state_free(state);
 *     rwkvrt_model_free(model);
 *
 * Objects and threads
 * -------------------
 * - rwkvrt_model: the weights. Immutable after rwkvrt_model_load() returns; any number of threads may
 *   use one model at the same time. It must outlive every state made from it.
 * - rwkvrt_state: one conversation's fixed-size recurrent state (its size does not grow with the
 *   context). A state is used by one thread at a time; it may move between threads. Two threads may
 *   feed two different states of the same model concurrently.
 * - rwkvrt_sampler, rwkvrt_tokenizer: independent of any model; one thread at a time each.
 *
 * Errors
 * ------
 * Every function that can fail returns an rwkvrt_status. On failure, rwkvrt_last_error() returns a
 * message that names the problem (a thread-local string, valid until this thread's next rwkvrt call).
 * Outputs are written only on success. The library never prints, never aborts and never exits; pass a
 * callback to rwkvrt_log_set() to receive diagnostics. Every *_free function accepts NULL.
 */
#ifndef RWKVRT_H
#define RWKVRT_H

#include <stddef.h>
#include <stdint.h>

#define RWKVRT_VERSION_MAJOR 0
#define RWKVRT_VERSION_MINOR 1
#define RWKVRT_VERSION_PATCH 0

#if defined(_WIN32)
#  if defined(RWKVRT_BUILDING)
#    define RWKVRT_API __declspec(dllexport)
#  else
#    define RWKVRT_API __declspec(dllimport)
#  endif
#else
#  define RWKVRT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rwkvrt_model rwkvrt_model; /* immutable after load; shareable across threads */
typedef struct rwkvrt_state rwkvrt_state; /* one conversation's fixed-size recurrent state */

/* Status codes. Values are never renumbered; new ones are only appended. */
typedef enum rwkvrt_status {
    RWKVRT_OK = 0,
    RWKVRT_ERR_ARGUMENT,    /* a NULL pointer, a zero size or an option out of range */
    RWKVRT_ERR_IO,          /* the file system refused (missing file, permission, full disk) */
    RWKVRT_ERR_FORMAT,      /* the bytes are not what the format requires (truncated, foreign, malformed) */
    RWKVRT_ERR_UNSUPPORTED, /* a valid file this version cannot use (unknown architecture, newer format) */
    RWKVRT_ERR_MISMATCH,    /* an object made for another model (state, tokenizer) */
    RWKVRT_ERR_CORRUPT,     /* a checksum or consistency check failed: the bytes were damaged */
    RWKVRT_ERR_TOKEN,       /* a token id outside [0, n_vocab) */
    RWKVRT_ERR_NOMEM,       /* an allocation failed */
    RWKVRT_ERR_BUFFER,      /* the caller's buffer is too small */
    RWKVRT_ERR_INTERNAL     /* a bug in rwkvrt; please report it with rwkvrt_last_error() */
} rwkvrt_status;

/* The library version, "MAJOR.MINOR.PATCH". Static storage. */
RWKVRT_API const char *rwkvrt_version(void);

/* A fixed English name for a status, e.g. "RWKVRT_ERR_FORMAT". Static storage; never NULL. */
RWKVRT_API const char *rwkvrt_status_name(rwkvrt_status status);

/* The message of this thread's last failure ("" if none). Valid until this thread's next rwkvrt call. */
RWKVRT_API const char *rwkvrt_last_error(void);

/* Diagnostics. level: 0 debug, 1 info, 2 warning, 3 error. The callback may be called from any thread
 * that calls into the library; it must not call back into rwkvrt. Pass NULL to stop logging.
 * Set it before other threads use the library. */
typedef void (*rwkvrt_log_callback)(int level, const char *message, void *user_data);
RWKVRT_API void rwkvrt_log_set(rwkvrt_log_callback callback, void *user_data);

/* ---------------------------------------------------------------------------------------------- */
/* Models                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

typedef struct rwkvrt_load_options {
    size_t struct_size;      /* set by rwkvrt_load_options_default(); fields are only ever appended */
    int n_threads;           /* threads used by one feed call; 0 = one per core */
    const char *weight_type; /* NULL = as stored; "f32", "f16", "bf16", "q8_0" convert the large matrices */
    int use_mmap;            /* 1 = map the file where the layout allows (default) */
} rwkvrt_load_options;

/* The defaults: all cores, weights as stored, mmap on. */
RWKVRT_API rwkvrt_load_options rwkvrt_load_options_default(void);

/* Loads a model. The format is detected from the file's content: PyTorch .pth (zip), rwkv.cpp .bin,
 * .safetensors. The RWKV version is detected from the tensor names and shapes.
 * - path: the model file.
 * - options: NULL for the defaults.
 * - out: receives the model; free it with rwkvrt_model_free().
 * Returns RWKVRT_ERR_IO (cannot read), RWKVRT_ERR_FORMAT (malformed, truncated),
 * RWKVRT_ERR_UNSUPPORTED (not an RWKV version this library runs), RWKVRT_ERR_ARGUMENT. */
RWKVRT_API rwkvrt_status rwkvrt_model_load(const char *path, const rwkvrt_load_options *options,
                                           rwkvrt_model **out);

/* Frees a model. All its states must have been freed or must not be used again. NULL is allowed. */
RWKVRT_API void rwkvrt_model_free(rwkvrt_model *model);

/* "rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6" or "rwkv7". Static storage. */
RWKVRT_API const char *rwkvrt_model_arch(const rwkvrt_model *model);
RWKVRT_API int32_t rwkvrt_model_n_vocab(const rwkvrt_model *model);
RWKVRT_API int32_t rwkvrt_model_n_layer(const rwkvrt_model *model);
RWKVRT_API int32_t rwkvrt_model_n_embd(const rwkvrt_model *model);
/* The storage type of the large matrices: "f32", "f16", "bf16", "q8_0", "q5_0", "q5_1", "q4_0", "q4_1".
 * Static storage. */
RWKVRT_API const char *rwkvrt_model_weight_type(const rwkvrt_model *model);

/* ---------------------------------------------------------------------------------------------- */
/* States                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

/* Creates a fresh state for model (the state of an empty context). The model must outlive it. */
RWKVRT_API rwkvrt_status rwkvrt_state_new(const rwkvrt_model *model, rwkvrt_state **out);

/* Frees a state. NULL is allowed. */
RWKVRT_API void rwkvrt_state_free(rwkvrt_state *state);

/* Returns the state to that of an empty context. */
RWKVRT_API rwkvrt_status rwkvrt_state_reset(rwkvrt_state *state);

/* Copies src into dst. Both must belong to the same model (else RWKVRT_ERR_MISMATCH). */
RWKVRT_API rwkvrt_status rwkvrt_state_copy(rwkvrt_state *dst, const rwkvrt_state *src);

/* Feeds n_tokens tokens (n_tokens >= 1) to state, advancing it.
 * - logits: NULL, or room for rwkvrt_model_n_vocab() floats that receive the logits after the last
 *   token.
 * Long inputs are processed as matrix products (prefill); the result equals feeding the tokens one
 * call at a time. On RWKVRT_ERR_TOKEN (an id outside [0, n_vocab)) nothing was fed: the state is
 * unchanged. state must have been made from model (else RWKVRT_ERR_MISMATCH). */
RWKVRT_API rwkvrt_status rwkvrt_feed(const rwkvrt_model *model, rwkvrt_state *state,
                                     const int32_t *tokens, size_t n_tokens, float *logits);

/* The number of bytes rwkvrt_state_snapshot() writes for this state. */
RWKVRT_API size_t rwkvrt_state_snapshot_size(const rwkvrt_state *state);

/* Writes a self-describing copy of the state (see docs/STATE_FORMAT.md) into buf.
 * - cap: the size of buf; RWKVRT_ERR_BUFFER if smaller than rwkvrt_state_snapshot_size().
 * - written: NULL, or receives the number of bytes written. */
RWKVRT_API rwkvrt_status rwkvrt_state_snapshot(const rwkvrt_state *state, void *buf, size_t cap,
                                               size_t *written);

/* Replaces the state with a snapshot. RWKVRT_ERR_MISMATCH if the snapshot was taken on another model,
 * RWKVRT_ERR_CORRUPT if its bytes were damaged, RWKVRT_ERR_FORMAT if it is no snapshot at all,
 * RWKVRT_ERR_UNSUPPORTED if a newer library wrote it. On failure the state is unchanged. */
RWKVRT_API rwkvrt_status rwkvrt_state_restore(rwkvrt_state *state, const void *buf, size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* Tokenizers                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* (tokenizer API) */

/* ---------------------------------------------------------------------------------------------- */
/* Sampling                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* A sampler turns a model's logits into the next token. It holds its options, its own random generator,
 * the counts of the tokens recorded for the penalties, and the logit biases and bans. It knows nothing
 * of models: one sampler serves any model whose vocabulary has n_vocab tokens. Used by one thread at a
 * time; it may move between threads.
 *
 * The chain. rwkvrt_sample() works in this order (ChatRWKV's PIPELINE, with llama.cpp's repetition
 * penalty and min-p added); every step works on a copy of the logits in double precision:
 *   1. bias        logit[t] += bias[t] for each token given to rwkvrt_sampler_set_logit_bias();
 *                  a bias of -INFINITY bans the token.
 *   2. repetition  for each recorded token t (multiplicative, as in llama.cpp):
 *                  logit[t] = logit[t] > 0 ? logit[t] / repetition_penalty : logit[t] * repetition_penalty
 *   3. presence,   for each recorded token t (subtractive, as in ChatRWKV):
 *      frequency   logit[t] -= presence_penalty + count[t] * frequency_penalty
 *   4. greedy      if temperature is 0: the token with the largest logit (the lowest id among equals);
 *                  steps 5-8 are skipped and no random number is drawn.
 *   5. softmax     p = softmax(logit), at temperature 1. Tokens are ranked by p, then by lower id.
 *   6. truncation  three cuts, each measured on this same p, so the order they run in does not matter:
 *                  a token survives if it passes all three. The most probable token always survives.
 *                  - top_k: the top_k highest-ranked tokens (exactly top_k; a tie goes to the lower id).
 *                  - top_p: the highest-ranked tokens until their probabilities sum to at least top_p,
 *                    plus every token exactly as probable as the last one kept (ties are kept).
 *                  - min_p: the tokens with p >= min_p * max(p).
 *   7. temperature reweights the survivors: q[t] proportional to p[t]^(1/temperature), which equals
 *                  exp(logit[t] / temperature). As in ChatRWKV, temperature comes after truncation: it
 *                  changes how the kept tokens are weighted, never which tokens are kept.
 *   8. draw        one uniform number from the generator picks a survivor according to q.
 *   9. record      the chosen token is recorded (see rwkvrt_sampler_accept()).
 *
 * Penalty counts (ChatRWKV's occurrence, "RWKV-style" decay). Recording a token first multiplies every
 * count by penalty_decay, then adds 1 to that token's count; so a token recorded n steps ago weighs
 * penalty_decay^n. A recorded token stays recorded, and so subject to the presence and repetition
 * penalties, however small its count becomes, until rwkvrt_sampler_reset_penalties(). rwkvrt_sample()
 * records the token it returns; prompt tokens and tokens the application inserts itself are recorded
 * only if it passes them to rwkvrt_sampler_accept() (ChatRWKV counts generated tokens only, and
 * forgets them at each reply).
 *
 * Determinism. The generator is the library's own (xoshiro256** seeded through splitmix64), and the
 * chain uses no platform-specific random distribution: given the same options, seed, recorded tokens
 * and bit-identical logits, every platform returns the same tokens. The residual risk is the last-bit
 * rounding of exp() in the system's math library (and compilers that fuse a multiply-add), which can
 * change a choice only when a random number or a cumulative probability falls within about 1e-15 of a
 * boundary. Note that the logits themselves may differ in their last bits between machines and thread
 * counts.
 *
 * Settings of the official RWKV chat demo: temperature 1.0, top_p 0.3, presence_penalty 0.5,
 * frequency_penalty 0.5, penalty_decay 0.996, token 0 (end of text) banned, and
 * rwkvrt_sampler_reset_penalties() before each reply. */

typedef struct rwkvrt_sampler rwkvrt_sampler; /* one thread at a time */

typedef struct rwkvrt_sampler_options {
    size_t struct_size;       /* set by rwkvrt_sampler_options_default(); fields are only ever appended */
    float temperature;        /* >= 0, finite. 0 = greedy. Default 1. */
    int32_t top_k;            /* >= 0. 0 (default) = off; values >= n_vocab keep every token. */
    float top_p;              /* [0, 1]. 1 (default) = off; 0 keeps only the most probable token(s). */
    float min_p;              /* [0, 1]. 0 (default) = off. */
    float repetition_penalty; /* > 0, finite. 1 (default) = off; > 1 discourages recorded tokens. */
    float presence_penalty;   /* finite. 0 (default) = off; > 0 discourages recorded tokens. */
    float frequency_penalty;  /* finite. 0 (default) = off; > 0 discourages in proportion to the count. */
    float penalty_decay;      /* [0, 1]. Default 0.996 (ChatRWKV's). 1 = counts never decay. */
    uint64_t seed;            /* any value. Default 0. The same seed gives the same tokens. */
} rwkvrt_sampler_options;

/* The defaults: sampling from the model's own distribution, unchanged (temperature 1, no truncation,
 * no penalty), seed 0; penalty_decay 0.996 takes effect once a penalty is set. */
RWKVRT_API rwkvrt_sampler_options rwkvrt_sampler_options_default(void);

/* Creates a sampler.
 * - options: NULL for the defaults, or a struct from rwkvrt_sampler_options_default() with some fields
 *   changed. An option out of its range is RWKVRT_ERR_ARGUMENT, with a message naming it and its range.
 * - n_vocab: the number of logits each rwkvrt_sample() call gets, > 0 (rwkvrt_model_n_vocab()).
 * - out: receives the sampler; free it with rwkvrt_sampler_free(). */
RWKVRT_API rwkvrt_status rwkvrt_sampler_new(const rwkvrt_sampler_options *options, int32_t n_vocab,
                                            rwkvrt_sampler **out);

/* Frees a sampler. NULL is allowed. */
RWKVRT_API void rwkvrt_sampler_free(rwkvrt_sampler *sampler);

/* Picks the next token from logits and records it for the penalties (the chain above).
 * - logits: n_vocab floats, not modified. -INFINITY is allowed (never picked); NaN or +INFINITY is
 *   RWKVRT_ERR_ARGUMENT naming its index.
 * - token: receives the token id, in [0, n_vocab).
 * RWKVRT_ERR_ARGUMENT also when no token can be picked (every logit -INFINITY after bias and bans).
 * On failure the sampler is unchanged. */
RWKVRT_API rwkvrt_status rwkvrt_sample(rwkvrt_sampler *sampler, const float *logits, int32_t *token);

/* Records n_tokens tokens (n_tokens >= 1) for the penalties, in order, as if each had been sampled:
 * per token, every count is multiplied by penalty_decay, then the token's count grows by 1. Use it for
 * prompt tokens the penalties should see, or tokens the application chose itself.
 * RWKVRT_ERR_TOKEN (recording none of them) if an id is outside [0, n_vocab). */
RWKVRT_API rwkvrt_status rwkvrt_sampler_accept(rwkvrt_sampler *sampler, const int32_t *tokens,
                                               size_t n_tokens);

/* Sets the bias added to a token's logit (step 1), replacing any earlier bias for it.
 * - bias: finite, or -INFINITY (from <math.h>) to ban the token; 0 removes the bias.
 *   NaN or +INFINITY is RWKVRT_ERR_ARGUMENT. RWKVRT_ERR_TOKEN if token is outside [0, n_vocab). */
RWKVRT_API rwkvrt_status rwkvrt_sampler_set_logit_bias(rwkvrt_sampler *sampler, int32_t token, float bias);

/* Forgets every recorded token, so no penalty applies until tokens are recorded again. Options, logit
 * biases, bans and the generator's position are kept. */
RWKVRT_API rwkvrt_status rwkvrt_sampler_reset_penalties(rwkvrt_sampler *sampler);

/* The number of bytes rwkvrt_sampler_state_save() writes now (it grows with the recorded tokens and the
 * biases: 112 + 12 per recorded token + 8 per bias). 0 for NULL. */
RWKVRT_API size_t rwkvrt_sampler_state_size(const rwkvrt_sampler *sampler);

/* Writes the sampler's whole state (options, generator position, recorded tokens and counts, biases and
 * bans) into buf as a small checksummed, versioned, platform-independent blob, to keep with a saved
 * conversation.
 * - cap: the size of buf; RWKVRT_ERR_BUFFER if smaller than rwkvrt_sampler_state_size().
 * - written: NULL, or receives the number of bytes written. */
RWKVRT_API rwkvrt_status rwkvrt_sampler_state_save(const rwkvrt_sampler *sampler, void *buf, size_t cap,
                                                   size_t *written);

/* Replaces the sampler's whole state, options included, with a saved one: the sampler then continues
 * exactly as the saved one would have. RWKVRT_ERR_FORMAT if buf is no sampler state (or is truncated),
 * RWKVRT_ERR_UNSUPPORTED if a newer library wrote it, RWKVRT_ERR_CORRUPT if its bytes were damaged,
 * RWKVRT_ERR_MISMATCH if it was saved by a sampler with another n_vocab. On failure the sampler is
 * unchanged. */
RWKVRT_API rwkvrt_status rwkvrt_sampler_state_load(rwkvrt_sampler *sampler, const void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* RWKVRT_H */
