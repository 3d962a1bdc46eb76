"""Entry point: python -m experiments.acgan --config=experiments/configs/acgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("acgan")
