"""SSD300 training recipe for the rajoints joint detectors.

The paper (method-paper, "Development of the joint region detector using a DNN") trains one
SSD300 per special finding: an ankylosis detector on all 20 PIP/IP and MCP joints of an
image (M1 = 20) and a subluxation/dislocation detector on the 18 joints that carry that
label (M2 = 18, no thumb IP). This package follows torchvision's separation of concerns:

- :mod:`config`     the ONNX contract constants (models/README.md) and :class:`TrainConfig`,
                    the dataclass saved next to every checkpoint;
- :mod:`priors`     SSD300 default boxes (8732 per window);
- :mod:`box_coder`  box encoding of Eqs. 4-5 with variances 0.1 / 0.2, and its inverse;
- :mod:`matching`   ground truth to default boxes (IoU >= 0.5, every ground truth keeps
                    its best default box);
- :mod:`loss`       Eqs. 1-3 with hard-negative mining at 3:1;
- :mod:`ssd`        the network: VGG16 backbone (Conv4_3, Conv7, Conv8_2..Conv11_2) or a
                    light depthwise-separable backbone with the same heads and contract;
- :mod:`data`       DICOM to display values and scaling exactly as the Rust node does
                    (src/dicom/decode.rs, src/pipeline/scale.rs), and the per-joint
                    300x300 crops drawn afresh every epoch;
- :mod:`augment`    colour/contrast, crop-resize, rotation, flip, each with p = 0.5,
                    boxes moving with the pixels;
- :mod:`train`      the training loop (Adam, lr 1e-3, betas 0.9/0.999, wd 5e-4, batch 16);
- :mod:`export`     ONNX export (priors decoded in-graph, softmax), manifest, parity check;
- :mod:`gradcam`    GradCAM heatmaps (paper Eqs. 6-7, Figs. 6-7);
- :mod:`synth`      a tiny synthetic dataset for tests and the CI smoke run;
- :mod:`recover`    PyTorch weights from an exported ONNX model (BatchNorm folded), and
                    the weights ``train.py --init`` starts from;
- :mod:`adapt`      both detectors trained on a site's exported films, exported to
                    loadable manifests;
- :mod:`cv`         patient-level cross-validation of both, measured by ``rajoints eval``.

The model returns the same thing in training and evaluation (``loc``, ``conf`` logits);
the loss is computed outside it, decoding and softmax only happen in the export wrapper.
"""

__version__ = "0.1.0"
