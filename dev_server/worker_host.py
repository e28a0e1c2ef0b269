"""The Functions host's side of the exchange with the real Python worker library, in the worker's
own interpreter (Python 3.13+, `azure-functions-runtime`).

The exchange is the host's: WorkerInitRequest (the worker imports and indexes the app),
FunctionsMetadataRequest, one FunctionLoadRequest per function, then InvocationRequests built as
the host encodes HTTP requests and Service Bus batches. Every message is a protobuf message of
the host's published contract (`function_rpc.proto`, compiled by `worker_env`).

Self-contained (standard library, protobuf and the worker library only), so the suite's host
driver can load it by path without putting the checkout on the worker's import path."""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

HOST_VERSION = "4.0.0"


def to_dict(message: Any) -> dict[str, Any]:
    """A protobuf message as JSON-ready data, field names as in the contract."""
    from google.protobuf.json_format import MessageToDict

    return MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def typed(protos: Any, spec: dict[str, Any]) -> Any:
    """A TypedData from a small JSON description: {"json": ...} | {"string": ...} |
    {"bytes_b64": ...} | {"collection_bytes": [...]} | {"collection_string": [...]}."""
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


def http_input(protos: Any, spec: dict[str, Any]) -> Any:
    """An HTTP request as the host sends it to a worker that asked for raw body bytes. `spec`:
    method, url, headers, params (route values), query, and body as text or `body_bytes`."""
    body = spec["body_bytes"] if "body_bytes" in spec else spec.get("body", "").encode()
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


@dataclass
class HttpAnswer:
    """What an HTTP function returned: status, headers (names lower-cased) and body bytes."""

    status_code: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Outcome:
    """One invocation's result as the host reads it."""

    succeeded: bool
    exception: str | None
    http: HttpAnswer | None = None

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "status": "Success" if self.succeeded else "Failure",
            "exception": self.exception,
        }
        if self.http is not None:
            answer["http"] = {
                "status_code": self.http.status_code,
                "headers": self.http.headers,
                "body": self.http.body.decode("utf-8"),
            }
        return answer


def _outcome(protos: Any, response: Any) -> Outcome:
    outcome = Outcome(
        succeeded=response.result.status == protos.StatusResult.Success,
        exception=response.result.exception.message or None,
    )
    value = response.return_value
    if value.WhichOneof("data") == "http":
        http = value.http
        body = http.body
        kind = body.WhichOneof("data")
        raw = body.bytes if kind == "bytes" else body.string.encode() if kind == "string" else b""
        outcome.http = HttpAnswer(
            status_code=int(http.status_code or 200),
            headers={key.lower(): item for key, item in http.headers.items()},
            body=raw,
        )
    return outcome


def _request(protos: Any, **fields: Any) -> SimpleNamespace:
    return SimpleNamespace(request=SimpleNamespace(**fields), properties={"protos": protos})


@dataclass
class WorkerHost:
    """The host's half: starts the worker on an app folder and invokes its functions. Call
    `start` and `invoke` on one event loop, as the host's channel to a worker does."""

    app_dir: str
    rpc_dir: str
    settings: dict[str, str]
    init: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    loads: dict[str, Any] = field(default_factory=dict)
    function_ids: dict[str, str] = field(default_factory=dict)
    protos: Any = None

    async def start(self) -> bool:
        """Init (import and index), metadata, one load per function. False when the worker
        refused the app (the answers say why)."""
        sys.path.insert(0, self.rpc_dir)
        # The host puts the app's folder and its remote-built packages first on the path.
        site = os.path.join(self.app_dir, ".python_packages", "lib", "site-packages")
        sys.path[:0] = [self.app_dir, site]
        os.environ.update(self.settings)
        os.chdir(self.app_dir)

        import function_rpc_pb2 as protos
        from azure_functions_runtime import handle_event, start_threadpool_executor

        self.protos = protos
        start_threadpool_executor()
        init = await handle_event.worker_init_request(
            _request(
                protos,
                worker_init_request=protos.WorkerInitRequest(
                    host_version=HOST_VERSION, function_app_directory=self.app_dir
                ),
            )
        )
        self.init = to_dict(init)
        if init.result.status != protos.StatusResult.Success:
            return False
        metadata = await handle_event.functions_metadata_request(
            _request(protos, functions_metadata_request=protos.FunctionsMetadataRequest())
        )
        self.metadata = to_dict(metadata)
        for function in metadata.function_metadata_results:
            self.function_ids[function.name] = function.function_id
            loaded = await handle_event.function_load_request(
                _request(
                    protos,
                    function_load_request=protos.FunctionLoadRequest(
                        function_id=function.function_id, metadata=function
                    ),
                )
            )
            self.loads[function.name] = to_dict(loaded)
        return metadata.result.status == protos.StatusResult.Success

    def bindings(self) -> dict[str, list[dict[str, Any]]]:
        """Each function's bindings as the worker reported them (route, methods, authLevel...)."""
        return {
            item["name"]: [json.loads(raw) for raw in item["raw_bindings"]]
            for item in self.metadata.get("function_metadata_results", [])
        }

    async def invoke(
        self,
        function: str,
        inputs: dict[str, Any],
        trigger_metadata: dict[str, dict[str, Any]] | None = None,
    ) -> Outcome:
        """One InvocationRequest. `inputs` maps binding names to {"http": spec} or a `typed`
        description."""
        from azure_functions_runtime import handle_event

        protos = self.protos
        bound = []
        for name, spec in inputs.items():
            data = http_input(protos, spec["http"]) if "http" in spec else typed(protos, spec)
            bound.append(protos.ParameterBinding(name=name, data=data))
        request = protos.InvocationRequest(
            invocation_id=str(uuid.uuid4()),
            function_id=self.function_ids[function],
            input_data=bound,
            trigger_metadata={
                key: typed(protos, spec) for key, spec in (trigger_metadata or {}).items()
            },
        )
        response = await handle_event.invocation_request(
            _request(protos, invocation_request=request)
        )
        return _outcome(protos, response)
