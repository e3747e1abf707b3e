"""Every option of the suite, declared once: its flag, help, parser (which validates) and where it is offered.

The same table registers the options into pytest (the plugin) and into the command line, so both accept the
same values and refuse the same mistakes with the same message, which names the option and the valid range.
A parsed run is a ``Settings``: the command line writes it to a file that each benchmark process reads
(nothing is turned back into flags), and the results keep it, so reports and the gate can tell like from
unlike.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .precision import MUST_MATCH, PRECISIONS
from .registry import DEFAULT_VARIANT, DEVICES, FRAMEWORKS
from .specs import NETWORKS

FULL_EPOCH = 60_000
QUICK = {"epoch_images": 8_192, "round_seconds": 0.3}  # what --quick sets unless given explicitly


@dataclass(frozen=True)
class Preset:
    """A named run design for one question: bench option values (by ``dest``, as the command line gives them),
    each applied unless the option is given explicitly."""

    question: str
    values: Mapping[str, Any]


#: bench's presets (README and docs/benchmarks.md say how long each took here)
PRESETS = {
    "verdict": Preset("which framework is fastest here at its defaults: every network's steps, 4,096-image epochs and "
                      "latency at each framework's default variant, 5 fresh processes each, 0.3 s of rounds per step, "
                      "a verdict with its interval on every comparison (./run-benchmarks)",
                      {"repeats": 5, "benchmark_max_time": 0.3, "epoch_images": 4_096, "variants": [DEFAULT_VARIANT],
                       "no_fidelity": True}),
    "thorough": Preset("the verdict, and every variant against its framework's default (each framework at its best), "
                       "the harness checked against each framework's own tool and against tutorial-style scripts",
                       {"repeats": 5, "quick": True, "idiomatic": True}),
}


# --- parsers: each turns the user's text into a value or raises ArgumentTypeError saying what is valid ---------
def _names(kind: str, valid: Callable[[], Iterable[str]]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        known = list(valid())
        names = [v.strip() for v in str(text).split(",")]
        if not any(names):
            raise argparse.ArgumentTypeError(f"an empty list; give one or more of: {', '.join(known)}")
        for name in names:
            if not name:
                raise argparse.ArgumentTypeError(f"an empty name in {text!r}; valid {kind}s: {', '.join(known)}")
            if name not in known:
                raise argparse.ArgumentTypeError(f"unknown {kind} {name!r}; valid {kind}s: {', '.join(known)}")
        return list(dict.fromkeys(names))

    parse.__name__ = f"{kind} list"
    return parse


def framework_name(text: str) -> str:
    """One framework name."""
    names = _names("framework", lambda: FRAMEWORKS)(text)
    if len(names) != 1:
        raise argparse.ArgumentTypeError(f"give one framework, got {len(names)}: {text!r}")
    return names[0]


def _all_variants() -> list[str]:
    return list(dict.fromkeys([DEFAULT_VARIANT, *(v for info in FRAMEWORKS.values() for v in info.variants)]))


def _whole(text: str, minimum: int, maximum: int | None = None) -> int:
    """A whole number in [minimum, maximum], or the error saying which bound it broke."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise argparse.ArgumentTypeError(f"must be at most {maximum:,}, got {value:,}")
    return value


def positive_int(text: str, *, maximum: int | None = None) -> int:
    """A whole number >= 1 (and <= ``maximum``)."""
    return _whole(text, 1, maximum)


def non_negative_int(text: str) -> int:
    """A whole number >= 0."""
    return _whole(text, 0)


def port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    return positive_int(text, maximum=65535)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, got {text}")
    return value


