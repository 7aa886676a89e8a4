"""Which models a container loads, read from its command line and environment.

Kubernetes runs ``command + args`` after expanding ``$(VAR)`` from the container's ``env``;
a shell (``sh -c "..."``) may then run several commands. Model servers name their model
with a flag (``--model``, ``--model-id``, ``--model-repository``), a positional argument
(``vllm serve MODEL``, ``ollama pull MODEL``) or an environment variable (``MODEL_ID``).
Everything that names a model is reported; a value mlgate cannot see (a secret, an
``envFrom`` ConfigMap) is reported as unresolved, never dropped.

Over 400 lines because it is one parser: Kubernetes ``$(VAR)`` expansion, shell splitting and
the per-server flag tables that name a model.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from mlgate.errors import InputError
from mlgate.subjects.base import expect_mapping, expect_str

# Flags whose value is a model a server loads: flag -> how to read a bare value.
HUB_FLAGS = ("--model", "--model-id", "--model_id", "--model-path", "--model_path")
PATH_FLAGS = (
    "--model-repository", "--model_repository", "--model-store", "--model_store",
    "--model-dir", "--model_dir", "--model_base_path", "--model-base-path",
)  # fmt: skip
LORA_FLAGS = ("--lora-modules", "--lora_modules")
TORCHSERVE_MODELS = "--models"
TOKENIZER_FLAGS = ("--tokenizer",)
REVISION_FLAGS = ("--revision",)

# Environment variables that name a model (value or valueFrom).
MODEL_ENV = (
    "MODEL_ID", "HF_MODEL_ID", "HF_MODEL", "VLLM_MODEL", "STORAGE_URI", "MODEL_URI",
    "MODEL_PATH", "MODEL_NAME_OR_PATH", "MODEL_REPOSITORY", "MLSERVER_MODEL_URI", "OLLAMA_MODEL",
)  # fmt: skip

# vLLM options that take no value (so `vllm serve --trust-remote-code org/model` works).
VLLM_BOOLEAN_FLAGS = frozenset(
    {
        "--trust-remote-code", "--enable-chunked-prefill", "--enforce-eager",
        "--enable-prefix-caching", "--no-enable-prefix-caching", "--disable-log-requests",
        "--disable-log-stats", "--enable-lora", "--enable-auto-tool-choice", "--headless",
        "--disable-custom-all-reduce", "--disable-frontend-multiprocessing",
        "--enable-reasoning", "--enable-expert-parallel", "--no-enable-chunked-prefill",
        "--enable-sleep-mode", "--disable-fastapi-docs", "--enable-log-requests",
    }
)  # fmt: skip

# Executables (or `python -m` modules) -> runtime they start.
EXECUTABLE_RUNTIMES = (
    (re.compile(r"^vllm(\.entrypoints\..*)?$"), "vllm"),
    (re.compile(r"^text-generation-(launcher|server)$"), "tgi"),
    (re.compile(r"^tritonserver$"), "triton"),
    (re.compile(r"^ollama$"), "ollama"),
    (re.compile(r"^huggingfaceserver$"), "kserve-huggingface"),
    (re.compile(r"^(sklearn|xgb|lgb|pmml|paddle)server$"), "kserve"),
    (re.compile(r"^mlserver$"), "mlserver"),
    (re.compile(r"^sglang\.launch_server$"), "sglang"),
    (re.compile(r"^tensorflow_model_server$"), "tfserving"),
    (re.compile(r"^torchserve$"), "torchserve"),
)
# How to read a bare flag value (hub id or path) when neither the image nor the program says
# which server runs; never used as the runtime itself.
FLAG_RUNTIMES = {
    "--model": "vllm", "--model-id": "tgi", "--model_id": "kserve-huggingface",
    "--model-repository": "triton", "--model_repository": "triton", "--model-store": "triton",
    "--model-path": "sglang", "--model_base_path": "tfserving", "--lora-modules": "vllm",
}  # fmt: skip
HUB_RUNTIMES = frozenset({"vllm", "tgi", "kserve-huggingface", "sglang", "ray-llm", ""})
# Sub-commands whose first positional argument is the model: `ollama pull llama3`.
POSITIONAL_COMMANDS = frozenset(
    {("ollama", "pull"), ("ollama", "run"), ("ollama", "create"), ("mlserver", "start")}
)
# Programs whose model flags do not load a model to serve (pod-start verification).
NOT_SERVERS = frozenset({"mlgate", "model_signing"})
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
WRAPPERS = frozenset({"exec", "nohup", "env", "time", "stdbuf", "tini", "dumb-init", "--"})
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_K8S_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_SHELL_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SEPARATORS = frozenset({";", "&&", "||", "|", "&", "(", ")"})


@dataclass(frozen=True)
class FoundModel:
    uri: str
    runtime: str = ""
    adapter: str = ""  # LoRA adapter name: a model loaded on top of the base model
    tokenizer: str = ""
    origin: str = ""  # where it was found, for messages: "args --model", "env MODEL_ID"


@dataclass
class ContainerScan:
    models: list[FoundModel] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # why a named model cannot be read
    runtimes: set[str] = field(default_factory=set)  # servers its command line starts


class _Env:
    """A container's environment as admission sees it: literal values and opaque sources."""

    def __init__(self, container: dict[str, Any], where: str) -> None:
        self.values: dict[str, str] = {}
        self.opaque: dict[str, str] = {}  # name -> "secretKeyRef", "configMapKeyRef", ...
        env = container.get("env") or []
        if not isinstance(env, list):
            raise InputError("env must be a list", location=f"{where}/env")
        for i, item in enumerate(env):
            entry = expect_mapping(item, f"{where}/env/{i}")
            name = expect_str(entry.get("name", ""), f"{where}/env/{i}/name")
            if "valueFrom" in entry:
                source = expect_mapping(entry["valueFrom"], f"{where}/env/{i}/valueFrom")
                self.opaque[name] = next(iter(source), "valueFrom")
                self.values.pop(name, None)
            else:
                # Kubernetes expands $(VAR) in env values from the variables defined above.
                value = expect_str(entry.get("value", ""), f"{where}/env/{i}/value")
                self.values[name] = self.expand(value)[0]
                self.opaque.pop(name, None)
        env_from = container.get("envFrom") or []
        if not isinstance(env_from, list):
            raise InputError("envFrom must be a list", location=f"{where}/envFrom")
        self.env_from = bool(env_from)

    def unknown(self, name: str) -> str | None:
        """Why the value of ``name`` cannot be read, or None when it is known or unset."""
        if name in self.values:
            return None
        if name in self.opaque:
            return f"env {name} comes from a {self.opaque[name]}"
        if self.env_from:
            return f"env {name} may come from envFrom"
        return None

    def expand(self, text: str) -> tuple[str, list[str]]:
        """Kubernetes ``$(VAR)`` expansion; the reasons for references it cannot resolve."""
        return self._substitute(_K8S_REF, text)

    def expand_shell(self, text: str) -> tuple[str, list[str]]:
        """``$VAR`` / ``${VAR}`` as a shell in the container would expand them."""
        return self._substitute(_SHELL_REF, text)

    def _substitute(self, pattern: re.Pattern[str], text: str) -> tuple[str, list[str]]:
        """Each match of ``pattern`` (``$$`` escapes; the name in its first non-empty group)
        replaced by its value; unknown names stay as written, with the reason."""
        problems: list[str] = []

        def repl(m: re.Match[str]) -> str:
            if m.group(0) == "$$":
                return "$"
            name = next(g for g in m.groups() if g)
            if name in self.values:
                return self.values[name]
            reason = self.unknown(name)
            if reason:
                problems.append(reason)
            return m.group(0)

        return pattern.sub(repl, text), problems


