"""Build a Qwen-style byte-level BPE tokenizer locally (no download).

Used by the demo model's training script and by tests that need a tokenizer with the same
pre-tokenization behaviour as Qwen's (".\\n\\n" as one token, a leading space glued to the next
word), so the token-forcing rule is exercised on the merges that matter.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "QWEN_PRETOKENIZE_PATTERN", "GPT2_PRETOKENIZE_PATTERN", "CHATML_THINK_TEMPLATE", "CHATML_TEMPLATE",
    "SPECIAL_TOKENS", "build_bpe_tokenizer",
]

# Qwen2/Qwen3's pre-tokenizer split pattern (tokenizer.json of the Qwen2.5/Qwen3 family).
QWEN_PRETOKENIZE_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# GPT-2's pattern (SmolLM2, and Llama 3 behaves alike at sentence ends): "." and "\n\n" are separate
# pre-tokens, so a sentence's last token never carries the newline after it.
GPT2_PRETOKENIZE_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# ChatML with a thinking block the *model* writes (like Qwen3): the generation prompt ends with
# "<|im_start|>assistant\n" and the model's reply starts with "<think>\n".
CHATML_THINK_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}"
    "{%- endif %}"
)

# Plain ChatML without a thinking block (SmolLM2-Instruct's shape): the whole reply is the CoT.
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def build_bpe_tokenizer(
    texts: Iterable[str],
    *,
    vocab_size: int = 2000,
    special_tokens: list[str] | None = None,
    chat_template: str | None = CHATML_THINK_TEMPLATE,
    min_frequency: int = 2,
    pretokenize_pattern: str = QWEN_PRETOKENIZE_PATTERN,
):
    """Train a byte-level BPE (Qwen's pre-tokenizer unless ``pretokenize_pattern`` says otherwise) on ``texts``.

    The tokenizer's EOS is ``<|im_end|>`` and its pad token ``<|endoftext|>``, as in Qwen3 chat models.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special_tokens = list(special_tokens or SPECIAL_TOKENS)
    tok = Tokenizer(models.BPE(byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pretokenize_pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>" if "<|im_end|>" in special_tokens else special_tokens[0],
        pad_token="<|endoftext|>" if "<|endoftext|>" in special_tokens else special_tokens[0],
    )
    if chat_template is not None:
        fast.chat_template = chat_template
    return fast
