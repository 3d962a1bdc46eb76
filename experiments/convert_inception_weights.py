"""Converts pytorch-fid's InceptionV3 FID weights into the .npz that ganjax.inception loads.

Run where PyTorch is installed (the conversion itself needs only torch.load):

  python -m experiments.convert_inception_weights \
      --torch_weights=pt_inception-2015-12-05-6726825d.pth --out=inception_fid.npz

The .pth file is the release asset of mseitzer/pytorch-fid:
https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth
(pytorch-fid itself caches it in ~/.cache/torch/hub/checkpoints/ after its first use). Then:

  python -m experiments.evaluate --workdir=DIR --inception_weights=inception_fid.npz
"""

import sys

from absl import app, flags

flags.DEFINE_string("torch_weights", None, "pytorch-fid's pt_inception-2015-12-05-*.pth.",
                    required=True)
flags.DEFINE_string("out", "inception_fid.npz", "The .npz to write.")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from ganjax import inception

  def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)

  try:
    import torch  # noqa: F401
  except ImportError:
    fail("the conversion needs PyTorch (pip install torch); run it where torch is installed")
  try:
    inception.convert_torch_file(FLAGS.torch_weights, FLAGS.out)
  except inception.InceptionWeightsError as e:
    fail(e)
  print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