def shell_env() -> _Env:
    """An empty environment, for command lines outside a container (a RayJob entrypoint)."""
    return _Env({}, "")


def _words(container: dict[str, Any], key: str, where: str) -> list[str]:
    value = container.get(key) or []
    if not isinstance(value, list):
        raise InputError(f"{key} must be a list", location=f"{where}/{key}")
    return [expect_str(w, f"{where}/{key}/{i}") for i, w in enumerate(value)]


def _is_shell(argv: list[str]) -> bool:
    return bool(argv) and argv[0].rsplit("/", 1)[-1] in SHELLS


def _shell_script(argv: list[str]) -> str | None:
    """The script of ``sh -c SCRIPT [ARG0 ARG...]`` (options such as ``-ec`` included), with
    the words after it in place of ``$0``, ``$1``, ... and ``$@``, as the shell sees them."""
    for i, word in enumerate(argv[1:], start=1):
        if word.startswith("-") and "c" in word[1:] and not word.startswith("--"):
            if i + 1 >= len(argv):
                return ""
            return _with_parameters(argv[i + 1], argv[i + 2 :])
        if not word.startswith("-"):
            return None  # `bash script.sh`: a script file mlgate cannot read
    return None


_POSITIONAL = re.compile(r'"\$[@*]"|\$[@*]|\$\{?([0-9])\}?')
_PLAIN_WORD = re.compile(r"^[\w@%+=:,./-]*$")


