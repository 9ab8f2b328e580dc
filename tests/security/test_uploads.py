"""Issue 10, item 7 (and the upload items of the low list): an upload cannot exhaust the server.

Threat: a 5 KB ``.xlsx`` whose only far cell sits at ``XFD1048576`` declares a 17-billion-cell sheet; reading it
grew the shared Streamlit process to 2.6 GB. The attack runs here in a separate "app" process (capped at 3 GB so
that the machine survives the unfixed code), which reports its own peak resident memory.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
import zipfile

import openpyxl
import pytest

from aihub.errors import IngestError
from aihub.ingest import read_upload

APP_BUDGET_MB = 400  # a Python process with pandas and openpyxl loaded uses about 150 MB


def _bomb(*, dimension: bool = True) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["region", "sales"])
    ws.append(["West", 10])
    ws["XFD1048576"] = 1
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    if dimension:
        return data
    zin, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            body = zin.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                body = re.sub(rb"<dimension ref=\"[^\"]*\" ?/>", b"", body)
            zout.writestr(item, body)
    return out.getvalue()


def _attack_in_app_process(data: bytes, tmp_path) -> dict:
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(data)
    script = textwrap.dedent(f"""
        import json, resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
        from aihub.ingest import read_upload
        try:
            read_upload("bomb.xlsx", open({str(path)!r}, "rb").read())
            outcome = {{"code": None}}
        except Exception as exc:
            outcome = {{"code": getattr(exc, "code", type(exc).__name__), "message": str(exc)}}
        # VmHWM: this process's own peak (ru_maxrss would carry over the larger parent's peak across exec)
        hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
        outcome["peak_mb"] = int(hwm.split()[1]) / 1024
        print(json.dumps(outcome))
    """)
    done = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dimension", [True, False], ids=["declared", "no-dimension-tag"])
def test_xlsx_bomb_is_refused_and_the_app_process_stays_small(tmp_path, dimension):
    data = _bomb(dimension=dimension)
    assert len(data) < 10_000
    outcome = _attack_in_app_process(data, tmp_path)
    print(f"xlsx bomb ({'declared' if dimension else 'no dimension tag'}): app peak RSS {outcome['peak_mb']:.0f} MB")
    assert outcome["code"] == "sheet_too_large", outcome
    assert "XFD" not in outcome["message"] and "delete the empty rows and columns" in outcome["message"]
    assert outcome["peak_mb"] < APP_BUDGET_MB, outcome


def test_workbook_parse_runs_under_a_time_and_memory_budget(monkeypatch):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append([f"c{j}" for j in range(20)])
    for i in range(30_000):
        ws.append([f"row {i} col {j}" for j in range(20)])
    buf = io.BytesIO()
    wb.save(buf)
    monkeypatch.setenv("AIHUB_UPLOAD_PARSE_SECONDS", "0.5")
    with pytest.raises(IngestError) as err:
        read_upload("big.xlsx", buf.getvalue())
    assert err.value.code == "too_complex" and "AIHUB_UPLOAD_PARSE_SECONDS" in err.value.message
    monkeypatch.setenv("AIHUB_UPLOAD_PARSE_SECONDS", "120")
    monkeypatch.setenv("AIHUB_UPLOAD_PARSE_MB", "30")
    with pytest.raises(IngestError) as err:
        read_upload("big.xlsx", buf.getvalue())
    assert err.value.code == "too_complex" and "AIHUB_UPLOAD_PARSE_MB" in err.value.message
    monkeypatch.delenv("AIHUB_UPLOAD_PARSE_MB")
    assert read_upload("big.xlsx", buf.getvalue()).row_count == 30_000  # within the default budget


def test_a_5_mb_cell_is_read_and_a_larger_one_gets_the_right_message():
    parsed = read_upload("notes.csv", b"id,note\n1," + b"x" * 5_000_000 + b"\n2,short\n")
    assert parsed.row_count == 2 and len(parsed.frame["note"][0]) == 5_000_000
    with pytest.raises(IngestError) as err:
        read_upload("notes.csv", b"id,note\n1," + b"x" * 11_000_000 + b"\n2,short\n")
    assert err.value.code == "cell_too_large" and err.value.details["row"] == 2
    assert err.value.message.startswith("Row 2 of notes.csv has a cell longer than")


def test_nested_json_is_read_at_its_records_path_and_the_candidates_are_offered():
    doc = {"meta": {"page": 1}, "data": {"items": [{"id": 1, "amount": "10.5"}, {"id": 2, "amount": "3"}]}}
    parsed = read_upload("nested.json", json.dumps(doc).encode())
    assert parsed.records_path == "data.items" and parsed.records_paths == ["data.items"]
    assert parsed.frame.to_dict("list") == {"id": ["1", "2"], "amount": ["10.5", "3"]}
    assert any("'data.items'" in w for w in parsed.warnings)
    doc["data"]["tags"] = [{"tag": "x"}]
    with pytest.raises(IngestError) as err:
        read_upload("nested.json", json.dumps(doc).encode())
    assert err.value.field == "records_path" and err.value.details["allowed"] == ["data.items", "data.tags"]
    chosen = read_upload("nested.json", json.dumps(doc).encode(), records_path="data.tags")
    assert chosen.frame.to_dict("list") == {"tag": ["x"]} and chosen.records_paths == ["data.items", "data.tags"]


def test_mixed_date_formats_and_infinite_numbers_are_flagged_per_row():
    lines = ["day,amount"] + [f"2024-01-{d:02d},{d * 1.5}" for d in range(1, 21)]
    lines[4] = "01/04/2024,inf"  # file row 5
    lines[9] = "Jan 9 2024,NaN"  # file row 10
    parsed = read_upload("mixed.csv", "\n".join(lines).encode())
    day, amount = parsed.schema
    assert day.kind == "text" and day.flagged_rows == [5, 10]
    assert "rows 5, 10" in day.note and "%Y-%m-%d" in day.note and "'missing'" in day.note
    assert amount.kind == "text" and amount.flagged_rows == [5] and "row 5 holds 'inf'" in amount.note
    assert amount.token_counts == {"NaN": 1} and amount.missing_tokens == ["nan"]
    assert {f["column"]: f["rows"] for f in parsed.flags} == {"day": [5, 10], "amount": [5]}
    assert all(c.note in parsed.warnings for c in parsed.schema)
