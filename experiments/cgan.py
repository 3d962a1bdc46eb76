"""Entry point: python -m experiments.cgan --config=experiments/configs/cgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("cgan")
