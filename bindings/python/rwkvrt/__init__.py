"""rwkvrt: run RWKV language models (v4, v5.x, v6, v7) on the CPU.

A thin layer over the rwkvrt C library::

    import rwkvrt

    model = rwkvrt.Model("model.pth")
    tokenizer = rwkvrt.Tokenizer("rwkv_vocab_v20230424.txt")
    state = model.new_state()
    for piece in model.generate(state, "User: hi\\n\\nAssistant:", tokenizer=tokenizer,
                                stop="\\n\\n", temperature=1.0, top_p=0.3):
        print(piece, end="", flush=True)
    state.save("chat.state")

Failures raise subclasses of rwkvrt.Error carrying the library's message.
"""

from ._errors import (ArgumentError, CorruptStateError, Error, FileError, FormatError, InternalError,
                      ModelMismatchError, OutOfMemoryError, TokenError, UnsupportedError)
from ._rwkvrt import Generation, Model, PrefixCache, Sampler, State, Tokenizer, __version__, system_info

__all__ = [
    "Model", "State", "Tokenizer", "Sampler", "Generation", "PrefixCache",
    "Error", "ArgumentError", "FileError", "FormatError", "UnsupportedError", "ModelMismatchError",
    "CorruptStateError", "TokenError", "OutOfMemoryError", "InternalError",
    "__version__", "system_info",
]
