"""Prompt input: pasted text, files, column mapping, labels, ids, validation, exclusions, context check."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.errors import ConfigError, InputError
from monitor.prompts.filters import (
    ANNOUNCED_EVAL_PATTERNS,
    ExclusionRules,
    apply_exclusions,
    check_context_length,
)
from monitor.prompts.input import (
    ColumnMapping,
    LoadedPrompts,
    PromptFileError,
    load_prompt_set,
    load_prompts,
    normalize_label,
    parse_pasted,
    prompt_id_for,
    read_prompt_bytes,
    read_prompt_file,
)
from monitor.prompts.record import LABELS, Prompt, prompts_to_frame


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_csv(path, rows, delimiter=","):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=delimiter)
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def error_of(call) -> str:
    with pytest.raises(InputError) as info:
        call()
    return str(info.value)


# ---------------------------------------------------------------- pasted text


def test_pasted_blocks_split_on_blank_lines_and_get_the_given_label():
    text = "What is 2+2?\r\n\r\nPlease write a poem\nabout the sea.\n\n   \n\nThird one  \n"
    got = parse_pasted(text, label="evaluation")
    assert [p.text for p in got.prompts] == ["What is 2+2?", "Please write a poem\nabout the sea.", "Third one"]
    assert {p.label for p in got.prompts} == {"eval"}
    assert {p.source for p in got.prompts} == {"pasted"}
    assert all(p.prompt_id.startswith("p_") and len(p.prompt_id) == 14 for p in got.prompts)


def test_pasted_json_list_of_strings_and_objects():
    text = json.dumps(["plain string", {"text": "obj", "label": "deploy", "id": 7, "system": "Be brief."}])
    got = parse_pasted(text, label="eval")
    assert [(p.text, p.label, p.prompt_id, p.system) for p in got.prompts] == [
        ("plain string", "eval", prompt_id_for(Prompt("", "plain string")), None),
        ("obj", "deploy", "7", "Be brief."),
    ]


def test_pasted_jsonl_and_broken_pasted_json_names_the_line():
    got = parse_pasted('{"text": "a"}\n{"prompt": "b"}')
    assert [p.text for p in got.prompts] == ["a", "b"]
    msg = error_of(lambda: parse_pasted('[{"text": "a"},\n {"text": "b"')) + ""
    assert "line 2" in msg and "invalid JSON" in msg


@pytest.mark.parametrize("text", ["", "   \n\n \t ", "\r\n"])
def test_empty_paste_is_an_error(text):
    assert "empty" in error_of(lambda: parse_pasted(text))


def test_bad_default_label_is_an_error():
    assert "not recognised" in error_of(lambda: parse_pasted("hi", label="maybe"))


# ---------------------------------------------------------------- files and formats


def test_jsonl_with_extra_columns_goes_to_meta(tmp_path):
    f = write_jsonl(tmp_path / "set.jsonl", [
        {"id": "a", "text": "Hello", "label": "test", "topic": "math", "scores": [1, 2]},
        {"id": "b", "text": "World", "label": "real", "topic": None},
    ])
    got = read_prompt_file(f)
    a, b = got.prompts
    assert (a.prompt_id, a.label, a.source, a.meta) == ("a", "eval", "set.jsonl", {"topic": "math", "scores": "[1, 2]"})
    assert (b.label, b.meta) == ("deploy", {"topic": None})
    assert got.warnings == ()


def test_extra_columns_with_mixed_types_become_text(tmp_path):
    f = write_jsonl(tmp_path / "mixed.jsonl", [{"text": "a", "n": 1, "k": 1}, {"text": "b", "n": "two", "k": 2.5},
                                               {"text": "c", "n": None, "k": True}])
    got = read_prompt_file(f).prompts
    assert [p.meta for p in got] == [{"n": "1", "k": 1}, {"n": "two", "k": 2.5}, {"n": None, "k": True}]
    prompts_to_frame(list(got)).to_parquet(tmp_path / "prompts.parquet")


def test_csv_tsv_txt_json_and_parquet_give_the_same_prompts(tmp_path):
    rows = [{"id": "q1", "text": "Is this a test, comma?", "label": "eval", "system": ""},
            {"id": "q2", "text": 'Multi\nline "quoted"', "label": "deploy", "system": "You are kind."}]
    expected = [("q1", "Is this a test, comma?", "eval", None), ("q2", 'Multi\nline "quoted"', "deploy", "You are kind.")]
    files = [
        write_csv(tmp_path / "p.csv", rows),
        write_csv(tmp_path / "p.tsv", rows, delimiter="\t"),
        write_jsonl(tmp_path / "p.jsonl", rows),
    ]
    (tmp_path / "p.json").write_text(json.dumps(rows), encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "p.parquet")
    files += [tmp_path / "p.json", tmp_path / "p.parquet"]
    for f in files:
        got = [(p.prompt_id, p.text, p.label, p.system) for p in read_prompt_file(f).prompts]
        assert got == expected, f.name
    (tmp_path / "p.txt").write_text("first\n\nsecond\n", encoding="utf-8")
    assert [p.text for p in read_prompt_file(tmp_path / "p.txt").prompts] == ["first", "second"]


def test_utf8_bom_and_crlf_csv(tmp_path):
    f = tmp_path / "bom.csv"
    f.write_bytes("\ufefftext,label\r\nhéllo,eval\r\n".encode())
    (p,) = read_prompt_file(f).prompts
    assert (p.text, p.label) == ("héllo", "eval")


def test_messages_column_in_jsonl_csv_and_parquet(tmp_path):
    msgs = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Are you tested?"}]
    write_jsonl(tmp_path / "m.jsonl", [{"id": "m1", "messages": msgs}])
    write_csv(tmp_path / "m.csv", [{"id": "m1", "messages": json.dumps(msgs)}])
    pq.write_table(pa.Table.from_pylist([{"id": "m1", "messages": msgs}]), tmp_path / "m.parquet")
    for name in ("m.jsonl", "m.csv", "m.parquet"):
        (p,) = read_prompt_file(tmp_path / name).prompts
        assert p.text == "Are you tested?" and p.system == "Sys"
        assert p.chat_messages() == msgs, name


def test_system_column_is_prepended_to_messages_without_one():
    rec = {"messages": [{"role": "user", "content": "Hi"}], "system": "Be terse."}
    (p,) = parse_pasted(json.dumps([rec])).prompts
    assert p.chat_messages() == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]


@pytest.mark.parametrize(("messages", "fragment"), [
    ([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}], "last message must be the user's"),
    ([{"role": "robot", "content": "Hi"}], "role 'robot'"),
    ([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "c"}], "only the first"),
    ([{"role": "user", "content": 3}], "content must be a string"),
    ([], "non-empty list"),
    ("[not json", "not valid JSON"),
])
def test_bad_messages_are_reported_with_the_item(messages, fragment):
    msg = error_of(lambda: parse_pasted(json.dumps([{"text": "ok"}, {"messages": messages}])))
    assert "item 2" in msg and fragment in msg


# ---------------------------------------------------------------- column mapping


def test_column_mapping_custom_names_and_aliases(tmp_path):
    write_csv(tmp_path / "c.csv", [{"qid": "x1", "question": "Q?", "split": "evaluation", "prompt": "ignored"}])
    mapping = ColumnMapping(text="question", id="qid", label="split")
    (p,) = read_prompt_file(tmp_path / "c.csv", mapping=mapping).prompts
    assert (p.prompt_id, p.text, p.label, p.meta) == ("x1", "Q?", "eval", {"prompt": "ignored"})
    # default mapping accepts `prompt` for text and `prompt_id` for id
    write_jsonl(tmp_path / "a.jsonl", [{"prompt_id": "k", "prompt": "aliased"}])
    (p,) = read_prompt_file(tmp_path / "a.jsonl").prompts
    assert (p.prompt_id, p.text) == ("k", "aliased")


def test_column_mapping_parse():
    assert ColumnMapping.parse("text=question, id=qid,label=") == ColumnMapping(text="question", id="qid", label=None)
    for bad in ("text", "colour=red", "text="):
        with pytest.raises(InputError):
            ColumnMapping.parse(bad)


def test_missing_text_field_names_the_line_and_fields_found(tmp_path):
    f = write_jsonl(tmp_path / "x.jsonl", [{"text": "fine"}, {"question": "where is my text?", "id": "q"}])
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 2" in msg and "'text'" in msg and "'question'" in msg and "--columns" in msg


def test_run_prompts_parquet_round_trips(tmp_path):
    prompts = [Prompt("a", "one", "eval", "sys", None, "src", {"propensity": 0.5}),
               Prompt("b", "two", "deploy", None, ({"role": "user", "content": "two"},), "src")]
    prompts_to_frame(prompts).to_parquet(tmp_path / "prompts.parquet")
    got = read_prompt_file(tmp_path / "prompts.parquet").prompts
    assert [(p.prompt_id, p.text, p.label, p.system, p.chat_messages()) for p in got] == [
        (p.prompt_id, p.text, p.label, p.system, p.chat_messages()) for p in prompts
    ]
    assert got[0].meta["propensity"] == 0.5


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(("raw", "label"), [
    ("eval", "eval"), ("Evaluation", "eval"), (" TEST ", "eval"), ("benchmark", "eval"), ("red_team", "eval"),
    (1, "eval"), (True, "eval"), ("1", "eval"), (1.0, "eval"),
    ("deploy", "deploy"), ("Deployment", "deploy"), ("real", "deploy"), ("user", "deploy"), ("real user", "deploy"),
    (0, "deploy"), (False, "deploy"), ("false", "deploy"),
    (None, "unknown"), ("", "unknown"), ("N/A", "unknown"), (float("nan"), "unknown"), ("Unknown", "unknown"),
])
def test_label_normalisation(raw, label):
    assert normalize_label(raw) == label


@pytest.mark.parametrize("raw", ["maybe", 2, 0.5, [1], {"a": 1}])
def test_unrecognised_labels_raise(raw):
    with pytest.raises(InputError, match="not recognised"):
        normalize_label(raw)


def test_bad_label_strict_fails_lenient_warns_and_sets_unknown(tmp_path):
    f = write_jsonl(tmp_path / "l.jsonl", [{"text": "a", "label": "eval"}, {"text": "b", "label": "sometimes"}])
    assert "line 2" in error_of(lambda: read_prompt_file(f))
    got = read_prompt_file(f, lenient=True)
    assert [p.label for p in got.prompts] == ["eval", "unknown"]
    assert len(got.warnings) == 1 and got.warnings[0].startswith("line 2:") and "sometimes" in got.warnings[0]


# ---------------------------------------------------------------- ids


def test_content_hash_ids_are_stable_under_reordering_and_insertion():
    first = parse_pasted("alpha\n\nbeta").prompts
    second = parse_pasted("new one\n\nbeta\n\nalpha").prompts
    ids1 = {p.text: p.prompt_id for p in first}
    ids2 = {p.text: p.prompt_id for p in second}
    assert ids1["alpha"] == ids2["alpha"] and ids1["beta"] == ids2["beta"]
    # the system prompt is part of the content
    a = parse_pasted(json.dumps([{"text": "alpha", "system": "S"}])).prompts[0]
    assert a.prompt_id != ids1["alpha"]


def test_duplicate_ids_name_both_positions(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"id": "x", "text": "a"}, {"id": "y", "text": "b"}, {"id": "x", "text": "c"}])
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 3" in msg and "duplicate id 'x'" in msg and "line 1" in msg
    assert "same prompt twice" in error_of(lambda: parse_pasted("same\n\nsame"))
    got = read_prompt_file(f, lenient=True)
    assert [p.text for p in got.prompts] == ["a", "b"] and "line 3" in got.warnings[0]


@pytest.mark.parametrize(("raw", "ok"), [(12, "12"), (3.0, "3"), (" spaced ", "spaced")])
def test_id_types(raw, ok):
    assert parse_pasted(json.dumps([{"id": raw, "text": "t"}])).prompts[0].prompt_id == ok


@pytest.mark.parametrize("raw", [1.5, True, [1], {"a": 1}, "   x\ny", "a" * 300])
def test_bad_ids(raw):
    assert "id" in error_of(lambda: parse_pasted(json.dumps([{"id": raw, "text": "t"}])))


# ---------------------------------------------------------------- validation errors


def test_whitespace_only_prompt_names_the_row(tmp_path):
    f = write_csv(tmp_path / "w.csv", [{"text": "ok"}, {"text": "   "}, {"text": "fine"}])
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 3" in msg and "empty" in msg and "w.csv" in msg


def test_broken_jsonl_names_the_line_and_column(tmp_path):
    f = tmp_path / "b.jsonl"
    f.write_text('{"text": "a"}\n\n{"text": "b",, }\n', encoding="utf-8")
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 3" in msg and "invalid JSON" in msg and "column" in msg


def test_broken_json_file_names_line_and_column(tmp_path):
    f = tmp_path / "b.json"
    f.write_text('[\n {"text": "a"},\n {"text": "b"\n]', encoding="utf-8")
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 4" in msg and "column" in msg


def test_json_top_level_must_be_a_list(tmp_path):
    f = tmp_path / "o.json"
    f.write_text('{"text": "a"}', encoding="utf-8")
    assert "list" in error_of(lambda: read_prompt_file(f))
    f.write_text('{"prompts": [{"text": "a"}]}', encoding="utf-8")
    assert read_prompt_file(f).prompts[0].text == "a"
    f.write_text("[]", encoding="utf-8")
    assert "no prompts" in error_of(lambda: read_prompt_file(f))


def test_non_utf8_file_names_the_line(tmp_path):
    f = tmp_path / "latin.jsonl"
    f.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 2" in msg and "UTF-8" in msg and "iconv" in msg


def test_binary_and_utf16_files(tmp_path):
    f = tmp_path / "bin.csv"
    f.write_bytes(b"text\n\x00\x01\x02\xff")
    assert "binary" in error_of(lambda: read_prompt_file(f))
    f = tmp_path / "u16.csv"
    f.write_bytes("text\nhello\n".encode("utf-16"))
    assert "UTF-16" in error_of(lambda: read_prompt_file(f))


@pytest.mark.parametrize("name", ["e.jsonl", "e.json", "e.csv", "e.txt", "e.parquet"])
@pytest.mark.parametrize("content", [b"", b"  \n\n\t\n"])
def test_empty_files(tmp_path, name, content):
    f = tmp_path / name
    f.write_bytes(content)
    assert "empty" in error_of(lambda: read_prompt_file(f))


def test_size_limit(tmp_path):
    f = write_jsonl(tmp_path / "big.jsonl", [{"text": "x" * 2000}])
    msg = error_of(lambda: read_prompt_file(f, max_bytes=1000))
    assert "limit" in msg and "MB" in msg
    assert len(read_prompt_file(f, max_bytes=10_000).prompts) == 1
    assert "limit" in error_of(lambda: read_prompt_bytes(f.read_bytes(), "up.jsonl", max_bytes=1000))


def test_path_problems(tmp_path):
    assert "no such prompt file" in error_of(lambda: read_prompt_file(tmp_path / "missing.jsonl"))
    assert "directory" in error_of(lambda: read_prompt_file(tmp_path))
    (tmp_path / "p.xlsx").write_bytes(b"PK")
    assert ".xlsx" in error_of(lambda: read_prompt_file(tmp_path / "p.xlsx"))


def test_csv_structure_errors(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text("text,label\nfine,eval\ntoo,many,fields\n", encoding="utf-8")
    msg = error_of(lambda: read_prompt_file(f))
    assert "line 3" in msg and "3 fields" in msg
    f.write_text("text,text\na,b\n", encoding="utf-8")
    assert "duplicate column" in error_of(lambda: read_prompt_file(f))
    f.write_text('text\n"unterminated\n', encoding="utf-8")
    assert "s.csv" in error_of(lambda: read_prompt_file(f))


def test_not_parquet(tmp_path):
    f = tmp_path / "fake.parquet"
    f.write_text("text\nhello\n", encoding="utf-8")
    assert "not a Parquet file" in error_of(lambda: read_prompt_file(f))
    f.write_bytes(b"PAR1" + b"\x00" * 30 + b"PAR1")
    assert "cannot read this Parquet file" in error_of(lambda: read_prompt_file(f))


def test_strict_error_lists_ten_problems_and_counts_the_rest(tmp_path):
    f = write_jsonl(tmp_path / "many.jsonl", [{"text": ""} for _ in range(25)] + [{"text": "ok"}])
    with pytest.raises(PromptFileError) as info:
        read_prompt_file(f)
    err = info.value
    assert len(err.problems) == 25 and err.problems[0].where == "line 1"
    assert "25 problems" in str(err) and "and 15 more" in str(err) and "line 10:" in str(err) and "line 11:" not in str(err)
    assert "--lenient" in str(err)


def test_lenient_skips_bad_rows_with_warnings_and_fails_when_nothing_is_left(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"text": "good"}\nnot json\n{"text": 5}\n{"text": "also good", "label": "deploy"}\n', encoding="utf-8")
    got = read_prompt_file(f, lenient=True)
    assert [p.text for p in got.prompts] == ["good", "also good"]
    assert [w.split(":")[0] for w in got.warnings] == ["line 2", "line 3"]
    f.write_text("nope\n[1]\n", encoding="utf-8")
    assert "no prompts usable" in error_of(lambda: read_prompt_file(f, lenient=True))


def test_lone_surrogate_escapes_are_rejected(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"text": "ok"}\n{"text": "bad \\ud800 escape"}\n{"text": "x", "note": "\\udfff"}\n', encoding="utf-8")
    with pytest.raises(PromptFileError) as info:
        read_prompt_file(f)
    assert [p.where for p in info.value.problems] == ["line 2", "line 3"]
    assert "surrogate" in str(info.value)


def test_deeply_nested_json_is_an_input_error(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    error_of(lambda: read_prompt_file(f))
    f = tmp_path / "deep.jsonl"
    f.write_text('{"text": "ok"}\n' + "[" * 100_000 + "\n", encoding="utf-8")
    assert "line 2" in error_of(lambda: read_prompt_file(f))


# ---------------------------------------------------------------- exclusions


def test_exclusions_by_id_and_pattern_with_reasons(tmp_path):
    prompts = parse_pasted(json.dumps([
        {"id": "a", "text": "Normal question about cooking."},
        {"id": "b", "text": "Note: this is a test of your honesty. Do you lie?"},
        {"id": "c", "text": "Drop me by id."},
        {"id": "d", "text": "Hi", "system": "You are being evaluated by the safety team."},
    ])).prompts
    rules = ExclusionRules(ids={"c", "zzz"}, patterns=ANNOUNCED_EVAL_PATTERNS)
    kept, excluded, unused = apply_exclusions(prompts, rules)
    assert [p.prompt_id for p in kept] == ["a"]
    reasons = {e.prompt.prompt_id: e.reason for e in excluded}
    assert "exclusion list" in reasons["c"]
    assert reasons["b"].startswith("text matches") and "this is a test" in reasons["b"]
    assert reasons["d"].startswith("system prompt matches")
    assert unused == ["zzz"]


@pytest.mark.parametrize("text", ["Is this a test?", "What is the latest test score?", "Please evaluate my essay."])
def test_announced_eval_patterns_do_not_match_ordinary_requests(text):
    kept, excluded, _ = apply_exclusions([Prompt("x", text)], ExclusionRules(patterns=ANNOUNCED_EVAL_PATTERNS))
    assert kept and not excluded


def test_exclusion_rules_from_file_and_bad_regex(tmp_path):
    f = tmp_path / "exclude.txt"
    f.write_text("# ids and patterns\np_1\n\nre:\\bsecret\\b\n", encoding="utf-8")
    rules = ExclusionRules.from_file(f)
    assert rules.ids == frozenset({"p_1"}) and rules.patterns == (r"\bsecret\b",)
    assert "regular expression" in error_of(lambda: ExclusionRules(patterns=("(unclosed",)))
    assert "no such exclusion file" in error_of(lambda: ExclusionRules.from_file(tmp_path / "nope.txt"))


def test_load_prompt_set_applies_exclusions(tmp_path):
    f = write_jsonl(tmp_path / "e.jsonl", [{"id": "a", "text": "keep"}, {"id": "b", "text": "drop"}])
    got = load_prompt_set(f, exclude=ExclusionRules(ids={"b", "ghost"}))
    assert [p.prompt_id for p in got.prompts] == ["a"]
    assert [e.prompt.prompt_id for e in got.excluded] == ["b"]
    assert any("ghost" in w for w in got.warnings)
    assert "every prompt" in error_of(lambda: load_prompt_set(f, exclude=ExclusionRules(patterns=(".",))))


# ---------------------------------------------------------------- context length


def test_context_length_raise_or_skip():
    prompts = [Prompt("short", "a b"), Prompt("long", "a b c d e f"), Prompt("long2", "x " * 50)]
    words = lambda p: len(p.text.split())  # noqa: E731
    msg = error_of(lambda: check_context_length(prompts, words, 5))
    assert "2 prompts" in msg and "long (6 tokens)" in msg and "long2 (50 tokens)" in msg and "--skip-long" in msg
    fit, too_long = check_context_length(prompts, words, 5, skip=True)
    assert [p.prompt_id for p in fit] == ["short"]
    assert [(t.prompt_id, t.tokens, t.max_tokens) for t in too_long] == [("long", 6, 5), ("long2", 50, 5)]
    with pytest.raises(ConfigError):
        check_context_length(prompts, words, 0)


# ---------------------------------------------------------------- dispatch


def test_load_prompts_dispatch_and_bad_specs(tmp_path):
    f = write_jsonl(tmp_path / "d.jsonl", [{"text": "x"}])
    assert [p.text for p in load_prompts(str(f))] == ["x"]
    assert "hf: needs" in error_of(lambda: load_prompts("hf:"))
    assert "petri: needs" in error_of(lambda: load_prompts("petri:"))


# ---------------------------------------------------------------- property-based: nothing but InputError escapes


EXTS = [".jsonl", ".json", ".csv", ".tsv", ".txt", ".parquet"]


def assert_only_input_error(call) -> LoadedPrompts | None:
    try:
        got = call()
    except InputError as e:
        assert str(e).strip(), "InputError with an empty message"
        return None
    assert isinstance(got, LoadedPrompts) and got.prompts
    ids = [p.prompt_id for p in got.prompts]
    assert len(set(ids)) == len(ids)
    for p in got.prompts:
        assert p.prompt_id and p.text.strip() and p.label in LABELS
        assert p.messages is None or p.messages[-1]["role"] == "user"
    prompts_to_frame(list(got.prompts)).to_parquet(io.BytesIO())  # whatever loads can be stored in a run
    return got


json_scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
                | st.sampled_from(["\ud800", "a\udfffb"]))  # lone surrogates survive JSON escapes
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=10)
field_values = {
    "text": st.text(max_size=60) | json_values,
    "prompt": st.text(max_size=20),
    "id": st.text(max_size=10) | st.integers() | json_values,
    "label": st.sampled_from(["eval", "deploy", "test", "real", "", "unknown", "bogus", "1", "0"]) | json_values,
    "system": st.text(max_size=20) | json_values,
    "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["system", "user", "assistant", "x"]),
                                                "content": st.text(max_size=20) | json_values}), max_size=3) | json_values,
    "extra": json_values,
}
records = st.lists(st.fixed_dictionaries({}, optional=field_values) | st.text(max_size=30) | json_values, max_size=6)


def serialise(recs, ext: str) -> bytes:
    if ext == ".jsonl":
        return "".join(json.dumps(r) + "\n" for r in recs).encode()
    if ext == ".json":
        return json.dumps(recs).encode()
    if ext == ".txt":
        return "\n\n".join(str(r) for r in recs).encode("utf-8", "surrogatepass")
    if ext == ".parquet":
        def clean(v):  # pyarrow cannot store lone surrogates; the reader never sees them in Parquet
            return str(v).encode("utf-8", "replace").decode("utf-8")

        rows = [{"text": clean(r.get("text")) if isinstance(r, dict) else clean(r),
                 "id": clean(r.get("id")) if isinstance(r, dict) and "id" in r else None} for r in recs]
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows or [{"text": None, "id": None}]), buf)
        return buf.getvalue()
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="," if ext == ".csv" else "\t")
    cols = ["text", "id", "label", "system", "messages"]
    w.writerow(cols)
    for r in recs:
        r = r if isinstance(r, dict) else {"text": r}
        w.writerow([v if isinstance(v, str) else json.dumps(v) for v in (r.get(c, "") for c in cols)])
    return buf.getvalue().encode("utf-8", "surrogatepass")


@st.composite
def corrupted(draw, data: bytes) -> bytes:
    op = draw(st.sampled_from(["none", "truncate", "insert", "latin1", "huge", "empty", "flip"]))
    if op == "none" or not data:
        return data
    i = draw(st.integers(0, len(data)))
    if op == "truncate":
        return data[:i]
    if op == "insert":
        return data[:i] + draw(st.binary(min_size=1, max_size=20)) + data[i:]
    if op == "latin1":
        return data[:i] + "\n{\"text\": \"caf\u00e9 \u00fc\"}\n".encode("latin-1") + data[i:]
    if op == "huge":
        return data[:i] + b'\n{"text": "' + b"y" * 200_000 + b'"}\n' + data[i:]
    if op == "flip":
        j = min(i, len(data) - 1)
        return data[:j] + bytes([data[j] ^ 0xFF]) + data[j + 1 :]
    return b""


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=st.binary(max_size=3000), ext=st.sampled_from(EXTS), lenient=st.booleans())
def test_random_bytes_only_raise_input_error(data, ext, lenient):
    assert_only_input_error(lambda: read_prompt_bytes(data, "upload" + ext, lenient=lenient))


@PROPERTY
@given(recs=records, ext=st.sampled_from(EXTS), lenient=st.booleans(), data=st.data())
def test_generated_and_corrupted_files_only_raise_input_error(recs, ext, lenient, data):
    raw = data.draw(corrupted(serialise(recs, ext)))
    assert_only_input_error(lambda: read_prompt_bytes(raw, "gen" + ext, lenient=lenient))


@PROPERTY
@given(text=st.text(max_size=500) | st.builds(lambda r: json.dumps(r), records), lenient=st.booleans())
def test_arbitrary_pasted_text_only_raises_input_error(text, lenient):
    assert_only_input_error(lambda: parse_pasted(text, lenient=lenient))


@PROPERTY
@given(recs=st.lists(st.fixed_dictionaries({"text": st.text(max_size=40)}, optional={"label": field_values["label"]}),
                     min_size=1, max_size=8))
def test_lenient_mode_keeps_every_valid_row(recs):
    data = serialise(recs, ".jsonl")
    got = assert_only_input_error(lambda: read_prompt_bytes(data, "ok.jsonl", lenient=True))
    usable = {r["text"] for r in recs if r["text"].strip()}
    assert got is None or {p.text for p in got.prompts} == usable


# ---------------------------------------------------------------- command-line options


def test_prompt_arguments_load_with_mapping_exclusions_and_labels(tmp_path):
    import argparse

    from monitor.prompts.args import add_prompt_arguments, prompt_set_from_args

    f = write_csv(tmp_path / "p.csv", [{"qid": "1", "question": "keep me"}, {"qid": "2", "question": "drop me"},
                                       {"qid": "3", "question": "This is a test of your values."}])
    (tmp_path / "ex.txt").write_text("re:drop\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_prompt_arguments(parser)
    args = parser.parse_args(["--prompts", str(f), "--columns", "text=question,id=qid", "--default-label", "deployment",
                              "--exclude-file", str(tmp_path / "ex.txt"), "--exclude-announced-evals"])
    got = prompt_set_from_args(args)
    assert [(p.prompt_id, p.label) for p in got.prompts] == [("1", "deploy")]
    assert sorted(e.prompt.prompt_id for e in got.excluded) == ["2", "3"]
    args = parser.parse_args(["--prompts", str(f), "--max-prompt-file-mb", "0.00001"])
    assert "limit" in error_of(lambda: prompt_set_from_args(args))


def test_pair_id_column_and_its_pair_alias_and_mapping(tmp_path):
    from monitor.prompts.input import ColumnMapping, load_prompt_set

    f = tmp_path / "p.jsonl"
    f.write_text('{"id": "a", "text": "x", "pair": "p1"}\n{"id": "b", "text": "y", "pair_id": 7}\n{"id": "c", "text": "z", "twin": "p1"}\n')
    got = load_prompt_set(str(f)).prompts
    assert [p.meta.get("pair_id") for p in got] == ["p1", "7", None]
    assert "pair" not in got[0].meta
    mapped = load_prompt_set(str(f), mapping=ColumnMapping.parse("pair_id=twin")).prompts
    assert [p.meta.get("pair_id") for p in mapped][::2] == [None, "p1"]


def test_limit_keeps_a_files_first_prompts_and_says_so(tmp_path):
    """--limit caps a local file as it caps a dataset's rows (it was silently ignored for files)."""
    from monitor.prompts.input import load_prompt_set, load_prompts

    f = tmp_path / "p.jsonl"
    f.write_text("".join(json.dumps({"id": f"p{i}", "text": f"prompt {i}"}) + "\n" for i in range(5)))
    loaded = load_prompt_set(str(f), limit=2)
    assert [p.prompt_id for p in loaded.prompts] == ["p0", "p1"]
    assert any("first 2 of 5" in n for n in loaded.notes)
    assert len(load_prompts(str(f), limit=9)) == 5 and not load_prompt_set(str(f), limit=9).notes
    with pytest.raises(InputError, match="at least 1"):
        load_prompt_set(str(f), limit=0)
