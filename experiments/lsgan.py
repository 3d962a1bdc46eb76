"""Entry point: python -m experiments.lsgan --config=experiments/configs/lsgan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("lsgan")
