"""Entry point: python -m experiments.wgan --config=experiments/configs/wgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("wgan")
