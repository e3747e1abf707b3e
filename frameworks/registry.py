"""The framework registry: every framework the suite knows, what each needs, and whether it can run here.

A ``FrameworkInfo`` is the one place that names a framework's modules, packages, process settings,
platform limits, devices and variants; the adapter it points to owns everything that needs the framework
imported. Nothing in this module imports a framework. More frameworks can be added with ``register`` or,
from an installed distribution, through the ``mnist_framework_bench.frameworks`` entry-point group (each
entry point names a ``FrameworkInfo`` or a callable returning one). Plugins load on the registry's first use,
after the package has been imported; one that cannot be loaded, names no ``FrameworkInfo`` or takes a name already
taken is a ``PluginError`` naming its entry point and distribution, raised by every use of the registry.
"""

from __future__ import annotations

import enum
import importlib
import importlib.metadata
import importlib.util
import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import FrameworkUnavailable, PluginError, UnknownNameError
from .specs import NetworkSpec, get_network

if TYPE_CHECKING:
    from .adapters.base import Adapter
    from .adapters.data_parallel import ParallelTrainer

DEVICES = ("cpu", "cuda")
#: in a ``--variants`` list, each framework's default variant (its first), whatever the framework calls it
DEFAULT_VARIANT = "default"
ENTRY_POINT_GROUP = "mnist_framework_bench.frameworks"


def gpu_present() -> bool:
    """Whether an NVIDIA GPU driver is visible (cheap: imports no framework)."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")


@dataclass(frozen=True)
class ProcessSetting:
    """A setting fixed for a whole process when a framework first loads (an environment variable read at
    import). Frameworks that need different values of one setting cannot share a process."""

    variable: str
    default: str
    #: the value this process has (the loaded framework's, else the variable, else the default)
    current: Callable[[], str]
    #: whether the value can no longer change here (a framework that read it has loaded)
    committed: Callable[[], bool]


def _lazy(target: str) -> Callable[[], Any]:
    """``"package.module:function"`` of an adapter package, imported when first called: the registry holds only the
    entries; what needs knowledge of a framework lives in its adapter package."""

    def call() -> Any:
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)()

    call.__qualname__ = call.__name__ = target
    return call


#: Keras' backend, read at its first import (adapters/keras/process.py)
KERAS_BACKEND = ProcessSetting("KERAS_BACKEND", "tensorflow", _lazy("frameworks.adapters.keras.process:backend_now"),
                               _lazy("frameworks.adapters.keras.process:backend_committed"))


@dataclass(frozen=True)
class FrameworkInfo:
    """What the suite knows about a framework without importing it."""

    name: str
    adapter: str  # "package.module:Class"
    requires: tuple[str, ...]  # top-level modules that must be importable
    packages: tuple[str, ...] = ()  # distributions whose versions results depend on
    install_hint: str = ""
    #: named ways to run the same network (eager, compiled...) -> the devices each applies to; first is default
    variants: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"default": DEVICES})
    #: variants that change only some benchmark phases -> those phases. Such a variant is timed in them alone
    #: (Keras' ``steps_per_execution`` changes only ``fit``: the framework-pipeline epoch); every other variant
    #: is timed in the step phases and latency, and epochs are timed at the default variant (``timed_in``)
    variant_phases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: a process-wide setting and the value this framework needs (one Keras backend per process)
    process: tuple[ProcessSetting, str] | None = None
    #: why this platform cannot run the framework at all, or None
    platform: Callable[[], str | None] | None = None
    #: keyword arguments the adapter class is built with (a Keras backend...)
    adapter_args: Mapping[str, object] = field(default_factory=dict)
    #: environment variables its runtime reads for intra-op threads, set to the run's thread count
    thread_variables: tuple[str, ...] = ()
    #: environment defaults that quiet its start-up logs
    quiet: Mapping[str, str] = field(default_factory=dict)
    #: "package.module:function" returning extra {name: version} (for frameworks that are not distributions)
    versions: str | None = None
    #: a module adding the framework's own command-line command: ``add_parser(subparsers)``, which sets
    #: ``run(args) -> exit status`` as the parser's default
    command: str | None = None
    #: data-parallel modes ("processes", "devices") -> "package.module:Class", a ``ParallelTrainer`` each
    data_parallel: Mapping[str, str] = field(default_factory=dict)
    #: why the framework has no data parallelism, when ``data_parallel`` is empty (said in skips and errors)
    no_data_parallel: str = "no data-parallel training in the suite"
    #: data-parallel modes it lacks -> why (said when such a mode is asked for)
    missing_modes: Mapping[str, str] = field(default_factory=dict)
    #: the precisions (``frameworks.precision``) its adapter implements; the first is fp32
    precisions: tuple[str, ...] = ("fp32",)
    #: precisions it lacks -> why (said in the skip)
    precision_gaps: Mapping[str, str] = field(default_factory=dict)

    def precision_unavailable(self, precision: str) -> str | None:
        """Why this framework cannot run at ``precision``, or None."""
        if precision in self.precisions:
            return None
        why = self.precision_gaps.get(precision, f"no {precision} path in its adapter")
        return f"{self.name} {precision}: {why}"

    @property
    def devices(self) -> tuple[str, ...]:
        """Every device some variant runs on."""
        return tuple(d for d in DEVICES if any(d in devs for devs in self.variants.values()))

    def variants_for(self, device: str) -> list[str]:
        """The variants that apply on ``device``."""
        return [v for v, devices in self.variants.items() if device in devices]

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    def chosen(self, variant: str, variants: Collection[str] | None) -> bool:
        """Whether ``variant`` is among ``variants`` (a ``--variants`` list; None: all of them), where the word
        ``default`` names each framework's default variant, whatever it is called."""
        return variants is None or variant in variants or (DEFAULT_VARIANT in variants
                                                           and variant == self.default_variant)

    def timed_in(self, variant: str, phase: str) -> bool:
        """Whether ``variant`` is timed in benchmark ``phase`` (forward, backward, train_step, latency,
        epoch-staged, epoch-framework): a variant that changes only some phases in those alone; the others in
        every phase but the epochs, which are timed at the default variant (and the variants that change them
        alone). A phase a variant does not change would time the default's code under another name."""
        if variant in self.variant_phases:
            return phase in self.variant_phases[variant]
        if phase.startswith("epoch"):
            return variant == self.default_variant
        return True

    def child_environment(self) -> dict[str, str]:
        """Environment variables a process of its own must start with."""
        if self.process is None:
            return {}
        setting, value = self.process
        return {setting.variable: value}


