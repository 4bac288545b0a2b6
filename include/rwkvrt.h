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
 *   context). A state is used by one call at a time; it may move between threads. A feed that finds
 *   its state in use by another call returns RWKVRT_ERR_ARGUMENT ("in use") instead of racing. Two
 *   threads may feed two different states of the same model concurrently: the model computes with
 *   n_threads threads in all (its own pool), and the callers' steps take turns on them. To serve
 *   many conversations, feed them together with rwkvrt_feed_batch().
 * - rwkvrt_tokenizer: independent of any model; immutable once loaded, so any number of threads may
 *   use one at the same time.
 * - rwkvrt_sampler, rwkvrt_generator: one thread at a time each; they may move between threads.
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
#define RWKVRT_VERSION_MINOR 3
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
typedef struct rwkvrt_sampler rwkvrt_sampler; /* logits to tokens; one thread at a time */
typedef struct rwkvrt_tokenizer rwkvrt_tokenizer; /* text to tokens and back; independent of models */

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
    RWKVRT_ERR_INTERNAL,    /* a bug in rwkvrt; please report it with rwkvrt_last_error() */
    RWKVRT_ERR_CANCELLED    /* a progress callback asked to stop; see rwkvrt_feed_options */
} rwkvrt_status;

/* Progress of a long feed: the tokens fed so far and the call's total (see rwkvrt_feed_options).
 * Return 0 to go on, nonzero to stop the feed (RWKVRT_ERR_CANCELLED). It must not call rwkvrt
 * functions on the same model: a feed of it from there returns RWKVRT_ERR_ARGUMENT. */
typedef int (*rwkvrt_progress_callback)(uint64_t tokens_done, uint64_t tokens_total, void *user_data);

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
    int use_mmap;            /* 0 = read the file into memory (default); 1 = map it where the layout
                              * allows (the file must then not change while loaded). Block-type
                              * matrices held in another layout are private copies either way, and
                              * their pages of the file are handed back: q8_0, q4_0, q4_k, q5_k and
                              * q6_k with f32 activations (the rows in the lanes), and those
                              * interleaved for int8. f32/f16/bf16 matrices keep their rows when
                              * mapped (read into memory, they take the lanes layout in place). */
    /* How the activations are rounded for the matrix products, by weight type, as llama.cpp does:
     * "auto" (default, or NULL): "int8" with block-quantized weights and "bf16" with f16 and bf16
     * weights (both where the CPU has the instructions); f32 weights keep exact products.
     * "f32": every product takes the exact fp32 activations (the reference math; slower).
     * "int8": with block-quantized weights (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k) the
     * activations are rounded to 8 bits in blocks of 32 for integer products, on CPUs with AVX2 or
     * AVX512-VNNI (generation, prompts and batched steps); 1.3-2x faster than exact products. q4_0,
     * q4_k and q5_k matrices (and q8_0 with AVX512-VNNI) are copied at load into an interleaved layout
     * (the same size, 2-3% more for the K-quants). Other weights keep exact products.
     * "bf16": steps of 16 rows or more (prompts, many conversations decoding together) round the
     * activations, and f16 weights, to bf16 and use vdpbf16ps with bf16 and f16 weights on CPUs with
     * AVX512-BF16 (1.5-2x faster prefill; smaller steps keep exact fp32 products, and under the
     * batch_invariant feed option every step takes bf16 products). Other weights keep exact products.
     * The logits change slightly: perplexity by 0.001-0.1% on the test models; docs/QUANTIZATION.md
     * gives the cost of each in logits and perplexity. */
    const char *activations;
} rwkvrt_load_options;

/* The defaults: all cores, weights as stored, the file read into memory, "auto" activations. */
RWKVRT_API rwkvrt_load_options rwkvrt_load_options_default(void);

/* Loads a model. The format is detected from the file's content: PyTorch .pth (zip), rwkv.cpp .bin,
 * .safetensors (official names, the HF/fla RWKV-7 layout or web-rwkv's .st), llama.cpp's GGUF (rwkv6,
 * rwkv7; f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_K, q5_K, q6_K kept as stored; q2_K and q3_K
 * decoded to f32), or a Hugging Face model folder (config.json with model_type rwkv7 and
 * model.safetensors or model-*-of-*.safetensors shards). The RWKV version is detected from the tensor
 * names and shapes (GGUF files declare it). Every weight is checked to be finite (NaN or infinity is
 * refused) and hashed for the model's fingerprint, so loading reads every byte, on every core whatever
 * n_threads asks for.
 * By default (use_mmap = 0) the file is read into memory, in huge pages where the kernel offers them,
 * and the model no longer depends on it once loaded. Each piece is checked and hashed as it is read,
 * so a load takes about the time of reading the file, and generation from huge pages is 10-25% faster
 * than from a mapped file (docs/PERFORMANCE.md). The file is mapped while the load parses it, so it
 * must not be truncated in place meanwhile (replacing it by a rename is safe).
 * With use_mmap = 1 the weights are used in place from the mapped file, whose pages processes share:
 * the file must not change while the model is loaded. A file truncated meanwhile makes the next feed
 * die of SIGBUS, one overwritten in place silently changes the results (replacing it by a rename, as
 * package managers and rwkvrt_state_save() do, is safe).
 * - path: the model file or folder (symbolic links are followed). A FIFO or a device is refused with
 *   RWKVRT_ERR_IO naming what it is, without waiting on it.
 * - options: NULL for the defaults.
 * - out: receives the model; free it with rwkvrt_model_free().
 * Returns RWKVRT_ERR_IO (cannot read, not a regular file), RWKVRT_ERR_FORMAT (malformed, truncated),
 * RWKVRT_ERR_CORRUPT (a weight is NaN or infinite), RWKVRT_ERR_UNSUPPORTED (not an RWKV version
 * this library runs), RWKVRT_ERR_ARGUMENT (NULL or empty path, bad options). */
