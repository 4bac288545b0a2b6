/* chat: a terminal chat that remembers. After every turn the conversation's state is saved to a file;
 * started again with the same file, the chat continues where it stopped, without reading the history
 * again: an RWKV state has a fixed size, however long the conversation.
 *
 *     chat MODEL STATE_FILE [TOKENIZER]
 *
 * Type a message and press Enter; end with Ctrl-D. A GGUF file carries its tokenizer, a model with 256
 * tokens uses bytes; any other needs its tokenizer file. The prompt format is that of RWKV World and G1 models:
 * "User: {text}\n\nAssistant:", and a reply ends at "\n\n". Build: cc chat.c -lrwkvrt */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rwkvrt.h"

enum { MAX_REPLY_TOKENS = 500, MAX_LINE = 4096 }; /* a longer line arrives as several messages */

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

/* Removes surrounding white space. A line holds no "\n\n", the turn separator, so nothing else needs
 * cleaning. */
static char *strip(char *s) {
    while (isspace((unsigned char)*s)) ++s;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    return s;
}

/* Feeds text to the state without generating (to close a turn the model did not close itself). */
static rwkvrt_status feed_text(const rwkvrt_model *model, rwkvrt_state *state, const rwkvrt_tokenizer *tok,
                               const char *text) {
    int32_t tokens[16];
    size_t n = 0;
    rwkvrt_status st = rwkvrt_tokenize(tok, text, strlen(text), tokens, 16, &n);
    return st != RWKVRT_OK ? st : rwkvrt_feed(model, state, tokens, n, NULL);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL STATE_FILE [TOKENIZER]\n", argv[0]);
        return 2;
    }
    const char *state_file = argv[2];
    rwkvrt_model *model = NULL;
    rwkvrt_tokenizer *tok = NULL;
    rwkvrt_state *state = NULL;
    rwkvrt_sampler *sampler = NULL;
    rwkvrt_generator *gen = NULL;
    int ok = 0;

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

    /* The official chat demo's settings. Token 0 (end of text) is banned: a reply ends at "\n\n". */
    rwkvrt_sampler_options options = rwkvrt_sampler_options_default();
    options.temperature = 1.0f;
    options.top_p = 0.3f;
    options.presence_penalty = 0.5f;
    options.frequency_penalty = 0.5f;
    options.penalty_decay = 0.996f;
    if (rwkvrt_sampler_new(&options, n_vocab, &sampler) != RWKVRT_OK) goto done;
    if (rwkvrt_sampler_set_logit_bias(sampler, 0, -INFINITY) != RWKVRT_OK) goto done;

    /* Resume from the file if there is one. It holds the sampler's state too, so a resumed chat goes
     * on exactly as an uninterrupted one would. A file of another model is refused, never misread. */
    if (rwkvrt_state_new(model, &state) != RWKVRT_OK) goto done;
    if (file_exists(state_file)) {
        if (rwkvrt_state_load_ex(state, state_file, sampler, NULL) != RWKVRT_OK) goto done;
        fprintf(stderr, "[resumed %s: %llu tokens]\n", state_file,
                (unsigned long long)rwkvrt_state_n_tokens(state));
    } else {
        fprintf(stderr, "[new conversation, saved to %s]\n", state_file);
    }

    rwkvrt_generate_options gen_options = rwkvrt_generate_options_default();
    const char *stop[] = {"\n\n"};
    gen_options.stop = stop;
    gen_options.n_stop = 1;
    gen_options.max_tokens = MAX_REPLY_TOKENS;

    char line[MAX_LINE];
    char prompt[MAX_LINE + 32];
    for (;;) {
        printf("User: ");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) break;
        const char *text = strip(line);
        if (!*text) continue;
        snprintf(prompt, sizeof prompt, "User: %s\n\nAssistant:", text);

        /* The generator feeds the prompt, then samples, feeds back and hands out text until "\n\n". */
        if (rwkvrt_sampler_reset_penalties(sampler) != RWKVRT_OK) goto done;
        if (rwkvrt_generator_new(model, state, tok, sampler, prompt, strlen(prompt), NULL, &gen_options, &gen) !=
            RWKVRT_OK)
            goto done;
        printf("Assistant:");
        for (;;) {
            char piece[256];
            size_t len = 0;
            int finished = 0;
            if (rwkvrt_generate_next(gen, piece, sizeof piece, &len, &finished) != RWKVRT_OK) goto done;
            if (finished) break;
            fwrite(piece, 1, len, stdout);
            fflush(stdout);
        }
        printf("\n");
        fflush(stdout); /* before the status line on stderr */
        /* The state has consumed the stop string "\n\n"; a reply cut short still needs it. */
        const int closed = rwkvrt_generator_stop_reason(gen) == RWKVRT_STOP_STRING;
        rwkvrt_generator_free(gen);
        gen = NULL;
        if (!closed && feed_text(model, state, tok, "\n\n") != RWKVRT_OK) goto done;

        /* Saving replaces the file atomically: a crash leaves the previous turn's file intact. */
        rwkvrt_state_save_options save = rwkvrt_state_save_options_default();
        save.sampler = sampler;
        if (rwkvrt_state_save_ex(state, state_file, &save) != RWKVRT_OK) goto done;
        fprintf(stderr, "[saved: %llu tokens]\n", (unsigned long long)rwkvrt_state_n_tokens(state));
    }
    printf("\n");
    ok = 1;

done:
    if (!ok) fprintf(stderr, "error: %s\n", rwkvrt_last_error());
    rwkvrt_generator_free(gen);
    rwkvrt_sampler_free(sampler);
    rwkvrt_state_free(state);
    rwkvrt_tokenizer_free(tok);
    rwkvrt_model_free(model);
    return ok ? 0 : 1;
}