_BUILTIN = (
    FrameworkInfo(
        "pytorch", "frameworks.adapters.pytorch:PyTorchAdapter", ("torch",), ("torch", "torchvision"),
        install_hint="pip install 'mnist-framework-bench[pytorch]'",
        # adapters/pytorch.py's VARIANTS says what each is and cites the documentation of each CPU setting
        variants={"eager": DEVICES, "compile": DEVICES, "eager-cl": ("cpu",), "compile-cl": ("cpu",),
                  "compile-maxautotune": ("cpu",), "compile-cudagraphs": ("cuda",),
                  "eager-cl-tf32": ("cuda",), "compile-maxautotune-cl-tf32": ("cuda",)},
        data_parallel={"processes": "frameworks.adapters.pytorch_parallel:DDPTrainer"}, precisions=("fp32", "bf16")),
    FrameworkInfo(
        "keras-tensorflow", "frameworks.adapters.keras:KerasAdapter", ("keras", "tensorflow"),
        ("keras", "tensorflow", "tensorflow-cpu"), install_hint="pip install 'mnist-framework-bench[keras-tensorflow]'",
        # adapters/keras/adapter.py's VARIANTS: "auto" jit_compile is XLA off on a CPU-only machine, "jit" on;
        # steps_per_execution changes fit alone
        variants={"default": DEVICES, "jit": DEVICES, "spe32": DEVICES}, variant_phases={"spe32": ("epoch-framework",)},
        process=(KERAS_BACKEND, "tensorflow"), adapter_args={"backend": "tensorflow"}, precisions=("fp32", "bf16"),
        thread_variables=("TF_NUM_INTRAOP_THREADS",),
        quiet={"TF_CPP_MIN_LOG_LEVEL": "2"},
        data_parallel={"devices": "frameworks.adapters.keras.parallel:MirroredTrainer"},
        missing_modes={"processes": "tf.distribute.MultiWorkerMirroredStrategy does not work with Keras 3's fit "
                                    "(keras-team/keras#20585, open; tensorflow/tensorflow#72388)"}),
    FrameworkInfo(
        "keras-jax", "frameworks.adapters.keras:KerasAdapter", ("keras", "jax"), ("keras", "jax", "jaxlib"),
        install_hint="pip install 'mnist-framework-bench[keras-jax]'",
        # "auto" jit_compile is XLA on JAX; "nojit" runs op by op (Keras' debugging setting, the off side)
        variants={"default": DEVICES, "nojit": DEVICES, "spe32": DEVICES},
        variant_phases={"spe32": ("epoch-framework",)},
        process=(KERAS_BACKEND, "jax"), adapter_args={"backend": "jax"}, precisions=("fp32", "bf16"),
        quiet={"TF_CPP_MIN_LOG_LEVEL": "2"},
        data_parallel={"processes": "frameworks.adapters.keras.parallel:JaxProcessesTrainer",
                       "devices": "frameworks.adapters.keras.parallel:JaxDevicesTrainer"}),
    FrameworkInfo(
        "keras-torch", "frameworks.adapters.keras:KerasAdapter", ("keras", "torch"), ("keras", "torch"),
        install_hint="pip install 'mnist-framework-bench[keras-torch]'",
        # no steps_per_execution: Keras' torch trainer refuses any value but 1 ("must be 1 with the PyTorch backend")
        variants={"default": DEVICES, "jit": DEVICES}, process=(KERAS_BACKEND, "torch"),
        adapter_args={"backend": "torch"}, precisions=("fp32", "bf16"), quiet={"TF_CPP_MIN_LOG_LEVEL": "2"},
        data_parallel={"processes": "frameworks.adapters.keras.parallel:TorchDDPTrainer"}),
    FrameworkInfo(
        "caffe", "frameworks.adapters.caffe.adapter:CaffeAdapter", ("caffe",), ("protobuf",),
        install_hint="scripts/install_caffe.sh (Linux x86_64, Python 3.11)", variants={"default": ("cpu",)},
        platform=_lazy("frameworks.adapters.caffe:platform_unsupported"), quiet={"GLOG_minloglevel": "2"},
        versions="frameworks.adapters.caffe:installed_versions", command="frameworks.adapters.caffe.command",
        no_data_parallel="Caffe 1.0's Python interface trains in one process; its multi-GPU training (P2PSync) is "
                         "CUDA-only and reachable only from the caffe command-line tool, which this CPU build lacks",
        precision_gaps={"bf16": "Caffe computes in float32 only: BVLC Caffe has no bfloat16 blob type or kernels "
                                "(its Dtype is float or double)"}),
    FrameworkInfo(
        "onnxruntime", "frameworks.adapters.onnxruntime:OnnxRuntimeAdapter", ("onnxruntime", "onnx"),
        ("onnxruntime", "onnxruntime-gpu", "onnx"), install_hint="pip install 'mnist-framework-bench[onnxruntime]'",
        # adapters/onnxruntime.py's VARIANTS: graph optimisation level and execution mode
        variants={"default": DEVICES, "basic": ("cpu",), "parallel": ("cpu",)},
        no_data_parallel="ONNX Runtime is an inference runtime: it does not train",
        precision_gaps={"bf16": "the suite serves ONNX Runtime as exported: its reduced precision is the int8 "
                                "quantization of an exported model (python -m frameworks export), not bfloat16"}),
)

