"""The tutor service behind the HTTP API, and the Protocols of what it calls."""

from aivo.service.protocols import CloneJobs, ForgottenClones, Inference, Preprocessor
from aivo.service.tutor import TutorService

__all__ = ["CloneJobs", "ForgottenClones", "Inference", "Preprocessor", "TutorService"]