def positive_ints(text: str) -> list[int]:
    """A comma list of whole numbers >= 1."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("an empty list; give one or more whole numbers, e.g. 128,1024")
    values = []
    for part in parts:
        try:
            values.append(positive_int(part))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"{part!r} in {text!r}: {exc}") from None
    return list(dict.fromkeys(values))


def epoch_images(text: str) -> int:
    return positive_int(text, maximum=FULL_EPOCH)


def text_list(text: str) -> list[str]:
    """A comma list of non-empty names."""
    names = [p.strip() for p in str(text).split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"an empty name in {text!r}")
    return names


MAX_LATENCY_BATCH = 256  # latency is about single requests and small batches; throughput has --batch-sizes


def latency_batches(text: str) -> list[int]:
    """A comma list of small batch sizes (1 to ``MAX_LATENCY_BATCH``)."""
    values = positive_ints(text)
    large = [v for v in values if v > MAX_LATENCY_BATCH]
    if large:
        raise argparse.ArgumentTypeError(f"latency batches must be at most {MAX_LATENCY_BATCH} (small batches; "
                                         f"--batch-sizes measures throughput), got {large[0]}")
    return values


def _choice(kind: str, valid: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = str(text).strip()
        if value not in valid:
            raise argparse.ArgumentTypeError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
        return value

    parse.__name__ = kind
    return parse


def _host(text: str) -> str:
    """A host name or address (no scheme, no port)."""
    value = str(text).strip()
    if not value or any(c in value for c in "/: "):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or address (give it without scheme or port)")
    return value


def user_path(text: str) -> str:
    """A path as the user typed it, made absolute against the directory they typed it in (child processes
    may run elsewhere); the path is not created."""
    if not str(text).strip():
        raise argparse.ArgumentTypeError("an empty path")
    return os.path.abspath(os.path.expanduser(str(text)))


# --- the table -----------------------------------------------------------------------------------------------
PYTEST = "pytest"


@dataclass(frozen=True)
class Option:
    """One option: its flag, what it does, how its value is parsed, and where it is offered."""

    flag: str
    help: str
    parse: Callable[[str], Any] | None = None  # None: a flag without a value
    default: Any = None
    scopes: frozenset[str] = frozenset()  # "pytest" and the CLI commands that take it
    metavar: str | None = None
    setting: str | None = None  # the ``Settings`` field it fills (None: not part of a run's settings)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def kwargs(self) -> dict[str, Any]:
        if self.parse is None:
            return {"action": "store_true", "default": bool(self.default), "help": self.help}
        return {"type": self.parse, "default": self.default, "help": self.help, "metavar": self.metavar}


def _scopes(*names: str) -> frozenset[str]:
    return frozenset(names)


RUN = _scopes(PYTEST, "bench")  # what shapes a benchmark run
OPTIONS: tuple[Option, ...] = (
    Option("--frameworks", "comma list of frameworks (default: every one that can run; from the command line, "
           "frameworks that need different process-wide settings each run in a process of their own)",
           _names("framework", lambda: FRAMEWORKS),
           scopes=_scopes(PYTEST, "bench", "test", "accuracy", "export", "versions", "scale"),
           metavar="LIST", setting="frameworks"),
    Option("--networks", f"comma list of networks: {', '.join(NETWORKS)} (default: all)",
           _names("network", lambda: NETWORKS),
           scopes=_scopes(PYTEST, "bench", "accuracy", "export", "versions", "scale"),
           metavar="LIST", setting="networks"),
    Option("--devices", "comma list of devices: cpu, cuda (default: cpu, plus cuda where a GPU is present)",
           _names("device", lambda: DEVICES), scopes=_scopes(PYTEST, "bench", "accuracy"),
           metavar="LIST", setting="devices"),
    Option("--variants", "comma list of variants, e.g. eager,compile,default,jit (default: all); default names each "
           "framework's default variant, whatever it calls it",
           _names("variant", _all_variants), scopes=RUN, metavar="LIST", setting="variants"),
    Option("--precisions", f"comma list of numeric precisions: {', '.join(PRECISIONS)} (default: fp32; bf16 is mixed "
           "precision as each framework's own recipe sets it up, float32 master weights)",
           _names("precision", lambda: PRECISIONS), scopes=_scopes(PYTEST, "bench", "accuracy"),
           metavar="LIST", setting="precisions"),
    Option("--batch-size", "batch size of the step benchmarks (default 128)", positive_int, scopes=RUN,
           metavar="N", setting="batch_sizes"),
    Option("--batch-sizes", "comma list of step batch sizes to sweep, e.g. 128,1024,8192 (instead of --batch-size)",
           positive_ints, scopes=RUN, metavar="LIST", setting="batch_sizes"),
    Option("--threads", "intra-op threads for every framework (default: every core this process may use)",
           positive_int, scopes=_scopes(PYTEST, "bench", "test", "accuracy", "export"), metavar="N", setting="threads"),
    Option("--latency-batches", f"comma list of batch sizes for the per-request latency benchmarks, 1 to "
           f"{MAX_LATENCY_BATCH} (default: 1; e.g. 1,8 adds a small batch)", latency_batches,
           scopes=_scopes(PYTEST, "bench", "export"), metavar="LIST", setting="latency_batches"),
    Option("--latency-requests", "timed requests per latency benchmark, one after another (default 1000, enough "
           "for a stable p99; bench runs more when --benchmark-max-time allows)", positive_int,
           scopes=_scopes(PYTEST, "bench", "export"), metavar="N", setting="latency_requests"),
    Option("--mnist-dir", "directory holding the four MNIST files (default: $MNIST_DIR, then the cache)",
           user_path, scopes=_scopes(PYTEST, "bench", "test", "info", "accuracy", "export", "command", "scale"),
           metavar="DIR", setting="mnist_dir"),
    Option("--epoch-images", f"images per epoch benchmark, 1 to {FULL_EPOCH:,} (default: {FULL_EPOCH:,}; "
           "2,048 when benchmarks run as tests)", epoch_images, scopes=RUN, metavar="N", setting="epoch_images"),
    Option("--epoch-rounds", "timed epochs per epoch benchmark (default 1)", positive_int, default=None,
           scopes=RUN, metavar="N", setting="epoch_rounds"),
    Option("--time-to-accuracy", "also measure time to each network's target accuracy (minutes per run)",
           scopes=RUN, setting="time_to_accuracy"),
    Option("--idiomatic", "also time tutorial-style training scripts beside the suite's epochs (fidelity to "
           "idiomatic code)", scopes=RUN, setting="idiomatic"),
    Option("--no-fidelity", "leave out the fidelity benchmarks (each step timed beside the framework's own tool): "
           "they check the harness, not the frameworks, and take minutes", scopes=RUN, setting="no_fidelity"),
    Option("--shared-init", "start every framework from the same seed-fixed weights instead of its own "
           "initialisers", scopes=_scopes(PYTEST)),
    Option("--equivalence-frameworks", "comma list of frameworks the equivalence tests compare (default: the "
           "selected ones, plus every installed framework that needs a process of its own, through child processes)",
           _names("framework", lambda: FRAMEWORKS), scopes=_scopes(PYTEST), metavar="LIST"),
    Option("--framework-tests-only", "run only tests parametrized by framework (the extra processes python -m "
           "frameworks test starts for frameworks that need a process of their own)", scopes=_scopes(PYTEST)),
    Option("--settings-file", "read the run's settings from this JSON file (written by python -m frameworks "
           "bench for each benchmark process)", user_path, scopes=_scopes(PYTEST), metavar="FILE"),
    Option("--journal", "append the number of tests collected, each test as it starts and each finished benchmark "
           "and test outcome to this JSON-lines file (python -m frameworks bench follows it to show its progress, "
           "and keeps what a process finished even if it dies)", user_path,
           scopes=_scopes(PYTEST), metavar="FILE"),
    # command line only (in pytest, pytest-benchmark owns the --benchmark-* options)
    Option("--benchmark-max-time", "seconds of timed rounds per step benchmark (default 1.0; 0.3 with --quick)",
           positive_float, scopes=_scopes("bench"), metavar="SECONDS", setting="round_seconds"),
    Option("--benchmark-min-rounds", "at least this many timed rounds per benchmark (default 5)", positive_int,
           scopes=_scopes("bench"), metavar="N", setting="min_rounds"),
    Option("--quick", "shorter: --epoch-images 8192 and --benchmark-max-time 0.3 unless given explicitly",
           scopes=_scopes("bench")),
    Option("--preset", "a named run design: " + "; ".join(f"{name}: {preset.question}" for name, preset in
                                                          PRESETS.items()) + " (options given as well win)",
           _choice("preset", tuple(PRESETS)), default=None, scopes=_scopes("bench"), metavar="NAME"),
    Option("--budget", "minutes the run may take: after each round of processes, no further round starts that "
           "would end past it (its time from the rounds run); the report counts the repeats that ran",
           positive_float, default=None, scopes=_scopes("bench"), metavar="MINUTES"),
    Option("--repeats", "run every framework this many times, each in a fresh process, interleaved "
           "(default 1)", positive_int, default=1, scopes=_scopes("bench", "scale"), metavar="N"),
    Option("--world-sizes", "comma list of data-parallel world sizes (ranks, or devices with --dp-mode devices), "
           "e.g. 1,2 (default: scale 1,2; accuracy 1, one process, the framework's own fit)", positive_ints,
           default=None, scopes=_scopes("scale", "accuracy"), metavar="LIST"),
    Option("--dp-mode", "how replicas run where a framework has both: processes (one per replica, started by the "
           "framework's launcher) or devices (one process, several devices) (default: processes where the framework "
           "has it)", _choice("dp-mode", ("processes", "devices")), scopes=_scopes("scale"), metavar="MODE"),
    Option("--nnodes", "machines in a multi-node job, as torchrun's --nnodes (default 1)", positive_int, default=1,
           scopes=_scopes("scale"), metavar="N"),
    Option("--node-rank", "this machine's rank among --nnodes, as torchrun's --node-rank (default 0)",
           non_negative_int, default=0, scopes=_scopes("scale"), metavar="I"),
    Option("--master-addr", "the address of node 0, where the job meets, as torchrun's --master-addr (default "
           "127.0.0.1)", _host, default="127.0.0.1", scopes=_scopes("scale"), metavar="HOST"),
    Option("--master-port", "the port on node 0 where the job meets, as torchrun's --master-port (default 29500)",
           port, default=29500, scopes=_scopes("scale"), metavar="PORT"),
    Option("--steps", "timed optimizer steps per rank in each scaling launch (default 30)", positive_int, default=30,
           scopes=_scopes("scale"), metavar="N"),
    Option("--seeds", "train each framework and network from this many seeds, 0 to N-1 (default 5)", positive_int,
           default=5, scopes=_scopes("accuracy"), metavar="N"),
    Option("--epochs", "epochs per training (default: the network's recipe)", positive_int,
           scopes=_scopes("accuracy"), metavar="N"),
    # reading results
    Option("--claim", "also check the claim that this framework outperforms the others in speed and accuracy",
           framework_name, scopes=_scopes("report"), metavar="FRAMEWORK"),
    Option("--mixed", "pool nothing across inputs that are not like for like (other settings, machine or "
           "versions): show each file's figures apart instead of refusing", scopes=_scopes("report")),
    Option("--allow-mismatch", "comma list of numeric-manifest fields whose differences a comparison may cross "
           f"({', '.join(MUST_MATCH)}); by default a comparison of figures whose manifests differ is refused, naming "
           "the field", _names("manifest field", lambda: MUST_MATCH), scopes=_scopes("report"), metavar="FIELDS"),
    Option("--margin", "speed differences within this fraction count as equivalent (default 0.05 = +-5%%)", fraction,
           default=0.05, scopes=_scopes("report"), metavar="FRACTION"),
    Option("--accuracy-margin", "accuracy differences within this many points count as equivalent (default 0.3)",
           positive_float, default=0.3, scopes=_scopes("report"), metavar="POINTS"),
    Option("--confidence", "confidence level of every interval and test (default 0.95)", fraction, default=0.95,
           scopes=_scopes("report"), metavar="LEVEL"),
    Option("--min-effect", "the gate fails a benchmark only if the head is slower by more than this fraction "
           "(default 0.10)", fraction, default=0.10, scopes=_scopes("gate"), metavar="FRACTION"),
    Option("--alpha", "the gate's significance level, after the Benjamini-Hochberg correction (default 0.05)",
           fraction, default=0.05, scopes=_scopes("gate"), metavar="LEVEL"),
    Option("--removed", "comma list of frameworks or benchmarks this pull request removes on purpose (not "
           "counted as missing)", text_list, default=(), scopes=_scopes("gate"), metavar="LIST"),
    Option("--out-of-scope", "comma list of frameworks or benchmarks (or shell-style patterns: 'my-framework-*', "
           "'*') that may go untested (too few undisturbed runs) without the gate exiting 4; they are still listed",
           text_list,
           default=(), scopes=_scopes("gate"), metavar="LIST"),
    Option("--summary", "also append the Markdown to this file (e.g. $GITHUB_STEP_SUMMARY)", user_path,
           scopes=_scopes("gate"), metavar="FILE"),
    Option("--output-dir", "where the files are written, created with its missing parents (default: bench and "
           "export ./bench-results, accuracy ./accuracy-results, report beside its first input file)",
           user_path,
           default=None, scopes=_scopes("bench", "accuracy", "export", "report", "scale"), metavar="DIR"),
    Option("--store", "also copy the run's merged results.json into this results store (a directory; the copy is "
           "named by machine, date and commit, never overwritten), which versions and dashboard read", user_path,
           default=None, scopes=_scopes("bench"), metavar="DIR"),
    Option("--weights", "canonical weights to export (.npz written by weights.save_weights): one file with one "
           "network, or a directory of <network>.npz (default: the suite's shared initial weights, seed 0)",
           user_path, scopes=_scopes("export"), metavar="PATH"),
    Option("--int8", "also quantize each proven artifact to int8 with its runtime's own tooling (calibrated on 512 "
           "MNIST training images), serve and time it the same way, and score every artifact on the 10,000 test "
           "images: an int8 artifact passes when its accuracy drop's 95%% interval ends under 1 point",
           scopes=_scopes("export")),
)
BY_DEST = {option.dest: option for option in OPTIONS}


def add_to_pytest(parser: Any) -> None:
    """Register the pytest-scoped options into pytest's parser (the plugin's ``pytest_addoption``)."""
    group = parser.getgroup("mnist-framework-bench")
    for option in OPTIONS:
        if PYTEST in option.scopes:
            kwargs = option.kwargs()
            if kwargs.get("metavar") is None:
                kwargs.pop("metavar", None)
            group.addoption(option.flag, dest=option.dest, **kwargs)


def add_to_argparse(parser: argparse.ArgumentParser, scope: str) -> None:
    """Register the options of one command-line command (``"command"``: the commands frameworks bring)."""
    for option in OPTIONS:
        if scope in option.scopes:
            parser.add_argument(option.flag, dest=option.dest, **option.kwargs())


# --- the parsed run ------------------------------------------------------------------------------------------
@dataclass
class Settings:
    """What a benchmark run measures, and how: the validated options, one field each."""

    frameworks: list[str] | None = None
    networks: list[str] | None = None
    devices: list[str] | None = None
    variants: list[str] | None = None
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    batch_sizes: list[int] = field(default_factory=lambda: [128])
    threads: int | None = None
    mnist_dir: str | None = None
    epoch_images: int | None = None
    epoch_rounds: int = 1
    time_to_accuracy: bool = False
    idiomatic: bool = False
    no_fidelity: bool = False
    round_seconds: float | None = None  # pytest-benchmark's --benchmark-max-time
    min_rounds: int | None = None  # pytest-benchmark's --benchmark-min-rounds
    latency_batches: list[int] = field(default_factory=lambda: [1])
    latency_requests: int = 1000

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Settings:
        """Settings from parsed option values (``dest -> value``): each option fills the field it names (a single
        value where the field holds a list becomes a one-item list); two options given for one field contradict
        each other and raise ``UsageError``."""
        lists = {f.name for f in dataclasses.fields(cls) if str(f.type).startswith("list")}
        filled: dict[str, Any] = {}
        given: dict[str, str] = {}
        for option in OPTIONS:
            value = values.get(option.dest)
            if option.setting is None or value is None or (option.parse is None and not value):
                continue  # not a setting, or not given (a flag's False is its default)
            if option.setting in given:
                raise UsageError(f"{given[option.setting]} and {option.flag} contradict each other: give one of them")
            given[option.setting] = option.flag
            filled[option.setting] = list(value) if isinstance(value, list | tuple) else (
                [value] if option.setting in lists else value)
        return cls(**filled)

    def with_quick(self, explicit: set[str]) -> tuple[Settings, list[str]]:
        """``--quick``'s shorter settings, keeping what the user gave explicitly; returns the notes to print."""
        notes = []
        updated = self
        for name, value in QUICK.items():
            if name in explicit:
                notes.append(f"--quick: keeping your {name.replace('_', '-')} {getattr(self, name)}")
            else:
                updated = dataclasses.replace(updated, **{name: value})
                notes.append(f"--quick: {name.replace('_', '-')} {value}")
        return updated, notes

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, payload: Any, source: str = "settings") -> Settings:
        """Settings read back from ``to_json``'s output, validated as the options are."""
        if not isinstance(payload, dict):
            raise UsageError(f"{source}: not a settings object")
        unknown = set(payload) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise UsageError(f"{source}: unknown settings {sorted(unknown)}")
        values = dict(payload)
        hints = typing.get_type_hints(cls)
        optional = {f.name for f in dataclasses.fields(cls) if f.default is None}
        for name, value in payload.items():
            # JSON types first (a string where a list belongs would be read letter by letter), then the parser of
            # the option that fills the field, so a file is held to what the command line accepts
            hint = hints[name]  # "list[int] | None" -> list[int]
            base = next(a for a in typing.get_args(hint) if a is not type(None)) if name in optional else hint
            listed = typing.get_origin(base) is list
            kind = typing.get_args(base)[0] if listed else base
            parse = SETTING_PARSERS.get(name, str)
            try:
                if value is None:
                    if name not in optional:
                        raise argparse.ArgumentTypeError("null, but this setting needs a value")
                elif listed:
                    if not isinstance(value, list) or not all(type(v) is kind and "," not in str(v) for v in value):
                        raise argparse.ArgumentTypeError(f"must be a list of {kind.__name__}s, got {value!r}")
                    values[name] = parse(",".join(map(str, value)))
                elif kind in (int, float):
                    if type(value) not in ((int, float) if kind is float else (int,)):
                        raise argparse.ArgumentTypeError(f"must be a number, got {value!r}")
                    values[name] = parse(str(value))
                elif kind is bool and type(value) is not bool:
                    raise argparse.ArgumentTypeError(f"must be true or false, got {value!r}")
                elif kind is str and not (isinstance(value, str) and value):
                    raise argparse.ArgumentTypeError(f"must be a directory path, got {value!r}")
            except argparse.ArgumentTypeError as exc:
                raise UsageError(f"{source}: {name}: {exc}") from None
        return cls(**values)

    def write(self, path: Path) -> Path:
        from .fileio import write_json

        return write_json(path, self.to_json())

    @classmethod
    def read(cls, path: str | os.PathLike) -> Settings:
        try:
            payload = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--settings-file {path}: not readable as JSON ({exc})") from None
        return cls.from_json(payload, f"--settings-file {path}")


