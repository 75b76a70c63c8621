"""The streaming detector: one onnxruntime session, many streams (numpy + onnxruntime only).

The model is stateless and shared (as in sherpa-onnx); each `Stream` owns its state: the
front end's carried samples, the recurrent state, the samples still short of a whole chunk,
and its decision window. `feed` accepts any number of samples and runs the step graph on
every whole chunk, so the result never depends on how audio is cut into pieces. Streams can
also be stepped together in one batched call (`Detector.feed_many`), and onnxruntime sessions
may be run from several threads at once, one stream per thread.

An enrolled bundle (`kws enroll`: bundle.json `search`) emits phoneme posteriors; each stream
then also owns a phrase search (kws.runtime.phrase_search) that turns them into one score per
phrase, so everything past the model - `process`, `posteriors`, the decision logic - sees
a score per label, whichever kind of bundle it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from kws.errors import KwsInputError
from kws.runtime.bundle import Bundle, load_bundle
from kws.runtime.decision import Decider, DecisionConfig, Detection
from kws.runtime.phrase_search import PhraseSearch


def session_runner(session: ort.InferenceSession
                   ) -> Callable[[list[str], dict[str, np.ndarray]], list[np.ndarray]]:
    """`session.run` without the per-call checks of onnxruntime's Python wrapper (input
    names, ownership, graph capture: about 5 µs a call, half a microsecond per hop at
    100 ms chunks). The Detector checks the names once, at load. Falls back to the public
    `run` where the wrapper's inner session is not there (another onnxruntime)."""
    inner = getattr(session, "_sess", None)
    if inner is None or not callable(getattr(inner, "run", None)):
        return session.run
    options = ort.RunOptions()
    return lambda names, feed: inner.run(names, feed, options)


def bound_runner(session: ort.InferenceSession, io: ort.IOBinding) -> Callable[[], None]:
    """`session.run_with_iobinding(io)` without the wrapper's per-call work (with run
    options, its graph-capture lookup costs 30 µs a call; without, 4 µs). Falls back to
    the public call where the inner objects are not there."""
    inner, binding = getattr(session, "_sess", None), getattr(io, "_iobinding", None)
    if inner is None or binding is None or not callable(getattr(inner, "run_with_iobinding",
                                                                None)):
        return lambda: session.run_with_iobinding(io)
    options = ort.RunOptions()
    return lambda: inner.run_with_iobinding(binding, options)


def as_float_pcm(pcm: np.ndarray) -> np.ndarray:
    """int16 or float samples -> float32 in [-1, 1]; refuses non-finite or 2-D input."""
    a = np.asarray(pcm)
    if a.ndim != 1:
        raise KwsInputError(f"feed(): expected 1-D mono samples, got shape {a.shape}")
    if a.dtype == np.int16:
        return a.astype(np.float32) / 32768.0
    if a.dtype.kind in "iu":
        raise KwsInputError(f"feed(): integer samples must be int16, got {a.dtype}")
    if a.dtype.kind != "f":
        raise KwsInputError(f"feed(): expected int16 or float samples, got {a.dtype}")
    a = a.astype(np.float32, copy=False)
    if len(a) and np.abs(a).max() <= 1.0:  # the common case (NaN fails it), one pass
        return a.copy()  # the caller may reuse its buffer (a sound card's does)
    if not np.isfinite(a).all():
        raise KwsInputError("feed(): samples contain NaN or Inf")
    return np.clip(a, -1.0, 1.0)


