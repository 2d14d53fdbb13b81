"""`import_session` reads JSON exports back: round trips, replacing, and clear errors for bad files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blitz.data.browse import SessionNotFound, load_session, session_stats
from blitz.data.database import DatabaseClient
from blitz.data.export import export_session
from blitz.data.models import Session
from blitz.data.importer import ImportFileError, SessionExists, import_session, scan_session_file
from tests.client.browse_fixtures import StoredSession, filled, sessions, store  # noqa: F401 (fixtures)


def _export_text(client: DatabaseClient, ref_id: int) -> str:
    out = io.StringIO()
    with client.engine.connect() as conn:
        export_session(conn, ref_id, out, "json")
    return out.getvalue()


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_round_trip_into_a_fresh_database_is_byte_identical(filled: DatabaseClient, tmp_path: Path) -> None:
    first = _export_text(filled, 1)
    fresh = DatabaseClient(path=str(tmp_path / "fresh.db"))
    try:
        result = import_session(fresh.engine, _write(tmp_path / "one.json", first))
        assert (result.ref_id, result.readings, result.replaced) == (1, 1500, False)
        assert _export_text(fresh, 1) == first
        stored = fresh.get(Session, {"ref_id": 1})
        assert stored is not None and stored.available
        assert (stored.number_of_readings, stored.downloaded_messages) == (1500, 1500)
    finally:
        fresh.close()


def test_round_trip_on_the_same_backend_after_deleting(filled: DatabaseClient, tmp_path: Path) -> None:
    first = _export_text(filled, 2)
    path = _write(tmp_path / "two.json", first)
    filled.delete_session(2)
    import_session(filled.engine, path)
    assert _export_text(filled, 2) == first


def test_existing_session_is_refused_unless_replace(
    filled: DatabaseClient, sessions: list[StoredSession], tmp_path: Path
) -> None:
    data = json.loads(_export_text(filled, 1))
    data["readings"] = [[t, name, value * 2] for t, name, value in data["readings"]]
    path = tmp_path / "doubled.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")  # another layout: several lines per reading
    with pytest.raises(SessionExists, match=r"session 1 already exists .* --replace"):
        import_session(filled.engine, path)
    result = import_session(filled.engine, path, replace=True)
    assert result.replaced and result.readings == 1500
    with filled.engine.connect() as conn:
        stats = {s.name: s for s in session_stats(conn, load_session(conn, 1)).variables}
    adc = sessions[0].series["adc"][1]
    assert stats["adc"].maximum == 2 * adc.max() and stats["adc"].count == len(adc)


def test_metadata_after_the_readings_still_imports(filled: DatabaseClient, tmp_path: Path) -> None:
    data = json.loads(_export_text(filled, 2))
    reordered = {"readings": data.pop("readings"), **data}
    path = _write(tmp_path / "reordered.json", json.dumps(reordered))
    filled.delete_session(2)
    assert import_session(filled.engine, path).readings == 1200


@settings(max_examples=25, deadline=None)
@given(block=st.integers(min_value=1, max_value=300))
def test_any_read_size_parses_the_same(block: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    text = (
        '{"format": "blitz-session", "version": 1, "session": {"ref_id": 4, "time_started": null, '
        '"time_stopped": null, "number_of_readings": 2}, "readings_count": 5, '
        '"variables": [{"name": "a", "count": 3}, {"name": "b \\"q\\"", "count": 2}],\n "readings": [\n'
        '[1, "a", 0.5],\n[1, "b \\"q\\"", -2],\n[2, "a", 1e-05],\n[3, "b \\"q\\"", 7.25],\n[4, "a", 3.0]\n]}\n'
    )
    path = _write(tmp_path_factory.mktemp("scan") / "s.json", text)
    meta, digest = scan_session_file(path, block_chars=block)
    reference = scan_session_file(path)
    assert (meta, digest) == reference
    assert meta.counts == {"a": 3, 'b "q"': 2}


GOOD_HEADER = (
    '{"format": "blitz-session", "version": 1, "session": {"ref_id": 8, "time_started": 5, "time_stopped": 9, '
    '"number_of_readings": 1}, "readings_count": 2, "variables": [{"name": "a", "count": 2}], '
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is not json", r"expected a JSON object \('\{'\), found 't' at character 0"),
        ('{"format": tru }', r"invalid JSON \(Expecting value\) at character 11"),
        ('{"format": "csv", "version": 1}', r"not a Blitz session export"),
        ('{"format": "blitz-session", "version": 7}', r"export version 7 is not supported"),
        ('{"format": "blitz-session", "version": 1, "variables": []}', r"\"session\": expected an object"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0],\n[2, "a"]\n]}', r"readings\[1\]: expected \[time_logged"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0],\n[2, "zz", 1.0]\n]}', r"readings\[1\]: variable 'zz' is not"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0],\n[2, "a", "x"]\n]}', r"readings\[1\]: value: expected a fini"),
        (GOOD_HEADER + '"readings": [\n[1.5, "a", 1.0],\n[2, "a", 1]\n]}', r"readings\[0\]: time_logged: expected"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0]\n]}', r"a has 1 readings but the metadata says 2"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0],\n[2, "a", 2.0]\n]} extra', r"unexpected data after the end"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0],\n[2, "a", 2', r"truncated"),
        (GOOD_HEADER + '"readings": [\n[1, "a", 1.0],\n', r"truncated"),
        (GOOD_HEADER.replace('"ref_id": 8', '"ref_id": -1') + '"readings": []}', r"session.ref_id: expected a whole"),
        (GOOD_HEADER.replace('"readings_count": 2', '"readings_count": 3') + '"readings": []}', r"readings_count 3 is"),
    ],
)
def test_malformed_files_fail_with_a_clear_message_and_store_nothing(
    store: DatabaseClient, tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path / "bad.json", text)
    with pytest.raises(ImportFileError, match=message):
        import_session(store.engine, path)
    with store.engine.connect() as conn, pytest.raises(SessionNotFound):
        load_session(conn, 8)


def test_missing_and_binary_files(store: DatabaseClient, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"cannot read the file \(No such file or directory\)"):
        import_session(store.engine, tmp_path / "absent.json")
    binary = tmp_path / "image.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 10)
    with pytest.raises(ImportFileError, match="not a UTF-8 text file"):
        import_session(store.engine, binary)


names_strategy = st.lists(
    st.text(min_size=1, max_size=12).filter(lambda name: name.strip()), min_size=1, max_size=4, unique=True
)
readings_strategy = st.lists(
    st.tuples(
        st.integers(min_value=-(2**40), max_value=2**40),
        st.integers(min_value=0, max_value=3),
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=30, deadline=None)
@given(names=names_strategy, readings=readings_strategy)
def test_any_names_and_values_survive_export_and_import(
    names: list[str], readings: list[tuple[int, int, float]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("roundtrip")
    rows = [(t, names[i % len(names)], v) for t, i, v in readings]
    with DatabaseClient(path=str(folder / "a.db")) as source, DatabaseClient(path=str(folder / "b.db")) as target:
        source.update_session_list([[12, 1_000, 2_000, 1]])
        ids = source.get_or_create_categories(names)
        source.add_readings_bulk(12, [r[0] for r in rows], [ids[r[1]] for r in rows], [r[2] for r in rows], 1)
        first = _export_text(source, 12)
        parsed = json.loads(first)
        assert sorted(map(tuple, parsed["readings"])) == sorted(rows)
        import_session(target.engine, _write(folder / "s.json", first))
        assert _export_text(target, 12) == first