RWKVRT_API rwkvrt_status rwkvrt_model_load(const char *path, const rwkvrt_load_options *options,
                                           rwkvrt_model **out);

/* Frees a model. All its states must have been freed or must not be used again. NULL is allowed. */
RWKVRT_API void rwkvrt_model_free(rwkvrt_model *model);

/* "rwkv4", "rwkv5.0", "rwkv5.1", "rwkv5.2", "rwkv6" or "rwkv7". Static storage. */
RWKVRT_API const char *rwkvrt_model_arch(const rwkvrt_model *model);
RWKVRT_API int32_t rwkvrt_model_n_vocab(const rwkvrt_model *model);
RWKVRT_API int32_t rwkvrt_model_n_layer(const rwkvrt_model *model);
RWKVRT_API int32_t rwkvrt_model_n_embd(const rwkvrt_model *model);
/* The storage type of the large matrices: "f32", "f16", "bf16", "q8_0", "q5_0", "q5_1", "q4_0", "q4_1",
 * "q4_k", "q5_k", "q6_k".
 * Static storage. */
RWKVRT_API const char *rwkvrt_model_weight_type(const rwkvrt_model *model);
/* The number of weights (parameters) and the bytes they take in the model file. */
RWKVRT_API int64_t rwkvrt_model_n_params(const rwkvrt_model *model);
RWKVRT_API int64_t rwkvrt_model_weight_bytes(const rwkvrt_model *model);

/* Describes a model file without loading its weights, as a JSON object (UTF-8, NUL-terminated):
 * "format", "arch", the dimensions ("n_vocab", "n_embd", "n_layer", "n_head", "head_size", "dim_att",
 * "dim_ffn"), "weight_type", "tensors" (per storage type as the file stores them, in the format's own
 * type names: "type", "count", "bytes"), "n_params",
 * "file_bytes" (size on disk), "weight_bytes" (the weights once loaded), "state_bytes" (one state's
 * values), "vocab" ("embedded": true with "kind" and "n_tokens", or false) and, for GGUF files,
 * "metadata" (every key with its value as text). Keys are only ever added.
 * Only the file's header and the small tensors that fix its shape are read.
 * - cap: the size of buf; RWKVRT_ERR_BUFFER if the text and its NUL do not fit.
 * - len: receives the text's length without the NUL (also on RWKVRT_ERR_BUFFER).
 * Returns the errors of rwkvrt_model_load(). */
RWKVRT_API rwkvrt_status rwkvrt_model_describe(const char *path, char *buf, size_t cap, size_t *len);

typedef struct rwkvrt_gguf_options {
    size_t struct_size;   /* set by rwkvrt_gguf_options_default(); fields are only ever appended */
    const char *type;     /* the large matrices' type: "f32" (default), "f16", "bf16", "q8_0", "q4_0", "q4_k",
                           * "q5_k", "q6_k". Norms, mixes, decay and k_k/k_a/r_k stay f32, the LoRA too
                           * but with "f16" and "bf16", which store them in that type (as llama.cpp does). Matrices
                           * whose rows do not hold whole blocks fall back as llama-quantize does (K-quants to
                           * q8_0, 32-blocks to f16); for q4_0, q4_k and q5_k the head is q6_k. */
    const rwkvrt_tokenizer *tokenizer; /* the vocabulary to embed ("world" or "bytes" kind); NULL: the
                                        * model file's own, else bytes for 256-token models, else none */
} rwkvrt_gguf_options;

/* The defaults: f32, the model's own vocabulary. */
RWKVRT_API rwkvrt_gguf_options rwkvrt_gguf_options_default(void);

/* Writes an rwkv6 or rwkv7 model as a GGUF file in llama.cpp's layout (tensor names, fused and
 * transposed tensors, metadata, "rwkv" vocabulary), from the weights as stored in the model's file
 * (whatever format it was), so that rwkvrt and llama.cpp load it. The file is written next to path and
 * renamed over it when complete: a failure leaves path as it was.
 * - path: a regular file (replaced) or a new name; a FIFO, a device, a directory or a symbolic link
 *   (not followed) is refused with RWKVRT_ERR_IO, untouched; an empty path is RWKVRT_ERR_ARGUMENT.
 * - options: NULL for the defaults.
 * Returns RWKVRT_ERR_UNSUPPORTED (another RWKV version, or a tokenizer kind GGUF cannot hold),
 * RWKVRT_ERR_MISMATCH (a tokenizer of another vocabulary size), RWKVRT_ERR_IO, RWKVRT_ERR_ARGUMENT. */
RWKVRT_API rwkvrt_status rwkvrt_model_save_gguf(const rwkvrt_model *model, const char *path,
                                                const rwkvrt_gguf_options *options);

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
 *   token (on failure their content is unspecified).
 * Long inputs are processed as matrix products (prefill) in steps of up to 256 tokens; the result
 * equals feeding the tokens one call at a time. On any failure the state is as it was before the call:
 * RWKVRT_ERR_TOKEN (an id outside [0, n_vocab); nothing was fed), RWKVRT_ERR_MISMATCH (state made
 * from another model), RWKVRT_ERR_ARGUMENT (state in use by another call), RWKVRT_ERR_CORRUPT (the
 * model computed non-finite logits: values out of range in its weights or the state).
 * This is rwkvrt_feed_batch() with one sequence; rwkvrt_feed_ex() adds progress and cancellation. */