class Detector:
    """Loads a bundle (checksums verified), owns the session, creates streams."""

    def __init__(self, bundle: str | Path | Bundle, threads: int | None = None,
                 decision: DecisionConfig | None = None,
                 thresholds: dict[str, float] | None = None) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        b = self.bundle
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads if threads is not None else b.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(b.model_path), so,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise KwsInputError(f"{b.model_path}: onnxruntime cannot load the model "
                                f"({str(exc).splitlines()[0][:160]})") from None
        names = {i.name for i in self.session.get_inputs()}
        wanted = {b.input_name, *(s.name for s in b.states)}
        if names != wanted:
            raise KwsInputError(f"{b.model_path}: model inputs {sorted(names)} do not match "
                                f"bundle.json {sorted(wanted)}")
        shapes = {i.name: i.shape for i in self.session.get_inputs()}
        for state in b.states:  # a fixed width in the graph must be the bundle's
            width = shapes[state.name][-1] if shapes[state.name] else None
            if isinstance(width, int) and width != state.size:
                raise KwsInputError(f"{b.model_path}: model input {state.name} holds {width} "
                                    f"values, bundle.json says {state.size}")
        self.output_names = [b.output_name, *(s.output for s in b.states)]
        outputs = {o.name for o in self.session.get_outputs()}
        # the posteriors' columns must be the labels (or a search's units)
        shape = next((o.shape for o in self.session.get_outputs()
                      if o.name == b.output_name), None)
        width = shape[-1] if shape else None
        want, what = (len(b.search.units), "search.units") if b.search is not None else \
            (len(b.labels), "labels")
        if isinstance(width, int) and width != want:
            raise KwsInputError(f"{b.model_path}: the model emits {width} posteriors per "
                                f"frame, bundle.json {what} lists {want}")
        if not set(self.output_names) <= outputs:
            raise KwsInputError(f"{b.model_path}: bundle.json names outputs "
                                f"{sorted(set(self.output_names) - outputs)} the model lacks "
                                f"(it has {sorted(outputs)})")
        self.decision = decision or DecisionConfig.from_bundle(b.decision, b.thresholds)
        if thresholds:
            unknown = set(thresholds) - set(b.keywords)
            if unknown:
                raise KwsInputError(f"thresholds for unknown keyword(s) {sorted(unknown)}; "
                                    f"the bundle knows {', '.join(b.keywords)}")
            self.decision.thresholds.update(thresholds)
        self.input_dtype = np.int16 if b.input_kind == "pcm16" else np.float32
        self._run = session_runner(self.session)
        self.state_names = [s.name for s in b.states]
        # what one call consumes: samples, or feature frames for a features-input bundle
        self.chunk_unit = b.chunk_hops if b.input_kind == "features" else b.chunk_samples

    @property
    def labels(self) -> list[str]:
        return self.bundle.labels

    def stream(self) -> Stream:
        return Stream(self)

    def initial_states(self, batch: int) -> dict[str, np.ndarray]:
        return {s.name: np.zeros((batch, s.size), np.float32) for s in self.bundle.states}

    def run(self, chunk: np.ndarray, states: dict[str, np.ndarray],
            observe: Callable[[dict], None] | None = None
            ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One step: chunk [B, chunk_samples] (or [B, chunk_hops, n_features]) and states
        -> (posteriors [B, chunk_hops, classes], new states). `observe` sees each feed."""
        b = self.bundle
        feed = {b.input_name: self._input(chunk), **states}
        if observe is not None:
            observe(feed)
        out = self._run(self.output_names, feed)
        return out[0], dict(zip(self.state_names, out[1:], strict=True))

    def _input(self, chunk: np.ndarray) -> np.ndarray:
        if self.input_dtype == np.int16:  # the graph divides by 32768: the exact inverse
            return np.clip(np.round(chunk * 32768.0), -32768, 32767).astype(np.int16)
        return chunk.astype(np.float32, copy=False)

    def _step_round(self, streams: Sequence[Stream], frames: list[list[np.ndarray]],
                    observe: Callable[[dict], None] | None = None) -> bool:
        """Step every stream that holds a whole chunk, all in one batched call; append each
        one's posteriors to its list in `frames`. False when none was ready."""
        ready = [i for i, s in enumerate(streams) if s._has_chunk()]
        if not ready:
            return False
        chunk = np.stack([streams[i]._take_chunk() for i in ready])
        states = {name: np.concatenate([streams[i]._states[name] for i in ready])
                  for name in streams[ready[0]]._states}
        post, new = self.run(chunk, states, observe)
        for j, i in enumerate(ready):
            streams[i].states = {k: v[j:j + 1] for k, v in new.items()}
            frames[i].append(streams[i]._scores(post[j]))
        return True

    def feed_many(self, streams: Sequence[Stream],
                  pieces: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Feed each stream its piece, stepping all streams that have a whole chunk in one
        batched session call per round. Same events as feeding each stream alone."""
        for s in streams:
            if s.detector is not self:
                raise KwsInputError("feed_many(): every stream must come from this detector")
        for s, p in zip(streams, pieces, strict=True):
            s._accept(p)
        frames: list[list[np.ndarray]] = [[] for _ in streams]
        while self._step_round(streams, frames):
            pass
        return [s._decide(f) for s, f in zip(streams, frames, strict=True)]

    def posteriors(self, clips: np.ndarray, batch: int = 256,
                   observe: Callable[[dict], None] | None = None) -> np.ndarray:
        """Whole clips [N, samples] (or [N, frames, n_features]) -> posteriors [N, frames,
        classes], each clip streamed from a fresh state, the tail padded to a whole chunk
        and the frames that the padding completed dropped."""
        out = []
        for lo in range(0, len(clips), batch):
            part = np.asarray(clips[lo:lo + batch])
            group = [self.stream() for _ in part]
            for s, clip in zip(group, part, strict=True):
                s._accept(clip)
                s._pad_to_chunk()
            frames: list[list[np.ndarray]] = [[] for _ in group]
            while self._step_round(group, frames, observe):
                pass
            out.extend(np.concatenate(f)[:s.real_frames] for s, f in
                       zip(group, frames, strict=True))
        return np.stack(out) if out else np.zeros((0, 0, len(self.labels)), np.float32)


class BoundCall:
    """One stream's session call with every input and output bound to buffers of its own
    (onnxruntime's IOBinding): a call then converts and allocates nothing, half a
    microsecond per 10 ms hop less than `Detector.run` with its dictionaries. The states
    it returns are its input buffers (in a dict of the caller's), refilled in place from the
    outputs after each call; an entry the caller replaced (a batched round, a reset) is
    copied in first. `Stream.states` hands out copies, so a saved state stays as it was."""

    def __init__(self, detector: Detector) -> None:
        b = detector.bundle
        shape = (1, b.chunk_hops, b.n_features) if b.input_kind == "features" else \
            (1, b.chunk_samples)
        width = len(b.search.units) if b.search is not None else len(b.labels)
        self.detector = detector
        self.x = np.zeros(shape, detector.input_dtype)
        self.state_in = {s.name: np.zeros((1, s.size), np.float32) for s in b.states}
        self.state_out = {s.output: np.zeros((1, s.size), np.float32) for s in b.states}
        self.pairs = [(self.state_in[s.name], self.state_out[s.output]) for s in b.states]
        self.post = np.zeros((1, b.chunk_hops // b.frame_stride, width), np.float32)
        self.io = detector.session.io_binding()
        for name, arr in [(b.input_name, self.x), *self.state_in.items()]:
            self.io.bind_cpu_input(name, arr)
        for name, arr in [(b.output_name, self.post), *self.state_out.items()]:
            self.io.bind_output(name, "cpu", 0, arr.dtype, list(arr.shape), arr.ctypes.data)
        self._run = bound_runner(detector.session, self.io)

    def run(self, chunk: np.ndarray, states: dict[str, np.ndarray]
            ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Like `Detector.run` for one stream's chunk [chunk_samples] (or [chunk_hops,
        n_features])."""
        np.copyto(self.x[0], self.detector._input(chunk))
        for name, arr in states.items():
            if arr is not self.state_in[name]:
                np.copyto(self.state_in[name], arr)
        self._run()
        for into, out in self.pairs:
            np.copyto(into, out)
        return self.post.copy(), dict(self.state_in)  # the caller may replace entries


class Stream:
    """One audio stream: feed(pcm) -> detections; reset() to start over."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        b = detector.bundle
        self.decider = Decider(detector.decision, b.labels, b.frame_seconds,
                               b.first_output_seconds)
        self.recorded: list[np.ndarray] | None = None  # set to a list to keep posteriors
        self.search = PhraseSearch(b.search, b.frame_seconds) if b.search else None
        self.call = BoundCall(detector)
        self.reset()

    def reset(self) -> None:
        b = self.detector.bundle
        self.states = self.detector.initial_states(1)
        self.primed = b.input_kind == "features"
        shape = (0, b.n_features) if b.input_kind == "features" else (0,)
        self.pending = np.zeros(shape, np.float32)
        self.frames_out = 0      # frames emitted so far
        self.received = 0        # samples (or feature frames) received so far
        self.decider.reset()
        if self.search is not None:
            self.search.reset()

    @property
    def states(self) -> dict[str, np.ndarray]:
        """The stream's state, one array per bundle state (copies: a snapshot to save,
        restore or batch; assigning a dict restores one)."""
        return {k: v.copy() for k, v in self._states.items()}

    @states.setter
    def states(self, value: dict[str, np.ndarray]) -> None:
        self._states = dict(value)

    def _scores(self, posteriors: np.ndarray) -> np.ndarray:
        """The model's posteriors -> a score per label (the phrase scores of a search
        bundle; the posteriors themselves otherwise)."""
        return posteriors if self.search is None else self.search.update(posteriors)

    @property
    def real_frames(self) -> int:
        """Posteriors whose frames lie entirely inside the samples received (what the
        PyTorch model gives for the same signal as one batch)."""
        b = self.detector.bundle
        frames = self.received if b.input_kind == "features" else \
            max(0, (self.received - b.win_length) // b.hop_length + 1)
        return frames // b.frame_stride

    # -- buffering ----------------------------------------------------------------------
    def _accept(self, piece: np.ndarray) -> None:
        b = self.detector.bundle
        if b.input_kind == "features":
            x = np.asarray(piece, dtype=np.float32).reshape(-1, b.n_features)
        else:
            x = as_float_pcm(piece)
        self.received += len(x)
        self.pending = np.concatenate([self.pending, x]) if len(self.pending) else x
        if not self.primed and len(self.pending) >= b.carry_samples:
            self._states["fe_carry"] = self.pending[None, :b.carry_samples].copy()
            self.pending = self.pending[b.carry_samples:]
            self.primed = True

    def _has_chunk(self) -> bool:
        return self.primed and len(self.pending) >= self.detector.chunk_unit

    def _take_chunk(self) -> np.ndarray:
        unit = self.detector.chunk_unit
        chunk, self.pending = self.pending[:unit], self.pending[unit:]
        return chunk

    def _pad_to_chunk(self) -> None:
        """Zero-pad the pending samples to a whole chunk (end of a finite signal)."""
        b = self.detector.bundle
        if not self.primed:
            missing = b.carry_samples - len(self.pending)
            self._accept(np.zeros(missing, np.float32))
            self.received -= missing
        extra = (-len(self.pending)) % self.detector.chunk_unit
        if extra:
            pad = np.zeros((extra, *self.pending.shape[1:]), np.float32)
            self.pending = np.concatenate([self.pending, pad])

    def _decide(self, frames: list[np.ndarray]) -> list[Detection]:
        if not frames:
            return []
        post = frames[0] if len(frames) == 1 else np.concatenate(frames)
        if self.recorded is not None:
            self.recorded.append(post)
        events = self.decider.update(post, self.frames_out)
        self.frames_out += len(post)
        if events and self.detector.decision.reset_after_detection:
            for s in self.detector.bundle.states:
                if s.kind == "recurrent":
                    self._states[s.name] = np.zeros_like(self._states[s.name])
            if self.search is not None:
                self.search.reset()
        return events

    # -- public -------------------------------------------------------------------------
    def _run_pending(self) -> list[np.ndarray]:
        frames = []
        while self._has_chunk():
            post, self._states = self.call.run(self._take_chunk(), self._states)
            frames.append(self._scores(post[0]))
        return frames

    def process(self, pcm: np.ndarray) -> np.ndarray:
        """Feed samples; return the posteriors [n, classes] of the frames they completed,
        without running the decision logic."""
        self._accept(pcm)
        frames = self._run_pending()
        out = np.concatenate(frames) if frames else \
            np.zeros((0, len(self.detector.labels)), np.float32)
        self.frames_out += len(out)
        return out

    def feed(self, pcm: np.ndarray) -> list[Detection]:
        """Feed any number of samples (int16 or float); return the detections they caused."""
        self._accept(pcm)
        return self._decide(self._run_pending())
