"""Readers for the public annotation formats of the paper's tasks.

Each reader yields :class:`~dataset_converters.Annotation` records in file order (their ``ordinal`` is the
record's position, which becomes the stable ``extra_info.index``) and a
:class:`~dataset_converters.Skip` for a row it cannot read, naming the file and line or key. A file that is
not the expected format at all (not JSON, missing columns) raises ``ValueError``, naming the converter that
reads it when the file is one we know.

* Charades-STA (:mod:`~dataset_converters.formats.grounding`): ``charades_sta_{train,test}.txt``, one
  ``<video_id> <start> <end>##<sentence>`` per line; or the same annotations as TimeZero / VideoChat-R1 ship
  them, in the captions JSON layout below.
* ActivityNet Captions: ``train.json`` / ``val_1.json`` / ``val_2.json``,
  ``{video_id: {"duration", "timestamps": [[s, e], …], "sentences": […]}}``.
* NExT-GQA (:mod:`~dataset_converters.formats.nextgqa`): the grounded-QA csv (``video_id, question, answer, qid,
  a0…a4``) joined with ``gsub_{val,test}.json`` (``{video_id: {"duration", "location": {qid: [[s, e], …]}}}``),
  or VideoChat-R1's ``nextgqa_{val,test}.json``; every gold moment is kept.
* Multiple-choice VideoQA, NExT-QA style (:mod:`~dataset_converters.formats.choice`): csv, JSON list or JSONL with
  ``video``/``video_id`` (an id, or a relative path such as ``1104/4882821564.mp4``), ``question``,
  ``answer`` (option index, letter, ``(C)``, or the option's text) and options ``a0…aN`` or an ``options``
  list (bare, or lettered ``(A) …`` / ``A. …``).
* Generic JSONL (:mod:`~dataset_converters.formats.jsonl`): ``{"video": <id or relative path>, "question": …,
  "ground_truth": <reward contract>}`` with optional ``prompt``, ``duration``, ``video_id``.
"""

from __future__ import annotations

# ``_answer_index`` is re-exported for the property tests (it never raises on any JSON value).
from dataset_converters.formats.choice import _answer_index as _answer_index
from dataset_converters.formats.choice import read_multiple_choice, resolve_answer, strip_letters
from dataset_converters.formats.grounding import (
    read_activitynet_captions,
    read_captions_json,
    read_charades_sta,
)
from dataset_converters.formats.jsonl import read_jsonl
from dataset_converters.formats.nextgqa import MultiSegmentPolicy, merge_segments, read_nextgqa

__all__ = [
    "MultiSegmentPolicy",
    "merge_segments",
    "read_activitynet_captions",
    "read_captions_json",
    "read_charades_sta",
    "read_jsonl",
    "read_multiple_choice",
    "read_nextgqa",
    "resolve_answer",
    "strip_letters",
]