RWKVRT_API rwkvrt_status rwkvrt_feed(const rwkvrt_model *model, rwkvrt_state *state,
                                     const int32_t *tokens, size_t n_tokens, float *logits);

/* The number of bytes rwkvrt_state_snapshot() writes for this state now (fixed for a model, plus the
 * metadata's length). 0 for NULL. */
RWKVRT_API size_t rwkvrt_state_snapshot_size(const rwkvrt_state *state);

/* Writes a self-describing copy of the state into buf: its exact f32 values, the token count and the
 * metadata, in the format of state files (docs/STATE_FORMAT.md), so a snapshot written to a file can
 * be loaded with rwkvrt_state_load() and a state file's bytes restored with rwkvrt_state_restore().
 * - cap: the size of buf; RWKVRT_ERR_BUFFER if smaller than rwkvrt_state_snapshot_size().
 * - written: NULL, or receives the number of bytes written. */
RWKVRT_API rwkvrt_status rwkvrt_state_snapshot(const rwkvrt_state *state, void *buf, size_t cap,
                                               size_t *written);

/* Replaces the state, its token count and its metadata with a snapshot, or a state file's bytes (any
 * value type; a sampler state in them is ignored). RWKVRT_ERR_MISMATCH if the snapshot was taken on
 * another model, RWKVRT_ERR_CORRUPT if its bytes were damaged or truncated, RWKVRT_ERR_FORMAT if it is
 * no snapshot at all, RWKVRT_ERR_UNSUPPORTED if a newer library wrote it. On failure the state is
 * unchanged. */
RWKVRT_API rwkvrt_status rwkvrt_state_restore(rwkvrt_state *state, const void *buf, size_t len);

/* State files. A state file holds the same bytes as a snapshot (docs/STATE_FORMAT.md): the state, the
 * number of tokens fed, the metadata and optionally a sampler's state, with the model's shape and a
 * fingerprint of its weights and a checksum. A file saved by this version stays loadable by later
 * versions; loading refuses, with a message naming the difference, a file made for another model, a
 * damaged file or one from a newer library: it never yields a silently wrong state.
 * The fingerprint is of the weights as stored in the model file: the same file loaded with any
 * weight_type, or the same tensors in another file format, accepts its states; another checkpoint, or
 * the same model stored in another type (e.g. converted to fp16), refuses them. */

typedef struct rwkvrt_state_save_options {
    size_t struct_size; /* set by rwkvrt_state_save_options_default(); fields are only ever appended */
    const char *value_type; /* NULL or "f32" (default): exact. "f16" or "bf16": half the size; the
                             * continuation then differs slightly (see docs/STATE_FORMAT.md). f16 saves
                             * values beyond +-65504 as +-65504 (logged as a warning). */
    const rwkvrt_sampler *sampler; /* NULL, or a sampler whose whole state is saved in the file too, so
                                    * that generation resumes exactly (rwkvrt_state_load_ex()); it must
                                    * be for the model's vocabulary (else RWKVRT_ERR_MISMATCH). */
} rwkvrt_state_save_options;

/* The defaults: f32 values, no sampler. */
RWKVRT_API rwkvrt_state_save_options rwkvrt_state_save_options_default(void);

/* Saves the state to a file, with the defaults (exact f32 values, no sampler). See rwkvrt_state_save_ex(). */
RWKVRT_API rwkvrt_status rwkvrt_state_save(const rwkvrt_state *state, const char *path);

/* Saves the state to a file, replacing it atomically: the bytes go to a temporary file in the same
 * folder (named path + ".tmp<pid>-<n>"), which is flushed to disk and renamed over path; then the
 * folder is flushed. A crash, a full disk or any failure leaves path either as it was or completely
 * saved, never partly written. On failure the temporary file is removed; one left by a process killed
 * mid-save is removed by the next save of the same path (a save in progress holds a lock on its
 * temporary file, so only abandoned ones are removed).
 * path must name a regular file or nothing. Anything else is refused with RWKVRT_ERR_IO naming what
 * it is, and left untouched: a FIFO, a device (e.g. /dev/null), a directory, and a symbolic link,
 * which is not followed (renaming over it would replace the link, not its target): save to the file
 * it points to instead.
 * - options: NULL for the defaults.
 * Returns RWKVRT_ERR_IO with the system's reason (no space, quota, file size limit, permission,
 * missing folder, not a regular file), RWKVRT_ERR_ARGUMENT (NULL or empty path). */
RWKVRT_API rwkvrt_status rwkvrt_state_save_ex(const rwkvrt_state *state, const char *path,
                                              const rwkvrt_state_save_options *options);

/* Replaces the state with one saved by rwkvrt_state_save() on the same model (the same weights).
 * A sampler state in the file is ignored. See rwkvrt_state_load_ex() for the errors. */
RWKVRT_API rwkvrt_status rwkvrt_state_load(rwkvrt_state *state, const char *path);

/* Replaces the state, and the sampler's state if the file holds one, with those saved in a file.
 * - sampler: NULL, or a sampler that receives the saved sampler state (options included), so that
 *   it continues exactly as the saved one would have. Left unchanged when the file holds none.
 * - sampler_loaded: NULL, or receives 1 if the sampler was replaced, 0 if not.
 * Returns RWKVRT_ERR_IO (cannot read, or not a regular file: a FIFO, a directory or a device is refused
 * without waiting on it), RWKVRT_ERR_FORMAT (not a state file), RWKVRT_ERR_CORRUPT
 * (truncated or damaged), RWKVRT_ERR_UNSUPPORTED (written in a newer format), RWKVRT_ERR_MISMATCH
 * (saved on another model: the message names both shapes or both weight fingerprints; or a sampler
 * state for another vocabulary size). On failure neither the state nor the sampler changes. */
