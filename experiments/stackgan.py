"""Entry point: python -m experiments.stackgan --config=experiments/configs/stackgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("stackgan")
