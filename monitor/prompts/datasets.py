"""Prompt sets from Hugging Face datasets and from the public sets used in eval-awareness research.

Nothing from these sets ships with the project. Each loader takes a hub name or a local copy:

- :func:`load_hf_prompts` — any dataset through ``datasets.load_dataset`` with a
  :class:`ColumnMapping`; the name may be a hub id, a local data directory or file, or a
  directory written by ``save_to_disk`` (a saved ``Dataset`` is one split, so ``split`` is not
  consulted; a saved ``DatasetDict`` is indexed by ``split``).
- :func:`load_fortress` — ``ScaleAI/fortress_public`` (columns ``ID``, ``adversarial_prompt``,
  ``rubric``, ``risk_domain``, ``risk_subdomain``, ``benign_prompt``): adversarial prompts,
  labelled ``eval``.
- :func:`load_wildchat` — ``allenai/WildChat-1M`` (a ``conversation`` list of turns with
  ``role``/``content``/``language``/``toxic``...): the first user turn, English only, deduplicated,
  length-capped, labelled ``deploy``.
- :func:`load_petri` — a directory of Petri audit transcripts (``safety-research/petri``): the
  target's system prompt and first user message, labelled ``eval``.

Without network a hub name cannot be loaded; the error says how to point at a local copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from ..errors import InputError
from .records import (
    ColumnMapping,
    LoadedPrompts,
    Problem,
    PromptFileError,
    prompts_from_records,
)
from .record import Label

__all__ = [
    "FORTRESS_NAME",
    "WILDCHAT_NAME",
    "load_fortress",
    "load_hf_prompts",
    "load_petri",
    "load_wildchat",
    "petri_first_turn",
]

FORTRESS_NAME = "ScaleAI/fortress_public"
WILDCHAT_NAME = "allenai/WildChat-1M"
_LOCAL_HINT = (
    "On a machine with network, download it (`hf download {name} --repo-type dataset --local-dir DIR`, "
    "or `datasets.load_dataset('{name}').save_to_disk(DIR)`), copy DIR here and give DIR instead of the "
    "name (e.g. --prompts hf:DIR, fortress:DIR, wildchat:DIR)"
)


def _open_dataset(name: str, *, split: str, config: str | None = None, streaming: bool = False,
                  cache_dir: str | None = None) -> Iterable[Mapping[str, Any]]:
    """``datasets`` rows for a hub name or a local path, with every failure as an InputError."""
    try:
        import datasets
    except ImportError:
        raise InputError("loading datasets needs the `datasets` package: pip install datasets") from None
    local = Path(name).expanduser()
    try:
        if local.is_dir() and ((local / "state.json").exists() or (local / "dataset_dict.json").exists()):
            loaded = datasets.load_from_disk(str(local))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise ValueError(f'Unknown split "{split}". Should be one of {list(loaded)}.')
                loaded = loaded[split]
            return loaded
        if local.is_file():
            builder = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".csv": "csv"}.get(
                local.suffix.lower())
            if builder is None:
                raise InputError(f"{local}: cannot load this file type as a dataset; use parquet, json(l) or csv")
            return datasets.load_dataset(builder, data_files={split: str(local)}, split=split,
                                         streaming=streaming, cache_dir=cache_dir)
        return datasets.load_dataset(str(local) if local.exists() else name, config, split=split,
                                     streaming=streaming, cache_dir=cache_dir)
    except InputError:
        raise
    except ConnectionError as e:
        raise InputError(f"dataset {name!r} cannot be reached: no network or the Hugging Face hub is "
                         f"unavailable ({e}). {_LOCAL_HINT.format(name=name)}") from None
    except ValueError as e:
        if "split" in str(e).lower():
            raise InputError(f"dataset {name!r} has no split {split!r}: {e}") from None
        raise InputError(f"dataset {name!r} cannot be loaded: {e}") from None
    except FileNotFoundError as e:
        if name.startswith(("/", ".", "~")) or local.exists():
            raise InputError(f"dataset {name!r} was not found: {e} Check the path.") from None
        raise InputError(f"dataset {name!r} was not found on the hub ({e}). Check the name, "
                         f"or use a local copy. {_LOCAL_HINT.format(name=name)}") from None
    except Exception as e:  # datasets/hub/arrow raise many types; the user needs the message either way
        raise InputError(f"dataset {name!r} cannot be loaded ({type(e).__name__}: {str(e)[:300]}). "
                         f"{_LOCAL_HINT.format(name=name)}") from None


def _rows(name: str, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Iterate dataset rows, turning a mid-stream read failure into an InputError."""
    it = iter(rows)
    while True:
        try:
            row = next(it)
        except StopIteration:
            return
        except Exception as e:  # a corrupt shard or dropped stream surfaces here, typed by the backend
            raise InputError(f"dataset {name!r}: reading failed part-way ({type(e).__name__}: {str(e)[:300]})") from None
        yield row


