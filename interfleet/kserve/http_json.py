"""The gRPC answers (server and model metadata, model config, statistics) as Triton's HTTP JSON.

Field names stay as the protobuf spells them (`max_batch_size`, `inference_stats`), every field
is printed, defaults included, and 64-bit integers are JSON numbers, as Triton prints them (protobuf's
own JSON mapping would quote them as strings, which Triton's clients do not expect).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from tritonclient.grpc import service_pb2

_INT64_TYPES = {
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED64,
}


def _numbers(message: Message, document: dict[str, Any]) -> dict[str, Any]:
    """`document` (MessageToDict of `message`) with its 64-bit integers as numbers, in place."""
    for descriptor in message.DESCRIPTOR.fields:
        key = descriptor.name
        if key not in document:
            continue
        value = getattr(message, key)
        if descriptor.type in _INT64_TYPES:
            document[key] = list(value) if descriptor.label == FieldDescriptor.LABEL_REPEATED else int(value)
        elif descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            if descriptor.message_type.GetOptions().map_entry:
                value_field = descriptor.message_type.fields_by_name["value"]
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    for k, item in value.items():
                        _numbers(item, document[key][k])
                elif value_field.type in _INT64_TYPES:
                    document[key] = {k: int(v) for k, v in value.items()}
            elif descriptor.label == FieldDescriptor.LABEL_REPEATED:
                for item, item_document in zip(value, document[key]):
                    _numbers(item, item_document)
            else:
                _numbers(value, document[key])
    return document


def as_json(message: Message) -> dict[str, Any]:
    document = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _numbers(message, document)


def config_json(response: service_pb2.ModelConfigResponse) -> dict[str, Any]:
    """GET /v2/models/<m>/config answers the config itself, not the gRPC wrapper around it."""
    return as_json(response.config)


def index_json(response: service_pb2.RepositoryIndexResponse) -> list[dict[str, Any]]:
    """POST /v2/repository/index answers a bare list of models."""
    return [as_json(model) for model in response.models]
