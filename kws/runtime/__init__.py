"""The device side: bundles, the streaming detector and its decision logic.

Imports numpy and onnxruntime only (sounddevice for the microphone), never torch, torchaudio
or librosa: a device installs `pip install kws` without extras.
"""

from kws.runtime.bundle import Bundle, load_bundle
from kws.runtime.decision import DecisionConfig, Detection
from kws.runtime.detector import Detector, Stream

__all__ = ["Bundle", "DecisionConfig", "Detection", "Detector", "Stream", "load_bundle"]
