"""Plays the Functions host against the real Python worker library, in its own interpreter.

Run by `tests/worker/harness.py` with the worker's Python (3.13+, `azure-functions-runtime`).
Reads a scenario as JSON on stdin, answers JSON on stdout:

    {"app_dir": ..., "rpc_dir": ..., "settings": {...}, "invocations": [...]}
    -> {"init": {...}, "metadata": {...}, "loads": {...}, "invocations": [...]}

The exchange is the host's: WorkerInitRequest (the worker imports and indexes the app),
FunctionsMetadataRequest, one FunctionLoadRequest per function, then InvocationRequests built
as the host encodes HTTP requests and Service Bus batches. Every message is a protobuf message of
the host's published contract (`function_rpc.proto`)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from types import SimpleNamespace
from typing import Any


def _request(protos: Any, **fields: Any) -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(**fields), properties={"protos": protos})


def _to_dict(message: Any) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _typed(protos: Any, spec: dict[str, Any]) -> Any:
    """A TypedData from a small JSON description: {"json": ...} | {"string": ...} |
    {"bytes_b64": ...} | {"collection_bytes": [...]} | {"collection_string": [...]}."""
    import base64

    if "json" in spec:
        return protos.TypedData(json=json.dumps(spec["json"]))
    if "string" in spec:
        return protos.TypedData(string=spec["string"])
    if "collection_bytes" in spec:
        items = [item.encode() for item in spec["collection_bytes"]]
        return protos.TypedData(collection_bytes=protos.CollectionBytes(bytes=items))
    if "collection_string" in spec:
        return protos.TypedData(
            collection_string=protos.CollectionString(string=spec["collection_string"])
        )
    return protos.TypedData(bytes=base64.b64decode(spec.get("bytes_b64", "")))


def _http_input(protos: Any, spec: dict[str, Any]) -> Any:
    """An HTTP request as the host sends it to a worker that asked for raw body bytes."""
    body = spec.get("body", "").encode()
    return protos.TypedData(
        http=protos.RpcHttp(
            method=spec["method"],
            url=spec["url"],
            headers=spec.get("headers", {}),
            params=spec.get("params", {}),
            query=spec.get("query", {}),
            body=protos.TypedData(bytes=body),
            rawBody=protos.TypedData(bytes=body),
        )
    )


def _invocation_result(response: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "status": "Success" if response.result.status == 1 else "Failure",
        "exception": response.result.exception.message or None,
    }
    value = response.return_value
    if value.WhichOneof("data") == "http":
        http = value.http
        body = http.body
        raw = body.bytes if body.WhichOneof("data") == "bytes" else body.string.encode()
        result["http"] = {
            "status_code": int(http.status_code or 200),
            "headers": {key.lower(): item for key, item in http.headers.items()},
            "body": raw.decode("utf-8"),
        }
    return result


async def run(scenario: dict[str, Any]) -> dict[str, Any]:
    app_dir = scenario["app_dir"]
    sys.path.insert(0, scenario["rpc_dir"])
    # The host puts the app's folder and its remote-built packages first on the path.
    sys.path[:0] = [app_dir, os.path.join(app_dir, ".python_packages", "lib", "site-packages")]
    os.environ.update(scenario["settings"])
    os.chdir(app_dir)

    import function_rpc_pb2 as protos
    from azure_functions_runtime import handle_event, start_threadpool_executor

    start_threadpool_executor()
    init = await handle_event.worker_init_request(
        _request(
            protos,
            worker_init_request=protos.WorkerInitRequest(
                host_version="4.0.0", function_app_directory=app_dir
            ),
        )
    )
    answer: dict[str, Any] = {"init": _to_dict(init)}
    if init.result.status != protos.StatusResult.Success:
        return answer
    metadata = await handle_event.functions_metadata_request(
        _request(protos, functions_metadata_request=protos.FunctionsMetadataRequest())
    )
    answer["metadata"] = _to_dict(metadata)
    ids = {}
    loads = {}
    for function in metadata.function_metadata_results:
        ids[function.name] = function.function_id
        loaded = await handle_event.function_load_request(
            _request(
                protos,
                function_load_request=protos.FunctionLoadRequest(
                    function_id=function.function_id, metadata=function
                ),
            )
        )
        loads[function.name] = _to_dict(loaded)
    answer["loads"] = loads

    results = []
    for invocation in scenario.get("invocations", []):
        inputs = []
        for name, spec in invocation["inputs"].items():
            data = _http_input(protos, spec["http"]) if "http" in spec else _typed(protos, spec)
            inputs.append(protos.ParameterBinding(name=name, data=data))
        request = protos.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=ids[invocation["function"]],
            input_data=inputs,
            trigger_metadata={
                key: _typed(protos, spec)
                for key, spec in invocation.get("trigger_metadata", {}).items()
            },
        )
        response = await handle_event.invocation_request(
            _request(protos, invocation_request=request)
        )
        results.append(_invocation_result(response))
    answer["invocations"] = results
    return answer


def main() -> None:
    scenario = json.load(sys.stdin)
    answer = asyncio.run(run(scenario))
    sys.stdout.write("\n" + json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
