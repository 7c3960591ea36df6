"""ModelMetadata, ModelConfig and RepositoryIndex answers built from a `HostedModel` record.

Workers build them from the models they load; the router builds the very same answers from the
records workers publish, so it answers these calls without a hop.
"""

from __future__ import annotations

from collections.abc import Iterable

from tritonclient.grpc import model_config_pb2, service_pb2

from interfleet.errors import ModelNotFound
from interfleet.kserve.datatypes import MODEL_CONFIG_TYPE
from interfleet.proto import fleet_pb2


def unknown_model(name: str, version: str = "") -> str:
    """Triton's words for a model (or version) it does not have, which Triton's clients match on;
    callers add their own detail after them."""
    return f"Request for unknown model: '{name}'{f' version {version}' if version else ''} is not found"


def check_version(model: fleet_pb2.HostedModel, requested: str) -> None:
    """An empty version means the latest; any other must be one the model has. A version that is
    not a number is answered in Triton's words (its clients match them), with our status."""
    if requested and not (requested.isdigit() and int(requested) > 0):
        raise ModelNotFound(
            f"failed to get model version from specified version string '{requested}' "
            f"(details: not a positive integer), version should be an integral value > 0 (model '{model.name}')"
        )
    if requested and requested != model.version:
        raise ModelNotFound(f"{unknown_model(model.name, requested)} (available: {model.version})")


def metadata_response(model: fleet_pb2.HostedModel) -> service_pb2.ModelMetadataResponse:
    response = service_pb2.ModelMetadataResponse(
        name=model.name, versions=[model.version], platform=model.platform
    )
    for spec in model.inputs:
        response.inputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
    for spec in model.outputs:
        response.outputs.add(name=spec.name, datatype=spec.datatype, shape=spec.shape)
    return response


def config_response(model: fleet_pb2.HostedModel) -> service_pb2.ModelConfigResponse:
    """Triton's model config: dims exclude the batch axis when max_batch_size > 0."""
    config = model_config_pb2.ModelConfig(
        name=model.name, platform=model.platform, backend="onnxruntime", max_batch_size=model.max_batch_size
    )
    first = 1 if model.max_batch_size > 0 else 0  # a non-batching model's shapes have no batch axis
    for spec in model.inputs:
        config.input.add(
            name=spec.name,
            data_type=MODEL_CONFIG_TYPE[spec.datatype],
            dims=spec.shape[first:],
            format=model_config_pb2.ModelInput.Format.Value(spec.format or "FORMAT_NONE"),
        )
    for spec in model.outputs:
        config.output.add(
            name=spec.name,
            data_type=MODEL_CONFIG_TYPE[spec.datatype],
            dims=spec.shape[first:],
            label_filename=spec.label_filename,
        )
    config.parameters["slo_ms"].string_value = f"{model.slo_ms:g}"
    config.parameters["flops_per_sample"].string_value = str(model.flops_per_sample)
    config.parameters["parameter_count"].string_value = str(model.parameter_count)
    return service_pb2.ModelConfigResponse(config=config)


def index_response(
    models: Iterable[fleet_pb2.HostedModel],
    ready: bool,
    unavailable: Iterable[fleet_pb2.UnavailableModel] = (),
) -> service_pb2.RepositoryIndexResponse:
    """A worker's models, READY once it serves; those it could not load UNAVAILABLE with why."""
    entries = [(m.name, m.version, "READY" if ready else "UNAVAILABLE", "") for m in models]
    entries += [(m.name, m.version, "UNAVAILABLE", m.reason) for m in unavailable]
    response = service_pb2.RepositoryIndexResponse()
    for name, version, state, reason in sorted(entries):
        response.models.add(name=name, version=version, state=state, reason=reason)
    return response
