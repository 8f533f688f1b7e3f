"""Records: every JSON a command writes says its kind and format; readers refuse what they cannot
read in one line, and read ganforge 0.1's files (no kind) under the names used now."""
import json

import pytest

from ganforge.errors import GanforgeError
from ganforge.records import FORMAT, KINDS, folder_record, read_record, write_record


def test_written_records_read_back_with_kind_and_format(tmp_path):
    write_record(tmp_path / "results.json", "samples", {"n": 4, "truncation": None})
    data = json.loads((tmp_path / "results.json").read_text())
    assert list(data)[:2] == ["kind", "format"] and data["format"] == FORMAT == 1
    record = read_record(tmp_path / "results.json", expect=("samples",))
    assert (record.kind, record.format, record["n"], record.get("missing", 7)) == ("samples", 1, 4, 7)
    with pytest.raises(ValueError):
        write_record(tmp_path / "x.json", "no-such-kind", {})


def test_a_record_of_another_kind_than_expected_is_refused(tmp_path):
    write_record(tmp_path / "config.json", "ae-run", {"dataset": "mnist"})
    with pytest.raises(GanforgeError, match="is a ae-run record, not gan-run"):
        read_record(tmp_path / "config.json", expect=("gan-run",))


@pytest.mark.parametrize("text,needle", [
    ('{"kind": "samples"', "damaged: not complete JSON"),
    ("null", "JSON of another shape"),
    ('{"kind": "samples", "format": "1"}', "in format '1'"),
    ('{"kind": "samples", "format": true}', "in format True"),
    ('{"kind": "samples", "format": 2}', "in format 2; this ganforge reads format 1"),
    ('{"kind": 3, "format": 1}', "JSON of another shape"),
])
def test_unreadable_records_are_one_line(tmp_path, text, needle):
    (tmp_path / "results.json").write_text(text)
    with pytest.raises(GanforgeError, match=needle.replace("(", r"\(")) as info:
        read_record(tmp_path / "results.json")
    assert "\n" not in str(info.value)


def test_undecodable_and_missing_files_are_one_line(tmp_path):
    (tmp_path / "metrics.json").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(GanforgeError, match="cannot read"):
        read_record(tmp_path / "metrics.json")
    with pytest.raises(GanforgeError, match="does not exist"):
        read_record(tmp_path / "nowhere.json")


LEGACY = {  # file name, ganforge 0.1's content -> the kind it is read as
    ("config.json", '{"dataset": "mnist", "epochs": 1, "seed": 0, "versions": {}, "generator": "M4"}'): "gan-run",
    ("config.json", '{"dataset": "mnist", "epochs": 1, "seed": 0, "versions": {}, "kind": "autoencoder"}'): "ae-run",
    ("summary.json", '{"epochs": 1, "iterations": 5}'): "run-summary",
    ("latent_ks.json", '[{"epoch": 1, "ks": 0.2, "moments": [0, 1, 3]}]'): "latent-normality",
    ("metrics.json", '{"generator": "g", "dataset": "ring", "results": []}'): "toy-evaluation",
    ("metrics.json", '{"generator": "g", "dataset": "stacked-mnist", "results": []}'): "stacked-mnist-evaluation",
    ("metrics.json", '{"generator": "g", "dataset": "mnist", "results": [{"fid": 3.5, "kid": 0.1}]}'):
        "image-evaluation",
    ("results.json", '{"generator": "g", "masks": {}}'): "restoration",
    ("results.json", '{"generator": "g", "alphas": [0, 1]}'): "interpolation",
    ("results.json", '{"generator": "g", "images": []}'): "inversion",
    ("evaluators.json", '{"mnist": {"file": "mnist.safetensors"}}'): "evaluators",
}


@pytest.mark.parametrize("name,text", list(LEGACY))
def test_files_of_ganforge_0_1_are_read_as_format_0(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    record = read_record(tmp_path / name)
    assert record.kind == LEGACY[name, text] and record.format == 0 and record.kind in KINDS
    if record.kind == "image-evaluation":  # the plain names of the LeNet-feature metrics, renamed
        assert record["results"] == [{"lenet_fid": 3.5, "lenet_kid": 0.1}]
    if record.kind == "latent-normality":
        assert record["epochs"][0]["ks"] == 0.2


@pytest.mark.parametrize("name,text", [("config.json", '{"a": 1}'), ("results.json", '{"images": []}'),
                                       ("notes.json", '{"generator": "g"}')])
def test_json_that_only_looks_like_a_0_1_file_is_not_taken_for_one(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    with pytest.raises(GanforgeError, match="JSON of another shape"):
        read_record(tmp_path / name)


def test_a_folder_is_what_its_first_record_says(tmp_path):
    write_record(tmp_path / "config.json", "gan-run", {})
    write_record(tmp_path / "summary.json", "run-summary", {})
    assert folder_record(tmp_path).kind == "gan-run"
    with pytest.raises(GanforgeError, match="holds no file a ganforge command writes"):
        folder_record(tmp_path / "nothing-here")