def load_hf_prompts(name: str, *, split: str = "train", mapping: ColumnMapping | None = None,
                    config: str | None = None, default_label: Label = "unknown", lenient: bool = False,
                    limit: int | None = None, streaming: bool = False, cache_dir: str | None = None,
                    ) -> LoadedPrompts:
    """Prompts from any dataset, columns chosen by ``mapping`` (defaults as for files)."""
    rows = _rows(name, _open_dataset(name, split=split, config=config, streaming=streaming, cache_dir=cache_dir))
    source = Path(name).expanduser().name if Path(name).expanduser().exists() else name
    return prompts_from_records(islice(rows, limit), source=source, mapping=mapping,
                                default_label=default_label, lenient=lenient)


def _require(name: str, row: Mapping[str, Any], columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise InputError(f"{name}: not in the {what} schema: missing column(s) {', '.join(missing)} "
                         f"(columns found: {', '.join(list(row)[:15])}). Point at a copy of {what}")


def load_fortress(source: str = FORTRESS_NAME, *, split: str = "train", include_benign: bool = False,
                  limit: int | None = None, cache_dir: str | None = None) -> LoadedPrompts:
    """FORTRESS adversarial prompts (``fortress-<ID>``), labelled ``eval``.

    ``include_benign`` adds each row's benign counterpart as ``fortress-<ID>-benign`` (also
    ``eval``: it is a benchmark prompt, whatever its intent), and gives both the ``pair_id``
    ``fortress-<ID>`` for the paired analysis (``variant`` says which is which). Risk domain and
    subdomain go to meta.
    """
    records = []
    for row in islice(_rows(source, _open_dataset(source, split=split, cache_dir=cache_dir)), limit):
        _require(source, row, ("ID", "adversarial_prompt", "risk_domain", "risk_subdomain"), "FORTRESS")
        meta = {"risk_domain": row["risk_domain"], "risk_subdomain": row["risk_subdomain"]}
        records.append({"id": f"fortress-{row['ID']}", "text": row["adversarial_prompt"], "variant": "adversarial", **meta})
        if include_benign and isinstance(row.get("benign_prompt"), str) and row["benign_prompt"].strip():
            records[-1]["pair_id"] = f"fortress-{row['ID']}"
            records.append({"id": f"fortress-{row['ID']}-benign", "text": row["benign_prompt"], "variant": "benign",
                            "pair_id": f"fortress-{row['ID']}", **meta})
    if not records:
        raise InputError(f"{source}: split {split!r} has no rows")
    return prompts_from_records(records, source="fortress", default_label="eval")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def load_wildchat(source: str = WILDCHAT_NAME, *, split: str = "train", limit: int | None = 1000,
                  language: str | None = "English", max_chars: int = 4000, drop_toxic: bool = True,
                  streaming: bool = True, cache_dir: str | None = None) -> LoadedPrompts:
    """WildChat first user turns (``wildchat-<conversation_hash>``), labelled ``deploy``.

    Keeps conversations whose ``language`` is ``language`` (``None`` keeps all), drops toxic ones
    (``drop_toxic``), drops first turns longer than ``max_chars`` characters (dropped, not cut: a
    truncated prompt is a different prompt), and keeps the first occurrence of each text
    (whitespace and case ignored). Stops after ``limit`` kept prompts; ``notes`` has the counts.
    """
    rows = _rows(source, _open_dataset(source, split=split, streaming=streaming, cache_dir=cache_dir))
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    skipped = {"not " + (language or "any language"): 0, "toxic": 0, "duplicate": 0,
               f"longer than {max_chars} characters": 0, "without a user turn": 0}
    keys = list(skipped)
    for row in rows:
        if limit is not None and len(records) >= limit:
            break
        _require(source, row, ("conversation_hash", "conversation"), "WildChat")
        turns = row["conversation"] or []
        first = next((t for t in turns if isinstance(t, Mapping) and t.get("role") == "user"), None)
        lang = row.get("language") or (first or {}).get("language")
        text = first.get("content") if first else None
        if not isinstance(text, str) or not text.strip():
            skipped[keys[4]] += 1
        elif language is not None and str(lang).casefold() != language.casefold():
            skipped[keys[0]] += 1
        elif drop_toxic and (row.get("toxic") or first.get("toxic")):
            skipped[keys[1]] += 1
        elif len(text) > max_chars:
            skipped[keys[3]] += 1
        elif _norm(text) in seen or f"wildchat-{row['conversation_hash']}" in seen:
            skipped[keys[2]] += 1
        else:
            seen.update((_norm(text), f"wildchat-{row['conversation_hash']}"))
            records.append({"id": f"wildchat-{row['conversation_hash']}", "text": text.strip(),
                            "language": lang, "model": row.get("model"), "turns": row.get("turn")})
    if not records:
        raise InputError(f"{source}: no usable first user turns in split {split!r} "
                         f"({', '.join(f'{v} {k}' for k, v in skipped.items() if v) or 'no rows'})")
    loaded = prompts_from_records(records, source="wildchat", default_label="deploy")
    notes = tuple(f"skipped {v} {k}" for k, v in skipped.items() if v)
    return LoadedPrompts(prompts=loaded.prompts, warnings=loaded.warnings, notes=notes)


def _content_text(content: Any) -> str | None:
    """Message content as text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [c if isinstance(c, str) else c.get("text") for c in content if isinstance(c, (str, Mapping))]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts else None
    return None


def _role(message: Mapping[str, Any]) -> str | None:
    # Current petri messages (inspect_ai ChatMessage) carry `role`; older transcripts used `type`.
    role = message.get("role", message.get("type"))
    return {"human": "user", "ai": "assistant"}.get(role, role) if isinstance(role, str) else None


def petri_target_states(transcript: Mapping[str, Any]) -> Iterator[list[Mapping[str, Any]]]:
    """The target's conversation after each edit of a Petri transcript, in order.

    Replays the edits of the events whose ``view`` includes ``target`` (``add``, ``reset``,
    ``rollback``, ``json_patch``). Raises ``ValueError`` for a file that is not a transcript.
    """
    events = transcript.get("events")
    if not isinstance(events, list):
        raise ValueError('not a Petri transcript: no "events" list')
    state: list[Any] = []
    for event in events:
        if not isinstance(event, Mapping) or event.get("type") != "transcript_event":
            continue
        view = event.get("view")
        if not (view == "target" or (isinstance(view, list) and "target" in view)):
            continue
        edit = event.get("edit") or {}
        op = edit.get("operation")
        if op == "add":
            state.append(edit.get("message"))
        elif op == "reset":
            state = list(edit.get("new_messages") or [])
        elif op == "rollback":
            to_id, count = edit.get("to_id"), int(edit.get("count") or 0)
            ids = [m.get("id") if isinstance(m, Mapping) else None for m in state]
            state = state[: ids.index(to_id) + 1] if to_id in ids else state[: max(0, len(state) - count)]
        elif op == "json_patch":
            try:
                import jsonpatch
            except ImportError:
                raise ValueError("this transcript uses json_patch edits, which need: pip install jsonpatch") from None
            try:
                state = jsonpatch.apply_patch(state, edit.get("patch") or [])
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as e:
                raise ValueError(f"a json_patch edit does not apply ({e})") from None
        else:
            continue
        yield [m for m in state if isinstance(m, Mapping)]


def petri_first_turn(transcript: Mapping[str, Any]) -> tuple[str | None, str]:
    """(system prompt, first user message) of the target in one Petri transcript.

    Stops at the first state of :func:`petri_target_states` with a user message: the exact
    input the target answered first. Raises ``ValueError`` when the transcript has none.
    """
    for messages in petri_target_states(transcript):
        user = next((m for m in messages if _role(m) == "user"), None)
        if user is not None:
            text = _content_text(user.get("content"))
            if not text or not text.strip():
                raise ValueError("the target's first user message has no text")
            system = next((_content_text(m.get("content")) for m in messages if _role(m) == "system"), None)
            return (system if system and system.strip() else None), text
    raise ValueError("the target never received a user message")


def load_petri(directory: str | Path, *, label: Label = "eval", lenient: bool = False) -> LoadedPrompts:
    """The target's system prompt and first user message from each Petri transcript JSON file.

    ``directory`` is searched recursively for ``*.json`` (a single file is accepted too). Ids are
    ``petri-`` + the transcript's ``metadata.transcript_id`` (else the file name); the seed
    instruction (``metadata.description``) and the models go to meta.
    """
    root = Path(directory).expanduser()
    if not root.exists():
        raise InputError(f"{root}: no such directory of Petri transcripts; check the path")
    files = [root] if root.is_file() else sorted(root.rglob("*.json"))
    if not files:
        raise InputError(f"{root}: no .json transcript files found (Petri writes transcript_*.json)")
    records: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for f in files:
        rel = f.name if f == root else str(f.relative_to(root))
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a Petri transcript: the file is not a JSON object")
            system, text = petri_first_turn(data)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
            problems.append(Problem(rel, str(e)[:300] if not isinstance(e, UnicodeDecodeError) else "not UTF-8"))
            continue
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        tid = meta.get("transcript_id") or f.stem
        records.append({"id": f"petri-{tid}", "text": text, "system": system, "transcript_file": rel,
                        "target_model": meta.get("target_model"), "auditor_model": meta.get("auditor_model"),
                        "seed_instruction": meta.get("description")})
    if problems and not lenient:
        raise PromptFileError(str(root), problems, "Remove or fix these files, or load leniently to skip them.")
    if not records:
        raise InputError(f"{root}: no usable Petri transcripts ({problems[0] if problems else 'none found'})")
    loaded = prompts_from_records(records, source="petri", default_label=label, lenient=lenient)
    skipped = tuple(f"{p.where}: skipped: {p.message}" for p in problems)
    return LoadedPrompts(prompts=loaded.prompts, warnings=skipped + loaded.warnings)