def _with_parameters(script: str, params: list[str]) -> str:
    """``$0``..``$9``, ``$@`` and ``$*`` replaced by the words after ``-c SCRIPT``."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1) is None:
            return shlex.join(params[1:])
        n = int(m.group(1))
        value = params[n] if n < len(params) else ""
        return value if value and _PLAIN_WORD.match(value) else shlex.quote(value)

    return _POSITIONAL.sub(repl, script)


def _split_script(script: str) -> list[list[str]]:
    """A shell script as a list of simple commands (words), split at ; && || | & and lines."""
    text = script.replace("\\\n", " ").replace("\n", " ; ")
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: read it word by word
        tokens = text.split()
    commands: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS or set(token) <= set(";&|()"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _executable(argv: list[str]) -> tuple[str, list[str]]:
    """The program a command runs (``python -m mod`` -> ``mod``) and its arguments."""
    i = 0
    while i < len(argv) and (argv[i] in WRAPPERS or _ASSIGNMENT.match(argv[i])):
        i += 1
    if i >= len(argv):
        return "", []
    if argv[i].startswith("-"):  # args only: the image's entry point is the program
        return "", argv[i:]
    prog = argv[i].rsplit("/", 1)[-1]
    rest = argv[i + 1 :]
    if _PYTHON.match(prog):
        for j, word in enumerate(rest):
            if word == "-m" and j + 1 < len(rest):
                return rest[j + 1], rest[j + 2 :]
            if word.startswith("-m") and len(word) > 2:
                return word[2:], rest[j + 1 :]
            if not word.startswith("-"):
                return word.rsplit("/", 1)[-1], rest[j + 1 :]
        return prog, rest
    return prog, rest


def runtime_of_executable(program: str) -> str:
    for pattern, runtime in EXECUTABLE_RUNTIMES:
        if pattern.match(program):
            return runtime
    return ""


def model_uri(value: str, runtime: str, *, path_flag: bool = False, revision: str = "") -> str:
    """A model named on a command line as a URI: hub ids become ``hf://``, paths stay paths."""
    value = value.strip().strip("'\"")
    if not value or "://" in value:
        return value
    if value.startswith(("/", "~")):
        return value
    if runtime == "ollama":
        return f"ollama://{value}"
    if path_flag or value.startswith("."):
        return f"file://{value}"
    if runtime in HUB_RUNTIMES and _HUB_ID.match(value):
        # --revision is not applied here: whether a commit pins the bytes depends on the
        # pod's volumes (a fillable cache does not), which subjects/binding.py decides.
        return f"hf://{value}"
    return value


def _value(args: list[str], i: int, flag: str) -> tuple[str | None, int]:
    """The value of the option at ``args[i]`` (``--f v`` or ``--f=v``) and the next index."""
    word = args[i]
    if word.startswith(flag + "="):
        return word[len(flag) + 1 :], i + 1
    if i + 1 < len(args):
        return args[i + 1], i + 2
    return None, i + 1


def _lora(value: str, runtime: str, origin: str) -> FoundModel | None:
    if value.startswith("{"):
        try:
            spec = json.loads(value)
        except ValueError:
            return None
        if isinstance(spec, dict) and isinstance(spec.get("path"), str):
            name = str(spec.get("name", ""))
            return FoundModel(model_uri(spec["path"], runtime), runtime, name or "lora", "", origin)
        return None
    name, sep, path = value.partition("=")
    if not sep:
        return FoundModel(model_uri(value, runtime), runtime, "lora", "", origin)
    return FoundModel(model_uri(path, runtime), runtime, name or "lora", "", origin)


def _positional(args: list[str], booleans: frozenset[str]) -> str | None:
    """The first positional argument, skipping options (and their values)."""
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            return args[i + 1] if i + 1 < len(args) else None
        if word.startswith("-"):
            i += 1 if ("=" in word or word in booleans) else 2
            continue
        return word
    return None


