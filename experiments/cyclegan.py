"""Entry point: python -m experiments.cyclegan --config=experiments/configs/cyclegan.py[:variant]."""

from experiments import launch

if __name__ == "__main__":
  launch.main("cyclegan")
