/* generate: the whole rwkvrt loop in plain C. Load a model, tokenize a prompt, feed it, then sample a
 * token, print it and feed it back, again and again.
 *
 *     generate MODEL PROMPT [TOKENIZER]
 *
 * A GGUF file carries its tokenizer, and a model with 256 tokens reads and writes bytes; any other
 * needs its tokenizer file (e.g. rwkv_vocab_v20230424.txt for World models). Build: cc generate.c -lrwkvrt */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rwkvrt.h"

enum { MAX_TOKENS = 100 };

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL PROMPT [TOKENIZER]\n", argv[0]);
        return 2;
    }
    rwkvrt_model *model = NULL;
    rwkvrt_tokenizer *tok = NULL;
    rwkvrt_state *state = NULL;
    rwkvrt_sampler *sampler = NULL;
    int32_t *prompt = NULL;
    float *logits = NULL;
    int ok = 0;

    /* Every call returns a status; on failure rwkvrt_last_error() says what went wrong. */
    if (rwkvrt_model_load(argv[1], NULL, &model) != RWKVRT_OK) goto done;
    const int32_t n_vocab = rwkvrt_model_n_vocab(model);
    /* The tokenizer: the file given, else the one the model file carries (GGUF), else bytes for a
     * 256-token model. */
    if (argc == 4) {
        if (rwkvrt_tokenizer_load(argv[3], &tok) != RWKVRT_OK) goto done;
    } else {
        const rwkvrt_status own = rwkvrt_tokenizer_from_model(model, &tok);
        if (own == RWKVRT_ERR_UNSUPPORTED && n_vocab == 256) {
            if (rwkvrt_tokenizer_new_bytes(&tok) != RWKVRT_OK) goto done;
        } else if (own != RWKVRT_OK) {
            if (own == RWKVRT_ERR_UNSUPPORTED) fprintf(stderr, "this model has %d tokens: pass its tokenizer file\n", (int)n_vocab);
            goto done;
        }
    }

    /* Ask for the number of tokens first (RWKVRT_ERR_BUFFER reports it), then encode. */
    const char *text = argv[2];
    size_t n_prompt = 0;
    rwkvrt_tokenize(tok, text, strlen(text), NULL, 0, &n_prompt);
    if (n_prompt == 0) {
        fprintf(stderr, "the prompt is empty\n");
        return 2;
    }
    prompt = malloc(n_prompt * sizeof *prompt);
    logits = malloc((size_t)n_vocab * sizeof *logits);
    if (!prompt || !logits) goto done;
    if (rwkvrt_tokenize(tok, text, strlen(text), prompt, n_prompt, &n_prompt) != RWKVRT_OK) goto done;

    /* A state is one conversation. Feeding the prompt leaves the logits of the next token. */
    if (rwkvrt_state_new(model, &state) != RWKVRT_OK) goto done;
    if (rwkvrt_feed(model, state, prompt, n_prompt, logits) != RWKVRT_OK) goto done;

    /* ChatRWKV's defaults for free text; a fixed seed gives the same text on every run. */
    rwkvrt_sampler_options options = rwkvrt_sampler_options_default();
    options.temperature = 1.0f;
    options.top_p = 0.85f;
    options.seed = 42;
    if (rwkvrt_sampler_new(&options, n_vocab, &sampler) != RWKVRT_OK) goto done;

    fputs(text, stdout);
    for (int i = 0; i < MAX_TOKENS; ++i) {
        int32_t token;
        if (rwkvrt_sample(sampler, logits, &token) != RWKVRT_OK) goto done;
        if (token == 0 && n_vocab != 256) break; /* token 0 ends the text of World and BPE models */
        /* A token's bytes may be part of a UTF-8 character: the terminal joins them. */
        char bytes[256];
        size_t len = 0;
        if (rwkvrt_token_to_bytes(tok, token, bytes, sizeof bytes, &len) != RWKVRT_OK) goto done;
        fwrite(bytes, 1, len, stdout);
        fflush(stdout);
        if (rwkvrt_feed(model, state, &token, 1, logits) != RWKVRT_OK) goto done;
    }
    putchar('\n');
    ok = 1;

done:
    if (!ok) fprintf(stderr, "error: %s\n", rwkvrt_last_error());
    /* Every *_free accepts NULL; states go before their model. */
    rwkvrt_sampler_free(sampler);
    rwkvrt_state_free(state);
    rwkvrt_tokenizer_free(tok);
    rwkvrt_model_free(model);
    free(prompt);
    free(logits);
    return ok ? 0 : 1;
}
