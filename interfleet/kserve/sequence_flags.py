"""What a KServe v2 request says of its sequence: Triton's `sequence_id` (a non-zero integer or a
non-empty string), `sequence_start` and `sequence_end` parameters. Read by the router (which
keeps a sequence on one worker) and by the worker (which carries its state)."""

from __future__ import annotations

from dataclasses import dataclass

from tritonclient.grpc import service_pb2


@dataclass(frozen=True)
class SequenceFlags:
    sequence_id: int | str
    start: bool
    end: bool

    @classmethod
    def of(cls, request: service_pb2.ModelInferRequest) -> SequenceFlags | None:
        """The request's sequence flags; None if it names no sequence."""
        parameters = request.parameters
        if "sequence_id" not in parameters:
            return None
        parameter = parameters["sequence_id"]
        kind = parameter.WhichOneof("parameter_choice")
        sequence_id = (
            parameter.string_param if kind == "string_param" else getattr(parameter, kind or "int64_param")
        )
        if not sequence_id:
            return None
        start = parameters["sequence_start"].bool_param if "sequence_start" in parameters else False
        end = parameters["sequence_end"].bool_param if "sequence_end" in parameters else False
        return cls(sequence_id, start, end)
