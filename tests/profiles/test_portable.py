"""A profile as one JSON document: export → parse → restore gives the same profile; hostile or broken
documents are refused with one sentence and change nothing."""

import json

import pytest

from fer.profiles.document import MAX_BYTES, Refused, dumps, is_empty, parse, salvage
from fer.profiles.store import Profile


def _filled() -> Profile:
    p = Profile(None)
    p.mark_seen("tt0111161")
    p.rate("tt0068646", 1, "sad")
    p.rate("tt0071562", -1, "happy")
    p.set("filters", {"mix": True, "min_rating": 7.5, "years": [1990, 2010]})
    p.set("mapping", {"preset": "lift my mood", "genres": {"sad": "Comedy"}})
    p.set("resting", [0.1, 0.0, 0.1, 0.1, 0.3, 0.0, 0.4])
    p.set("taught", [{"emotion": "angry", "probs": [0.35, 0.0, 0.05, 0.0, 0.5, 0.0, 0.1]}])
    p.count_answer("sad or angry", "sad")
    return p


def _content(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "exported"}


def test_an_export_restores_into_an_empty_profile_unchanged():
    original = _filled().export()
    copy = Profile(None)
    copy.restore(parse(dumps(original)))
    assert _content(copy.export()) == _content(original)
    assert copy.mood_ratings() == {"sad": {"tt0068646": 1}, "happy": {"tt0071562": -1}}
    assert not is_empty(original) and is_empty(Profile(None).export())


def test_restore_merges_newer_marks_adds_answers_and_takes_settings():
    account = Profile(None)
    account.rate("tt0068646", -1, "sad")  # made now: newer than the document's thumb (2020)
    doc = _filled().export()
    for m in doc["marks"]:
        m["updated"] = "2020-01-01T00:00:00+00:00"
    account.count_answer("sad or angry", "sad")
    account.restore(parse(dumps(doc)))
    assert account.ratings() == {"tt0068646": -1, "tt0071562": -1}  # its own newer thumb kept
    assert account.seen() == {"tt0111161"}
    assert account.answers() == {"sad or angry": {"sad": 2}}
    assert account.get("mapping")["preset"] == "lift my mood"


def test_a_write_moves_the_revision():
    p = Profile(None)
    before = p.revision
    p.mark_seen("tt0111161")
    assert p.revision == before + 1


@pytest.mark.parametrize("text, says", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "no list of marks"),
    (json.dumps({"marks": [], "format": "something else"}), "not a profile"),
    (json.dumps({"marks": [], "version": 99}), "newer version"),
    (json.dumps({"marks": [{"tconst": "../../etc/passwd"}]}), "not an IMDb film id"),
    (json.dumps({"marks": [{"tconst": "tt1", "rating": 5}]}), "rating"),
    (json.dumps({"marks": [{"tconst": "tt1", "updated": "yesterday"}]}), "not imported"),
    (json.dumps({"marks": [{"seen": True}]}), "lacks its 'tconst'"),
    (json.dumps({"marks": [], "settings": {"resting": [1e308] * 7}}), "7 probabilities"),
    (json.dumps({"marks": [], "settings": {"taught": [{"emotion": "angry", "probs": [0.5] * 6}]}}), "taught answers"),
    (json.dumps({"marks": [], "settings": {"taught": [{"emotion": "bored", "probs": [0.1] * 7}]}}), "taught answers"),
    (json.dumps({"marks": [], "settings": {"taught": [{"emotion": "sad", "probs": [0.1] * 7}] * 51}}),
     "at most 50"),
    (json.dumps({"marks": [], "settings": {"mapping": {"preset": "paper", "genres": {"sad": "<script>"}}}}),
     "unknown preset, emotion or genre"),
    (json.dumps({"marks": [], "settings": {"filters": {"__class__": 1}}}), "unknown name"),
    (json.dumps({"marks": [], "answers": {"sad or angry": {"sad": -4}}}), "unknown emotion or count"),
    ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    (json.dumps({"marks": [{"tconst": f"tt{i}"} for i in range(10_001)]}), "at most 10,000"),
    (b"{\"marks\": [], \"x\": \"" + b"a" * MAX_BYTES + b"\"}", "at most 1 MB"),
    (b"\xff\xfe not utf-8", "not valid JSON"),
    # issue 49: a time before the first representable one (was an uncaught OverflowError), numbers that are not
    # finite or out of the slider's range (NaN emptied the list for ever, Infinity failed every page load)
    (json.dumps({"marks": [{"tconst": "tt1", "updated": "0001-01-01T00:00:00+23:59"}]}), "not a date and time"),
    ('{"marks": [], "settings": {"filters": {"min_rating": NaN}}}', "minimum rating filter"),
    ('{"marks": [], "settings": {"filters": {"min_rating": Infinity}}}', "minimum rating filter"),
    (json.dumps({"marks": [], "settings": {"filters": {"min_rating": 1e308}}}), "minimum rating filter"),
    (json.dumps({"marks": [], "settings": {"filters": {"min_rating": -5}}}), "minimum rating filter"),
    (json.dumps({"marks": [], "settings": {"filters": {"years": [2010, 1990]}}}), "years filter"),
    (json.dumps({"marks": [], "settings": {"filters": {"runtime": [-10**30, 10**30]}}}), "runtime filter"),
    (json.dumps({"marks": [], "settings": {"mapping": {"preset": ["paper"], "genres": {}}}}), "unknown preset"),
    (json.dumps({"marks": [], "exported": "x" * 41}), "too long"),
    (json.dumps({"marks": [], "version": "1"}), "not a profile"),
])
def test_a_bad_document_is_refused_with_one_sentence_and_changes_nothing(text, says):
    p = _filled()
    before = p.export()
    with pytest.raises(Refused, match=says) as e:
        p.restore(parse(text))
    assert "\n" not in str(e.value) and len(str(e.value)) < 200
    assert _content(p.export()) == _content(before)