RWKVRT_API rwkvrt_status rwkvrt_state_load_ex(rwkvrt_state *state, const char *path, rwkvrt_sampler *sampler,
                                              int *sampler_loaded);

/* Replaces the state with the initial state of a state-tuning file (RWKV-LM or RWKV-PEFT "state
 * tuning": a .pth or .safetensors file holding blocks.<i>.att.time_state of shape (heads, head_size,
 * head_size) for every layer i). The token shifts start at zero; the token count is 0; the metadata is
 * kept. rwkvrt_state_reset() returns to the untuned empty state: to start several conversations from
 * a tuned state, load it once and rwkvrt_state_copy() it.
 * Such files carry no fingerprint: one trained on another base model of the same shape loads without
 * error, so use the file with the exact model it was trained on.
 * Returns RWKVRT_ERR_MISMATCH (a layer missing, a tensor not for this model, a wrong shape; all named),
 * RWKVRT_ERR_FORMAT (no time_state tensor, a NaN or infinity in one, or a malformed file), RWKVRT_ERR_UNSUPPORTED (RWKV-4, which
 * has no state matrices), RWKVRT_ERR_IO. On failure the state is unchanged. */
RWKVRT_API rwkvrt_status rwkvrt_state_load_initial(rwkvrt_state *state, const char *path);

/* The number of tokens fed since the state was created or reset, including those before the snapshot
 * or file it was restored from. 0 for NULL. */
RWKVRT_API uint64_t rwkvrt_state_n_tokens(const rwkvrt_state *state);

/* Sets the application's metadata kept with the state (e.g. the transcript, a chat template name):
 * opaque bytes saved in snapshots and state files. rwkvrt_state_reset() and
 * rwkvrt_state_load_initial() keep it, rwkvrt_state_copy() copies it, a restore or load replaces it.
 * - data: len bytes, copied; may be NULL when len is 0, which clears the metadata. */
RWKVRT_API rwkvrt_status rwkvrt_state_set_metadata(rwkvrt_state *state, const void *data, size_t len);

/* The state's metadata.
 * - data: receives a pointer to its bytes, owned by the state, followed by a zero byte (not counted),
 *   so text metadata is a C string. Valid until the next call that changes or frees the state.
 * - len: receives the number of bytes (0 if none was set). */
RWKVRT_API rwkvrt_status rwkvrt_state_get_metadata(const rwkvrt_state *state, const void **data,
                                                   size_t *len);

/* ---------------------------------------------------------------------------------------------- */
/* Tokenizers                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* A tokenizer is independent of any model and immutable once made: any number of threads may use
 * one at the same time. */

/* Loads a tokenizer. Its kind is recognized from the file's content, not its name:
 * - "world": the RWKV World vocabulary (rwkv_vocab_v20230424.txt) of every v5, v6 and v7 World and
 *   G1 model: 65536 ids, greedy longest match over the bytes;
 * - "bpe": a Hugging Face tokenizer.json with a byte-level BPE model (the GPT-NeoX 20B tokenizer of
 *   RWKV-4 Pile and Raven models), encoding exactly as the tokenizers library does;
 * - "sentencepiece": a sentencepiece .model file.
 * - path: the file.
 * - out: receives the tokenizer; free it with rwkvrt_tokenizer_free().
 * Returns RWKVRT_ERR_IO (cannot read, or not a regular file, refused without waiting on it),
 * RWKVRT_ERR_FORMAT (not a tokenizer file, or a malformed one;
 * the message names the line or entry), RWKVRT_ERR_UNSUPPORTED (a tokenizer.json that uses a feature
 * this library lacks, e.g. a WordPiece model), RWKVRT_ERR_ARGUMENT. */
RWKVRT_API rwkvrt_status rwkvrt_tokenizer_load(const char *path, rwkvrt_tokenizer **out);

/* Makes the tokenizer of models with 256 tokens ("bytes"): token id = byte value, 0..255.
 * - out: receives the tokenizer; free it with rwkvrt_tokenizer_free(). */
RWKVRT_API rwkvrt_status rwkvrt_tokenizer_new_bytes(rwkvrt_tokenizer **out);

/* Makes the tokenizer a model file carries (a GGUF file's "rwkv" vocabulary), as a copy: the tokenizer
 * does not depend on the model afterwards. A vocabulary of exactly the 256 single bytes gives the
 * "bytes" tokenizer, any other a "world" one.
 * - out: receives the tokenizer; free it with rwkvrt_tokenizer_free().
 * Returns RWKVRT_ERR_UNSUPPORTED when the file carries no tokenizer rwkvrt reads (every .pth,
 * .safetensors and rwkv.cpp file), RWKVRT_ERR_FORMAT when the embedded one is malformed. */
RWKVRT_API rwkvrt_status rwkvrt_tokenizer_from_model(const rwkvrt_model *model, rwkvrt_tokenizer **out);

/* Frees a tokenizer. NULL is allowed. */
RWKVRT_API void rwkvrt_tokenizer_free(rwkvrt_tokenizer *tok);

/* "world", "bpe", "sentencepiece" or "bytes" (static storage); "" for NULL. */
RWKVRT_API const char *rwkvrt_tokenizer_kind(const rwkvrt_tokenizer *tok);

