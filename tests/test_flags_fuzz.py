"""Generated values for every flag of every command: each is taken (exit 0) or refused with one line naming
it (exit 2), never a traceback, and within a time bound.

The commands come from walking the parsers of `build_parser("all")`, so a new command or flag is fuzzed
without a change here. Commands that would train or read data are fuzzed up to the stage that checks
their values (parsing, the config, the memory estimate); `describe` runs whole, in-process. CI runs the
default number of examples; `make fuzz` sets HYPOTHESIS_PROFILE=fuzz (tests/conftest.py) for a long run.
"""
import argparse
import contextlib
import io
import signal
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from videogan.cli import build_parser, main
from videogan.cli.config_flags import config_from_args
from videogan.models.memory import training_bytes

SECONDS_PER_CASE = 30  # a bound far above what any case takes here, to catch hangs and minutes-long starts
# (time_bound enforces it: Hypothesis's own deadline of 200 ms would fail cases on a loaded machine)
NOTES = ("warning: ", "note: ", "videogan: note: ")
MISSING = "/dev/null/videogan-fuzz"  # below a file: nothing can be read or created there
# failures Hypothesis found, kept as explicit examples of their command
FOUND = {
    ("train",): [["train", "--seed", "-1"], ["train", "--z-dim", "1e9"], ["train", "--batch-size", "1000000"],
                 ["train", "--lr", "nan"], ["train", "--g-width", "1000000"]],
    ("describe",): [["describe", "--g-width", "1000000"], ["describe", "--z-dim", "1000000000"],
                    ["describe", "--size", "1073741824", "--frames", "268435456"],
                    ["describe", "--z-dim", "4611686018427387904"], ["describe", "--g-width", "4611686018427387904"]],
    # argparse echoed a carriage return into its "unrecognized arguments" line
    ("study", "tally"): [["study", "tally", "", "--answers", "--", "--max-catch-failures", "0", "--label", "\r0"]],
}


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple = ()):
    """(command words, parser) of every command and subcommand."""
    groups = [action for action in parser._actions if isinstance(action.choices, dict)]
    if not groups:
        yield path, parser
    for group in groups:
        for name, sub in group.choices.items():
            yield from leaf_parsers(sub, path + (name,))


COMMANDS = dict(leaf_parsers(build_parser("all")))

NUMBER_TEXTS = st.sampled_from(["nan", "-nan", "inf", "-inf", "1e400", "-1e400", "1e9", "0", "-0", "-1", "0.5",
                                "", " ", "9" * 40, "-" + "9" * 40, "0x10", "1_000", "١٢", "½"])
TEXTS = st.one_of(st.text(max_size=12), st.sampled_from(["", "-", "--", "ü", "\u202e", "%s", "../", "\x00"]))


def values_of(action: argparse.Action) -> st.SearchStrategy[str]:
    """Text for one option's value: of its kind and range, and of every other kind."""
    kind = getattr(action.type, "number", None)
    numbers = st.one_of(st.integers(-2 ** 70, 2 ** 70).map(str), st.floats().map(str), NUMBER_TEXTS)
    if action.choices:
        return st.one_of(st.sampled_from([str(choice) for choice in action.choices]), TEXTS, numbers)
    if kind is int:  # small, powers of two (sizes, frames), any
        return st.one_of(st.integers(-3, 70).map(str), st.integers(0, 64).map(lambda k: str(2 ** k)), numbers, TEXTS)
    if kind is float:
        return st.one_of(st.floats(-10, 10).map(str), numbers, TEXTS)
    return st.one_of(TEXTS, numbers)


@st.composite
def command_lines(draw, words: tuple, positional_value=None, values: dict | None = None) -> list[str]:
    """A command line of `words`' command: its positionals and a few of its options, with generated values
    (`values`: the strategy of some flags instead of their kind's)."""
    parser = COMMANDS[words]
    options = [a for a in parser._actions if a.option_strings and not isinstance(a, argparse._HelpAction)]
    argv = list(words)
    for action in parser._actions:
        if not action.option_strings:
            argv.append(positional_value or draw(TEXTS.filter(lambda text: not text.startswith("-"))))
    for action in draw(st.lists(st.sampled_from(options), max_size=4, unique_by=id)):
        flag = draw(st.sampled_from(action.option_strings))
        argv.append(flag)
        if action.nargs != 0:
            argv.append(draw((values or {}).get(flag, values_of(action))))
    return argv


