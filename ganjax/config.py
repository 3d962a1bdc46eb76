"""The fields every ganjax config has, with their defaults.

Experiment configs (experiments/configs) start from `base_config()` and
override a few fields; ganjax.restore takes from it the defaults of fields
added after a run was saved.
"""

import ml_collections


def base_config() -> ml_collections.ConfigDict:
  """A fresh ConfigDict of every field at its default."""
  c = ml_collections.ConfigDict()
  # Model.
  c.model = "dcgan"               # dcgan | mlp
  c.latent_dim = 100
  c.width = 64                    # DCGAN: filters of the widest-resolution layer
  c.hidden = (256, 256)           # MLP: hidden layer widths
  c.upsample = "transposed"       # DCGAN generator: transposed | resize
  c.d_normalization = "batch"     # DCGAN discriminator: batch | layer | none
  # Objective.
  c.objective = "adversarial"     # the train step, see ganjax.train.OBJECTIVES
  c.loss = "non_saturating"       # see ganjax.losses.LOSS_FAMILIES
  c.label_smoothing = 0.0         # one-sided: the real target is 1 - label_smoothing
  c.least_squares_labels = (0.0, 1.0, 1.0)  # loss least_squares: (a, b, c) = (fake, real, G)
  c.weight_clip = 0.01            # objective weight_clipping (WGAN): critic params in [-c, c]
  c.gp_weight = 10.0              # objective gradient_penalty (WGAN-GP): lambda
  c.d_steps = 1                   # discriminator updates per generator update
  # Mode-collapse remedies for the discriminator (feature matching is an objective).
  c.minibatch_kernels = 0         # minibatch discrimination: B kernels; 0 = off
  c.minibatch_kernel_dim = 5      # ... each a C-dim projection
  c.pack = 1                      # PacGAN: D judges `pack` samples at once; 1 = off
  c.optimizer = ml_collections.ConfigDict(dict(
      name="adam", g_learning_rate=2e-4, d_learning_rate=2e-4, b1=0.5, b2=0.999,
      schedule="constant"))       # learning rates: constant | linear (decay to 0 at num_steps)
  c.ema_decay = 0.0               # > 0 keeps an EMA of G for samples (e.g. 0.999)
  # Data.
  c.dataset = "digits"            # a TFDS name, or ring | grid (2-D mixtures)
  c.train_split = "train"
  c.data_dir = ""                 # "" = TFDS's default (~/tensorflow_datasets)
  c.resolution = 16
  c.channels = 1
  c.center_crop = 0               # side of a central square crop before resizing; 0 = none
  c.batch_size = 64               # global, over all devices and processes
  # Labels (cgan, acgan, sgan).
  c.num_classes = 10              # classes of the dataset's `label`
  c.num_labeled = 0               # sgan: examples that keep their label, balanced per class
  c.labeled_batch_size = 64       # sgan: labelled examples per D update (global)
  # Loop.
  c.num_steps = 2000
  c.seed = 0
  c.log_every = 50
  c.sample_every = 500
  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.num_sample_images = 64
  return c
