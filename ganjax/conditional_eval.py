"""Evaluation of the label-using GANs: conditional accuracy and semi-supervised accuracy.

- cgan / acgan: `conditional_accuracy` is the share of generated samples that a
  domain classifier assigns to the class the generator was asked for
  (samples from `generate_per_class`, the same number for every class).
- sgan: `classification_accuracy` is the discriminator's test accuracy as a
  K-class classifier; `supervised_baseline_accuracy` that of the same network
  trained on the same labelled examples alone (no generator, no unlabelled
  data), with the same optimizer, noise and number of updates.

The accuracy functions are pure functions of arrays; the others take a
config and a GANState as ganjax.train makes them.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ganjax import data, labeled_subset, losses, models, steps, train


def conditional_accuracy(class_logits, requested_labels) -> float:
  """Share of samples whose argmax class is the requested one.

  Args:
    class_logits: (N, K) classifier logits (or probabilities) on generated samples.
    requested_labels: (N,) the classes the generator was asked for.
  """
  class_logits, requested_labels = np.asarray(class_logits), np.asarray(requested_labels)
  if class_logits.ndim != 2 or requested_labels.shape != class_logits.shape[:1]:
    raise ValueError(f"need (N, K) logits and (N,) labels, got {class_logits.shape} and "
                     f"{requested_labels.shape}")
  return float(np.mean(np.argmax(class_logits, axis=-1) == requested_labels))


def generate_per_class(config, state, *, num_per_class: int, seed: int = 0,
                       batch_size: int = 500):
  """(images (K * n, H, W, C) in [-1, 1], labels (K * n,)): n samples of every class.

  From the sampling generator (the EMA one when kept), in inference mode, one
  fresh z per sample.
  """
  sampler = train.make_sampler(config)
  labels = np.repeat(np.arange(config.num_classes, dtype=np.int32), num_per_class)
  z = steps.sample_latent(jax.random.key(seed), len(labels), config.latent_dim)
  out = [np.asarray(sampler(state, z[i:i + batch_size], jnp.asarray(labels[i:i + batch_size])))
         for i in range(0, len(labels), batch_size)]
  return np.concatenate(out), labels


def load_split(config, split: str = "test"):
  """(images, labels) of a whole split as numpy, preprocessed as for training."""
  batches = list(data.load(config.dataset, split=split, batch_size=1000,
                           resolution=config.resolution, channels=config.channels,
                           data_dir=config.data_dir or None,
                           center_crop=config.center_crop or None, shuffle=False,
                           repeat=False, drop_remainder=False, process_index=0,
                           process_count=1))
  return (np.concatenate([b["image"] for b in batches]),
          np.concatenate([b["label"] for b in batches]))


def _classify(discriminator, variables, images, batch_size=1000):
  fn = jax.jit(lambda v, x: discriminator.apply(v, x, train=False))
  return np.concatenate([np.asarray(fn(variables, images[i:i + batch_size]))
                         for i in range(0, len(images), batch_size)])


def classification_accuracy(config, state, images, labels) -> float:
  """Test accuracy of an sgan run's discriminator as a K-class classifier."""
  _, discriminator = models.build(config)
  logits = _classify(discriminator, state.discriminator.variables(), images)
  return conditional_accuracy(logits, labels)


def train_supervised_baseline(config, *, num_updates: int | None = None):
  """The sgan discriminator's network trained on the labelled examples alone.

  Same network (noise and dropout included), same labelled examples and
  labelled batches, same optimizer as D, and as many updates as D gets in the
  GAN run (num_steps * d_steps) unless `num_updates` says otherwise. Only the
  supervised cross-entropy: no generator, no unlabelled data.

  Returns:
    (discriminator module, its variables).
  """
  _, discriminator = models.build(config)
  images, labels = labeled_subset.labeled_subset(
      config.dataset, split=config.train_split, num_labeled=config.num_labeled,
      num_classes=config.num_classes, resolution=config.resolution,
      channels=config.channels, seed=config.seed, data_dir=config.data_dir or None,
      center_crop=config.center_crop or None)
  # The GAN run's initial D (train_and_evaluate's init key) and its optimizer.
  init_rng, step_rng, _ = jax.random.split(jax.random.key(config.seed), 3)
  d_state = train.create_state(config, init_rng).discriminator

  @jax.jit
  def update(d, x, y, key):
    def loss_fn(params):
      logits, stats = steps.apply_train(d, params, x, rngs={"dropout": key})
      return losses.auxiliary_classifier_loss(logits, y), stats
    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(d.params)
    return d.apply_gradients(grads=grads).replace(batch_stats=stats), loss

  stream = labeled_subset.labeled_batches(images, labels, batch_size=config.labeled_batch_size,
                                          seed=(config.seed, 0))
  if num_updates is None:
    num_updates = config.num_steps * config.d_steps
  for i in range(num_updates):
    batch = next(stream)
    d_state, _ = update(d_state, batch["labeled_image"], batch["labeled_label"],
                        jax.random.fold_in(step_rng, i))
  return discriminator, d_state.variables()


def supervised_baseline_accuracy(config, images, labels, *,
                                 num_updates: int | None = None) -> float:
  """Test accuracy on (images, labels) of `train_supervised_baseline(config)`."""
  discriminator, variables = train_supervised_baseline(config, num_updates=num_updates)
  return conditional_accuracy(_classify(discriminator, variables, images), labels)


def semi_supervised_metrics(config, state, *, split: str = "test",
                            num_updates: int | None = None) -> dict:
  """{'classification_accuracy', 'supervised_baseline_accuracy'} of an sgan run."""
  images, labels = load_split(config, split)
  return {
      "classification_accuracy": classification_accuracy(config, state, images, labels),
      "supervised_baseline_accuracy": supervised_baseline_accuracy(
          config, images, labels, num_updates=num_updates),
  }

