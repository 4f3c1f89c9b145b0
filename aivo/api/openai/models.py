"""Model ids: the base tutor model, and each student's model (the base plus their live adapter)
as `aivo-tutor:student:<student_id>`, which serves as `/v1/generate`'s `student_id` does."""

from __future__ import annotations

from aivo.adapters import Manifest
from aivo.api.openai.schemas import ModelCard, ModelDetails
from aivo.errors import ModelNotFound
from aivo.tenancy import is_student_id

BASE_MODEL_ID = "aivo-tutor"
_STUDENT_PREFIX = f"{BASE_MODEL_ID}:student:"


def student_model_id(student_id: str) -> str:
    return f"{_STUDENT_PREFIX}{student_id}"


def student_of(model_id: str) -> str | None:
    """The student whose model `model_id` names; None for the base model; ModelNotFound for an
    id that names neither."""
    if model_id == BASE_MODEL_ID:
        return None
    student_id = model_id.removeprefix(_STUDENT_PREFIX)
    if student_id == model_id or not is_student_id(student_id):
        raise model_not_found(model_id)
    return student_id


def model_not_found(model_id: str) -> ModelNotFound:
    return ModelNotFound(
        f"the model {model_id!r} does not exist; GET /v1/models lists the models this key may use"
    )


def base_card(created: int) -> ModelCard:
    return ModelCard(id=BASE_MODEL_ID, created=created)


def student_card(student_id: str, manifest: Manifest) -> ModelCard:
    return ModelCard(
        id=student_model_id(student_id),
        created=int(manifest.live.published_at.timestamp()),
        parent=BASE_MODEL_ID,
        aivo=ModelDetails(adapter_version=manifest.live_version),
    )
