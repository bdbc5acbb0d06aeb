"""The OpenAPI 3.1 document of exactly the loaded plugins, built from their routes' models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, WebSocketRoute

from commerce_kernel.identity import public
from commerce_kernel.pagination import PageQuery
from commerce_kernel.routing import APIRoute, APIWebSocketRoute, Endpoint, Link

REF = "#/components/schemas/{model}"

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details. `errors` is present for validation failures.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
}

_STANDARD = {
    400: "Malformed request",
    401: "Missing or invalid credentials",
    403: "Authenticated but not allowed",
    404: "Not found",
    409: "Conflict with current state",
    413: "Request body too large",
    422: "Validation failed",
    429: "Rate limited (see `Retry-After`)",
    503: "A backend this request needs (the database, Redis) is unavailable; retry after "
    "`Retry-After` seconds",
}

# What the kernel itself answers, whatever the handler: the guard, the body and query readers.
_GUARD_403 = {
    "customer": "An admin token: this operation needs a customer token",
    "admin": "A customer token: this operation needs an admin token",
}
_PUBLIC_401 = "An `Authorization` header was sent and its token is invalid, expired or revoked"
_BODY_400 = "Malformed JSON body, or an invalid `Content-Length`"
_BODY_413 = (
    "The body is over the size limit (`MAX_REQUEST_BYTES`, unless the operation has its own)"
)
_PAGE_404 = "That page is past the end of the results"
_QUERY_422 = "Invalid query parameters"
# Kernel reasons added to a handler's own description of the same status, unless it has them.
_ALSO = {_PUBLIC_401: "authorization", _PAGE_404: "past the end"}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
}


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for name, conv in re.findall(r"{([^}:]+)(?::([^}]+))?}", path):
        schema = {"type": "integer"} if conv == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _clean_path(path: str) -> str:
    return re.sub(r"{([^}:]+):[^}]+}", r"{\1}", path)


class _Schemas:
    def __init__(self) -> None:
        self.defs: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}

    def ref(self, annotation: Any, mode: str) -> dict[str, Any]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            _, top = models_json_schema([(annotation, mode)], ref_template=REF)  # type: ignore[list-item]
            self.defs.update(top.get("$defs", {}))
            return {"$ref": REF.format(model=annotation.__name__)}
        schema = TypeAdapter(annotation).json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        self.defs.update(schema.pop("$defs", {}))
        return schema

    def fields(self, model: type[BaseModel]) -> dict[str, Any]:
        """The schema of each field of `model` (by alias), as validation reads it."""
        _, top = models_json_schema([(model, "validation")], ref_template=REF)
        defs = top.get("$defs", {})
        own = defs.pop(model.__name__, {})
        self.defs.update(defs)
        out: dict[str, Any] = {}
        for name, schema in own.get("properties", {}).items():
            out[name] = {k: v for k, v in schema.items() if k not in ("title", "description")}
        return out


def _operation(ep: Endpoint, schemas: _Schemas) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": ep.operation_id, "summary": ep.summary}
    if ep.description and ep.description != ep.summary:
        op["description"] = ep.description
    if ep.tags:
        op["tags"] = list(ep.tags)
    params = _path_params(ep.path)
    if ep.query is not None:
        # The fields' constraints too (`ge`, `le`, `max_length`), not only their types.
        fields = schemas.fields(ep.query)
        for name, field in ep.query.model_fields.items():
            schema = fields.get(field.alias or name) or schemas.ref(field.annotation, "validation")
            param: dict[str, Any] = {
                "name": field.alias or name,
                "in": "query",
                "required": field.is_required(),
                "schema": schema,
            }
            if field.description:
                param["description"] = field.description
            params.append(param)
    for header, text in ep.headers.items():
        params.append(
            {
                "name": header,
                "in": "header",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
        )
    if params:
        op["parameters"] = params
    if ep.body is not None:
        op["requestBody"] = {
            # An empty body is read as `{}`: it may be left out exactly when `{}` is valid.
            "required": not _accepts_empty(ep.body),
            "content": {"application/json": {"schema": schemas.ref(ep.body, "validation")}},
        }
    elif ep.request_content:
        op["requestBody"] = {"required": True, "content": ep.request_content}
    responses: dict[str, Any] = {}
    ok: dict[str, Any] = {"description": ep.responses.get(ep.status, "Success")}
    if ep.response is not None and ep.status != 204:
        ok["content"] = {"application/json": {"schema": schemas.ref(ep.response, "serialization")}}
    responses[str(ep.status)] = ok
    security = getattr(ep.guard, "security", None)
    if security:
        op["security"] = [{"bearerAuth": []}]
    kernel_answers = _kernel_answers(ep, security)
    for code in sorted(set(kernel_answers) | set(ep.responses)):
        if str(code) not in responses:
            responses[str(code)] = _response(ep, code, kernel_answers.get(code), schemas)
    if security == "customer":
        op.setdefault("description", "")
        op["description"] = (op["description"] + "\n\nRequires a customer token.").strip()
    elif security == "admin":
        op["description"] = ((op.get("description") or "") + "\n\nRequires an admin token.").strip()
    elif security == "any":
        text = "Requires a customer or an admin token."
        op["description"] = ((op.get("description") or "") + "\n\n" + text).strip()
    op["responses"] = dict(sorted(responses.items()))
    return op


def _accepts_empty(body: type[BaseModel]) -> bool:
    try:
        body.model_validate({})
    except ValidationError:
        return False
    return True


def _kernel_answers(ep: Endpoint, security: str | None) -> dict[int, str]:
    """The statuses the kernel answers for this operation before or around its handler, with
    why: its guard, its body (`MAX_REQUEST_BYTES`, JSON, validation), its query and pages.
    Any operation may meet a backend outage (503)."""
    out: dict[int, str] = {503: _STANDARD[503]}
    if security:
        out[401] = _STANDARD[401]
        if security in _GUARD_403:
            out[403] = _GUARD_403[security]
    elif ep.guard is public:
        out[401] = _PUBLIC_401
    if ep.body is not None:
        out |= {400: _BODY_400, 413: _BODY_413, 422: _STANDARD[422]}
    elif ep.request_content:
        out |= {400: _STANDARD[400], 413: _STANDARD[413]}
    if ep.query is not None:
        out.setdefault(422, _QUERY_422)
        if issubclass(ep.query, PageQuery):
            out[404] = _PAGE_404
    return out


def _response(
    ep: Endpoint, code: int, kernel_reason: str | None, schemas: _Schemas
) -> dict[str, Any]:
    declared = ep.responses.get(code)
    desc = declared or kernel_reason or _STANDARD.get(code, "Error")
    said = _ALSO.get(kernel_reason or "")
    if declared and kernel_reason and said and said not in declared.lower():
        # Both happen: the handler's reason and the kernel's (a bad token, a page too far).
        desc = f"{declared}; or: {kernel_reason[0].lower()}{kernel_reason[1:]}"
    entry: dict[str, Any] = {"description": desc}
    if code >= 400:
        entry["content"] = {
            "application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}
        }
        if code in (429, 503):
            entry["headers"] = _RETRY_AFTER
    elif code in (200, 201) and ep.response is not None:
        entry["content"] = {
            "application/json": {"schema": schemas.ref(ep.response, "serialization")}
        }
    return entry


def _parameter_names(ep: Endpoint) -> set[str]:
    names = {p["name"] for p in _path_params(ep.path)} | set(ep.headers)
    if ep.query is not None:
        names |= {f.alias or n for n, f in ep.query.model_fields.items()}
    return names


def _add_links(operations: dict[str, tuple[Endpoint, dict[str, Any]]]) -> None:
    """Hang every declared `Link` on its source operation's answer; a link whose other end is
    not in the document (its plugin is not loaded) is left out."""
    for ep, _ in operations.values():
        for link in ep.links:
            source_id = link.source or ep.operation_id
            target_id = link.target or ep.operation_id
            if source_id not in operations or target_id not in operations:
                continue
            source, source_op = operations[source_id]
            target = operations[target_id][0]
            _add_link(link, source, source_op, target)


def _add_link(link: Link, source: Endpoint, source_op: dict[str, Any], target: Endpoint) -> None:
    where = f"Link {source.operation_id} -> {target.operation_id}"
    known = _parameter_names(target)
    for name in link.parameters:
        if name.split(".", 1)[-1] not in known:
            raise ValueError(f"{where}: {target.operation_id} has no parameter {name!r}")
    if link.request_body is not None and target.body is None and not target.request_content:
        raise ValueError(f"{where}: {target.operation_id} takes no request body")
    status = str(link.status or source.status)
    answer = source_op["responses"].get(status)
    if answer is None:
        raise ValueError(f"{where}: {source.operation_id} does not answer {status}")
    entry: dict[str, Any] = {"operationId": target.operation_id}
    if link.parameters:
        entry["parameters"] = dict(link.parameters)
    if link.request_body is not None:
        entry["requestBody"] = link.request_body
    if link.description:
        entry["description"] = link.description
    answer.setdefault("links", {})[link.name or target.operation_id] = entry


def build_openapi(
    routes: Iterable[BaseRoute], *, title: str, version: str, plugins: list[dict[str, str]]
) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    operations: dict[str, tuple[Endpoint, dict[str, Any]]] = {}
    websockets = []
    for route in routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for ep in route.endpoints:
                op = _operation(ep, schemas)
                paths.setdefault(_clean_path(ep.path), {})[ep.method.lower()] = op
                if ep.operation_id in operations:
                    other = operations[ep.operation_id][0]
                    raise ValueError(
                        f"Two operations have the id {ep.operation_id!r}: {other.method} "
                        f"{other.path} and {ep.method} {ep.path} (give one `name=`)"
                    )
                operations[str(ep.operation_id)] = (ep, op)
        elif isinstance(route, APIWebSocketRoute):
            websockets.append(
                {
                    "path": route.path,
                    "name": route.name,
                    "summary": route.summary,
                    "description": route.description,
                    "tags": list(route.tags),
                    "receives": [schemas.ref(m, "validation") for m in route.receives],
                    "sends": [schemas.ref(m, "serialization") for m in route.sends],
                }
            )
        elif isinstance(route, WebSocketRoute) and getattr(route, "include_in_schema", True):
            websockets.append(
                {
                    "path": route.path,
                    "name": route.name,
                    "summary": (route.endpoint.__doc__ or "").strip().split("\n")[0],
                    "description": (route.endpoint.__doc__ or "").strip(),
                }
            )
    _add_links(operations)
    desc = "Loaded plugins: " + ", ".join(f"{p['name']} {p['version']}" for p in plugins) + "."
    desc += (
        "\n\nErrors are `application/problem+json` (`Problem`; `errors` lists validation"
        " failures). Each operation lists the statuses it answers; besides those, any request"
        " may be answered 400 for a Host not in `ALLOWED_HOSTS`, 404 or 405 for an unknown"
        " path or method, and 500 for an unexpected error."
    )
    if websockets:
        desc += (
            "\n\nWebSocket endpoints (frames: `x-websockets` in this document, schemas in"
            " `components.schemas`):\n"
        )
        desc += "\n".join(f"- `{w['path']}`: {w['summary']}" for w in websockets)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": desc},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.defs.items())),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "x-plugins": plugins,
        "x-websockets": websockets,
    }
