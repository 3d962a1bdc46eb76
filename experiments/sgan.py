"""Entry point: python -m experiments.sgan --config=experiments/configs/sgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("sgan")