/* The number of token ids, which matches rwkvrt_model_n_vocab() of the models that use this
 * tokenizer (World: 65536, GPT-NeoX 20B: 50277, bytes: 256); 0 for NULL. Every id in [0, n_vocab)
 * can be decoded; some decode to nothing (World id 0, the end of text, and the unused ids 65530 to
 * 65535; special tokens such as "<|endoftext|>"; sentencepiece control pieces). */
RWKVRT_API int32_t rwkvrt_tokenizer_n_vocab(const rwkvrt_tokenizer *tok);

/* Encodes text into token ids. No begin- or end-of-text token is added. The text may hold any bytes:
 * - World and bytes tokenizers encode every byte as it is: rwkvrt_detokenize() gives back exactly
 *   the input, valid UTF-8 or not.
 * - BPE normalizes as its tokenizer.json says (NFC for GPT-NeoX), recognizes its special tokens
 *   (e.g. "<|endoftext|>", which decode to nothing) and keeps ill-formed bytes, except those its
 *   vocabulary lacks (GPT-NeoX: C0, C1 and F5 to FF, never part of UTF-8), which become U+FFFD.
 *   Other text decodes back exactly.
 * - sentencepiece follows its model (normalization, unknown characters); ill-formed bytes become
 *   U+FFFD.
 * - text: len bytes; may be NULL when len is 0.
 * - tokens: room for cap ids; may be NULL when cap is 0.
 * - n_tokens: receives the number of ids the text encodes to, also when that is more than cap.
 * Returns RWKVRT_ERR_BUFFER when cap is too small; tokens is then left untouched: call again with
 * at least *n_tokens of room. Empty text gives 0 tokens. */
RWKVRT_API rwkvrt_status rwkvrt_tokenize(const rwkvrt_tokenizer *tok, const char *text, size_t len,
                                         int32_t *tokens, size_t cap, size_t *n_tokens);

/* Decodes token ids into text: the concatenation of each token's bytes (see rwkvrt_token_to_bytes()),
 * except for sentencepiece, which decodes as the sentencepiece library does (it drops the space
 * its models add at the start and writes U+FFFD for byte pieces that do not form UTF-8). The result
 * is not NUL-terminated and need not be valid UTF-8 (a character may be split across tokens).
 * - tokens: n_tokens ids; may be NULL when n_tokens is 0.
 * - text: room for cap bytes; may be NULL when cap is 0.
 * - len: receives the number of bytes of the text, also when that is more than cap.
 * Returns RWKVRT_ERR_TOKEN, naming the id, for an id outside [0, n_vocab) (nothing is written),
 * RWKVRT_ERR_BUFFER when cap is too small (text is left untouched; call again with *len bytes). */
RWKVRT_API rwkvrt_status rwkvrt_detokenize(const rwkvrt_tokenizer *tok, const int32_t *tokens,
                                           size_t n_tokens, char *text, size_t cap, size_t *len);

/* The bytes one token stands for in running text, for streaming output: they may be part of a
 * UTF-8 character (hold such a tail back until the next tokens complete it), and are empty for ids
 * that decode to nothing.
 * - buf: room for cap bytes; may be NULL when cap is 0. Not NUL-terminated.
 * - len: receives the number of bytes, also when that is more than cap.
 * Returns RWKVRT_ERR_TOKEN for an id outside [0, n_vocab), RWKVRT_ERR_BUFFER when cap is too small
 * (buf is left untouched). */
RWKVRT_API rwkvrt_status rwkvrt_token_to_bytes(const rwkvrt_tokenizer *tok, int32_t token, char *buf,
                                               size_t cap, size_t *len);

/* ---------------------------------------------------------------------------------------------- */
/* Sampling                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

/* A sampler turns a model's logits into the next token. It holds its options, its own random generator,
 * the counts of the tokens recorded for the penalties, and the logit biases and bans. It knows nothing
 * of models: one sampler serves any model whose vocabulary has n_vocab tokens. Used by one thread at a
 * time; it may move between threads.
 *
 * The chain. rwkvrt_sample() works in this order (ChatRWKV's PIPELINE, with llama.cpp's repetition
 * penalty and min-p added), on a copy of the logits in double precision:
 *   1. bias        logit[t] += bias[t] for each token given to rwkvrt_sampler_set_logit_bias();
 *                  a bias of -INFINITY bans the token.
 *   2. repetition  for each recorded token t (multiplicative, as in llama.cpp):
 *                  logit[t] = logit[t] > 0 ? logit[t] / repetition_penalty : logit[t] * repetition_penalty
 *   3. presence,   for each recorded token t (subtractive, as in ChatRWKV):
 *      frequency   logit[t] -= presence_penalty + count[t] * frequency_penalty
 *   4. greedy      if temperature is 0: the token with the largest logit (the lowest id among equals);
 *                  steps 5-8 are skipped and no random number is drawn.
 *   5. softmax     p = softmax(logit), at temperature 1. Tokens are ranked by p, a tie going to the
 *                  lower id.
 *   6. truncation  three cuts, each measured on this same p, so the order they run in does not matter:
 *                  a token survives if it passes all three. The top-ranked token always survives.
 *                  - top_k: the top_k highest-ranked tokens.
 *                  - top_p: the highest-ranked tokens, up to and including the first one at which
 *                    their probabilities sum to at least top_p (top_p = 0 keeps the top-ranked only).
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
 * Determinism. The generator is the library's own (xoshiro256** seeded through splitmix64, one number
 * per non-greedy draw), no platform-specific random distribution is used, and sums run in a fixed
 * order: given the same options, seed, recorded tokens and bit-identical logits, every platform returns
 * the same tokens. The residual risk is the last-bit rounding of exp() and log() in the system's math
 * library (and compilers that fuse a multiply-add): in double precision it changes a choice only when a
 * random number or a cumulative probability falls within about 1e-15 of a boundary. The logits
 * themselves may differ in their last bits between machines and thread counts.
 *
 * Settings of the official RWKV chat demo: temperature 1.0, top_p 0.3, presence_penalty 0.5,
 * frequency_penalty 0.5, penalty_decay 0.996, token 0 (end of text) banned, and
 * rwkvrt_sampler_reset_penalties() before each reply. */