_FRAMEWORKS: dict[str, FrameworkInfo] = {info.name: info for info in _BUILTIN}


class _Registry(Mapping[str, FrameworkInfo]):
    """The registry as a read-only mapping that loads the installed plugins on its first use, after the package
    has finished importing (so a plugin module can ``from frameworks import FrameworkInfo``)."""

    def __getitem__(self, name: str) -> FrameworkInfo:
        return _entries()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_entries())

    def __len__(self) -> int:
        return len(_entries())

    def __repr__(self) -> str:
        return f"FRAMEWORKS({list(self)})"


#: Every registered framework, in registry order (read-only; use ``register`` to add one). The first use loads the
#: plugins (entry points of ``ENTRY_POINT_GROUP``); a broken or clashing one raises ``PluginError`` there.
FRAMEWORKS: Mapping[str, FrameworkInfo] = _Registry()


def register(info: FrameworkInfo, *, replace: bool = False) -> FrameworkInfo:
    """Add a framework to the registry (a plugin's or a test's); its name must be new unless ``replace``."""
    _entries()
    return _add(info, replace=replace)


def _add(info: FrameworkInfo, *, replace: bool = False) -> FrameworkInfo:
    if not isinstance(info, FrameworkInfo):
        raise TypeError(f"register() takes a FrameworkInfo, got {type(info).__name__}")
    if info.name in _FRAMEWORKS and not replace:
        raise ValueError(f"a framework called {info.name!r} is already registered")
    if not info.variants or any(d not in DEVICES for devs in info.variants.values() for d in devs):
        raise ValueError(f"{info.name}: variants must map names to devices among {DEVICES}")
    if set(info.variant_phases) - set(info.variants) or info.default_variant in info.variant_phases:
        raise ValueError(f"{info.name}: variant_phases must name variants other than the default")
    _FRAMEWORKS[info.name] = info
    return info


