"""MFCC front end: one definition, in batched, step (exportable) and streaming forms."""

from kws.features.mfcc import (
    Mfcc,
    MfccStep,
    MfccStreamer,
    frame_end_seconds,
    frames_to_mfcc,
    mfcc_constants,
    num_frames,
)

__all__ = ["Mfcc", "MfccStep", "MfccStreamer", "frame_end_seconds", "frames_to_mfcc",
           "mfcc_constants", "num_frames"]