def _scan_command(argv: list[str], scan: ContainerScan) -> None:
    program, args = _executable(argv)
    if program in NOT_SERVERS:
        return  # `mlgate verify --model-dir DIR` checks a model; it does not load another
    runtime = runtime_of_executable(program)
    if runtime:
        scan.runtimes.add(runtime)
    revision = tokenizer = ""
    for i, word in enumerate(args):
        for flag in REVISION_FLAGS + TOKENIZER_FLAGS:
            if word == flag or word.startswith(flag + "="):
                value, _ = _value(args, i, flag)
                if value and flag in REVISION_FLAGS:
                    revision = value
                elif value:
                    tokenizer = model_uri(value, runtime)
    found: list[FoundModel] = []
    i = 0
    while i < len(args):
        word = args[i]
        flag = word.split("=", 1)[0]
        if flag in HUB_FLAGS or flag in PATH_FLAGS:
            value, i = _value(args, i, flag)
            if value:
                # The flag's usual server only says how to read a bare value (a hub id);
                # which runtime serves it comes from the image or the program.
                hint = runtime or FLAG_RUNTIMES.get(flag, "")
                uri = model_uri(value, hint, path_flag=flag in PATH_FLAGS, revision=revision)
                origin = f"{program} {flag}" if program else f"args {flag}"
                found.append(FoundModel(uri, runtime, "", tokenizer, origin))
            continue
        if flag in LORA_FLAGS or flag == TORCHSERVE_MODELS:
            values: list[str] = []
            if "=" in word:
                values.append(word.split("=", 1)[1])
                i += 1
            else:
                i += 1
                while i < len(args) and not args[i].startswith("-"):
                    values.append(args[i])
                    i += 1
            for value in values:
                lora = _lora(value, runtime, f"{program} {flag}")
                if lora is not None and flag == TORCHSERVE_MODELS:
                    lora = FoundModel(lora.uri, runtime, "", "", lora.origin)
                if lora is not None and lora.uri:
                    found.append(lora)
            continue
        i += 1
    positional: str | None = None
    if runtime == "vllm" and args[:1] == ["serve"]:
        positional = _positional(args[1:], VLLM_BOOLEAN_FLAGS)
    elif (runtime, args[0] if args else "") in POSITIONAL_COMMANDS:
        positional = _positional(args[1:], frozenset())
    if positional:
        hub = runtime != "mlserver"
        uri = model_uri(positional, runtime, path_flag=not hub, revision=revision)
        found.insert(0, FoundModel(uri, runtime, "", tokenizer, f"{program} {args[0]}"))
    scan.models += found


_MAX_SHELL_DEPTH = 4


def _reread(command: list[str]) -> list[str] | None:
    """A command that runs its words as a script again: ``eval WORDS`` or a nested shell
    (``exec sh -c ...``); the shell command line to read, else None."""
    i = 0
    while i < len(command) and (command[i] in WRAPPERS or _ASSIGNMENT.match(command[i])):
        i += 1
    rest = command[i:]
    if rest[:1] == ["eval"]:
        return ["sh", "-c", " ".join(rest[1:])]
    return rest if _is_shell(rest) else None


def scan_argv(argv: list[str], env: _Env, scan: ContainerScan, depth: int = 0) -> None:
    """One command line (after Kubernetes expansion): a shell script or a program."""
    if _is_shell(argv):
        script = _shell_script(argv)
        if script is None or depth > _MAX_SHELL_DEPTH:
            return
        script, problems = env.expand_shell(script)
        for command in _split_script(script):
            before = len(scan.models)
            inner = _reread(command)
            if inner is not None:
                scan_argv(inner, env, scan, depth + 1)
            else:
                _scan_command(command, scan)
            _flag_unresolved(scan, before, problems)
        return
    _scan_command(argv, scan)


def _flag_unresolved(scan: ContainerScan, before: int, problems: list[str]) -> None:
    """A model value that still holds an unexpanded reference was not read: say why."""
    kept = scan.models[:before]
    for model in scan.models[before:]:
        if "$" in model.uri:
            reason = next((p for p in problems if p.split()[1] in model.uri), "")
            scan.unresolved.append(
                f"{model.origin} {model.uri!r}: "
                + (reason or "the value refers to a variable that is not set")
            )
        else:
            kept.append(model)
    scan.models[:] = kept


def scan_container(container: dict[str, Any], where: str) -> ContainerScan:
    """Every model a container's command line, lifecycle hooks and environment name."""
    env = _Env(container, where)
    scan = ContainerScan()
    argv = _words(container, "command", where) + _words(container, "args", where)
    problems: list[str] = []
    expanded = []
    for word in argv:
        text, found = env.expand(word)
        expanded.append(text)
        problems += found
    before = len(scan.models)
    scan_argv(expanded, env, scan)
    _flag_unresolved(scan, before, problems)
    lifecycle = expect_mapping(container.get("lifecycle"), f"{where}/lifecycle")
    for hook in ("postStart", "preStop"):
        handler = expect_mapping(lifecycle.get(hook), f"{where}/lifecycle/{hook}")
        exec_ = expect_mapping(handler.get("exec"), f"{where}/lifecycle/{hook}/exec")
        hook_argv = _words(exec_, "command", f"{where}/lifecycle/{hook}/exec")
        if hook_argv:
            before = len(scan.models)
            scan_argv([env.expand(w)[0] for w in hook_argv], env, scan)
            _flag_unresolved(scan, before, [])
    runtime = next(iter(sorted(scan.runtimes)), "")
    for name in MODEL_ENV:
        if name in env.values and env.values[name].strip():
            uri = model_uri(env.values[name], runtime, path_flag=name == "MODEL_REPOSITORY")
            if not any(m.uri == uri for m in scan.models):
                scan.models.append(FoundModel(uri, runtime, "", "", f"env {name}"))
        elif name in env.opaque:
            scan.unresolved.append(f"env {name} comes from a {env.opaque[name]}")
    return scan