def unregister(name: str) -> None:
    """Remove a framework registered with ``register`` (built-in ones stay)."""
    if name in {info.name for info in _BUILTIN}:
        raise ValueError(f"{name} is built in and cannot be removed")
    _entries()
    _FRAMEWORKS.pop(name, None)


# --- plugins: frameworks from other distributions -----------------------------------------------------------------
_plugins_state = "unloaded"  # "loading" while the entry points load (a plugin reading the registry sees the
#                             built-ins), then "loaded"
_plugin_errors: list[str] = []


def _entries() -> dict[str, FrameworkInfo]:
    """The registry's entries, the plugins loaded first; ``PluginError`` if one of them is broken or clashes."""
    if _plugins_state == "unloaded":
        _load_entry_points()
    if _plugin_errors and _plugins_state == "loaded":
        raise PluginError(plugin_problems())
    return _FRAMEWORKS


def plugin_problems() -> str:
    """Every broken or clashing plugin, one paragraph each, with what to fix ("" when there is none)."""
    if _plugins_state == "unloaded":
        _load_entry_points()
    if not _plugin_errors:
        return ""
    count = len(_plugin_errors)
    head = f"{count} framework plugin{'s' if count > 1 else ''} of the {ENTRY_POINT_GROUP!r} entry-point group " \
           f"cannot be used, so nothing runs until {'they are' if count > 1 else 'it is'} fixed or uninstalled:"
    return "\n".join([head, *(f"- {e}" for e in _plugin_errors)])


