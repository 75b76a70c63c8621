"""kws: keyword spotting on edge hardware.

MFCC front end, recurrent encoders (classic RNN, LSTM, GRU), training with PyTorch, ONNX
export with INT8 quantization, and a streaming onnxruntime runtime that needs no torch.
"""

__version__ = "0.1.0"
