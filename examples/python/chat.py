#!/usr/bin/env python3
"""A terminal chat that remembers: the Python twin of examples/c/chat.c.

After every turn the conversation's state is saved to a file; started again with the same file, the
chat continues where it stopped, without reading the history again: an RWKV state has a fixed size,
however long the conversation.

    python chat.py MODEL STATE_FILE [TOKENIZER]

Type a message and press Enter; end with Ctrl-D. A GGUF file carries its tokenizer, a model with 256
tokens uses bytes; any other needs its tokenizer file. The prompt format is that of RWKV World and G1 models: "User: {text}\\n\\nAssistant:",
and a reply ends at "\\n\\n".
"""

import argparse
import math
import os
import sys

import rwkvrt


def main() -> None:
    parser = argparse.ArgumentParser(description="A terminal chat that saves its state after every turn.")
    parser.add_argument("model")
    parser.add_argument("state_file")
    parser.add_argument("tokenizer", nargs="?", help="the tokenizer file, for models whose file carries none and without 256 tokens")
    args = parser.parse_args()

    model = rwkvrt.Model(args.model)
    if args.tokenizer:
        tokenizer = rwkvrt.Tokenizer(args.tokenizer)
    else:
        try:  # the one a GGUF file carries
            tokenizer = rwkvrt.Tokenizer.from_model(model)
        except rwkvrt.UnsupportedError:
            if model.n_vocab != 256:
                parser.error(f"this model has {model.n_vocab} tokens: pass its tokenizer file")
            tokenizer = rwkvrt.Tokenizer.byte_level()

    # The official chat demo's settings. Token 0 (end of text) is banned: a reply ends at "\n\n".
    sampler = rwkvrt.Sampler(model.n_vocab, temperature=1.0, top_p=0.3, presence_penalty=0.5,
                             frequency_penalty=0.5, penalty_decay=0.996)
    sampler.set_logit_bias(0, -math.inf)

    # Resume from the file if there is one. It holds the sampler's state too, so a resumed chat goes on
    # exactly as an uninterrupted one would. A file of another model is refused, never misread.
    if os.path.exists(args.state_file):
        state = rwkvrt.State.load(model, args.state_file, sampler=sampler)
        print(f"[resumed {args.state_file}: {state.n_tokens} tokens]", file=sys.stderr)
    else:
        state = model.new_state()
        print(f"[new conversation, saved to {args.state_file}]", file=sys.stderr)

    while True:
        try:
            text = input("User: ").strip()  # one line: it cannot hold "\n\n", the turn separator
        except EOFError:
            break
        if not text:
            continue
        # generate() feeds the prompt, then samples, feeds back and yields text until "\n\n".
        sampler.reset_penalties()
        reply = model.generate(state, f"User: {text}\n\nAssistant:", tokenizer=tokenizer, sampler=sampler,
                               stop="\n\n", max_tokens=500)
        print("Assistant:", end="", flush=True)
        for piece in reply:
            print(piece, end="", flush=True)
        print(flush=True)
        # The state has consumed the stop string "\n\n"; a reply cut short still needs it.
        if reply.stop_reason != "stop_string":
            model.feed(state, tokenizer.encode("\n\n"))
        # Saving replaces the file atomically: a crash leaves the previous turn's file intact.
        state.save(args.state_file, sampler=sampler)
        print(f"[saved: {state.n_tokens} tokens]", file=sys.stderr, flush=True)
    print()


if __name__ == "__main__":
    try:
        main()
    except rwkvrt.Error as error:  # the library's message says what went wrong
        sys.exit(f"error: {error}")