def _describe_point(point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    where = f"distribution {dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"entry point {point.name!r} = {point.value!r} of {where}"


def _distribution(point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return dist.name if dist is not None else point.name


def _load_entry_points() -> None:
    """Load every plugin once: a broken one, one naming no ``FrameworkInfo`` and one whose name is taken (by a
    built-in framework or another plugin) are errors that name the entry point and what to fix."""
    global _plugins_state
    _plugins_state = "loading"
    try:
        points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    except Exception as exc:  # pragma: no cover - a broken environment's metadata
        _plugin_errors.append(f"the installed distributions' entry points cannot be read: {exc}")
        points = ()
    builtin = {info.name for info in _BUILTIN}
    owners: dict[str, importlib.metadata.EntryPoint] = {}
    try:
        for point in points:
            where = _describe_point(point)
            uninstall = f"pip uninstall {_distribution(point)}"
            try:
                loaded = point.load()
                info = loaded() if callable(loaded) and not isinstance(loaded, FrameworkInfo) else loaded
            except Exception as exc:
                _plugin_errors.append(f"{where} could not be loaded: {type(exc).__name__}: {exc}. Fix the module "
                                      f"it names (or the entry point), or {uninstall}.")
                continue
            if not isinstance(info, FrameworkInfo):
                _plugin_errors.append(f"{where} gives a {type(info).__name__}, not a frameworks.FrameworkInfo: "
                                      "point it at a FrameworkInfo or at a function returning one.")
                continue
            if info.name in builtin:
                _plugin_errors.append(f"{where} registers the framework {info.name!r}, the name of a built-in "
                                      f"framework ({_FRAMEWORKS[info.name].adapter}): give its FrameworkInfo "
                                      f"another name, or {uninstall}.")
                continue
            if info.name in owners:
                _plugin_errors.append(f"{where} registers the framework {info.name!r}, which "
                                      f"{_describe_point(owners[info.name])} registers too: rename one of them, or "
                                      f"uninstall one of the distributions.")
                continue
            if _FRAMEWORKS.get(info.name) is info:  # the plugin's module registered itself on import
                owners[info.name] = point
                continue
            try:
                _add(info)
            except (TypeError, ValueError) as exc:
                _plugin_errors.append(f"{where} gives an invalid FrameworkInfo: {exc}.")
                continue
            owners[info.name] = point
    finally:
        _plugins_state = "loaded"


def framework_info(name: str) -> FrameworkInfo:
    """The registry entry for ``name``; an unknown name raises ``UnknownNameError``."""
    entries = _entries()
    try:
        return entries[name]
    except KeyError:
        raise UnknownNameError("framework", name, entries) from None


def check_device(name: str) -> str:
    """Return ``name`` if it is a known device name, else raise ``UnknownNameError``."""
    if name not in DEVICES:
        raise UnknownNameError("device", name, DEVICES)
    return name


# --- can it run here? -----------------------------------------------------------------------------------
class Status(enum.Enum):
    """Whether a framework can run, from the most to the least available."""

    READY = "ready"  # runs in this process, on this device
    OWN_PROCESS = "own process"  # installed, but needs a process of its own (python -m frameworks runs it so)
    NO_DEVICE = "no device"  # installed, but cannot use the device here
    NOT_INSTALLED = "not installed"
    UNSUPPORTED = "unsupported"  # this platform cannot run it at all


@dataclass(frozen=True)
class Availability:
    """The answer to "can this framework run here, on this device, in this process?"."""

    framework: str
    device: str
    status: Status
    reason: str = ""

    @property
    def ready(self) -> bool:
        return self.status is Status.READY

    @property
    def installed(self) -> bool:
        """Installed and supported here (perhaps in a process of its own, perhaps not on this device)."""
        return self.status in (Status.READY, Status.OWN_PROCESS, Status.NO_DEVICE)

    def __str__(self) -> str:
        return f"{self.framework} ({self.device}): {self.status.value}" + (f": {self.reason}" if self.reason else "")


def availability(framework: str, device: str = "cpu", *, probe_device: bool = True,
                 in_this_process: bool = True) -> Availability:
    """Whether ``framework`` can run here on ``device`` in this process, and if not, why.

    Checks, in order: installed, supported on this platform, this process's settings (a Keras backend is
    fixed per process; skipped with ``in_this_process=False``, for a process of its own), then the device.
    Asking about the GPU imports the framework to ask it, unless ``probe_device`` is False (then only the
    registry and the driver are consulted).
    """
    info = framework_info(framework)
    check_device(device)

    def answer(status: Status, reason: str = "") -> Availability:
        return Availability(framework, device, status, f"{framework}: {reason}" if reason else "")

    missing = [m for m in info.requires if importlib.util.find_spec(m) is None]
    if missing:
        return answer(Status.NOT_INSTALLED, f"{', '.join(missing)} not installed ({info.install_hint})")
    if info.platform is not None and (why := info.platform()):
        return answer(Status.UNSUPPORTED, why)
    if info.process is not None and in_this_process:
        setting, value = info.process
        if (current := setting.current()) != value:
            return answer(Status.OWN_PROCESS, f"needs {setting.variable}={value}, fixed per process, and this "
                                              f"process has {current!r}; run it in its own process "
                                              f"(--frameworks {framework}, or python -m frameworks)")
    if device not in info.devices:
        return answer(Status.NO_DEVICE, f"runs on {', '.join(info.devices)} only in this suite")
    if device == "cuda":
        if not gpu_present():
            return answer(Status.NO_DEVICE, "no NVIDIA GPU on this machine")
        if probe_device and (why := adapter_class(framework).cuda_unavailable_reason(**dict(info.adapter_args))):
            return answer(Status.NO_DEVICE, why)
    return answer(Status.READY)


def frameworks_ready(device: str = "cpu") -> list[str]:
    """Frameworks that can run in this process on ``device``, in registry order."""
    return [name for name in _entries() if availability(name, device, probe_device=False).ready]


def adapter_class(framework: str) -> type[Adapter]:
    """Import and return the adapter class of ``framework`` (which must be able to run in this process)."""
    info = framework_info(framework)
    state = availability(framework, probe_device=False)
    if state.status not in (Status.READY, Status.NO_DEVICE):
        raise FrameworkUnavailable(state.reason)
    module_name, class_name = info.adapter.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def installed_here(frameworks: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``frameworks`` split into those installed and supported on this machine (in order) and the rest, each
    with the reason it cannot run; no device is probed and no framework imported."""
    runnable: list[str] = []
    left_out: dict[str, str] = {}
    for name in frameworks:
        state = availability(name, probe_device=False)
        if state.status in (Status.NOT_INSTALLED, Status.UNSUPPORTED):
            left_out[name] = state.reason
        else:
            runnable.append(name)
    return runnable, left_out


def trains(framework: str) -> bool:
    """Whether ``framework``'s adapter trains (an inference runtime does not); imports its adapter module, which
    imports no framework, whatever this process's settings."""
    module_name, class_name = framework_info(framework).adapter.split(":")
    return bool(getattr(importlib.import_module(module_name), class_name).trains)


def parallel_trainer(framework: str, mode: str) -> type[ParallelTrainer]:
    """The ``ParallelTrainer`` class of ``framework``'s data parallelism in ``mode`` (imports the framework's
    module); ``FrameworkUnavailable`` with the reason where it has none."""
    info = framework_info(framework)
    target = info.data_parallel.get(mode)
    if target is None:
        have = ", ".join(info.data_parallel) or "none"
        why = info.no_data_parallel if not info.data_parallel else info.missing_modes.get(
            mode, f"its data-parallel modes are: {have}")
        raise FrameworkUnavailable(f"{framework} has no data parallelism in {mode} mode: {why}")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def resolve_variant(framework: str, variant: str | None, device: str) -> str:
    """The variant to build: ``variant`` checked against the registry, or the default one."""
    info = framework_info(framework)
    chosen = info.default_variant if variant is None else variant
    if chosen not in info.variants:
        raise UnknownNameError(f"{framework} variant", chosen, info.variants)
    if device not in info.variants[chosen]:
        raise FrameworkUnavailable(f"{framework} variant {chosen!r} runs on {', '.join(info.variants[chosen])} only")
    return chosen


def create_adapter(framework: str, network: str | NetworkSpec, device: str = "cpu", *, threads: int | None = None,
                   seed: int = 0, variant: str | None = None, precision: str = "fp32",
                   shared_init: bool = False) -> Adapter:
    """Build ``network`` (a name or a spec) in ``framework`` on ``device`` at ``precision``
    (``frameworks.precision``): the suite's one entry point to a model.

    ``shared_init`` starts from ``weights.initial_weights(spec, seed)``, the same numbers in every framework,
    instead of the framework's own initialisers.
    """
    spec = get_network(network)
    state = availability(framework, device)
    if not state.ready:
        raise FrameworkUnavailable(state.reason)
    info = framework_info(framework)
    chosen = resolve_variant(framework, variant, device)
    if why := info.precision_unavailable(precision):
        raise FrameworkUnavailable(why)
    adapter = adapter_class(framework)(spec, device=device, threads=threads, seed=seed, framework=framework,
                                       variant=chosen, precision=precision, **dict(info.adapter_args))
    if shared_init:
        from .weights import initial_weights

        adapter.set_weights(initial_weights(spec, seed))
    return adapter


# --- processes ------------------------------------------------------------------------------------------
def _settings() -> dict[str, ProcessSetting]:
    return {info.process[0].variable: info.process[0] for info in _entries().values() if info.process}


def process_groups(frameworks: list[str] | tuple[str, ...]) -> list[tuple[tuple[str, ...], dict[str, str]]]:
    """Split ``frameworks`` into groups that can share one process, each with the environment it starts with.

    The main group runs every process setting at its default (frameworks without a setting join it); each
    other value of a setting gets a process of its own. Groups and their members keep registry order.
    """
    defaults = {name: setting.default for name, setting in _settings().items()}
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {tuple(sorted(defaults.items())): []}
    order = {name: i for i, name in enumerate(_entries())}
    for name in sorted(dict.fromkeys(frameworks), key=lambda n: order[framework_info(n).name]):
        env = framework_info(name).child_environment()
        key = tuple(sorted({**defaults, **env}.items()))
        groups.setdefault(key, []).append(name)
    return [(tuple(names), dict(key)) for key, names in groups.items() if names]


def apply_process_settings(frameworks: list[str] | tuple[str, ...]) -> None:
    """If the frameworks named need one value of a process setting, make it this process's before anything
    loads (``pytest --frameworks keras-jax`` then runs Keras on JAX)."""
    values = {framework_info(f).process for f in frameworks} - {None}
    if len(values) == 1:
        setting, value = values.pop()  # type: ignore[misc]
        if not setting.committed():
            os.environ[setting.variable] = value


def process_variables() -> tuple[str, ...]:
    """The environment variables behind every process setting in the registry."""
    return tuple(_settings())


def thread_variables() -> tuple[str, ...]:
    """Every framework-specific thread variable in the registry."""
    return tuple(dict.fromkeys(v for info in _entries().values() for v in info.thread_variables))


def quiet_defaults() -> dict[str, str]:
    """Every framework's log-quieting environment defaults."""
    out: dict[str, str] = {}
    for info in _entries().values():
        out.update(info.quiet)
    return out