def test_times_are_normalised_so_a_future_stamp_cannot_outrank_later_clicks():
    doc = parse(json.dumps({"marks": [{"tconst": "tt1", "rating": 1, "updated": "2999-01-01T00:00:00Z"},
                                      {"tconst": "tt2", "rating": 1, "updated": "2024-05-01T12:00:00+02:00"}]}))
    assert doc["marks"][0]["updated"] < "2999"
    assert doc["marks"][1]["updated"] == "2024-05-01T10:00:00+00:00"


def test_replace_makes_the_document_the_whole_profile():
    """Another tab's copy replaces this session's (it started from it): nothing is added twice."""
    p = _filled()
    doc = parse(dumps(p.export()))
    p.mark_seen("tt0000017")  # not in the document: replacing leaves only what the document holds
    p.restore(doc, replace=True)
    assert _content(p.export()) == _content(doc) and p.answers() == {"sad or angry": {"sad": 1}}
    p.restore(None, replace=True)  # the other tab deleted its data
    assert is_empty(p.export())


def test_the_browsers_text_is_the_same_for_the_same_profile_and_refused_when_too_big(monkeypatch):
    from fer.profiles import document as portable

    p = _filled()
    first = portable.stored_text(p.export())
    assert "exported" not in first and portable.stored_text(p.export()) == first  # exports a second later too
    assert _content(parse(first)) == _content(p.export())
    monkeypatch.setattr(portable, "MAX_BYTES", len(first) - 1)
    with pytest.raises(ValueError, match="outgrown what this browser keeps"):
        portable.stored_text(p.export())


def test_salvage_takes_what_can_be_read_of_a_refused_copy():
    """A newer version's copy, or one with a damaged entry: parse refuses it whole; the person who chooses to
    import what can be read gets every entry that passes on its own, as a document parse takes."""
    doc = _filled().export()
    doc["version"] = 2
    doc["marks"].append({"tconst": "tt0000001", "rating": 7})  # damaged
    doc["settings"]["filters"]["min_rating"] = float("nan")
    text = json.dumps(doc)
    with pytest.raises(Refused):
        parse(text)
    kept = salvage(text)
    assert kept == parse(dumps(kept))
    assert {m["tconst"] for m in kept["marks"]} == {"tt0111161", "tt0068646", "tt0071562"}
    assert kept["settings"]["filters"] == {"mix": True, "years": [1990, 2010]}
    assert kept["settings"]["mapping"] == doc["settings"]["mapping"] and kept["answers"] == doc["answers"]
    assert salvage("not json") is None and salvage("[1]") is None and salvage('{"marks": 3}') is None
