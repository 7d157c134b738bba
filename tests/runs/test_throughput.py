"""bench --run on a tiny model: both paths run, the tables compare equal, the JSON has the figures."""

import json

from monitor.cli import main


def test_bench_run_prints_json_with_speedup_and_equal_tables(tiny_model_dir, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"q{i}", "text": "Is this a test? " * (i % 3 + 1), "label": "eval"}) + "\n" for i in range(6)))
    assert main(["bench", "--run", "--model", str(tiny_model_dir), "--prompts", str(prompts), "--n-prompts", "4",
                 "--rollouts", "2", "--max-new-tokens", "16", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("speedup", "rollouts_per_s_old", "rollouts_per_s_new", "k0_prompts_per_s_one", "k0_prompts_per_s_batched"):
        assert out[key] > 0, key
    assert out["rollouts"] == 8 and out["case"]["n_prompts"] == 4
    assert out["tables_equal"] and out["rollouts_equal"] and out["rollouts_differing"] == 0
    assert out["scores_max_abs_diff"] < 1e-5 and out["k0_max_abs_diff"] < 1e-5


def test_bench_run_errors_are_one_line(tiny_model_dir, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "text": "hi", "label": "eval"}) + "\n")
    assert main(["bench", "--run", "--model", str(tiny_model_dir), "--prompts", str(prompts), "--n-prompts", "4"]) == 2
    err = capsys.readouterr().err
    assert "asked for 4 prompts" in err and "Traceback" not in err


def test_bench_run_checks_the_k0_prompt_count_before_running_anything(tiny_model_dir, tmp_path, capsys):
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"id": "a", "text": "hi", "label": "eval"}) + "\n")
    assert main(["bench", "--run", "--model", str(tiny_model_dir), "--prompts", str(prompts), "--n-prompts", "1",
                 "--k0-prompts", "5", "--max-new-tokens", "4"]) == 2
    err = capsys.readouterr().err
    assert "asked for 5 prompts" in err and "batches of" not in err and "Traceback" not in err
