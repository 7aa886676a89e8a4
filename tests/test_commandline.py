"""The container command-line reader: every form a model server is started with."""

from __future__ import annotations

import pytest

from mlgate.errors import InputError
from mlgate.subjects.commandline import model_uri, scan_container


def uris(container: dict) -> list[str]:
    return [m.uri for m in scan_container(container, "/c").models]


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"args": ["--model=org/m"]}, ["hf://org/m"]),
        ({"command": ["bash", "-lc", "exec vllm serve org/m --port 8000"]}, ["hf://org/m"]),
        ({"command": ["sh", "-c", "env VLLM_USE_V1=1 vllm serve org/m"]}, ["hf://org/m"]),
        ({"command": ["sh", "-c", "pip install x && \\\n  vllm serve org/m"]}, ["hf://org/m"]),
        (
            {"command": ["sh", "-c", "vllm serve org/m --revision " + "a" * 40]},
            ["hf://org/m@" + "a" * 40],
        ),
        (
            {"args": ["--model", "$(M)"], "env": [{"name": "M", "value": "/models/llama"}]},
            ["/models/llama"],
        ),
        # `$$` escapes: the server gets the literal "$(M)", which names no model (unresolved).
        ({"args": ["--model", "$$(M)"], "env": [{"name": "M", "value": "x/y"}]}, []),
        (
            {
                "args": [
                    "--model",
                    "m",
                    "--lora-modules",
                    '{"name": "a", "path": "s3://l/a"}',
                    "b=/l/b",
                ]
            },
            ["hf://m", "s3://l/a", "/l/b"],
        ),
        (
            {"command": ["text-generation-launcher", "--model-id", "bigscience/bloom"]},
            ["hf://bigscience/bloom"],
        ),
        ({"command": ["ollama", "run", "llama3"]}, ["ollama://llama3"]),
        (
            {"command": ["python", "-m", "sglang.launch_server", "--model-path", "org/m"]},
            ["hf://org/m"],
        ),
        ({"command": ["sh", "/start.sh"]}, []),
        ({"command": ["sh", "-c", "vllm serve 'org/m"]}, ["hf://org/m"]),  # unbalanced quote
    ],
)
def test_command_line_forms(container, expected) -> None:
    assert uris(container) == expected


def test_tokenizer_is_recorded_not_a_model() -> None:
    scan = scan_container({"args": ["--model", "org/m", "--tokenizer", "org/tok"]}, "/c")
    assert [(m.uri, m.tokenizer) for m in scan.models] == [("hf://org/m", "hf://org/tok")]


def test_secret_values_are_unresolved_not_dropped() -> None:
    scan = scan_container(
        {"args": ["--model", "$(M)"],
         "env": [{"name": "M", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
        "/c",
    )  # fmt: skip
    assert scan.models == [] and "secretKeyRef" in scan.unresolved[0]


def test_model_uri_never_calls_a_hub_id_an_image() -> None:
    assert model_uri("meta-llama/Llama-3.1-8B", "vllm") == "hf://meta-llama/Llama-3.1-8B"
    assert model_uri("models/x", "triton", path_flag=True) == "file://models/x"
    assert model_uri("s3://b/k", "vllm") == "s3://b/k"


def test_malformed_env_names_the_path() -> None:
    with pytest.raises(InputError) as info:
        scan_container({"env": "MODEL_ID=x"}, "/spec/containers/0")
    assert info.value.location == "/spec/containers/0/env"