typedef struct rwkvrt_sampler_options {
    size_t struct_size;       /* set by rwkvrt_sampler_options_default(); fields are only ever appended */
    float temperature;        /* >= 0, finite. 0 = greedy. Default 1. */
    int32_t top_k;            /* >= 0. 0 (default) = off; values >= n_vocab keep every token. */
    float top_p;              /* [0, 1]. 1 (default) = off; 0 keeps only the most probable token. */
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
 * exactly as the saved one would have. Every field is checked as rwkvrt_sampler_new() checks options
 * (and recorded counts must lie in [0, 2^53], more than any run records), so a state from an untrusted
 * file cannot make rwkvrt_sample() fail other than with a status. RWKVRT_ERR_FORMAT if buf is no
 * sampler state or holds values out of range, RWKVRT_ERR_UNSUPPORTED if a newer library wrote it, RWKVRT_ERR_CORRUPT if its bytes were damaged or
 * truncated, RWKVRT_ERR_MISMATCH if it was saved by a sampler with another n_vocab. On failure the
 * sampler is unchanged. */
RWKVRT_API rwkvrt_status rwkvrt_sampler_state_load(rwkvrt_sampler *sampler, const void *buf, size_t len);

/* ---------------------------------------------------------------------------------------------- */
/* Generation                                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* A generator runs the loop: feed a prompt, then repeatedly sample a token, feed it back and hand out
 * its text. Pieces are always whole UTF-8 characters (bytes that can never form one are passed through
 * as they are). Generation stops after max_tokens tokens, when the end-of-text token is sampled (it is
 * neither fed nor emitted), or when the text contains a stop string (the stop string and anything
 * after it are not emitted; the state has consumed the tokens that produced it, as a chat needs for
 * its next turn).
 *
 * A generator borrows its model, state, tokenizer and sampler: they must outlive it, and the state
 * and sampler must not be used elsewhere while it runs (a state fed or restored meanwhile to another
 * token count makes the next rwkvrt_generate_next() return RWKVRT_ERR_ARGUMENT). One thread at a time. */

typedef struct rwkvrt_generator rwkvrt_generator;

typedef enum rwkvrt_stop_reason {
    RWKVRT_STOP_NONE = 0,        /* still running */
    RWKVRT_STOP_MAX_TOKENS = 1,  /* max_tokens tokens were generated */
    RWKVRT_STOP_END_TOKEN = 2,   /* the end-of-text token was sampled */
    RWKVRT_STOP_STRING = 3       /* a stop string appeared */
} rwkvrt_stop_reason;

typedef struct rwkvrt_generate_options {
    size_t struct_size;      /* set by rwkvrt_generate_options_default(); fields are only ever appended */
    int32_t max_tokens;      /* >= 0; default 256 */
    const char *const *stop; /* n_stop non-empty stop strings (copied); default none */
    size_t n_stop;
    int32_t end_token;       /* -1 (default): the tokenizer's end of text (id 0 for World and BPE, none for
                                the byte tokenizer); -2: none; else a token id */
    /* Since 0.2: NULL (default), or a progress callback for the prompt's feed and each token's (see
     * rwkvrt_feed_options). When it stops a feed, rwkvrt_generator_new() or rwkvrt_generate_next()
     * returns RWKVRT_ERR_CANCELLED; the state then holds the tokens fed so far (the text handed out
     * matches it), and the token being fed is dropped. */
    rwkvrt_progress_callback progress;
    void *progress_user_data;
} rwkvrt_generate_options;

RWKVRT_API rwkvrt_generate_options rwkvrt_generate_options_default(void);

/* Creates a generator and feeds the prompt.
 * - prompt, prompt_len: text to feed first (tokenized with tokenizer). May be empty only if
 *   initial_logits is given.
 * - initial_logits: NULL, or n_vocab logits to continue from without a prompt (e.g. saved with a
 *   session after an earlier generation, from rwkvrt_generator_logits()).
 * - options: NULL for the defaults.
 * RWKVRT_ERR_MISMATCH if the tokenizer's or sampler's vocabulary does not fit the model (a tokenizer
 * made for another model family gives gibberish), RWKVRT_ERR_ARGUMENT for an empty prompt without
 * logits or a bad option. */
RWKVRT_API rwkvrt_status rwkvrt_generator_new(const rwkvrt_model *model, rwkvrt_state *state,
                                              const rwkvrt_tokenizer *tokenizer, rwkvrt_sampler *sampler,
                                              const char *prompt, size_t prompt_len,
                                              const float *initial_logits,
                                              const rwkvrt_generate_options *options,
                                              rwkvrt_generator **out);

/* Produces the next piece of text.
 * - buf, cap: receives the piece (not NUL-terminated). If cap is too small, RWKVRT_ERR_BUFFER with *len
 *   set to the size needed; call again with a larger buffer to get the same piece.
 * - len: receives the piece's length; 0 together with *done = 1 at the end.
 * - done: receives 1 once generation has stopped (then see rwkvrt_generator_stop_reason()). */
RWKVRT_API rwkvrt_status rwkvrt_generate_next(rwkvrt_generator *gen, char *buf, size_t cap, size_t *len,
                                              int *done);

RWKVRT_API rwkvrt_stop_reason rwkvrt_generator_stop_reason(const rwkvrt_generator *gen);
/* The number of tokens generated so far. */
RWKVRT_API size_t rwkvrt_generator_n_tokens(const rwkvrt_generator *gen);
/* The n_vocab logits after the last token fed; valid until the next call on gen. */
RWKVRT_API const float *rwkvrt_generator_logits(const rwkvrt_generator *gen);

/* Frees a generator (not what it borrows). NULL is allowed. */
RWKVRT_API void rwkvrt_generator_free(rwkvrt_generator *gen);

/* ---------------------------------------------------------------------------------------------- */
/* Many conversations at once                                                                      */
/* ---------------------------------------------------------------------------------------------- */

/* Feeds n_seqs sequences in one pass: states[i] receives n_tokens[i] >= 1 tokens from tokens[i];
 * logits[i] is NULL or receives that sequence's n_vocab logits after its last token.
 * Every projection of all sequences' tokens is one matrix product, so B conversations decoding one
 * token each cost little more than one: this is the call a server makes at every step. Sequences may
 * mix decoding (1 token) and prompts (many). The result equals feeding each sequence alone with
 * rwkvrt_feed() up to the order of floating-point additions: with exact products (f32 weights, or
 * activations = "f32") the max abs logit difference is <= 1e-5. Rounded activations (the default
 * with quantized and half-precision weights) can differ more: with bf16 products a row of a step of
 * 16 rows or more has bf16 products and the same row alone fp32 ones, and with int8 a float32
 * difference can move an activation across a rounding step (up to 0.06 on the test models). The
 * batch_invariant feed option gives each sequence the same bits in any batch.
 * All or nothing: an id outside [0, n_vocab) in any sequence (RWKVRT_ERR_TOKEN), the same state twice,
 * a NULL pointer or n_tokens[i] == 0 (RWKVRT_ERR_ARGUMENT), or a state of another model
 * (RWKVRT_ERR_MISMATCH) changes no state; the message names the sequence and the problem.
 * No state may be in use by another call at the same time.
 * Memory: the next states are computed beside the current ones and swapped in when a step succeeds
 * (that is what makes a failed call change nothing), into buffers the calling thread keeps for its next
 * calls: one state's size per sequence of its largest call, two for a sequence whose tokens take
 * several steps (a step holds up to 256 tokens of all the sequences), freed when the thread ends. */
RWKVRT_API rwkvrt_status rwkvrt_feed_batch(const rwkvrt_model *model, size_t n_seqs, rwkvrt_state *const *states,
                                           const int32_t *const *tokens, const size_t *n_tokens,
                                           float *const *logits);

/* Progress and cancellation of long feeds (rwkvrt_progress_callback).
 * The callback receives the number of tokens fed so far and the total of the call (summed over the
 * sequences of a batch). It is called from the calling thread, about every few milliseconds of work
 * (between layers), never concurrently with itself for one call. Returning nonzero stops the feed:
 * the call returns RWKVRT_ERR_CANCELLED and every state is exactly the state after the tokens it had
 * completely consumed (a whole prefix of its input; rwkvrt_state_n_tokens() says how many), as if the
 * call had been given only those. No logits are written on cancellation (but see logits_all). */

typedef struct rwkvrt_feed_options {
    size_t struct_size;                /* set by rwkvrt_feed_options_default(); fields are only appended */
    rwkvrt_progress_callback progress; /* NULL = none */
    void *user_data;                   /* passed to progress */
    /* Nonzero: logits (logits[i] in a batch) receives n_tokens × n_vocab floats, the logits after every
     * token in order, instead of only after the last: what perplexity needs. Each row costs one pass
     * through the output head. On cancellation the rows of the tokens consumed are written. */
    int logits_all;
    /* Nonzero: every sequence gets the same bits whatever the other sequences of its steps, in this
     * call and any other. By default a step of one token (one conversation decoding alone, or one row of
     * logits) is a matrix-vector product, which sums in another order than the matrix product of a
     * batch (see rwkvrt_feed_batch); this option runs it as a matrix product of one row,
     * which is slower: what a server that promises each reply the same bits, whatever else it serves,
     * passes at every step. With bf16 products (activations "auto" or "bf16", f16/bf16 weights) every
     * step then takes them, a lone row too. */
    int batch_invariant;
} rwkvrt_feed_options;

RWKVRT_API rwkvrt_feed_options rwkvrt_feed_options_default(void);

/* rwkvrt_feed() and rwkvrt_feed_batch() with options (NULL = the defaults). */
RWKVRT_API rwkvrt_status rwkvrt_feed_ex(const rwkvrt_model *model, rwkvrt_state *state, const int32_t *tokens,
                                        size_t n_tokens, float *logits, const rwkvrt_feed_options *options);
RWKVRT_API rwkvrt_status rwkvrt_feed_batch_ex(const rwkvrt_model *model, size_t n_seqs,
                                              rwkvrt_state *const *states, const int32_t *const *tokens,
                                              const size_t *n_tokens, float *const *logits,
                                              const rwkvrt_feed_options *options);

/* ---------------------------------------------------------------------------------------------- */
/* Experimental: may still change in a minor version                                              */
/* ---------------------------------------------------------------------------------------------- */

/* One line saying which instruction sets the kernels use on this CPU, after RWKVRT_MAX_CPU_ISA (README):
 * the Highway target of the fp32 kernels, and the level of the int8 and bf16 products, e.g.
 * "kernels: AVX3 (Highway); int8 products: AVX512-VNNI; bf16 products: AVX512-BF16". For benchmark
 * reports and bug reports. Static storage; any thread. */
RWKVRT_API const char *rwkvrt_system_info(void);

/* The work of one token on the model as loaded, for benchmarks: flops receives two FLOPs per
 * multiply-add of every matrix a token goes through (the output head included, as every decoded token
 * needs its logits); bytes receives the bytes of weights one decoding step reads (every matrix in the
 * type it was loaded as, one row of the embedding). */
RWKVRT_API rwkvrt_status rwkvrt_model_work_per_token(const rwkvrt_model *model, double *flops, double *bytes);

/* The FLOPs of feeding n_seqs prompts of n_tokens each in one rwkvrt_feed_batch call, with logits after
 * each one's last token, as the library does it: every matrix for every token, except the output head,
 * once per prompt, and the last layer's channel mix (RWKV-7: its output projection too), which each
 * step of up to 256 tokens runs only for a sequence's last one or two tokens, those its logits and its
 * state need. For prefill benchmarks; n_seqs and n_tokens >= 1, n_seqs x n_tokens <= 2^24
 * (RWKVRT_ERR_ARGUMENT otherwise). */
RWKVRT_API rwkvrt_status rwkvrt_model_prompt_flops(const rwkvrt_model *model, size_t n_seqs, size_t n_tokens, double *flops);

/* A prefix-state cache: states keyed by the exact token sequence that produced them, so a prompt that
 * starts with a cached prefix (a shared system prompt, an earlier turn) feeds only the rest.
 * Entries live in memory under a byte budget with least-recently-used eviction and, when a folder is
 * given, also as state files there (written atomically, verified by checksum and model fingerprint
 * when read back: a damaged or foreign file is deleted and never used; entries found in the folder at
 * creation are available at once). Lookups compare the stored tokens, never only a hash.
 * Thread-safe: any number of threads may use one cache at the same time. It belongs to one model. */
typedef struct rwkvrt_prefix_cache rwkvrt_prefix_cache;

typedef struct rwkvrt_prefix_cache_options {
    size_t struct_size;    /* set by rwkvrt_prefix_cache_options_default(); fields are only appended */
    size_t max_bytes;      /* memory budget for the states held in RAM; default 256 MiB */
    const char *dir;       /* NULL (default): memory only; else an existing folder for state files
                            * (a relative path is taken from the working directory at creation) */
    size_t max_disk_bytes; /* budget for the folder's files, 0 (default) = unlimited */
} rwkvrt_prefix_cache_options;

RWKVRT_API rwkvrt_prefix_cache_options rwkvrt_prefix_cache_options_default(void);

/* Creates a cache for model (which must outlive it). RWKVRT_ERR_IO if dir cannot be read. */
RWKVRT_API rwkvrt_status rwkvrt_prefix_cache_new(const rwkvrt_model *model,
                                                 const rwkvrt_prefix_cache_options *options,
                                                 rwkvrt_prefix_cache **out);
RWKVRT_API void rwkvrt_prefix_cache_free(rwkvrt_prefix_cache *cache);

/* Finds the longest cached prefix of tokens[0, n_tokens) and restores it into state (state, token
 * count; the metadata is kept). *matched receives its length; 0 when nothing matched, and then the
 * state is unchanged. To get logits for the next token, look up all but the last token of a prompt
 * and feed the rest (at least one token). */
RWKVRT_API rwkvrt_status rwkvrt_prefix_cache_lookup(rwkvrt_prefix_cache *cache, const int32_t *tokens,
                                                    size_t n_tokens, rwkvrt_state *state, size_t *matched);

/* Stores a copy of state as the state after tokens[0, n_tokens) (n_tokens >= 1, every id in the
 * vocabulary, else RWKVRT_ERR_TOKEN), replacing an equal entry. The state must have fed exactly
 * those tokens from a new state (rwkvrt_state_n_tokens() == n_tokens, else RWKVRT_ERR_ARGUMENT).
 * RWKVRT_ERR_IO when the cache's folder could not take its file (a full disk): the entry is then
 * kept in memory all the same. Insert at points other prompts will share: the end of a system
 * prompt, the end of a turn. */
RWKVRT_API rwkvrt_status rwkvrt_prefix_cache_insert(rwkvrt_prefix_cache *cache, const int32_t *tokens,
                                                    size_t n_tokens, const rwkvrt_state *state);

typedef struct rwkvrt_prefix_cache_stats {
    size_t struct_size;    /* set by the caller to sizeof(rwkvrt_prefix_cache_stats) */
    uint64_t hits;         /* lookups that matched a prefix */
    uint64_t misses;       /* lookups that matched nothing */
    uint64_t tokens_saved; /* tokens that matched, summed over the hits */
    uint64_t entries;      /* entries known (in memory or on disk) */
    uint64_t bytes_used;   /* bytes of states held in memory */
    uint64_t disk_bytes;   /* bytes of state files in the folder */
} rwkvrt_prefix_cache_stats;

RWKVRT_API rwkvrt_status rwkvrt_prefix_cache_get_stats(const rwkvrt_prefix_cache *cache,
                                                       rwkvrt_prefix_cache_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* RWKVRT_H */
