"""Prompts: one instruction per task, each stating exactly the answer format ``video_rewards`` parses."""

from __future__ import annotations

from collections.abc import Sequence

from dataset_converters.records import OPTION_LETTERS

THINK_ANSWER = "Think step by step inside <think> </think> tags, then give the final answer inside <answer> </answer> tags."

_INSTRUCTIONS: dict[str, str] = {
    "tvg": (
        '<video>\nFind the moment in the video described by: "{text}".\n'
        + THINK_ANSWER
        + " The answer is the start and end time of the moment in seconds, as JSON: "
        '{{"start_time": <start>, "end_time": <end>}}. '
        'Example: <think>...</think><answer>{{"start_time": 4.5, "end_time": 9.0}}</answer>'
    ),
    "mcq": (
        "<video>\n{text}\nOptions:\n{options}\n"
        + THINK_ANSWER
        + " The answer is the letter of the correct option only. Example: <think>...</think><answer>B</answer>"
    ),
    "gqa": (
        "<video>\n{text}\nOptions:\n{options}\n"
        + THINK_ANSWER
        + " The answer is the letter of the correct option and the start and end time, in seconds, of the "
        'part of the video that supports it, as JSON: {{"answer": <letter>, "start_time": <start>, '
        '"end_time": <end>}}. Example: <think>...</think><answer>{{"answer": "B", "start_time": 4.5, '
        '"end_time": 9.0}}</answer>'
    ),
}


def lettered_options(options: Sequence[str]) -> list[str]:
    """Options as the contract and the prompt show them.

    >>> lettered_options(["open the door", "sit down"])
    ['A. open the door', 'B. sit down']
    """
    if len(options) > len(OPTION_LETTERS):
        raise ValueError(f"at most {len(OPTION_LETTERS)} options are supported, got {len(options)}")
    return [f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options)]


def build_prompt(task: str, text: str, options: Sequence[str] = ()) -> str:
    """The user message for one sample: ``<video>``, the query or question, the answer-format instruction.

    >>> print(build_prompt("mcq", "What does the man hold?", ["a cup", "a book"]).splitlines()[:4])
    ['<video>', 'What does the man hold?', 'Options:', 'A. a cup']
    """
    try:
        template = _INSTRUCTIONS[task]
    except KeyError:
        raise ValueError(f"no prompt instruction for task {task!r}; known: {sorted(_INSTRUCTIONS)}") from None
    return template.format(text=text.strip(), options="\n".join(lettered_options(options)))