# The parser each setting read from a file goes through: that of the option filling it (of the list option where
# two fill it, --batch-size and --batch-sizes).
SETTING_PARSERS: dict[str, Callable[[str], Any]] = {}
for _option in OPTIONS:
    if _option.setting and _option.parse is not None and (_option.setting not in SETTING_PARSERS
                                                          or _option.dest == _option.setting):
        SETTING_PARSERS[_option.setting] = _option.parse
for _field in dataclasses.fields(Settings):  # every field is filled by an option: one row adds a setting
    if _field.name not in {o.setting for o in OPTIONS}:
        raise AssertionError(f"Settings.{_field.name} is filled by no option: name it in an Option's setting")


def apply_preset(values: dict[str, Any], explicit: set[str]) -> list[str]:
    """Fill ``values`` (parsed options by dest) from the preset they name, keeping every option given explicitly
    (``explicit_dests``); returns the notes to print."""
    name = values.get("preset")
    if name is None:
        return []
    notes = []
    for dest, value in PRESETS[name].values.items():
        option = BY_DEST[dest]
        if (option.setting or dest) in explicit:
            notes.append(f"--preset {name}: keeping your {option.flag}")
        else:
            values[dest] = value
            shown = "" if value is True else f" {','.join(map(str, value)) if isinstance(value, list) else value}"
            notes.append(f"--preset {name}: {option.flag}{shown}")
    return notes


def explicit_dests(argv: Sequence[str]) -> set[str]:
    """Which table options appear in ``argv`` (to tell an explicit value from a default)."""
    found = set()
    for token in argv:
        flag = token.split("=", 1)[0]
        for option in OPTIONS:
            if flag == option.flag:
                found.add(option.dest)
    return {BY_DEST[d].setting or d for d in found}