@contextlib.contextmanager
def time_bound(seconds: int):
    def expire(signum, frame):
        raise TimeoutError(f"took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_in_process(call) -> tuple[int, str]:
    """(exit code, stderr) of `call`, which either returns an exit code or exits."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), time_bound(SECONDS_PER_CASE):
        try:
            code = call()
        except SystemExit as exit:
            code = exit.code
    return code, err.getvalue()


def assert_taken_or_one_line(code: int, err: str, argv: list[str]) -> None:
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:  # one error line, last; a warning or note about what was given may come before it
        *before, last = err.strip().splitlines()
        assert ": error: " in last and all(line.startswith(NOTES) for line in before), (argv, err)


def parse_and_validate(words: tuple, argv: list[str]) -> int:
    """What a command checks before it works: its flags, and for `train` the config and whether it fits in
    memory (ValueError: one line, as `main` reports it)."""
    args = build_parser(argv[0]).parse_args(argv)
    if words == ("train",):
        try:
            training_bytes(config_from_args(args))
        except ValueError as err:
            print(f"videogan train: error: {err}", file=sys.stderr)
            assert "\n" not in str(err)
            return 2
    return 0


@pytest.mark.parametrize("words", sorted(COMMANDS), ids=" ".join)
def test_every_flag_of_every_command_is_taken_or_refused_in_one_line(words):
    def check(argv):
        start = time.monotonic()
        code, err = run_in_process(lambda: parse_and_validate(words, argv))
        assert_taken_or_one_line(code, err, argv)
        assert time.monotonic() - start < SECONDS_PER_CASE

    for argv in FOUND.get(words, []):
        check = example(argv)(check)
    settings(deadline=None)(given(command_lines(words))(check))()


def test_describe_runs_whole_on_generated_flags():
    def check(argv):
        code, err = run_in_process(lambda: main(argv))
        assert_taken_or_one_line(code, err, argv)

    for argv in FOUND[("describe",)]:
        check = example(argv)(check)
    settings(deadline=None)(given(command_lines(("describe",)))(check))()


OUTPUTS = Path(tempfile.mkdtemp(prefix="videogan-fuzz-"))  # --out of commands that fail on their input first


@settings(deadline=None)  # time_bound checks the time: a loaded machine must not fail a case of 0.3 s
@example(["study", "serve", MISSING, "--host", ""])  # all interfaces: warned of, then the missing study
@example(["study", "serve", MISSING, "--port", "0", "--host", "\r"])  # the warning printed a carriage return
@given(st.sampled_from([words for words, parser in COMMANDS.items()
                        if [a for a in parser._actions if not a.option_strings]]).flatmap(
    lambda words: command_lines(words, positional_value=MISSING)))
def test_commands_given_a_missing_input_fail_in_one_line_whatever_their_flags(argv):
    """Every command that reads a file runs until it looks for it: one line, whatever else was given."""
    if "--out" in argv:  # nothing is written where a generated name could point
        argv[argv.index("--out") + 1] = str(OUTPUTS / "out")
    code, err = run_in_process(lambda: main(argv))
    assert_taken_or_one_line(code, err, argv)
    assert code == 2, (argv, err)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("fuzz") / "run"
    assert main(["train", "--preset", "tiny", "--iterations", "2", "--device", "cpu", "--no-progress",
                 "--out", str(run)]) == 0
    return run


# at most a few videos per case (a run of thousands takes minutes, and is right to), or far too many
FEW_VIDEOS = st.one_of(st.integers(-3, 6).map(str), st.just(str(10 ** 12)), NUMBER_TEXTS, TEXTS)


def test_sample_runs_whole_on_generated_flags(tiny_run):
    """`sample` of a real run, to its files: its own checks of --n, --fps, --seed and --device."""
    def check(argv):
        if "--out" in argv:
            argv[argv.index("--out") + 1] = str(OUTPUTS / "samples")
        else:
            argv += ["--out", str(OUTPUTS / "samples")]
        code, err = run_in_process(lambda: main(argv))
        assert_taken_or_one_line(code, err, argv)

    check = example(["sample", str(tiny_run), "--fps", "2147483648"])(check)  # OverflowError in the MP4 writer
    check = example(["sample", str(tiny_run), "--fps", "0.3"])(check)
    lines = command_lines(("sample",), positional_value=str(tiny_run), values={"--n": FEW_VIDEOS})
    few = settings(deadline=None, max_examples=max(10, settings.default.max_examples // 4))
    few(given(lines)(check))()
